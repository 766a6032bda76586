//! Only the other member counts: a third user's memberships, rings and declines change
//! nothing, nobody can remove someone else's membership, and malformed content never panics.

use serde_json::{Value, json};

use super::harness::*;
use crate::matrixrtc::{Command, Event, Outcome, Phase, decline, membership, notification};

#[test]
fn a_third_users_membership_and_ring_change_nothing() {
    let mut w = World::solo();
    let m = w.inject(
        EVE,
        membership::EVENT_TYPE,
        Some(&key(EVE, "EVEDEV")),
        ec_membership("EVEDEV", EVE, SFU),
    );
    let now = w.now_ms();
    w.inject(EVE, notification::EVENT_TYPE, None, ring(&m, now, 30_000));
    w.run_for(1_000);
    assert!(w.sides[A].events().is_empty());
    assert_eq!(w.phase(A), Phase::Idle);
    // Calling rings Bob: Eve's membership is no session.
    w.cmd(A, Command::Call);
    w.run_for(1_000);
    assert!(w.sides[A].kinds().contains(&Kind::Notification));
}

#[test]
fn a_third_users_decline_does_not_decline_our_ring() {
    let mut w = World::new();
    w.cmd(A, Command::Call);
    w.run_for(2_000);
    let n = w.server.events_of(notification::EVENT_TYPE)[0]
        .event_id
        .clone();
    w.inject(EVE, decline::EVENT_TYPE, None, decline::content(&n));
    // A decline from Bob that relates to something else does not count either.
    w.inject(BOB, decline::EVENT_TYPE, None, decline::content("$other"));
    w.run_for(2_000);
    assert_eq!(w.sides[A].outcome(), None);
    assert_eq!(w.phase(A), Phase::InCall);
    w.cmd(B, Command::Answer);
    w.run_for(2_000);
    assert!(peer_joined(&w.sides[A]));
}

#[test]
fn nobody_can_remove_someone_elses_membership() {
    let mut w = World::new();
    w.connected_call();
    // Eve (or Bob) writes `{}` under the other's state key: not theirs, ignored.
    w.inject(
        EVE,
        membership::EVENT_TYPE,
        Some(&key(BOB, BOB_DEV)),
        json!({}),
    );
    w.inject(
        BOB,
        membership::EVENT_TYPE,
        Some(&key(ALICE, ALICE_DEV)),
        json!({}),
    );
    w.run_for(5_000);
    assert_eq!(w.sides[A].count(|e| matches!(e, Event::PeerLeft { .. })), 0);
    assert_eq!(w.sides[B].count(|e| matches!(e, Event::PeerLeft { .. })), 0);
    assert_eq!(w.phase(A), Phase::InCall);
    assert_eq!(w.phase(B), Phase::InCall);
    assert!(
        !w.sides[A]
            .events()
            .iter()
            .any(|e| matches!(e, Event::Warning(_)))
    );
}

#[test]
fn a_third_users_membership_does_not_keep_a_call_alive() {
    let mut w = World::solo();
    bob_joins(&mut w);
    w.inject(
        EVE,
        membership::EVENT_TYPE,
        Some(&key(EVE, "EVEDEV")),
        ec_membership("EVEDEV", EVE, SFU),
    );
    w.run_for(1_000);
    w.cmd(A, Command::Call);
    w.run_for(2_000);
    assert_eq!(
        w.sides[A].count(|e| matches!(e, Event::PeerJoined { .. })),
        1
    );
    w.inject(
        BOB,
        membership::EVENT_TYPE,
        Some(&key(BOB, BOB_DEV)),
        json!({}),
    );
    w.run_for(1_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Completed));
}

/// Contents that must not crash anything, for every call event type.
fn garbage() -> Vec<Value> {
    vec![
        json!(null),
        json!(5),
        json!("ring"),
        json!([]),
        json!([{ "application": "m.call" }]),
        json!({}),
        json!({ "application": 5, "call_id": [], "device_id": {} }),
        json!({ "application": "m.call", "call_id": "", "device_id": BOB_DEV, "focus_active": "livekit" }),
        json!({ "application": "m.call", "call_id": "", "device_id": BOB_DEV, "focus_active": { "type": 1 } }),
        json!({ "memberships": [{ "application": "m.call", "call_id": "", "device_id": BOB_DEV }] }),
        json!({ "notification_type": "ring", "sender_ts": "now", "lifetime": 30000 }),
        json!({ "notification_type": "ring", "sender_ts": 0, "lifetime": -1, "m.relates_to": { "event_id": "$x", "rel_type": "m.reference" } }),
        json!({ "notification_type": "ring", "sender_ts": 18_446_744_073_709_551_615u64, "lifetime": 18_446_744_073_709_551_615u64, "m.relates_to": { "event_id": "$x", "rel_type": "m.reference" } }),
        json!({ "notification_type": "ring", "sender_ts": 0, "lifetime": 30000, "m.relates_to": "$x" }),
        json!({ "notification_type": "ring", "sender_ts": 0, "lifetime": 30000, "m.relates_to": { "event_id": ["$x"], "rel_type": "m.reference" }, "m.mentions": { "user_ids": "all", "room": "yes" } }),
        json!({ "m.relates_to": null }),
        json!({ "m.relates_to": { "event_id": {}, "rel_type": 5 } }),
    ]
}

#[test]
fn malformed_content_never_panics_and_never_rings() {
    let mut w = World::solo();
    let bob_key = key(BOB, BOB_DEV);
    for c in garbage() {
        for ty in [
            membership::EVENT_TYPE,
            notification::EVENT_TYPE,
            decline::EVENT_TYPE,
        ] {
            w.inject(BOB, ty, None, c.clone());
            w.inject(BOB, ty, Some(&bob_key), c.clone());
            w.inject(BOB, ty, Some(""), c.clone());
            w.inject(ALICE, ty, Some(&key(ALICE, ALICE_DEV)), c.clone());
        }
        w.run_for(200);
    }
    w.run_for(10_000);
    assert!(!w.sides[A].rang());
    assert!(
        !w.sides[A]
            .events()
            .iter()
            .any(|e| matches!(e, Event::SessionActive { .. })),
        "{:?}",
        w.sides[A].events()
    );
    // The machine still works.
    w.cmd(A, Command::Call);
    w.run_for(1_000);
    assert!(w.sides[A].kinds().contains(&Kind::Notification));
}

#[test]
fn malformed_content_from_the_peer_mid_call_counts_as_left() {
    // Element X: a membership it cannot parse is a member who left.
    let mut w = World::solo();
    bob_joins(&mut w);
    w.run_for(1_000);
    w.cmd(A, Command::Call);
    w.run_for(2_000);
    assert!(peer_joined(&w.sides[A]));
    let mut bad = ec_membership(BOB_DEV, BOB, BOB_SFU);
    bad["device_id"] = json!(7);
    w.inject(BOB, membership::EVENT_TYPE, Some(&key(BOB, BOB_DEV)), bad);
    w.run_for(1_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Completed));
}

#[test]
fn absurd_numbers_neither_overflow_nor_expire_at_once() {
    // Valid for js-sdk (numbers), and practically forever.
    for c in [
        json!({ "application": "m.call", "call_id": "", "device_id": BOB_DEV, "focus_active": { "type": "livekit" }, "expires": 1e308, "created_ts": -1e308 }),
        json!({ "application": "m.call", "call_id": "", "device_id": BOB_DEV, "focus_active": { "type": "livekit" }, "expires": 18_446_744_073_709_551_615u64, "created_ts": 18_446_744_073_709_551_615u64 }),
    ] {
        let mut w = World::solo();
        w.inject(BOB, membership::EVENT_TYPE, Some(&key(BOB, BOB_DEV)), c);
        w.run_for(1_000);
        assert_eq!(
            w.sides[A].count(|e| matches!(e, Event::SessionActive { .. })),
            1
        );
        let t = w.sides[A]
            .m
            .poll_timeout()
            .expect("the expiry is a deadline");
        assert!(t > w.instant(w.now + 365 * 24 * 3600 * 1000));
    }
}
