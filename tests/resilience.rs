//! Hostile conditions around a call: the homeserver restarting mid-call.
//!
//! This binary runs its own Synapse (it restarts it), not the shared one of `scripts/test.sh`.

mod common;

use std::time::Duration;

use common::coturn::Coturn;
use common::*;

#[test]
fn a_homeserver_restart_mid_call_does_not_drop_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let synapse = OwnSynapse::start(&dir.path().join("hs"), &[]);

    let (home, room) = two_profiles_in_a_room();
    let args = |profile: &str, cmd: &[&str], input: &str, wav: &str| {
        profile_call_args(profile, cmd, input, &dir.path().join(wav))
    };
    let b = spawn(
        &home,
        &args("b", &["answer", "--wait", "40"], "tone:880", "b.wav"),
    );
    let a = spawn(
        &home,
        &args(
            "a",
            &["call", &room, "--duration", "10"],
            "tone:440",
            "a.wav",
        ),
    );
    // Once the call is up, the homeserver goes away for a few seconds and comes back.
    let start = std::time::Instant::now();
    while !call_events(&home, "a", &room)
        .iter()
        .any(|e| e["type"] == "m.call.select_answer")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the call did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    synapse.stop();
    std::thread::sleep(Duration::from_secs(3));
    synapse.restart();

    let a_out = wait(a, Duration::from_secs(60));
    let b_out = wait(b, Duration::from_secs(60));
    assert_success(&a_out);
    assert_success(&b_out);
    // The call ran its full length, and the hangup sent after the restart reached B.
    let ended = find_event(&events(&a_out), "ended").cloned().unwrap();
    assert!(ended["duration_ms"].as_u64().unwrap() >= 9_900, "{ended}");
    assert_eq!(
        find_event(&events(&b_out), "hangup").unwrap()["by"],
        "remote"
    );
    assert_tone(&dir.path().join("b.wav"), 440.0);
    assert_tone(&dir.path().join("a.wav"), 880.0);
}

// ---- The network under a call (issue 15) ------------------------------------------------------
//
// Each scenario runs in a network namespace of its own (only `lo`, with its own Synapse), where
// `iptables` can take the call's UDP away without touching the host: the outer test re-runs
// this binary inside `unshare -n` with `NETNS_SCENARIO` set, and the inner test does the work.

const NETNS_SCENARIO: &str = "MXCALL_TEST_NETNS_SCENARIO";

/// Runs `inner` (a test of this binary) inside a fresh namespace with `scenario`; skipped with
/// a note where namespaces or iptables are unavailable.
fn in_namespace(inner: &str, scenario: &str) {
    if std::env::var_os(NETNS_SCENARIO).is_some() || !netns::available() {
        return;
    }
    let text = netns::rerun_inside(inner, NETNS_SCENARIO, scenario);
    for line in text.lines().filter(|l| l.starts_with("netns: ")) {
        eprintln!("{line}");
    }
}

fn udp(action: &str) {
    netns::iptables(action, &["-o", "lo", "-p", "udp", "-j", "DROP"]);
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The link goes down for 5 s mid-call and comes back: the audio is back within 3 s of the
/// link (ICE consent checks resume on the same pair; no restart was needed), and the call ends
/// normally.
#[test]
fn a_short_link_flap_and_the_audio_comes_back() {
    in_namespace("network_scenario", "flap:5");
}

/// Down long enough (12 s) for ICE to be declared disconnected: mxcall restarts ICE through
/// `m.call.negotiate` and the audio is back within 3 s of the link.
#[test]
fn a_long_link_flap_restarts_ice_and_the_audio_comes_back() {
    in_namespace("network_scenario", "flap:12");
}

/// The link goes down for good: both sides end the call with `ice_failed`, exit 7.
#[test]
fn a_link_down_for_good_ends_the_call_with_ice_failed() {
    in_namespace("network_scenario", "down");
}

/// The two parties cannot reach each other directly (iptables drops UDP between their
/// addresses): the call goes through coturn, whose credentials mxcall gets from Synapse's
/// `/voip/turnServer` (TURN REST shared secret), with tones both ways.
#[test]
fn a_call_between_parties_without_a_direct_path_goes_through_turn() {
    if !Coturn::installed() {
        eprintln!("SKIPPED: coturn's turnserver is not installed (scripts/install-deps.sh)");
        return;
    }
    in_namespace("network_scenario", "relay");
}

#[test]
fn network_scenario() {
    let Ok(scenario) = std::env::var(NETNS_SCENARIO) else {
        return; // Only inside a namespace: the rules below would cut the host's own UDP.
    };
    let dir = tempfile::tempdir().unwrap();
    let relay = scenario == "relay";
    let coturn = relay.then(|| Coturn::start(dir.path(), 3478, (49160, 49400)));
    let turn = coturn.as_ref().map(Coturn::synapse_env);
    let turn: Vec<(&str, &str)> = turn
        .iter()
        .flatten()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let _synapse = OwnSynapse::start(&dir.path().join("hs"), &turn);

    let (home, room) = two_profiles_in_a_room();
    let args = |profile: &str, cmd: &[&str], input: &str, wav: &str| {
        let mut v = profile_call_args(profile, cmd, input, &dir.path().join(wav));
        if relay {
            // Each party on an address of its own, with no UDP between the two (below).
            let own = if profile == "a" {
                "127.0.0.2"
            } else {
                "127.0.0.3"
            };
            let at = v.iter().position(|a| a == "127.0.0.1").unwrap();
            v[at] = own.to_owned();
        }
        v
    };
    if relay {
        for (from, to) in [("127.0.0.2", "127.0.0.3"), ("127.0.0.3", "127.0.0.2")] {
            netns::iptables("-A", &["-p", "udp", "-s", from, "-d", to, "-j", "DROP"]);
        }
    }
    let flap: Option<u64> = scenario.strip_prefix("flap:").and_then(|s| s.parse().ok());
    let duration = match flap {
        Some(secs) => (secs + 12).to_string(),
        None if relay => "5".to_owned(),
        None => "90".to_owned(),
    };
    let b = spawn(
        &home,
        &args("b", &["-v", "answer", "--wait", "40"], "tone:880", "b.wav"),
    );
    let a = spawn(
        &home,
        &args(
            "a",
            &["-v", "call", &room, "--duration", &duration],
            "tone:440",
            "a.wav",
        ),
    );
    let start = std::time::Instant::now();
    while !call_events(&home, "a", &room)
        .iter()
        .any(|e| e["type"] == "m.call.select_answer")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the call did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    if relay {
        let a_out = wait(a, Duration::from_secs(90));
        let b_out = wait(b, Duration::from_secs(90));
        assert_success(&a_out);
        assert_success(&b_out);
        // Relay candidates went out (in the invite's or answer's SDP when the allocation was
        // done within its 200 ms wait, else in `m.call.candidates`), and the audio crossed.
        let relayed = call_events(&home, "a", &room)
            .iter()
            .filter(|e| {
                ["m.call.candidates", "m.call.invite", "m.call.answer"]
                    .contains(&e["type"].as_str().unwrap_or_default())
            })
            .any(|e| e["content"].to_string().contains("typ relay"));
        assert!(relayed, "no relay candidates were sent");
        assert_tone(&dir.path().join("a.wav"), 880.0);
        assert_tone(&dir.path().join("b.wav"), 440.0);
        println!("netns: relay: call through coturn, tones both ways");
        return;
    }
    std::thread::sleep(Duration::from_secs(2));
    udp("-A");
    if let Some(secs) = flap {
        std::thread::sleep(Duration::from_secs(secs));
        udp("-D");
    }
    let up_ms = unix_ms();
    let a_out = wait(a, Duration::from_secs(90));
    let b_out = wait(b, Duration::from_secs(90));
    let (a_events, b_events) = (events(&a_out), events(&b_out));
    if scenario == "down" {
        for (side, out, evs) in [("a", &a_out, &a_events), ("b", &b_out, &b_events)] {
            assert_eq!(code(out), 7, "{side}: {}", stderr(out));
            let hangup = find_event(evs, "hangup").unwrap_or_else(|| panic!("{side}: {evs:?}"));
            assert_eq!(hangup["reason"], "ice_failed", "{side}: {hangup}");
        }
        return;
    }
    assert_success(&a_out);
    assert_success(&b_out);
    // Restarted through m.call.negotiate (an offer with fresh ICE credentials).
    let negotiations = call_events(&home, "a", &room)
        .into_iter()
        .filter(|e| e["type"] == "m.call.negotiate")
        .count();
    println!("netns: {scenario}: {negotiations} m.call.negotiate");
    if flap.is_some_and(|s| s >= 10) {
        assert!(negotiations >= 2, "no ICE restart offer and answer");
    }
    // The audio came back within 3 s of the link, both ways: in each recording (which starts
    // at `connected`), the tone is there again by link-up + 3 s and stays.
    for (evs, wav, freq) in [(&a_events, "a.wav", 880.0), (&b_events, "b.wav", 440.0)] {
        let connected = find_event(evs, "connected").unwrap()["ts"]
            .as_i64()
            .unwrap();
        let frames: Vec<bool> = common::audio::read_wav(&dir.path().join(wav))
            .chunks(960)
            .map(|f| common::audio::frame_has_tone(f, freq))
            .collect();
        let up = ((up_ms - connected) / 20) as usize;
        let back = (up..frames.len()).find(|&i| frames[i]);
        let back = back.unwrap_or_else(|| {
            panic!(
                "{wav}: the tone never came back\na: {}\n{}\nb: {}\n{}",
                stdout(&a_out),
                stderr(&a_out),
                stdout(&b_out),
                stderr(&b_out)
            )
        });
        assert!(
            back <= up + 150,
            "{wav}: the tone came back {} ms after the link",
            (back - up) * 20
        );
        let after = &frames[back..frames.len().saturating_sub(25)];
        let share = after.iter().filter(|t| **t).count() as f64 / after.len().max(1) as f64;
        assert!(
            share >= 0.95,
            "{wav}: {:.0}% tone after it came back",
            share * 100.0
        );
        println!(
            "netns: {wav}: tone back {} ms after the link",
            (back - up) * 20
        );
    }
}
