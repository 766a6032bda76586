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
    let env = rtc::env()?;
    if !interop() {
        return None;
    }
    let home = Home::new();
    let (m_user, pw) = register("m");
    home.login("m", &m_user, &pw);
    let (user, token, device) = register_with_token("js");
    let room = api(
        "POST",
        "/createRoom",
        &common::token(&home, "m"),
        Some(json!({"preset": "trusted_private_chat", "invite": [user], "is_direct": true})),
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
    Some(Rig {
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
    })
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
        &r.mx(&["call", &r.room, "--duration", "5"], "mx.wav"),
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
    assert_eq!(event(&mx_events, "ended")["outcome"], "completed");
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
