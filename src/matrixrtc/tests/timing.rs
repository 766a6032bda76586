//! Staying joined: `expires` refreshes, the peer's membership lapsing, a lost delayed leave,
//! our membership removed behind our back, a server with a shorter maximum delay.

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::*;
use crate::matrixrtc::{Command, Event, Outcome, Phase, Request, membership};

/// Alice's membership contents sent (not leaves), with when.
fn memberships(w: &World) -> Vec<(u64, Value)> {
    w.sides[A]
        .requests()
        .into_iter()
        .filter_map(|(t, r)| match r {
            Request::SendMembership { content, .. } if content != json!({}) => Some((t, content)),
            _ => None,
        })
        .collect()
}

#[test]
fn expires_is_refreshed_every_hour_with_the_default_four_hours() {
    let mut w = World::new();
    w.connected_call();
    let (sent, first) = memberships(&w)[0].clone();
    assert_eq!(first["expires"], json!(4 * 3600 * 1000));
    assert!(first.get("created_ts").is_none());
    let join_ts = w.server.events_of(membership::EVENT_TYPE)[0].ts;
    // The join's answer came `latency` after it was sent: js-sdk's `startTime`.
    let start = sent + w.latency;
    w.run_until(start + 2 * 3600 * 1000 + 10_000);
    let m = memberships(&w);
    assert_eq!(
        m.len(),
        3,
        "{:?}",
        m.iter().map(|(t, _)| t).collect::<Vec<_>>()
    );
    // js-sdk computeNextExpiryActionTs: start + min(expires, 1 h) × n − 5 s, expires × (n + 1).
    assert_eq!(m[1].0, start + 3600 * 1000 - 5_000);
    assert_eq!(m[1].1["expires"], json!(2 * 4 * 3600 * 1000));
    assert_eq!(m[1].1["created_ts"], json!(join_ts));
    assert_eq!(m[2].0, start + 2 * 3600 * 1000 - 5_000);
    assert_eq!(m[2].1["expires"], json!(3 * 4 * 3600 * 1000));
    assert_eq!(m[2].1["created_ts"], json!(join_ts));
    // Everything else about the content stays as it was.
    let mut same = m[2].1.clone();
    same.as_object_mut().unwrap().remove("created_ts");
    same["expires"] = first["expires"].clone();
    assert_eq!(same, first);
    assert_eq!(w.phase(A), Phase::InCall);
    assert_eq!(w.phase(B), Phase::InCall);
}

#[test]
fn a_short_expiry_is_refreshed_before_it_lapses_and_the_peer_never_sees_us_go() {
    let mut a = alice_config();
    a.timing.membership_expiry = Duration::from_secs(60);
    let mut w = World::with(a, bob_config());
    w.connected_call();
    let start = memberships(&w)[0].0 + w.latency;
    w.run_until(start + 5 * 60_000);
    let m = memberships(&w);
    let times: Vec<u64> = m[1..].iter().map(|(t, _)| *t - start).collect();
    assert_eq!(times, [55_000, 115_000, 175_000, 235_000, 295_000]);
    for (i, (_, c)) in m.iter().enumerate() {
        assert_eq!(c["expires"], json!(60_000 * (i as u64 + 1)));
    }
    assert_eq!(w.sides[B].count(|e| matches!(e, Event::PeerLeft { .. })), 0);
    assert_eq!(w.phase(B), Phase::InCall);
}

#[test]
fn the_peers_membership_lapsing_ends_the_call() {
    let mut w = World::solo();
    let mut content = ec_membership(BOB_DEV, BOB, BOB_SFU);
    content["expires"] = json!(20_000);
    let joined = w.now;
    w.inject(
        BOB,
        membership::EVENT_TYPE,
        Some(&key(BOB, BOB_DEV)),
        content,
    );
    w.run_for(1_000);
    w.cmd(A, Command::Call);
    w.run_for(30_000);
    assert!(peer_joined(&w.sides[A]));
    let left = w.sides[A]
        .when(|e| matches!(e, Event::PeerLeft { .. }))
        .expect("peer left");
    assert_eq!(left, joined + 20_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Completed));
}

#[test]
fn an_expired_membership_is_no_session() {
    let mut w = World::solo();
    w.run_until(10_000);
    let mut content = ec_membership(BOB_DEV, BOB, BOB_SFU);
    // Created 5 h ago with the default 4 h.
    content["created_ts"] = json!(w.now_ms() - 5 * 3600 * 1000);
    w.inject(
        BOB,
        membership::EVENT_TYPE,
        Some(&key(BOB, BOB_DEV)),
        content,
    );
    w.run_for(1_000);
    assert!(w.sides[A].events().is_empty());
    // Calling rings (nobody is there).
    w.cmd(A, Command::Call);
    w.run_for(1_000);
    assert!(w.sides[A].kinds().contains(&Kind::Notification));
}

#[test]
fn a_lost_delayed_leave_is_sent_again() {
    let mut w = World::new();
    w.connected_call();
    // The server lost it (a restart, or it was cancelled by our state event on servers without
    // element-hq/synapse#17810): the next restart gets M_NOT_FOUND.
    w.server.lose_delayed_events();
    let before = w.sides[A].kinds().len();
    w.run_for(20_000);
    let kinds = &w.sides[A].kinds()[before..];
    assert_eq!(
        &kinds[..4],
        [
            Kind::Restart,
            Kind::DelayedLeave,
            Kind::Restart,
            Kind::Restart
        ]
    );
    assert!(!kinds.contains(&Kind::Join), "the membership itself stays");
    let ids: Vec<String> = w.sides[A]
        .requests()
        .into_iter()
        .filter_map(|(_, r)| match r {
            Request::RestartDelayed { delay_id } => Some(delay_id),
            _ => None,
        })
        .collect();
    assert_ne!(ids.first(), ids.last(), "restarts use the new delay id");
    assert_eq!(w.phase(A), Phase::InCall);
    assert_eq!(w.sides[B].count(|e| matches!(e, Event::PeerLeft { .. })), 0);
}

#[test]
fn our_membership_removed_behind_our_back_is_sent_again() {
    let mut w = World::solo();
    bob_joins(&mut w);
    w.run_for(1_000);
    w.cmd(A, Command::Call);
    w.run_for(2_000);
    let before = w.sides[A].kinds().len();
    // Another client of ours (or a moderator) writes `{}` over our membership.
    w.inject(
        ALICE,
        membership::EVENT_TYPE,
        Some(&key(ALICE, ALICE_DEV)),
        json!({}),
    );
    w.run_for(3_000);
    assert!(
        w.sides[A]
            .events()
            .iter()
            .any(|e| matches!(e, Event::Warning(w) if w.contains("removed")))
    );
    // js-sdk: cancel the old delayed leave, schedule a new one, send the membership again.
    let kinds = &w.sides[A].kinds()[before..];
    assert_eq!(
        &kinds[..4],
        [Kind::Cancel, Kind::DelayedLeave, Kind::Join, Kind::Restart]
    );
    assert_ne!(
        w.server.member_content(&key(ALICE, ALICE_DEV)),
        Some(&json!({}))
    );
    assert_eq!(w.sides[A].outcome(), None);
    assert_eq!(w.sides[A].count(|e| matches!(e, Event::Joined { .. })), 1);
}

#[test]
fn an_old_leave_arriving_before_our_echo_is_not_a_removal() {
    let mut w = World::solo();
    // A `{}` of ours from an earlier run is still in the room's state.
    w.inject(
        ALICE,
        membership::EVENT_TYPE,
        Some(&key(ALICE, ALICE_DEV)),
        json!({}),
    );
    bob_joins(&mut w);
    w.run_for(1_000);
    w.cmd(A, Command::Call);
    w.run_for(5_000);
    assert!(
        !w.sides[A]
            .events()
            .iter()
            .any(|e| matches!(e, Event::Warning(_)))
    );
    assert_eq!(
        w.sides[A]
            .kinds()
            .iter()
            .filter(|k| **k == Kind::Join)
            .count(),
        1
    );
}

#[test]
fn a_server_with_a_shorter_maximum_delay_gets_it() {
    let mut w = World::new();
    // (js-sdk keeps restarting every 5 s whatever the delay: a maximum at or below that would
    // let the leave fire between restarts.)
    w.server.max_delay = Some(7_000);
    w.connected_call();
    let delays: Vec<Duration> = w.sides[A]
        .requests()
        .into_iter()
        .filter_map(|(_, r)| match r {
            Request::SendDelayedLeave { delay, .. } => Some(delay),
            _ => None,
        })
        .collect();
    assert_eq!(delays, [Duration::from_secs(8), Duration::from_secs(7)]);
    assert!(w.sides[A].kinds().contains(&Kind::Restart));
    w.run_for(30_000);
    assert_eq!(w.phase(A), Phase::InCall);
    assert_eq!(w.sides[B].count(|e| matches!(e, Event::PeerLeft { .. })), 0);
}

#[test]
fn our_ring_lifetime_is_clamped_to_ninety_seconds() {
    let mut a = alice_config();
    a.ring_lifetime = Duration::from_secs(600);
    let mut w = World::with(a, bob_config());
    w.cmd(A, Command::Call);
    w.run_for(200_000);
    let ring = w.sides[A]
        .requests()
        .into_iter()
        .find_map(|(t, r)| match r {
            Request::SendNotification { content } => Some((t, content)),
            _ => None,
        })
        .unwrap();
    assert_eq!(ring.1["lifetime"], json!(90_000));
    let ended = w.sides[A]
        .when(|e| matches!(e, Event::Ended { .. }))
        .unwrap();
    assert_eq!(ended, ring.0 + 90_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::NoAnswer));
}

#[test]
fn the_peers_refresh_is_not_a_new_join_but_a_new_transport_is() {
    let mut w = World::solo();
    bob_joins(&mut w);
    w.run_for(1_000);
    w.cmd(A, Command::Call);
    w.run_for(2_000);
    let mut refreshed = ec_membership(BOB_DEV, BOB, BOB_SFU);
    refreshed["expires"] = json!(2 * 14_400_000);
    refreshed["created_ts"] = json!(BASE_MS);
    w.inject(
        BOB,
        membership::EVENT_TYPE,
        Some(&key(BOB, BOB_DEV)),
        refreshed,
    );
    w.run_for(1_000);
    assert_eq!(
        w.sides[A].count(|e| matches!(e, Event::PeerJoined { .. })),
        1
    );
    w.inject(
        BOB,
        membership::EVENT_TYPE,
        Some(&key(BOB, BOB_DEV)),
        ec_membership(BOB_DEV, BOB, "https://elsewhere.example"),
    );
    w.run_for(1_000);
    assert_eq!(
        w.sides[A].count(|e| matches!(e, Event::PeerJoined { .. })),
        2
    );
    assert_eq!(w.sides[A].count(|e| matches!(e, Event::PeerLeft { .. })), 0);
}
