//! Hostile conditions around a call: the homeserver restarting mid-call.
//!
//! This binary runs its own Synapse (it restarts it), not the shared one of `scripts/test.sh`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn a_homeserver_restart_mid_call_does_not_drop_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let hs_dir = dir.path().join("hs");
    let synapse = |args: &[&str]| {
        let out = Command::new(repo().join("scripts/synapse.sh"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "synapse.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let url = synapse(&["start", hs_dir.to_str().unwrap()]);
    // SAFETY: set before any thread of this single-test binary reads the environment.
    unsafe { std::env::set_var("MXCALL_TEST_HS", &url) };
    struct Stop(std::path::PathBuf);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = Command::new(repo().join("scripts/synapse.sh"))
                .arg("stop")
                .arg(&self.0)
                .output();
        }
    }
    let _stop = Stop(hs_dir.clone());

    let home = Home::new();
    let (a_user, apw) = register("a");
    let (b_user, bpw) = register("b");
    home.login("a", &a_user, &apw);
    home.login("b", &b_user, &bpw);
    let room = two_member_room(&home, "a", "b", &b_user);
    let args = |profile: &str, cmd: &[&str], input: &str, wav: &str| {
        let mut v: Vec<String> = ["--json", "--profile", profile].map(String::from).to_vec();
        v.extend(cmd.iter().map(|s| s.to_string()));
        v.extend(call_flags(input, &dir.path().join(wav)));
        v
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
    let port = url.rsplit(':').next().unwrap().to_owned();
    synapse(&["stop", hs_dir.to_str().unwrap()]);
    std::thread::sleep(Duration::from_secs(3));
    synapse(&["start", hs_dir.to_str().unwrap(), &port]);

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
