//! MatrixRTC calls between mxcall and Element Call's engine — matrix-js-sdk's MatrixRTC session
//! and livekit-client in Debian's headless Chromium (`tests/interop/rtc-peer.mjs`), doing what
//! Element Call does in a DM voice call — through Synapse in its MatrixRTC configuration, a real
//! livekit-server and the LiveKit JWT service (`tests/common/rtc.rs`). Audio verified both ways
//! wherever a call connects.
//!
//! Needs what `tests/interop.rs` needs (Chromium, `scripts/install-interop.sh`) and
//! `scripts/livekit.sh install`; MXCALL_SKIP_INTEROP=1 / MXCALL_SKIP_LIVEKIT=1 skip, loudly.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::audio::{analyse, frame_has_tone, read_wav};
use common::js::*;
use common::*;
use serde_json::{Value, json};

struct Rig {
    home: Home,
    m_user: String,
    js: JsAccount,
    room: String,
    dir: tempfile::TempDir,
    hs: String,
}

/// One mxcall profile `m` and one js account in a DM made as Element makes one
/// (`trusted_private_chat`), unencrypted. `None` when skipped.
fn rig() -> Option<Rig> {
    make_rig(false).map(|(rig, _)| rig)
}

/// As [`rig`], encrypted when `encrypted` (`m.room.encryption` in the initial state, as Element
/// makes DMs); also returns the js user's password (for cross-signing's user-interactive auth,
/// `--bootstrap`, and more devices).
fn make_rig(encrypted: bool) -> Option<(Rig, String)> {
    let env = rtc::env()?;
    if !interop() {
        return None;
    }
    let home = Home::new();
    let (m_user, pw) = register("m");
    home.login("m", &m_user, &pw);
    let (user, js_pw) = register("js");
    let (token, device) = login_with_password(&user, &js_pw);
    let initial_state = if encrypted {
        json!([{"type": "m.room.encryption", "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
    } else {
        json!([])
    };
    let room = api(
        "POST",
        "/createRoom",
        &common::token(&home, "m"),
        Some(
            json!({"preset": "trusted_private_chat", "invite": [user], "is_direct": true,
                    "initial_state": initial_state}),
        ),
    )["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    api(
        "POST",
        &format!("/join/{}", urlencode(&room)),
        &token,
        Some(json!({})),
    );
    let dir = tempfile::tempdir().unwrap();
    write_tone_wav(&dir.path().join("tone880.wav"), 880);
    let rig = Rig {
        home,
        m_user,
        js: JsAccount {
            user,
            token,
            device,
        },
        room,
        dir,
        hs: env.hs.clone(),
    };
    Some((rig, js_pw))
}

impl Rig {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The Element Call engine in `mode`, its microphone playing 880 Hz, expecting mxcall's
    /// 440 Hz; returns once it has synced.
    fn js(&self, mode: &str, extra: &[&str]) -> JsPeer {
        let mut args = vec![
            "--room",
            self.room.as_str(),
            "--expect",
            "440",
            "--timeout",
            "150",
        ];
        args.extend_from_slice(extra);
        let mut js = JsPeer::start_rtc(&self.hs, &self.js, mode, &self.path("tone880.wav"), &args);
        js.wait_for("ready", Duration::from_secs(60));
        js
    }

    /// `mxcall --json --profile m CMD… --input tone:440 --output null --record REC --media-addr 127.0.0.1`
    fn mx(&self, cmd: &[&str], record: &str) -> Vec<String> {
        let mut args: Vec<String> = vec!["--json".into(), "--profile".into(), "m".into()];
        args.extend(cmd.iter().map(|s| s.to_string()));
        args.extend(call_flags("tone:440", &self.path(record)));
        args
    }

    /// mxcall's call membership content (non-empty), if it is in the call.
    fn m_joined(&self) -> bool {
        let state = api(
            "GET",
            &format!("/rooms/{}/state", urlencode(&self.room)),
            &common::token(&self.home, "m"),
            None,
        );
        state.as_array().unwrap().iter().any(|e| {
            e["type"] == "org.matrix.msc3401.call.member"
                && e["state_key"]
                    .as_str()
                    .is_some_and(|k| k.starts_with(&format!("_{}_", self.m_user)))
                && e["content"].as_object().is_some_and(|o| !o.is_empty())
        })
    }
}

fn assert_mx_events(events: &[Value], names: &[&str]) {
    for name in names {
        assert!(
            find_event(events, name).is_some(),
            "mxcall printed no {name}: {events:?}"
        );
    }
    assert!(
        events
            .iter()
            .filter(|e| e.get("call_id").is_some())
            .all(|e| e["protocol"] == "matrixrtc"),
        "{events:?}"
    );
}

#[test]
fn mxcall_rings_element_call_which_joins_and_hears_it_and_mxcalls_hangup_ends_it() {
    let Some(r) = rig() else { return };
    let mut js = r.js("answer", &[]);
    let mx = spawn(
        &r.home,
        &r.mx(
            &["call", &r.room, "--duration", "5", "--stats-interval", "1"],
            "mx.wav",
        ),
    );
    let ring = js.wait_for("ring", Duration::from_secs(30));
    assert_eq!(ring["sender"], r.m_user.as_str());
    assert_eq!(ring["notification_type"], "ring");
    let mx_out = wait(mx, Duration::from_secs(60));
    assert_eq!(code(&mx_out), 0, "{}\n{}", stderr(&mx_out), js.context());
    let js_events = js.finish(Duration::from_secs(30));
    let mx_events = events(&mx_out);
    assert_mx_events(
        &mx_events,
        &["joined", "invite_sent", "connected", "media", "ended"],
    );
    let ended = event(&mx_events, "ended");
    assert_eq!(ended["outcome"], "completed");
    // Live statistics of a MatrixRTC call (issue 12): both directions through the SFU, every
    // second; the final counts in `ended`.
    let stats: Vec<&Value> = mx_events.iter().filter(|e| e["event"] == "stats").collect();
    assert!(stats.len() >= 3, "{mx_events:?}");
    let last = stats[stats.len() - 1];
    assert_eq!(last["protocol"], "matrixrtc", "{last}");
    assert!(last["packets_sent"].as_u64().unwrap() > 50, "{last}");
    assert!(last["packets_received"].as_u64().unwrap() > 50, "{last}");
    assert!(last["mos"].as_f64().unwrap() > 4.0, "{last}");
    let total = &ended["stats"];
    assert!(
        total["packets_sent"].as_u64() >= last["packets_sent"].as_u64(),
        "{ended}"
    );
    // Element Call saw our membership, matched our LiveKit identity to it, heard our tone.
    let member = event(&js_events, "member_joined");
    assert_eq!(member["user"], r.m_user.as_str());
    let connected = event(&js_events, "connected");
    assert_eq!(connected["identity_matched"], true, "{connected}");
    assert_js_heard(&js_events, 440.0);
    assert_tone(&r.path("mx.wav"), 880.0);
    // Our leave ended its call (1:1 semantics).
    assert_eq!(event(&js_events, "ended")["reason"], "remote_left");
    assert!(!r.m_joined(), "mxcall's membership is still set");
}

#[test]
fn element_calls_hangup_ends_mxcalls_call() {
    let Some(r) = rig() else { return };
    let mut js = r.js("answer", &["--hangup-after", "4"]);
    let mx = spawn(&r.home, &r.mx(&["call", &r.room], "mx.wav"));
    let mx_out = wait(mx, Duration::from_secs(60));
    let js_events = js.finish(Duration::from_secs(30));
    assert_eq!(code(&mx_out), 0, "{}\n{}", stderr(&mx_out), js.context());
    let mx_events = events(&mx_out);
    assert_mx_events(&mx_events, &["connected", "ended"]);
    assert_eq!(event(&mx_events, "ended")["outcome"], "completed");
    assert_eq!(event(&js_events, "ended")["reason"], "hangup");
    assert_js_heard(&js_events, 440.0);
    assert_tone(&r.path("mx.wav"), 880.0);
    assert!(!r.m_joined(), "mxcall's membership is still set");
}

/// Element Call's microphone track can be replaced by a new one mid-call (livekit-client's full
/// reconnect republishes every track under a new sid; so does a page that restarts its
/// microphone): mxcall goes on playing the new track.
#[test]
fn element_call_republishes_its_microphone_and_mxcall_plays_the_new_track() {
    let Some(r) = rig() else { return };
    let mut js = r.js("answer", &["--republish-after", "3"]);
    let mx = spawn(
        &r.home,
        &r.mx(&["call", &r.room, "--duration", "9"], "mx.wav"),
    );
    let mx_out = wait(mx, Duration::from_secs(60));
    let js_events = js.finish(Duration::from_secs(30));
    assert_eq!(code(&mx_out), 0, "{}\n{}", stderr(&mx_out), js.context());
    let republished = event(&js_events, "republished");
    assert_ne!(
        republished["track_sid"], republished["previous_track_sid"],
        "{republished}"
    );
    eprintln!("mxcall ended: {}", event(&events(&mx_out), "ended"));
    // The new track is heard to the end of the call, after one gap: the old track's end, the
    // SFU's renegotiation and the new track's first packets (about a second here).
    let report = analyse(&read_wav(&r.path("mx.wav")), 880.0);
    let tail = report.total_frames - (report.first_tone_frame.unwrap_or(0) + report.frames_in_call);
    assert!(
        (report.dominant_hz - 880.0).abs() <= 2.0 && tail < 25 && report.tone_frames >= 300,
        "{report:?}"
    );
    let gap = longest_dropout_frames(&r.path("mx.wav"), 880.0);
    assert!(gap < 150, "a {gap}-frame dropout: {report:?}");
}

#[test]
fn element_call_rings_mxcall_answer_which_joins_with_audio_both_ways() {
    let Some(r) = rig() else { return };
    let mx = spawn(&r.home, &r.mx(&["answer", "--wait", "60"], "mx.wav"));
    std::thread::sleep(Duration::from_secs(2));
    let mut js = r.js("call", &["--hangup-after", "4"]);
    let mx_out = wait(mx, Duration::from_secs(90));
    let js_events = js.finish(Duration::from_secs(30));
    assert_eq!(code(&mx_out), 0, "{}\n{}", stderr(&mx_out), js.context());
    let mx_events = events(&mx_out);
    assert_mx_events(
        &mx_events,
        &["ringing", "joined", "connected", "media", "ended"],
    );
    assert_eq!(event(&mx_events, "ringing")["caller"], r.js.user.as_str());
    assert_eq!(
        event(&js_events, "member_joined")["user"],
        r.m_user.as_str()
    );
    assert_eq!(event(&js_events, "connected")["identity_matched"], true);
    assert_js_heard(&js_events, 440.0);
    assert_tone(&r.path("mx.wav"), 880.0);
    assert!(!r.m_joined(), "mxcall's membership is still set");
}

#[test]
fn element_call_rings_mxcall_watch_answer_which_joins_with_audio_both_ways() {
    let Some(r) = rig() else { return };
    let mx = spawn(&r.home, &r.mx(&["watch", "--answer", "--once"], "mx.wav"));
    std::thread::sleep(Duration::from_secs(2));
    let mut js = r.js("call", &["--hangup-after", "4"]);
    let mx_out = wait(mx, Duration::from_secs(90));
    let js_events = js.finish(Duration::from_secs(30));
    assert_eq!(code(&mx_out), 0, "{}\n{}", stderr(&mx_out), js.context());
    assert_mx_events(&events(&mx_out), &["ringing", "connected", "ended"]);
    assert_js_heard(&js_events, 440.0);
    assert_tone(&r.path("mx.wav"), 880.0);
}

#[test]
fn element_call_declines_mxcalls_ring_and_mxcall_exits_5() {
    let Some(r) = rig() else { return };
    let mut js = r.js("decline", &["--answer-after", "1"]);
    let mx = spawn(
        &r.home,
        &r.mx(&["call", &r.room, "--ring-timeout", "60"], "mx.wav"),
    );
    js.wait_for("declined_sent", Duration::from_secs(40));
    let declined = Instant::now();
    let mx_out = wait(mx, Duration::from_secs(30));
    assert_eq!(code(&mx_out), 5, "{}\n{}", stderr(&mx_out), js.context());
    assert!(
        declined.elapsed() < Duration::from_secs(10),
        "{:?}",
        declined.elapsed()
    );
    assert_eq!(event(&events(&mx_out), "ended")["outcome"], "declined");
    js.finish(Duration::from_secs(30));
    assert!(!r.m_joined(), "mxcall's membership is still set");
}

#[test]
fn mxcall_declines_element_calls_ring_and_the_caller_gives_up() {
    let Some(r) = rig() else { return };
    let mut js = r.js("call", &[]);
    let ring = js.wait_for("ring_sent", Duration::from_secs(30));
    // No mxcall process runs: `hangup` declines the newest ring.
    let out = r.home.run(&["--json", "--profile", "m", "hangup"]);
    assert_success(&out);
    let result: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["call_id"], ring["notification_id"], "{result}");
    let got = js.wait_for("decline_received", Duration::from_secs(20));
    assert_eq!(got["sender"], r.m_user.as_str());
    assert_eq!(got["notification_id"], ring["notification_id"]);
    let js_events = js.finish(Duration::from_secs(30));
    assert_eq!(event(&js_events, "ended")["reason"], "declined");
}

#[test]
fn a_killed_mxcall_leaves_element_calls_session_through_its_delayed_leave() {
    let Some(r) = rig() else { return };
    let mut js = r.js("answer", &[]);
    let mx = spawn(&r.home, &r.mx(&["call", &r.room], "mx.wav"));
    js.wait_for("connected", Duration::from_secs(40));
    std::thread::sleep(Duration::from_secs(1));
    let killed = Instant::now();
    unsafe { libc::kill(mx.id() as i32, libc::SIGKILL) };
    let _ = mx.wait_with_output();
    let left = js.wait_for_match(
        "member_left",
        |e| e["user"] == r.m_user.as_str(),
        Duration::from_secs(20),
    );
    assert!(
        killed.elapsed() < Duration::from_secs(15),
        "member_left after {:?}: {left}",
        killed.elapsed()
    );
    let js_events = js.finish(Duration::from_secs(30));
    assert_eq!(event(&js_events, "ended")["reason"], "remote_left");
    assert!(!r.m_joined(), "mxcall's membership is still set");
}

#[test]
fn mxcall_call_joins_an_element_call_session_already_going_on_without_ringing() {
    let Some(r) = rig() else { return };
    let mut js = r.js("join", &["--hangup-after", "4"]);
    js.wait_for("rtc_joined", Duration::from_secs(30));
    let mx = spawn(&r.home, &r.mx(&["call", &r.room], "mx.wav"));
    let mx_out = wait(mx, Duration::from_secs(60));
    let js_events = js.finish(Duration::from_secs(30));
    assert_eq!(code(&mx_out), 0, "{}\n{}", stderr(&mx_out), js.context());
    let mx_events = events(&mx_out);
    assert_mx_events(&mx_events, &["joined", "connected", "ended"]);
    assert!(
        find_event(&mx_events, "invite_sent").is_none(),
        "mxcall rang: {mx_events:?}"
    );
    assert!(find_event(&js_events, "ring").is_none(), "{js_events:?}");
    assert_js_heard(&js_events, 440.0);
    assert_tone(&r.path("mx.wav"), 880.0);
}

// ---- End-to-end encrypted media (an encrypted DM, as Element makes DMs) ----------------------

impl Rig {
    /// Element Call's engine with its media E2EE on, as Element Web in only-signed mode; a new
    /// cross-signing identity when `bootstrap` (else the device is not cross-signed).
    fn js_e2ee(&self, acct: &JsAccount, mode: &str, password: &str, extra: &[&str]) -> JsPeer {
        let mut args = vec![
            "--room",
            self.room.as_str(),
            "--expect",
            "440",
            "--timeout",
            "150",
            "--e2ee",
            "--isolation",
            "only-signed",
        ];
        args.extend_from_slice(extra);
        let mut js = JsPeer::start_rtc_env(
            &self.hs,
            acct,
            mode,
            &self.path("tone880.wav"),
            &args,
            &[("MXPEER_PASSWORD", password)],
        );
        js.wait_for("ready", Duration::from_secs(90));
        js
    }

    /// Another device of the js user (a new login).
    fn js_device(&self, password: &str) -> JsAccount {
        let (token, device) = login_with_password(&self.js.user, password);
        JsAccount {
            user: self.js.user.clone(),
            token,
            device,
        }
    }
}

/// The longest run of 20 ms frames without `freq` between the first and the last frame with it.
fn longest_dropout_frames(path: &std::path::Path, freq: f64) -> usize {
    let samples = read_wav(path);
    let has: Vec<bool> = samples
        .chunks_exact(960)
        .map(|f| frame_has_tone(f, freq))
        .collect();
    let (Some(first), Some(last)) = (has.iter().position(|&t| t), has.iter().rposition(|&t| t))
    else {
        return usize::MAX;
    };
    has[first..=last]
        .split(|&t| t)
        .map(<[bool]>::len)
        .max()
        .unwrap_or(0)
}

fn mx_e2ee_key_from<'a>(events: &'a [Value], user: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| {
            e["event"] == "e2ee_key"
                && e["identity"]
                    .as_str()
                    .is_some_and(|i| i.starts_with(&format!("{user}:")))
        })
        .collect()
}

#[test]
fn encrypted_dm_mxcall_and_element_call_hear_each_other_and_the_sfu_carries_only_ciphertext() {
    let Some((r, pw)) = make_rig(true) else {
        return;
    };
    let mut js = r.js_e2ee(&r.js, "answer", &pw, &["--bootstrap"]);
    let mx = spawn(
        &r.home,
        &r.mx(&["call", &r.room, "--duration", "10"], "mx.wav"),
    );
    js.wait_for("connected", Duration::from_secs(60));
    // A LiveKit participant with a valid token but no key: what the SFU (or anyone on it) gets.
    let listener_acct = r.js_device(&pw);
    let mut listener = JsPeer::start_rtc(
        &r.hs,
        &listener_acct,
        "listen",
        &r.path("tone880.wav"),
        &[
            "--room",
            r.room.as_str(),
            "--expect",
            "440",
            "--e2ee-keyless",
            "--hangup-after",
            "4",
            "--timeout",
            "60",
        ],
    );
    let mx_out = wait(mx, Duration::from_secs(90));
    let js_events = js.finish(Duration::from_secs(30));
    let l_events = listener.finish(Duration::from_secs(30));
    assert_eq!(code(&mx_out), 0, "{}\n{}", stderr(&mx_out), js.context());
    let mx_events = events(&mx_out);
    assert_mx_events(&mx_events, &["joined", "invite_sent", "connected", "ended"]);
    assert_eq!(event(&mx_events, "connected")["encrypted"], true);
    let ended = event(&mx_events, "ended");
    assert_eq!(ended["encrypted"], true, "{ended}");
    assert!(
        ended["e2ee"]["frames_decrypted"].as_u64().unwrap() > 200,
        "{ended}"
    );
    // Element Call's key reached us, for its LiveKit identity.
    let keys = mx_e2ee_key_from(&mx_events, &r.js.user);
    assert!(
        keys.iter()
            .any(|k| k["identity"] == format!("{}:{}", r.js.user, r.js.device)),
        "{mx_events:?}"
    );
    // Ours reached it Olm-encrypted (m.room.encrypted on the wire, decrypted by its Rust crypto).
    let got = js_events
        .iter()
        .find(|e| e["event"] == "e2ee_key_received" && e["user"] == r.m_user.as_str())
        .unwrap_or_else(|| panic!("Element Call got no key from mxcall: {}", js.context()));
    assert_eq!(got["olm"], true, "{got}");
    // Both ways: decrypted audio with the right tone.
    assert_js_heard_from(&js_events, &r.m_user, 440.0);
    let heard = event(&js_events, "heard");
    assert_eq!(heard["encrypted"], true, "{heard}");
    assert_eq!(heard["decrypted"], true, "{heard}");
    assert_tone(&r.path("mx.wav"), 880.0);
    // The keyless participant got mxcall's frames, every one with livekit's E2EE trailer, and
    // decoded no tone out of them (the SFU's own injected silence frames are not mxcall's and
    // are counted apart by the page).
    let lh = l_events
        .iter()
        .find(|e| e["event"] == "heard" && e["user"] == r.m_user.as_str())
        .unwrap_or_else(|| panic!("the listener heard no track of mxcall: {l_events:?}"));
    eprintln!("the keyless listener: {lh}");
    assert!(lh["frames"].as_u64().unwrap() >= 100, "{lh}");
    assert!(lh["e2ee_trailer_share"].as_f64().unwrap() >= 0.98, "{lh}");
    assert!(lh["tone_share"].as_f64().unwrap_or(0.0) < 0.1, "{lh}");
    assert!(!r.m_joined(), "mxcall's membership is still set");
}

#[test]
fn encrypted_dm_keys_rotate_when_a_second_element_device_joins_and_leaves_and_audio_goes_on() {
    let Some((r, pw)) = make_rig(true) else {
        return;
    };
    let mut js = r.js_e2ee(&r.js, "answer", &pw, &["--bootstrap"]);
    let recovery_key = js.wait_for("recovery_key", Duration::from_secs(90))["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mx = spawn(
        &r.home,
        &r.mx(&["call", &r.room, "--duration", "20"], "mx.wav"),
    );
    js.wait_for("connected", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    // The js user's second device (cross-signed with the recovery key) joins, hears mxcall for
    // 4 s from its first audio (a loaded machine can take seconds to deliver our key to it),
    // then leaves.
    let second = r.js_device(&pw);
    let mut js2 = JsPeer::start_rtc_env(
        &r.hs,
        &second,
        "join",
        &r.path("tone880.wav"),
        &[
            "--room",
            r.room.as_str(),
            "--expect",
            "440",
            "--e2ee",
            "--isolation",
            "only-signed",
            "--timeout",
            "90",
        ],
        &[
            ("MXPEER_PASSWORD", pw.as_str()),
            ("MXPEER_RECOVERY_KEY", recovery_key.as_str()),
        ],
    );
    let mx_identity = format!("{}:", r.m_user);
    js2.wait_for_match(
        "first_audio",
        |e| {
            e["identity"]
                .as_str()
                .is_some_and(|i| i.starts_with(&mx_identity))
        },
        Duration::from_secs(60),
    );
    std::thread::sleep(Duration::from_secs(4));
    js2.hang_up_now();
    let js2_events = js2.finish(Duration::from_secs(90));
    let mx_out = wait(mx, Duration::from_secs(90));
    let js_events = js.finish(Duration::from_secs(30));
    assert_eq!(code(&mx_out), 0, "{}\n{}", stderr(&mx_out), js.context());
    let mx_events = events(&mx_out);
    // The second device heard mxcall (it got our key as a joiner).
    assert_js_heard_from(&js2_events, &r.m_user, 440.0);
    // After it left, both sides rotated: Element Call's next key reached mxcall, and ours
    // reached Element Call.
    let js_keys = mx_e2ee_key_from(&mx_events, &r.js.user);
    assert!(
        js_keys.iter().any(
            |k| k["identity"] == format!("{}:{}", r.js.user, r.js.device)
                && k["index"].as_u64().unwrap() >= 1
        ),
        "no rotated key of Element Call's first device: {js_keys:?}"
    );
    let ours: Vec<u64> = js_events
        .iter()
        .filter(|e| e["event"] == "e2ee_key_received" && e["user"] == r.m_user.as_str())
        .filter_map(|e| e["index"].as_u64())
        .collect();
    assert!(
        ours.iter().any(|&i| i >= 1),
        "mxcall did not rotate: {ours:?}"
    );
    // Audio both ways all along: no dropout longer than 200 ms at mxcall, the tone at js.
    assert_js_heard_from(&js_events, &r.m_user, 440.0);
    assert_tone(&r.path("mx.wav"), 880.0);
    let gap = longest_dropout_frames(&r.path("mx.wav"), 880.0);
    eprintln!("mxcall's longest dropout: {} ms", gap * 20);
    assert!(gap <= 10, "mxcall's audio had a gap of {} ms", gap * 20);
    // Element Call's side: the longest run of its ear's 20 ms ticks without our tone (the page's
    // timers may lag on a loaded machine: `longest_tick_ms` says by how much, not asserted).
    let heard = js_events
        .iter()
        .find(|e| e["event"] == "heard" && e["user"] == r.m_user.as_str())
        .unwrap();
    let js_gap = heard["longest_gap_ms"].as_u64().unwrap();
    assert!(
        js_gap <= 200,
        "Element Call heard a gap of {js_gap} ms: {heard}"
    );
    let ended = event(&mx_events, "ended");
    assert_eq!(ended["e2ee"]["frames_failed"], 0, "{ended}");
}

#[test]
fn encrypted_dm_a_participant_whose_key_never_arrives_is_reported_and_nothing_is_played() {
    let Some((r, pw)) = make_rig(true) else {
        return;
    };
    // Element Call on a device its owner never cross-signed: mxcall refuses its key (and sends
    // it none), as Element's "exclude insecure devices" would.
    let mut js = r.js_e2ee(&r.js, "answer", &pw, &[]);
    let mx = spawn(
        &r.home,
        &r.mx(&["call", &r.room, "--duration", "9"], "mx.wav"),
    );
    let mx_out = wait(mx, Duration::from_secs(90));
    let _ = js.finish(Duration::from_secs(30));
    assert_eq!(code(&mx_out), 0, "{}\n{}", stderr(&mx_out), js.context());
    let mx_events = events(&mx_out);
    let missing = event(&mx_events, "e2ee_key_missing");
    assert_eq!(missing["user_id"], r.js.user.as_str(), "{missing}");
    assert_eq!(missing["device_id"], r.js.device.as_str(), "{missing}");
    let err = stderr(&mx_out);
    assert!(err.contains("no media key from"), "{err}");
    assert!(err.contains("not cross-signed"), "{err}");
    let ended = event(&mx_events, "ended");
    assert_eq!(ended["outcome"], "completed", "{ended}");
    assert!(
        ended["e2ee"]["decrypt_failures"].as_u64().unwrap() > 100,
        "{ended}"
    );
    assert_eq!(ended["e2ee"]["frames_decrypted"], 0, "{ended}");
    // Connected, but nothing the other side said was heard: not a clean success.
    assert_eq!(ended["remote_audio"], false, "{ended}");
    // No noise: what was played is silence.
    let samples = read_wav(&r.path("mx.wav"));
    let loudest = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    assert!(
        loudest < 100,
        "mxcall played sound (peak {loudest}) from frames it could not decrypt"
    );
    assert!(!r.m_joined(), "mxcall's membership is still set");
}
