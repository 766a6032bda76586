//! MatrixRTC calls between mxcall processes (Element Call's and Element X's protocol: call
//! memberships, ring notifications, declines, MSC4140 delayed leaves) through a real Synapse in
//! its MatrixRTC configuration, a real livekit-server and the LiveKit JWT service
//! (`tests/common/rtc.rs`). Audio is verified where a call connects. The calls against
//! Element Call's engine (matrix-js-sdk + livekit-client in Chromium) are in
//! `tests/interop_matrixrtc.rs`.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const MEMBER: &str = "org.matrix.msc3401.call.member";

struct Pair {
    home: Home,
    a_user: String,
    b_user: String,
    room: String,
    dir: tempfile::TempDir,
}

/// Two fresh accounts logged in as `a` and `b`, in a DM made as Element makes one
/// (`trusted_private_chat`: both may send call memberships), unencrypted. `None` when the
/// MatrixRTC backend is skipped.
fn pair() -> Option<Pair> {
    rtc::env()?;
    let home = Home::new();
    let (a_user, apw) = register("a");
    let (b_user, bpw) = register("b");
    home.login("a", &a_user, &apw);
    home.login("b", &b_user, &bpw);
    let room = dm(&home, "a", "b", &b_user);
    Some(Pair {
        home,
        a_user,
        b_user,
        room,
        dir: tempfile::tempdir().unwrap(),
    })
}

impl Pair {
    fn wav(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn args(&self, profile: &str, cmd: &[&str], input: &str, record: &str) -> Vec<String> {
        let mut args: Vec<String> = vec!["--json".into(), "--profile".into(), profile.into()];
        args.extend(cmd.iter().map(|s| s.to_string()));
        args.extend(call_flags(input, &self.wav(record)));
        args
    }

    /// Every call membership of the room: (state key, content).
    fn memberships(&self) -> Vec<(String, Value)> {
        let state = api(
            "GET",
            &format!("/rooms/{}/state", urlencode(&self.room)),
            &token(&self.home, "a"),
            None,
        );
        state
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == MEMBER)
            .map(|e| {
                (
                    e["state_key"].as_str().unwrap().to_owned(),
                    e["content"].clone(),
                )
            })
            .collect()
    }

    /// The membership content of `user`'s devices that are in the call (non-empty content).
    fn joined(&self, user: &str) -> Vec<Value> {
        self.memberships()
            .into_iter()
            .filter(|(k, c)| {
                k.starts_with(&format!("_{user}_")) && c.as_object().is_some_and(|o| !o.is_empty())
            })
            .map(|(_, c)| c)
            .collect()
    }

    /// The newest event of `event_type` in the room's timeline, if any.
    fn newest(&self, event_type: &str) -> Option<Value> {
        let filter = json!({"types": [event_type]}).to_string();
        let v = api(
            "GET",
            &format!(
                "/rooms/{}/messages?dir=b&limit=20&filter={}",
                urlencode(&self.room),
                urlencode(&filter)
            ),
            &token(&self.home, "a"),
            None,
        );
        v["chunk"].as_array().and_then(|c| c.first()).cloned()
    }

    fn wait_joined(&self, user: &str, limit: Duration) -> Value {
        let start = Instant::now();
        loop {
            if let Some(c) = self.joined(user).into_iter().next() {
                return c;
            }
            assert!(start.elapsed() < limit, "{user} never joined the call");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn assert_all_left(&self) {
        let members = self.memberships();
        assert!(!members.is_empty(), "no membership was ever sent");
        for (key, content) in members {
            assert_eq!(content, json!({}), "membership {key} still set");
        }
    }
}

fn protocol_of(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| e["protocol"].as_str())
        .collect()
}

#[test]
fn mxcall_calls_mxcall_over_matrixrtc_with_audio_both_ways_and_both_leave() {
    let Some(p) = pair() else { return };
    let b = spawn(
        &p.home,
        &p.args("b", &["answer", "--wait", "60"], "tone:880", "b.wav"),
    );
    // `auto`: the homeserver advertises a LiveKit service, so the call is MatrixRTC.
    let a = spawn(
        &p.home,
        &p.args(
            "a",
            &["call", &p.room, "--duration", "4"],
            "tone:440",
            "a.wav",
        ),
    );
    let a_out = wait(a, Duration::from_secs(60));
    let b_out = wait(b, Duration::from_secs(30));
    assert_eq!(code(&a_out), 0, "{}", stderr(&a_out));
    assert_eq!(code(&b_out), 0, "{}", stderr(&b_out));
    let (ae, be) = (events(&a_out), events(&b_out));
    for name in ["joined", "invite_sent", "connected", "media", "ended"] {
        assert!(
            find_event(&ae, name).is_some(),
            "caller: no {name} in {ae:?}"
        );
    }
    for name in ["ringing", "joined", "connected", "media", "ended"] {
        assert!(
            find_event(&be, name).is_some(),
            "callee: no {name} in {be:?}"
        );
    }
    assert!(protocol_of(&ae).iter().all(|p| *p == "matrixrtc"), "{ae:?}");
    assert!(protocol_of(&be).iter().all(|p| *p == "matrixrtc"), "{be:?}");
    assert_eq!(
        find_event(&be, "ringing").unwrap()["caller"],
        p.a_user.as_str()
    );
    assert_eq!(find_event(&ae, "ended").unwrap()["outcome"], "completed");
    // The caller's hangup (`--duration`) ended the callee's call: 1:1 semantics.
    assert_eq!(find_event(&be, "ended").unwrap()["outcome"], "completed");
    assert_tone(&p.wav("a.wav"), 880.0);
    assert_tone(&p.wav("b.wav"), 440.0);
    // Both memberships withdrawn (`{}`), nothing left "in the call".
    p.assert_all_left();
    // Nothing of the legacy protocol was sent.
    assert!(call_events(&p.home, "a", &p.room).is_empty());
}

#[test]
fn the_membership_is_what_element_call_writes_and_rings_with_a_notification() {
    let Some(p) = pair() else { return };
    let env = rtc::env().unwrap();
    let a = spawn(
        &p.home,
        &p.args(
            "a",
            &["call", &p.room, "--ring-timeout", "20"],
            "tone:440",
            "a.wav",
        ),
    );
    let m = p.wait_joined(&p.a_user, Duration::from_secs(30));
    let device = p.home.session("a")["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(m["application"], "m.call");
    assert_eq!(m["call_id"], "");
    assert_eq!(m["scope"], "m.room");
    assert_eq!(m["device_id"], device.as_str());
    assert_eq!(m["m.call.intent"], "audio");
    assert_eq!(
        m["focus_active"],
        json!({"type": "livekit", "focus_selection": "multi_sfu"})
    );
    assert_eq!(
        m["foci_preferred"],
        json!([{"type": "livekit", "livekit_service_url": env.service_url, "livekit_alias": p.room}])
    );
    assert!(m["expires"].as_u64().unwrap() > 0);
    // The ring: a notification relating to that membership, naming the callee.
    let start = Instant::now();
    let ring = loop {
        let v = p.newest("org.matrix.msc4075.rtc.notification");
        if let Some(e) = v {
            break e;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no ring notification"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let c = &ring["content"];
    assert_eq!(c["notification_type"], "ring");
    assert_eq!(c["m.mentions"]["user_ids"], json!([p.b_user]));
    assert_eq!(c["m.relates_to"]["rel_type"], "m.reference");
    assert!(c["lifetime"].as_u64().unwrap() > 0);
    assert!(c["sender_ts"].as_u64().unwrap() > 0);
    // Ctrl-C while ringing: the caller leaves; the call never connected, so the command says
    // it was interrupted (130), as a legacy call does.
    unsafe { libc::kill(a.id() as i32, libc::SIGINT) };
    let a_out = wait(a, Duration::from_secs(20));
    assert_cancelled(&a_out);
    p.assert_all_left();
}

#[test]
fn declining_a_matrixrtc_ring_ends_the_call_with_exit_5_within_seconds() {
    let Some(p) = pair() else { return };
    // B's watcher declines through `mxcall hangup` (the control socket of the watch process).
    let exec = format!("{BIN} hangup --reason busy");
    let b = spawn(
        &p.home,
        &[
            "--json".into(),
            "--profile".into(),
            "b".into(),
            "watch".into(),
            "--once".into(),
            "--exec".into(),
            exec,
        ],
    );
    std::thread::sleep(Duration::from_secs(2));
    let a = spawn(
        &p.home,
        &p.args(
            "a",
            &["call", &p.room, "--ring-timeout", "40"],
            "tone:440",
            "a.wav",
        ),
    );
    let started = Instant::now();
    let a_out = wait(a, Duration::from_secs(40));
    assert_eq!(code(&a_out), 5, "{}", stderr(&a_out));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    let ae = events(&a_out);
    assert_eq!(find_event(&ae, "ended").unwrap()["outcome"], "declined");
    let b_out = wait(b, Duration::from_secs(20));
    let be = events(&b_out);
    assert_eq!(find_event(&be, "ringing").unwrap()["protocol"], "matrixrtc");
    // The decline is an MSC4310 event from B relating to A's ring.
    let decline = p
        .newest("org.matrix.msc4310.rtc.decline")
        .expect("no decline in the room");
    let decline = &decline;
    assert_eq!(decline["sender"], p.b_user.as_str());
    assert_eq!(
        decline["content"]["m.relates_to"]["rel_type"],
        "m.reference"
    );
    assert!(p.joined(&p.b_user).is_empty(), "the callee joined");
    p.assert_all_left();
}

#[test]
fn nobody_answers_exit_6_and_the_membership_is_withdrawn() {
    let Some(p) = pair() else { return };
    let a = spawn(
        &p.home,
        &p.args(
            "a",
            &["call", &p.room, "--ring-timeout", "3"],
            "tone:440",
            "a.wav",
        ),
    );
    let a_out = wait(a, Duration::from_secs(30));
    assert_eq!(code(&a_out), 6, "{}", stderr(&a_out));
    assert_eq!(
        find_event(&events(&a_out), "ended").unwrap()["outcome"],
        "no_answer"
    );
    p.assert_all_left();
    // The ring is over: an `answer` started now finds nothing to answer.
    let b = p.home.run(&[
        "--json",
        "--profile",
        "b",
        "answer",
        "--wait",
        "3",
        "--output",
        "null",
        "--input",
        "tone:880",
    ]);
    assert_eq!(code(&b), 6, "{}", stderr(&b));
    assert!(
        find_event(&events(&b), "ringing").is_none(),
        "{}",
        stdout(&b)
    );
}

#[test]
fn a_killed_caller_leaves_through_its_delayed_event_and_the_call_ends() {
    let Some(p) = pair() else { return };
    let b = spawn(
        &p.home,
        &p.args("b", &["answer", "--wait", "60"], "tone:880", "b.wav"),
    );
    let a = spawn(
        &p.home,
        &p.args("a", &["call", &p.room], "tone:440", "a.wav"),
    );
    p.wait_joined(&p.b_user, Duration::from_secs(40));
    std::thread::sleep(Duration::from_secs(2));
    let killed = Instant::now();
    unsafe { libc::kill(a.id() as i32, libc::SIGKILL) };
    let _ = a.wait_with_output();
    // The homeserver publishes A's `{}` when the delayed leave is no longer restarted (8 s).
    loop {
        if p.joined(&p.a_user).is_empty() {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "A's membership outlived it"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let b_out = wait(b, Duration::from_secs(30));
    assert!(
        killed.elapsed() < Duration::from_secs(20),
        "B's call outlived A by {:?}",
        killed.elapsed()
    );
    assert_eq!(code(&b_out), 0, "{}", stderr(&b_out));
    let be = events(&b_out);
    assert!(find_event(&be, "connected").is_some(), "{be:?}");
    assert_eq!(find_event(&be, "ended").unwrap()["outcome"], "completed");
    p.assert_all_left();
}

#[test]
fn calling_while_the_other_members_ring_is_live_answers_it() {
    let Some(p) = pair() else { return };
    // B calls (and rings A)…
    let b = spawn(
        &p.home,
        &p.args(
            "b",
            &["call", &p.room, "--duration", "8"],
            "tone:880",
            "b.wav",
        ),
    );
    p.wait_joined(&p.b_user, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(1));
    // …and A, instead of `answer`, calls the room too: it joins B's session, no second ring.
    let a = spawn(
        &p.home,
        &p.args(
            "a",
            &["call", &p.room, "--duration", "4"],
            "tone:440",
            "a.wav",
        ),
    );
    let a_out = wait(a, Duration::from_secs(40));
    let b_out = wait(b, Duration::from_secs(40));
    assert_eq!(code(&a_out), 0, "{}", stderr(&a_out));
    assert_eq!(code(&b_out), 0, "{}", stderr(&b_out));
    let ae = events(&a_out);
    assert!(find_event(&ae, "invite_sent").is_none(), "A rang: {ae:?}");
    assert!(find_event(&ae, "connected").is_some(), "{ae:?}");
    assert_tone(&p.wav("a.wav"), 880.0);
    assert_tone(&p.wav("b.wav"), 440.0);
    p.assert_all_left();
}

/// A membership of A's (as any client writes it) and a ring with the given timing; the ring's
/// event id.
fn ring_from_a(p: &Pair, sender_ts_ago: Duration, lifetime: Duration) -> String {
    let membership = put_membership(p, "a", &p.a_user, "RINGER");
    ring_from_a_for(p, &membership, sender_ts_ago, lifetime)
}

/// A call membership of `user`'s device `device` (as any client writes it, straight through the
/// API: no LiveKit behind it); its event id.
fn put_membership(p: &Pair, profile: &str, user: &str, device: &str) -> Value {
    let key = format!("_{user}_{device}_m.call");
    let service = &rtc::env().unwrap().service_url;
    api(
        "PUT",
        &format!(
            "/rooms/{}/state/{MEMBER}/{}",
            urlencode(&p.room),
            urlencode(&key)
        ),
        &token(&p.home, profile),
        Some(json!({
            "application": "m.call", "call_id": "", "scope": "m.room", "device_id": device,
            "expires": 14_400_000, "m.call.intent": "audio",
            "focus_active": {"type": "livekit", "focus_selection": "multi_sfu"},
            "foci_preferred": [{"type": "livekit", "livekit_service_url": service, "livekit_alias": p.room}],
        })),
    )
}

fn ring_from_a_for(
    p: &Pair,
    membership: &Value,
    sender_ts_ago: Duration,
    lifetime: Duration,
) -> String {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let txn = format!("ring{now_ms}");
    api(
        "PUT",
        &format!(
            "/rooms/{}/send/org.matrix.msc4075.rtc.notification/{txn}",
            urlencode(&p.room)
        ),
        &token(&p.home, "a"),
        Some(json!({
            "notification_type": "ring",
            "sender_ts": now_ms - sender_ts_ago.as_millis() as u64,
            "lifetime": lifetime.as_millis() as u64,
            "m.mentions": {"user_ids": [p.b_user]},
            "m.relates_to": {"rel_type": "m.reference", "event_id": membership["event_id"]},
            "m.call.intent": "audio",
        })),
    )["event_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_stale_ring_never_rings_and_a_live_one_does() {
    let Some(p) = pair() else { return };
    let watch = spawn(
        &p.home,
        &[
            "--json".into(),
            "--profile".into(),
            "b".into(),
            "watch".into(),
        ],
    );
    std::thread::sleep(Duration::from_secs(3));
    // Sent 15 s ago (within the 20 s clock skew MSC4075 allows) with a 10 s lifetime: over.
    let stale = ring_from_a(&p, Duration::from_secs(15), Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    // The same with a 60 s lifetime rings (the test can fail).
    let live = ring_from_a(&p, Duration::from_secs(15), Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    unsafe { libc::kill(watch.id() as i32, libc::SIGINT) };
    let out = wait(watch, Duration::from_secs(20));
    let rings: Vec<Value> = events(&out)
        .into_iter()
        .filter(|e| e["event"] == "ringing")
        .collect();
    assert_eq!(rings.len(), 1, "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(
        rings[0]["call_id"],
        live.as_str(),
        "stale ring {stale} rang"
    );
    assert_eq!(rings[0]["protocol"], "matrixrtc");
    assert_eq!(rings[0]["caller"], p.a_user.as_str());
}

#[test]
fn hangup_without_a_running_process_declines_a_matrixrtc_ring() {
    let Some(p) = pair() else { return };
    let a = spawn(
        &p.home,
        &p.args(
            "a",
            &["call", &p.room, "--ring-timeout", "40"],
            "tone:440",
            "a.wav",
        ),
    );
    p.wait_joined(&p.a_user, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    let out = p.home.run(&["--json", "--profile", "b", "hangup"]);
    assert_success(&out);
    let result: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["action"], "decline", "{result}");
    assert_eq!(result["protocol"], "matrixrtc");
    assert_eq!(result["caller"], p.a_user.as_str());
    let started = Instant::now();
    let a_out = wait(a, Duration::from_secs(30));
    assert_eq!(code(&a_out), 5, "{}", stderr(&a_out));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    p.assert_all_left();
    // Nothing else rings: a second hangup finds no call.
    let again = p.home.run(&["--profile", "b", "hangup"]);
    assert_fails_with(&again, 1);
}

#[test]
fn mxcall_calls_mxcall_in_an_encrypted_dm_over_matrixrtc_with_end_to_end_encrypted_media() {
    let Some(p) = pair() else { return };
    let room = encrypted_dm(&p.home, "a", "b", &p.b_user);
    let b = spawn(
        &p.home,
        &p.args("b", &["answer", "--wait", "60"], "tone:880", "b.wav"),
    );
    // `auto` in an encrypted room: MatrixRTC, with per-participant media keys.
    let a = spawn(
        &p.home,
        &p.args(
            "a",
            &["call", &room, "--duration", "5"],
            "tone:440",
            "a.wav",
        ),
    );
    let a_out = wait(a, Duration::from_secs(60));
    let b_out = wait(b, Duration::from_secs(30));
    assert_eq!(code(&a_out), 0, "{}", stderr(&a_out));
    assert_eq!(code(&b_out), 0, "{}", stderr(&b_out));
    for (who, out, peer) in [("caller", &a_out, &p.b_user), ("callee", &b_out, &p.a_user)] {
        let ev = events(out);
        assert!(
            protocol_of(&ev).iter().all(|p| *p == "matrixrtc"),
            "{who}: {ev:?}"
        );
        let connected = find_event(&ev, "connected").unwrap_or_else(|| panic!("{who}: {ev:?}"));
        assert_eq!(connected["encrypted"], true, "{who}: {connected}");
        // The other's key came (to-device, Olm) for its LiveKit identity.
        let key = find_event(&ev, "e2ee_key").unwrap_or_else(|| panic!("{who}: {ev:?}"));
        assert!(
            key["identity"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{peer}:")),
            "{who}: {key}"
        );
        let ended = find_event(&ev, "ended").unwrap();
        assert_eq!(ended["encrypted"], true, "{who}: {ended}");
        let e2ee = &ended["e2ee"];
        assert!(
            e2ee["frames_encrypted"].as_u64().unwrap() > 100,
            "{who}: {ended}"
        );
        assert!(
            e2ee["frames_decrypted"].as_u64().unwrap() > 100,
            "{who}: {ended}"
        );
        assert!(
            find_event(&ev, "e2ee_key_missing").is_none(),
            "{who}: {ev:?}"
        );
    }
    // What each heard was decrypted: the other's tone.
    assert_tone(&p.wav("a.wav"), 880.0);
    assert_tone(&p.wav("b.wav"), 440.0);
    // Nothing of the legacy protocol was sent.
    assert!(call_events(&p.home, "a", &room).is_empty());
}

#[test]
fn a_member_who_never_reaches_the_sfu_fails_the_call_with_exit_7() {
    let Some(p) = pair() else { return };
    let a = spawn(
        &p.home,
        &p.args(
            "a",
            &["call", &p.room, "--ring-timeout", "60"],
            "tone:440",
            "a.wav",
        ),
    );
    p.wait_joined(&p.a_user, Duration::from_secs(30));
    // B "answers" with a membership but never joins the LiveKit room.
    put_membership(&p, "b", &p.b_user, "NOSFU");
    let answered = Instant::now();
    let a_out = wait(a, Duration::from_secs(60));
    assert_eq!(code(&a_out), 7, "{}", stderr(&a_out));
    assert!(
        answered.elapsed() >= Duration::from_secs(25),
        "{:?}",
        answered.elapsed()
    );
    let ae = events(&a_out);
    assert!(find_event(&ae, "connecting").is_some(), "{ae:?}");
    assert!(find_event(&ae, "connected").is_none(), "{ae:?}");
    assert_eq!(find_event(&ae, "ended").unwrap()["outcome"], "media_failed");
    assert!(
        stderr(&a_out).contains("did not reach the LiveKit SFU"),
        "{}",
        stderr(&a_out)
    );
    assert!(p.joined(&p.a_user).is_empty(), "A is still in the call");
}
