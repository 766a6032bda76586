//! ICE restarts and give-up, and renegotiation (`m.call.negotiate`, perfect negotiation).

use serde_json::json;

use super::harness::*;
use crate::signalling::{MediaAction, MediaInput, Outcome};

/// Alice called Bob, he answered, ICE connected at 1 s.
fn connected_caller() -> H {
    let mut h = H::alice();
    h.place_and_send(0, "c1");
    h.synced(500, BOB, "m.call.answer", answer("c1", Some(BOB_DEV)));
    h.media(1000, "c1", MediaInput::IceConnected);
    h
}

fn restarts(out: &[crate::signalling::Output]) -> usize {
    actions(out)
        .iter()
        .filter(|(_, a)| *a == MediaAction::IceRestart)
        .count()
}

#[test]
fn ice_trouble_restarts_then_gives_up() {
    // (what ICE does at 10 s, restart at (ms), ends at (ms))
    let table = [
        (MediaInput::IceDisconnected, Some(12_000), Some(40_000)),
        (MediaInput::IceFailed, Some(10_000), Some(40_000)),
    ];
    for (trouble, restart_at, end_at) in table {
        let mut h = connected_caller();
        let out = h.media(10_000, "c1", trouble.clone());
        let restarted_now = restarts(&out) == 1;
        assert_eq!(restarted_now, restart_at == Some(10_000), "{trouble:?}");
        if let Some(at) = restart_at.filter(|at| *at > 10_000) {
            assert_eq!(restarts(&h.run_until(at - 1)), 0);
            assert_eq!(restarts(&h.run_until(at)), 1, "{trouble:?}");
        }
        if let Some(at) = end_at {
            assert_eq!(outcome(&h.run_until(at - 1)), None);
            let out = h.run_until(at);
            assert_eq!(outcome(&out), Some(Outcome::MediaFailed), "{trouble:?}");
            assert_eq!(sends(&out)[0].1["reason"], json!("ice_failed"));
        }
    }
}

#[test]
fn reconnecting_cancels_restart_and_give_up() {
    let mut h = connected_caller();
    h.media(10_000, "c1", MediaInput::IceDisconnected);
    h.media(11_000, "c1", MediaInput::IceConnected);
    let out = h.run_until(100_000);
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_restart_offer_goes_out_as_negotiate_and_its_answer_is_applied() {
    let mut h = connected_caller();
    h.media(10_000, "c1", MediaInput::IceFailed);
    let out = h.media(10_050, "c1", MediaInput::LocalOffer("restart-offer".into()));
    let s = sends(&out);
    assert_eq!(send_types(&out), ["m.call.negotiate"]);
    assert_eq!(
        s[0].1["description"],
        json!({ "type": "offer", "sdp": "restart-offer" })
    );
    assert!(s[0].1["lifetime"].is_u64());
    let out = h.synced(
        10_300,
        BOB,
        "m.call.negotiate",
        negotiate("c1", BOB_DEV, "answer", 30000),
    );
    assert_eq!(
        actions(&out),
        [("c1".into(), MediaAction::AcceptAnswer("v=0 answer".into()))]
    );
    h.media(10_500, "c1", MediaInput::IceConnected);
    assert!(outcome(&h.run_until(100_000)).is_none());
}

#[test]
fn version_0_peers_cannot_renegotiate() {
    let mut h = H::alice();
    h.place_and_send(0, "c1");
    h.synced(500, BOB, "m.call.answer", answer("c1", None));
    h.media(1000, "c1", MediaInput::IceConnected);
    // Disconnected: no restart, only the give-up clock.
    let out = h.media(2000, "c1", MediaInput::IceDisconnected);
    assert!(out.is_empty());
    assert_eq!(restarts(&h.run_until(31_999)), 0);
    assert_eq!(outcome(&h.run_until(32_000)), Some(Outcome::MediaFailed));
    // Failed: hang up at once.
    let mut h = H::alice();
    h.place_and_send(0, "c1");
    h.synced(500, BOB, "m.call.answer", answer("c1", None));
    let out = h.media(1000, "c1", MediaInput::IceFailed);
    assert_eq!(outcome(&out), Some(Outcome::MediaFailed));
}

#[test]
fn ice_that_never_connects_gives_up_after_30_s() {
    let mut h = H::alice();
    h.place_and_send(0, "c1");
    h.synced(500, BOB, "m.call.answer", answer("c1", Some(BOB_DEV)));
    assert_eq!(outcome(&h.run_until(30_499)), None);
    assert_eq!(outcome(&h.run_until(30_500)), Some(Outcome::MediaFailed));
}

#[test]
fn negotiate_from_the_selected_party_is_answered() {
    // (who sends the offer, its age ms, answered?)
    let table = [
        (BOB, BOB_DEV, 0, true),
        (BOB, "TABLET", 0, false),     // another of Bob's devices
        (EVE, BOB_DEV, 0, false),      // a third user copying the party id
        (BOB, BOB_DEV, 30_000, false), // older than its lifetime
    ];
    for (sender, party, age, want) in table {
        let mut h = connected_caller();
        let out = h.remote_aged(
            5000,
            sender,
            "m.call.negotiate",
            negotiate("c1", party, "offer", 30000),
            age,
        );
        h.batch_end(5000);
        let accepted =
            actions(&out) == [("c1".into(), MediaAction::AcceptOffer("v=0 offer".into()))];
        assert_eq!(accepted, want, "{sender} {party} {age}");
        if want {
            let out = h.media(5100, "c1", MediaInput::LocalAnswer("neg-answer".into()));
            let s = sends(&out);
            assert_eq!(send_types(&out), ["m.call.negotiate"]);
            assert_eq!(
                s[0].1["description"],
                json!({ "type": "answer", "sdp": "neg-answer" })
            );
        } else {
            assert!(out.is_empty(), "{out:?}");
        }
    }
}

#[test]
fn offer_collisions_follow_politeness() {
    // The caller is impolite: while its own offer is in flight it ignores theirs.
    let mut h = connected_caller();
    h.media(5000, "c1", MediaInput::IceFailed);
    h.media(5010, "c1", MediaInput::LocalOffer("ours".into()));
    let out = h.synced(
        5020,
        BOB,
        "m.call.negotiate",
        negotiate("c1", BOB_DEV, "offer", 30000),
    );
    assert!(actions(&out).is_empty(), "{out:?}");

    // The callee is polite: it takes their offer (the engine rolls its own back).
    let mut h = H::alice();
    h.answer_bob(0, "c1");
    h.media(1000, "c1", MediaInput::IceConnected);
    h.media(5000, "c1", MediaInput::IceFailed);
    h.media(5010, "c1", MediaInput::LocalOffer("ours".into()));
    let out = h.synced(
        5020,
        BOB,
        "m.call.negotiate",
        negotiate("c1", BOB_DEV, "offer", 30000),
    );
    assert_eq!(
        actions(&out),
        [("c1".into(), MediaAction::AcceptOffer("v=0 offer".into()))]
    );
    // Their answer to our abandoned offer is then ignored.
    let out = h.synced(
        5030,
        BOB,
        "m.call.negotiate",
        negotiate("c1", BOB_DEV, "answer", 30000),
    );
    assert!(actions(&out).is_empty());
}

#[test]
fn ice_news_before_our_answer_is_out_still_ends_the_call_in_time() {
    // Found by the property test: ICE reported up (then down) while our answer was still held
    // for its 200 ms of candidates left the call without any running timer.
    let mut h = H::alice();
    h.ring_from_bob(0, "c1");
    h.cmd(0, crate::signalling::Command::Answer { call_id: None });
    h.media(0, "c1", MediaInput::LocalAnswer("answer".into()));
    h.media(0, "c1", MediaInput::IceConnected);
    h.media(0, "c1", MediaInput::IceDisconnected);
    assert_eq!(send_types(&h.run_until(200)), ["m.call.answer"]);
    assert_eq!(outcome(&h.run_until(29_999)), None);
    assert_eq!(outcome(&h.run_until(30_000)), Some(Outcome::MediaFailed));
}

/// A restart made while the network is down can never connect; it is tried again every 5 s
/// until ICE connects (then no more) or the call gives up at 30 s (issue 15).
#[test]
fn a_restart_that_does_not_reconnect_is_tried_again() {
    let mut h = connected_caller();
    h.media(10_000, "c1", MediaInput::IceDisconnected);
    assert_eq!(restarts(&h.run_until(12_000)), 1);
    assert_eq!(restarts(&h.run_until(16_999)), 0);
    assert_eq!(restarts(&h.run_until(17_000)), 1);
    assert_eq!(restarts(&h.run_until(22_000)), 1);
    h.media(23_000, "c1", MediaInput::IceConnected);
    let out = h.run_until(100_000);
    assert_eq!(restarts(&out), 0, "{out:?}");
    assert_eq!(outcome(&out), None);
}
