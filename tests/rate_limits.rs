//! A homeserver with Synapse's default message rate limit (0.2 events/s per user, bursts of 10):
//! every other test homeserver raises it out of reach. Back-to-back calls run into 429s; each
//! must still end cleanly on both sides, and the hangup must reach the other side.
//!
//! This binary runs its own Synapse (`MXCALL_HS_DEFAULT_MESSAGE_LIMIT=1`), not the shared one of
//! `scripts/test.sh`.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn back_to_back_calls_end_cleanly_under_the_default_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let _synapse = OwnSynapse::start(
        &dir.path().join("hs"),
        &[("MXCALL_HS_DEFAULT_MESSAGE_LIMIT", "1")],
    );

    let (home, room) = two_profiles_in_a_room();
    let args = |profile: &str, cmd: &[&str], input: &str, wav: &str| {
        profile_call_args(profile, cmd, input, &dir.path().join(wav))
    };
    for round in 0..5 {
        let b = spawn(
            &home,
            &args("b", &["answer", "--wait", "60"], "tone:880", "b.wav"),
        );
        let a = spawn(
            &home,
            &args(
                "a",
                &["call", &room, "--duration", "1"],
                "tone:440",
                "a.wav",
            ),
        );
        let a_out = wait(a, Duration::from_secs(90));
        let a_done = Instant::now();
        let b_out = wait(b, Duration::from_secs(90));
        let b_late = a_done.elapsed();
        for (who, out) in [("a", &a_out), ("b", &b_out)] {
            assert_success(out);
            let evs = events(out);
            let ended = find_event(&evs, "ended")
                .unwrap_or_else(|| panic!("round {round}: {who} printed no ended: {evs:?}"));
            assert_eq!(
                ended["outcome"], "completed",
                "round {round}, {who}: {ended}"
            );
        }
        // b heard a's hangup, instead of staying in the call until its own timeout.
        let b_events = events(&b_out);
        let hangup = find_event(&b_events, "hangup")
            .unwrap_or_else(|| panic!("round {round}: b saw no hangup"));
        assert_eq!(hangup["by"], "remote", "round {round}: {hangup}");
        assert!(
            b_late < Duration::from_secs(15),
            "round {round}: b stayed {b_late:?} after a had hung up"
        );
    }
}
