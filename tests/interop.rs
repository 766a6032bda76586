//! Calls between mxcall and matrix-js-sdk — the call engine of Element Web — running in Debian's
//! headless Chromium (`tests/interop/`), both ways, through the real Synapse; audio verified
//! wherever a call connects.
//!
//! Needs `/usr/bin/chromium` and `npm ci` in tests/interop (`scripts/install-interop.sh`); without
//! them every test here fails with that hint. `MXCALL_SKIP_INTEROP=1` skips them, loudly.

mod common;

use std::time::{Duration, Instant};

use common::js::*;
use common::js_rig::*;
use common::*;
use serde_json::Value;

fn ms_between(a: &Value, b: &Value) -> i64 {
    b["ts"].as_i64().unwrap() - a["ts"].as_i64().unwrap()
}

// ---- 1. mxcall calls, js answers ---------------------------------------------------------------

#[test]
fn mxcall_calls_js_answers_audio_both_ways_and_mxcall_hangs_up() {
    if !interop() {
        return;
    }
    let r = rig();
    let mut js = r.js("answer", &[]);
    js.wait_for("ready", Duration::from_secs(60)); // the js callee only rings for invites after its first sync
    let started = Instant::now();
    let mx = spawn(
        &r.home,
        &r.mx(&["call", &r.room, "--duration", "4"], "mx.wav"),
    );
    let mx_out = wait(mx, Duration::from_secs(60));
    assert_success(&mx_out);
    let js_events = js.finish(Duration::from_secs(20));

    let mx_events = events(&mx_out);
    for name in [
        "invite_sent",
        "connecting",
        "connected",
        "media",
        "hangup",
        "ended",
    ] {
        assert!(
            find_event(&mx_events, name).is_some(),
            "mxcall printed no {name}: {mx_events:?}"
        );
    }
    assert_eq!(event(&mx_events, "hangup")["by"], "local");
    assert_eq!(event(&mx_events, "ended")["outcome"], "completed");
    assert_eq!(event(&js_events, "incoming")["caller"], r.m_user.as_str());
    event(&js_events, "connected");
    let hangup = event(&js_events, "hangup");
    assert_eq!(hangup["party"], "remote", "{hangup}");
    assert_eq!(hangup["reason"], "user_hangup", "{hangup}");
    assert_js_heard(&js_events, 440.0);
    assert_tone(&r.path("mx.wav"), 880.0);
    eprintln!(
        "mxcall→js: invite→connected {} ms, whole call {:?}",
        ms_between(
            event(&mx_events, "invite_sent"),
            event(&mx_events, "connected")
        ),
        started.elapsed()
    );
}

// ---- 2. js calls, mxcall answers; js hangs up mid-call ------------------------------------------

fn js_calls_and_hangs_up(answer: &[&str]) {
    let r = rig();
    let mx = spawn(&r.home, &r.mx(answer, "mx.wav"));
    let mut js = r.js("call", &["--room", &r.room, "--hangup-after", "4"]);
    let mx_out = wait(mx, Duration::from_secs(90));
    let js_events = js.finish(Duration::from_secs(30));
    assert_success(&mx_out);

    let mx_events = events(&mx_out);
    assert_eq!(event(&mx_events, "ringing")["caller"], r.js.user.as_str());
    event(&mx_events, "connected");
    event(&mx_events, "media");
    let hangup = event(&mx_events, "hangup");
    assert_eq!(hangup["by"], "remote", "{hangup}");
    assert_eq!(hangup["reason"], "user_hangup", "{hangup}");
    let ended = event(&mx_events, "ended");
    assert_eq!(ended["outcome"], "completed", "{ended}");
    assert_eq!(ended["exit_code"], 0, "{ended}");
    assert!(ended["duration_ms"].as_u64().unwrap() >= 3500, "{ended}");

    let js_hangup = event(&js_events, "hangup");
    assert_eq!(js_hangup["party"], "local", "{js_hangup}");
    assert_js_heard(&js_events, 440.0);
    assert_tone(&r.path("mx.wav"), 880.0);
    eprintln!(
        "js→mxcall ({}): place→connected {} ms (js), place→first audio {} ms (js)",
        answer[0],
        ms_between(event(&js_events, "place"), event(&js_events, "connected")),
        ms_between(event(&js_events, "place"), event(&js_events, "first_audio")),
    );
}

#[test]
fn js_calls_mxcall_answer_picks_up_and_js_hangs_up_mid_call() {
    if !interop() {
        return;
    }
    js_calls_and_hangs_up(&["answer", "--wait", "60"]);
}

#[test]
fn js_calls_mxcall_watch_answer_picks_up_and_js_hangs_up_mid_call() {
    if !interop() {
        return;
    }
    js_calls_and_hangs_up(&["watch", "--answer", "--once"]);
}

// ---- 3. js rejects mxcall's call ----------------------------------------------------------------

#[test]
fn js_rejects_mxcalls_call_and_mxcall_exits_5_promptly() {
    if !interop() {
        return;
    }
    let r = rig();
    let mut js = r.js("reject", &[]);
    js.wait_for("ready", Duration::from_secs(60));
    let mx = spawn(
        &r.home,
        &r.mx(&["call", &r.room, "--ring-timeout", "40"], "mx.wav"),
    );
    js.wait_for("incoming", Duration::from_secs(30));
    let rejected = Instant::now();
    let mx_out = wait(mx, Duration::from_secs(60));
    let took = rejected.elapsed();
    assert_eq!(
        code(&mx_out),
        5,
        "stdout: {}\nstderr: {}",
        stdout(&mx_out),
        stderr(&mx_out)
    );
    assert!(
        took < Duration::from_secs(10),
        "mxcall took {took:?} to notice the reject"
    );
    let mx_events = events(&mx_out);
    assert_eq!(event(&mx_events, "ended")["outcome"], "declined");
    assert!(find_event(&mx_events, "connected").is_none());
    let js_events = js.finish(Duration::from_secs(20));
    assert_eq!(event(&js_events, "hangup")["party"], "local");
    wait_for_call_event_as(
        &r.js.token,
        &r.room,
        "m.call.reject",
        Duration::from_secs(10),
    );
    eprintln!("js rejects: mxcall exited {took:?} after js rang");
}

// ---- 4. mxcall declines js's call -----------------------------------------------------------------

/// js places a call, `decline` declines it on the mxcall side; js's call must end at once, not
/// at its 60 s invite timeout.
fn mxcall_declines(r: &Rig, decline: impl FnOnce()) {
    let mut js = r.js("call", &["--room", &r.room]);
    js.wait_for("invite_sent", Duration::from_secs(60));
    wait_for_call_event_as(
        &r.js.token,
        &r.room,
        "m.call.invite",
        Duration::from_secs(10),
    );
    let t0 = Instant::now();
    decline();
    let hangup = js.wait_for("hangup", Duration::from_secs(30));
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "js's call ended only after {took:?}"
    );
    assert_eq!(hangup["party"], "remote", "{hangup}");
    let js_events = js.finish(Duration::from_secs(20));
    assert!(find_event(&js_events, "connected").is_none());
    let reject = wait_for_call_event_as(
        &r.js.token,
        &r.room,
        "m.call.reject",
        Duration::from_secs(10),
    );
    assert_eq!(reject["sender"], r.m_user.as_str());
    eprintln!(
        "mxcall declines: js's call ended {took:?} after the decline started ({})",
        hangup["reason"]
    );
}

#[test]
fn mxcall_hangup_busy_declines_a_js_call_and_js_ends_promptly() {
    if !interop() {
        return;
    }
    let r = rig();
    mxcall_declines(&r, || {
        let out = r
            .home
            .run(&["--profile", "m", "hangup", "--reason", "busy"]);
        assert_success(&out);
        assert!(stdout(&out).contains("declined"), "{}", stdout(&out));
    });
}

#[test]
fn mxcall_watch_exec_declines_a_js_call_and_js_ends_promptly() {
    if !interop() {
        return;
    }
    let r = rig();
    let exec = format!("{BIN} --profile m hangup --reason busy");
    let watch = spawn(
        &r.home,
        &[
            "--json".into(),
            "--profile".into(),
            "m".into(),
            "watch".into(),
            "--once".into(),
            "--exec".into(),
            exec,
        ],
    );
    // watch must have synced before the invite comes, or it rings on it from its first sync: both are fine.
    mxcall_declines(&r, || {});
    let out = wait(watch, Duration::from_secs(30));
    assert_success(&out);
    let ev = events(&out);
    assert_eq!(event(&ev, "ringing")["caller"], r.js.user.as_str());
    event(&ev, "ended");
}

// ---- 5. nobody answers js's call ------------------------------------------------------------------

/// js's invites live 60 s. Two of them go unanswered: one js hangs up itself at the invite timeout
/// (`invite_timeout`), the other's browser goes away right after inviting (no hangup ever comes).
/// After both have expired, `mxcall answer` must not ring on either. This waits the full 60 s
/// (both in parallel) — the one slow test here.
#[test]
fn unanswered_js_invites_expire_and_a_later_mxcall_answer_never_rings() {
    if !interop() {
        return;
    }
    let r = rig();
    // A second room with the same two users, for the invite whose browser vanishes.
    let room2 = api(
        "POST",
        "/createRoom",
        &common::token(&r.home, "m"),
        Some(
            serde_json::json!({"preset": "private_chat", "invite": [r.js.user], "is_direct": true}),
        ),
    )["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    api(
        "POST",
        &format!("/join/{}", urlencode(&room2)),
        &r.js.token,
        Some(serde_json::json!({})),
    );

    let t0 = Instant::now();
    let mut timing_out = r.js("call", &["--room", &r.room]);
    let mut vanishing = r.js("call", &["--room", &room2]);
    vanishing.wait_for("invite_sent", Duration::from_secs(60));
    wait_for_call_event_as(
        &r.js.token,
        &room2,
        "m.call.invite",
        Duration::from_secs(10),
    );
    std::thread::sleep(Duration::from_secs(1));
    vanishing.stop();

    let hangup = timing_out.wait_for("hangup", Duration::from_secs(90));
    assert_eq!(hangup["party"], "local", "{hangup}");
    assert_eq!(hangup["reason"], "invite_timeout", "{hangup}");
    timing_out.finish(Duration::from_secs(20));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(59),
        "js gave up after {waited:?}"
    );
    let hangup_event = wait_for_call_event_as(
        &r.js.token,
        &r.room,
        "m.call.hangup",
        Duration::from_secs(10),
    );
    assert_eq!(hangup_event["content"]["reason"], "invite_timeout");

    let out = r.home.run(
        &r.mx(&["answer", "--wait", "4"], "mx.wav")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        code(&out),
        6,
        "stdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        find_event(&events(&out), "ringing").is_none(),
        "rang on an expired js invite: {}",
        stdout(&out)
    );
    eprintln!("expired js invites: whole test {:?}", t0.elapsed());
}

// ---- 6. the js peer ignores mxcall's call -----------------------------------------------------------

#[test]
fn mxcall_calls_a_js_peer_that_ignores_it_and_exits_6_at_the_ring_timeout() {
    if !interop() {
        return;
    }
    let r = rig();
    let mut js = r.js("ignore", &[]);
    js.wait_for("ready", Duration::from_secs(60));
    let started = Instant::now();
    let mx = spawn(
        &r.home,
        &r.mx(&["call", &r.room, "--ring-timeout", "6"], "mx.wav"),
    );
    js.wait_for("incoming", Duration::from_secs(30));
    let mx_out = wait(mx, Duration::from_secs(40));
    let took = started.elapsed();
    assert_eq!(
        code(&mx_out),
        6,
        "stdout: {}\nstderr: {}",
        stdout(&mx_out),
        stderr(&mx_out)
    );
    assert!(
        took >= Duration::from_secs(6) && took < Duration::from_secs(15),
        "gave up after {took:?}"
    );
    let mx_events = events(&mx_out);
    assert!(find_event(&mx_events, "connected").is_none());
    // js stops ringing too: at mxcall's hangup (reason invite_timeout), or a moment earlier by
    // its own timer for the invite's lifetime (= --ring-timeout), which sets no reason.
    let hangup = js.wait_for("hangup", Duration::from_secs(15));
    assert_eq!(hangup["party"], "remote", "{hangup}");
    assert!(
        hangup["reason"] == "invite_timeout" || hangup["reason"].is_null(),
        "{hangup}"
    );
    js.finish(Duration::from_secs(20));
    let sent = wait_for_call_event_as(
        &r.js.token,
        &r.room,
        "m.call.hangup",
        Duration::from_secs(10),
    );
    assert_eq!(sent["content"]["reason"], "invite_timeout", "{sent}");
    let invite = wait_for_call_event_as(
        &r.js.token,
        &r.room,
        "m.call.invite",
        Duration::from_secs(10),
    );
    assert_eq!(invite["content"]["lifetime"], 6000, "{invite}");
    eprintln!("js ignores: mxcall exited 6 after {took:?}");
}

// ---- Hold and resume (RFC 3264 §6.1) through m.call.negotiate ------------------------------------

/// Element (js-sdk) holds mxcall and resumes: with js-sdk's own `setRemoteOnHold` (`sendonly`)
/// and as other clients and gateways do it (`a=inactive`). Each time mxcall's answer follows the
/// offer's direction, and after the resume js hears mxcall's 440 Hz again (one-way audio for the
/// rest of the call was the failure).
#[test]
fn js_holds_and_resumes_and_mxcall_sends_again() {
    if !interop() {
        return;
    }
    for direction in ["inactive", "sendonly"] {
        // A fresh js device per call (see peer.mjs: a repeated initial sync may replay the
        // previous invite).
        let r = rig();
        let mut js = r.js(
            "answer",
            &[
                "--hold-at",
                "2",
                "--resume-at",
                "4",
                "--hold-direction",
                direction,
                "--hangup-after",
                "8",
            ],
        );
        js.wait_for("ready", Duration::from_secs(60));
        let mx = spawn(&r.home, &r.mx(&["call", &r.room], "mx.wav"));
        let mx_out = wait(mx, Duration::from_secs(60));
        let js_events = js.finish(Duration::from_secs(20));
        assert_success(&mx_out);
        event(&js_events, "held");
        event(&js_events, "resumed");
        // mxcall reports both (issue 12: remote hold as JSON events).
        let mx_events = events(&mx_out);
        let held = event(&mx_events, "held");
        assert_eq!(held["by"], "remote", "{held}");
        assert!(ms_between(held, event(&mx_events, "resumed")) > 1000);
        // The answers to the hold and the resume, as they went over the wire.
        let answers: Vec<String> = call_events(&r.home, "m", &r.room)
            .iter()
            .filter(|e| e["type"] == "m.call.negotiate" && e["sender"] == r.m_user.as_str())
            .filter_map(|e| {
                e["content"]["description"]["sdp"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        let heard = event(&js_events, "heard");
        let after = heard["tone_share_after_resume"].as_f64().unwrap_or(0.0);
        assert!(
            after >= 0.8,
            "{direction}: after the resume js heard mxcall's tone in {:.0}% of the time: {heard}\n\
             mxcall's negotiate answers: {answers:#?}\nmxcall: {}",
            after * 100.0,
            stderr(&mx_out)
        );
        let directions: Vec<&str> = answers
            .iter()
            .rev()
            .take(2)
            .rev()
            .map(|sdp| {
                sdp.lines()
                    .find(|l| ["a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"].contains(l))
                    .unwrap_or("a=sendrecv")
            })
            .collect();
        let held = if direction == "inactive" {
            "a=inactive"
        } else {
            "a=recvonly"
        };
        assert_eq!(directions, [held, "a=sendrecv"], "{direction}");
    }
}

/// A video call from Element (js-sdk `placeVideoCall`: audio and camera m-lines) is answered
/// audio-only (issue 12): the video m-line rejected with port 0, audio both ways, no error on
/// the js side.
#[test]
fn a_js_video_call_is_answered_audio_only() {
    if !interop() {
        return;
    }
    js_video_call_is_answered_audio_only(&["--video"], "m.call.answer", "answer");
}

/// Element upgrades a voice call to video mid-call (`upgradeCall`, an `m.call.negotiate` offer
/// with a video m-line): mxcall answers audio-only again, and the audio goes on.
#[test]
fn a_mid_call_video_upgrade_is_answered_audio_only() {
    if !interop() {
        return;
    }
    js_video_call_is_answered_audio_only(
        &["--upgrade-video-at", "2"],
        "m.call.negotiate",
        "description",
    );
}

/// js calls mxcall with `js_flags`; mxcall's last `event_type` (its SDP under `sdp_field`)
/// rejects the video m-line, and audio flows both ways without a js error.
fn js_video_call_is_answered_audio_only(js_flags: &[&str], event_type: &str, sdp_field: &str) {
    let r = rig();
    let mx = spawn(&r.home, &r.mx(&["answer", "--wait", "60"], "mx.wav"));
    let mut args = vec!["--room", r.room.as_str(), "--hangup-after", "6"];
    args.extend_from_slice(js_flags);
    let mut js = r.js("call", &args);
    let mx_out = wait(mx, Duration::from_secs(90));
    let js_events = js.finish(Duration::from_secs(30));
    assert_success(&mx_out);
    let errors: Vec<&Value> = js_events.iter().filter(|e| e["event"] == "error").collect();
    assert!(errors.is_empty(), "js reported errors: {errors:#?}");
    let sdp = call_events(&r.home, "m", &r.room)
        .into_iter()
        .filter(|e| e["type"] == event_type && e["sender"] == r.m_user.as_str())
        .filter_map(|e| e["content"][sdp_field]["sdp"].as_str().map(str::to_owned))
        .next_back()
        .unwrap_or_else(|| panic!("mxcall sent no {event_type}"));
    let video = sdp
        .lines()
        .find(|l| l.starts_with("m=video"))
        .unwrap_or_else(|| {
            panic!("no video m-line in mxcall's {event_type} (it must reject it):\n{sdp}")
        });
    assert!(
        video.starts_with("m=video 0 "),
        "video not rejected: {video}\n{sdp}"
    );
    assert_js_heard(&js_events, 440.0);
    assert_tone(&r.path("mx.wav"), 880.0);
}

/// Element mutes and unmutes its microphone (`setMicrophoneMuted`, an
/// `m.call.sdp_stream_metadata_changed`): mxcall reports `remote_muted` and `remote_unmuted`.
#[test]
fn js_mute_and_unmute_are_reported_by_mxcall() {
    if !interop() {
        return;
    }
    let r = rig();
    let mx = spawn(&r.home, &r.mx(&["answer", "--wait", "60"], "mx.wav"));
    let mut js = r.js(
        "call",
        &[
            "--room",
            &r.room,
            "--mute-at",
            "1",
            "--unmute-at",
            "3",
            "--hangup-after",
            "5",
        ],
    );
    let mx_out = wait(mx, Duration::from_secs(90));
    let js_events = js.finish(Duration::from_secs(30));
    assert_success(&mx_out);
    event(&js_events, "muted");
    event(&js_events, "unmuted");
    let mx_events = events(&mx_out);
    let muted = event(&mx_events, "remote_muted");
    let unmuted = event(&mx_events, "remote_unmuted");
    assert!(ms_between(muted, unmuted) > 1000, "{muted} {unmuted}");
    // And what mxcall heard (its recording starts at `connected`): silence in the middle of the
    // mute, js's tone again from half a second after the unmute. (Quieter than before the mute:
    // Chromium's noise suppression has by then learnt the steady tone as noise.)
    let samples = common::audio::read_wav(&r.path("mx.wav"));
    let connected = event(&mx_events, "connected");
    let at = |e: &Value, plus_ms: i64| ((ms_between(connected, e) + plus_ms) * 48) as usize;
    let level = |seg: &[i16]| {
        (seg.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / seg.len() as f64).sqrt()
    };
    let muted_part = &samples[at(muted, 500)..at(unmuted, -200)];
    assert!(
        level(muted_part) < 100.0,
        "sound while muted: {}",
        level(muted_part)
    );
    let back = &samples[at(unmuted, 500)..at(unmuted, 1500)];
    let report = common::audio::analyse(back, 880.0);
    assert!(
        level(back) > 300.0 && (report.dominant_hz - 880.0).abs() < 3.0,
        "js's tone did not come back: level {}, {report:?}",
        level(back)
    );
}

/// Element's dial pad (js-sdk `sendDtmfDigit`, RFC 4733 telephone-events): mxcall reports each
/// digit as a `dtmf` event, and `--hangup-on-dtmf '#'` ends the call at the '#' (issue 12).
#[test]
fn js_sends_dtmf_and_mxcall_reports_each_digit() {
    if !interop() {
        return;
    }
    let r = rig();
    let mx = spawn(
        &r.home,
        &r.mx(
            &["answer", "--wait", "60", "--hangup-on-dtmf", "#"],
            "mx.wav",
        ),
    );
    let mut js = r.js(
        "call",
        &[
            "--room",
            &r.room,
            "--dtmf",
            "159*#",
            "--dtmf-at",
            "2",
            "--hangup-after",
            "20",
        ],
    );
    let mx_out = wait(mx, Duration::from_secs(90));
    let js_events = js.finish(Duration::from_secs(30));
    assert_success(&mx_out);
    event(&js_events, "dtmf_sent");
    let mx_events = events(&mx_out);
    let digits: String = mx_events
        .iter()
        .filter(|e| e["event"] == "dtmf")
        .map(|e| {
            // Chromium's default tone: 100 ms.
            let ms = e["duration_ms"].as_u64().unwrap();
            assert!((80..=120).contains(&ms), "{e}");
            e["digit"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(digits, "159*#", "{mx_events:?}");
    // mxcall hung up at the '#', long before js would have.
    assert_eq!(event(&mx_events, "hangup")["by"], "local");
    assert_eq!(event(&js_events, "hangup")["party"], "remote");
    // The digits replaced a moment of js's audio; the rest is its tone, undisturbed.
    assert_tone(&r.path("mx.wav"), 880.0);
}

/// mxcall's `--dtmf` and `mxcall dtmf` reach Element: Chromium plays received telephone-events
/// as the DTMF dual tones, which the js page's ear decodes (issue 12).
#[test]
fn mxcall_sends_dtmf_and_js_hears_the_tones() {
    if !interop() {
        return;
    }
    let r = rig();
    let mut js = r.js("answer", &["--hangup-after", "9"]);
    js.wait_for("ready", Duration::from_secs(60));
    let mx = spawn(
        &r.home,
        &r.mx(
            &["call", &r.room, "--dtmf", "2580", "--dtmf-delay", "2"],
            "mx.wav",
        ),
    );
    js.wait_for("dtmf_heard", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    let more = r.home.run(&["--profile", "m", "dtmf", "*9"]);
    assert_success(&more);
    let mx_out = wait(mx, Duration::from_secs(60));
    let js_events = js.finish(Duration::from_secs(30));
    assert_success(&mx_out);
    let heard = event(&js_events, "heard");
    assert_eq!(heard["dtmf_heard"], "2580*9", "{heard}");
}

/// mxcall holds, resumes, mutes and unmutes an Element user (`mxcall hold|resume|mute|unmute`
/// from another shell): js-sdk shows each (`isLocalOnHold`, the remote feed's `audio_muted`),
/// the audio stops while held or muted and comes back after the resume and the unmute (issue 12).
#[test]
fn mxcall_holds_and_mutes_a_js_peer_which_shows_it_and_hears_the_audio_come_back() {
    if !interop() {
        return;
    }
    let r = rig();
    let mut js = r.js("answer", &["--hangup-after", "13"]);
    js.wait_for("ready", Duration::from_secs(60));
    let mx = spawn(&r.home, &r.mx(&["call", &r.room], "mx.wav"));
    js.wait_for("connected", Duration::from_secs(60));
    let ctl = |cmd: &str| {
        std::thread::sleep(Duration::from_millis(2500));
        assert_success(&r.home.run(&["--profile", "m", cmd]));
    };
    ctl("hold");
    ctl("resume");
    ctl("mute");
    ctl("unmute");
    let mx_out = wait(mx, Duration::from_secs(60));
    let js_events = js.finish(Duration::from_secs(30));
    assert_success(&mx_out);
    let changes = |name: &str, field: &str| -> Vec<(bool, i64)> {
        js_events
            .iter()
            .filter(|e| e["event"] == name)
            .map(|e| (e[field].as_bool().unwrap(), e["ts"].as_i64().unwrap()))
            .collect()
    };
    let hold = changes("remote_hold", "on_hold");
    let mute = changes("remote_muted", "muted");
    assert_eq!(
        hold.iter().map(|c| c.0).collect::<Vec<_>>(),
        [true, false],
        "{js_events:?}"
    );
    assert_eq!(
        mute.iter().map(|c| c.0).collect::<Vec<_>>(),
        [true, false],
        "{js_events:?}"
    );
    // What js heard, second by second: silence in the middle of the hold and of the mute, the
    // tone again a second after each ended.
    let heard = event(&js_events, "heard");
    let started = heard["started_ts"].as_i64().unwrap();
    let by_second: Vec<f64> = heard["tone_by_second"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let share_at = |ts: i64| by_second[((ts - started) / 1000) as usize];
    for (what, changes) in [("hold", &hold), ("mute", &mute)] {
        let (start, end) = (changes[0].1, changes[1].1);
        let middle = (start + end) / 2;
        assert!(share_at(middle) < 0.2, "{what}: {by_second:?} {heard}");
        assert!(
            share_at(end + 1500) > 0.8,
            "after the {what}: {by_second:?} {heard}"
        );
    }
}
