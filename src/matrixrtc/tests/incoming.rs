//! Incoming rings from an Element Call / Element X peer (played by injected events): when a
//! ring rings, when it stops, answering, declining.

use serde_json::json;

use super::harness::*;
use crate::matrixrtc::{
    Command, CommandError, Event, Outcome, Phase, Request, membership, notification,
};

fn ringing_id(w: &World) -> Option<String> {
    w.sides[A].events().into_iter().find_map(|e| match e {
        Event::Ringing {
            notification_id, ..
        } => Some(notification_id),
        _ => None,
    })
}

#[test]
fn a_live_ring_with_a_valid_membership_rings_once() {
    let mut w = World::solo();
    let (_, n) = bob_rings(&mut w);
    w.run_for(1_000);
    assert_eq!(ringing_id(&w), Some(n));
    assert_eq!(w.phase(A), Phase::Ringing);
    // A ring also means the session: no separate SessionActive.
    assert_eq!(
        w.sides[A].count(|e| matches!(e, Event::SessionActive { .. })),
        0
    );
    // The same ring delivered again (a replayed sync) does not ring twice.
    let ev = w.server.events_of(notification::EVENT_TYPE)[0].clone();
    w.inject_at(
        BOB,
        notification::EVENT_TYPE,
        None,
        ev.content.clone(),
        ev.ts,
    );
    w.run_for(1_000);
    assert_eq!(w.sides[A].count(|e| matches!(e, Event::Ringing { .. })), 1);
}

#[test]
fn answering_joins_without_ringing_back() {
    let mut w = World::solo();
    bob_rings(&mut w);
    w.run_for(1_000);
    w.cmd(A, Command::Answer);
    w.run_for(1_000);
    let kinds = w.sides[A].kinds();
    assert_eq!(&kinds[..3], [Kind::DelayedLeave, Kind::Join, Kind::Restart]);
    assert!(!kinds.contains(&Kind::Notification));
    let events = w.sides[A].events();
    let joined = events
        .iter()
        .position(|e| matches!(e, Event::Joined { .. }))
        .expect("joined");
    let peer = events
        .iter()
        .position(|e| matches!(e, Event::PeerJoined { .. }))
        .expect("peer");
    assert!(joined < peer, "{events:?}");
    // The caller hangs up: the call ends.
    w.inject(
        BOB,
        membership::EVENT_TYPE,
        Some(&key(BOB, BOB_DEV)),
        json!({}),
    );
    w.run_for(1_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Completed));
}

#[test]
fn a_stale_ring_never_rings() {
    let mut w = World::solo();
    w.run_until(120_000);
    let m = bob_joins(&mut w);
    // Sent 40 s ago with a 30 s lifetime (the server saw it then too): over.
    let old = w.now_ms() - 40_000;
    w.inject_at(
        BOB,
        notification::EVENT_TYPE,
        None,
        ring(&m, old, 30_000),
        old,
    );
    w.run_for(1_000);
    assert!(!w.sides[A].rang());
    // The session is there all the same.
    assert_eq!(
        w.sides[A].count(|e| matches!(e, Event::SessionActive { .. })),
        1
    );
}

#[test]
fn a_ring_with_too_little_lifetime_left_does_not_ring() {
    let mut w = World::solo();
    w.run_until(60_000);
    let m = bob_joins(&mut w);
    let sent = w.now_ms() - 28_000; // 2 s left: below the 3 s minimum
    w.inject_at(
        BOB,
        notification::EVENT_TYPE,
        None,
        ring(&m, sent, 30_000),
        sent,
    );
    w.run_for(1_000);
    assert!(!w.sides[A].rang());
}

#[test]
fn the_lifetime_counts_from_sender_ts_within_twenty_seconds_of_the_server() {
    let mut w = World::solo();
    w.run_until(60_000);
    let m = bob_joins(&mut w);
    // The sender's clock is 15 s behind the server's: the lifetime counts from sender_ts,
    // so 15 s of the 30 are left.
    let now = w.now_ms();
    w.inject_at(
        BOB,
        notification::EVENT_TYPE,
        None,
        ring(&m, now - 15_000, 30_000),
        now,
    );
    w.run_for(1_000);
    assert!(w.sides[A].rang());
    let rang_at = w.now - 1_000;
    w.run_for(30_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::NoAnswer));
    let ended = w.sides[A]
        .when(|e| matches!(e, Event::Ended { .. }))
        .unwrap();
    assert_eq!(ended, rang_at + 15_000);
}

#[test]
fn a_sender_clock_far_off_is_replaced_by_origin_server_ts() {
    // An hour in the future (a wrong phone clock): counted from origin_server_ts.
    let mut w = World::solo();
    w.run_until(60_000);
    let m = bob_joins(&mut w);
    let now = w.now_ms();
    let start = w.now;
    w.inject_at(
        BOB,
        notification::EVENT_TYPE,
        None,
        ring(&m, now + 3_600_000, 30_000),
        now,
    );
    w.run_for(60_000);
    assert!(w.sides[A].rang());
    let ended = w.sides[A]
        .when(|e| matches!(e, Event::Ended { .. }))
        .unwrap();
    assert_eq!(ended, start + 30_000);

    // 25 s behind (more than the 20 s allowed): also from origin_server_ts, so it still rings.
    let mut w = World::solo();
    w.run_until(60_000);
    let m = bob_joins(&mut w);
    let now = w.now_ms();
    w.inject_at(
        BOB,
        notification::EVENT_TYPE,
        None,
        ring(&m, now - 25_000, 30_000),
        now,
    );
    w.run_for(1_000);
    assert!(w.sides[A].rang());
}

#[test]
fn lifetimes_are_capped_at_ninety_seconds() {
    let mut w = World::solo();
    let m = bob_joins(&mut w);
    let now = w.now_ms();
    let start = w.now;
    w.inject(
        BOB,
        notification::EVENT_TYPE,
        None,
        ring(&m, now, 3_600_000),
    );
    w.run_for(200_000);
    let ended = w.sides[A]
        .when(|e| matches!(e, Event::Ended { .. }))
        .unwrap();
    assert_eq!(ended, start + 90_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::NoAnswer));
}

#[test]
fn a_ring_waits_for_the_callers_membership() {
    let mut w = World::solo();
    // The ring arrives first (the membership is in a later sync).
    let now = w.now_ms();
    let n = w.inject(
        BOB,
        notification::EVENT_TYPE,
        None,
        ring("$later", now, 30_000),
    );
    w.run_for(1_000);
    assert!(!w.sides[A].rang());
    bob_joins(&mut w);
    w.run_for(1_000);
    assert_eq!(ringing_id(&w), Some(n));
}

#[test]
fn a_membership_gone_in_the_same_batch_means_no_ring() {
    let mut w = World::solo();
    let (m, _) = bob_rings(&mut w);
    let _ = m;
    // Bob gave up before our sync came: the leave is in the same batch.
    w.inject(
        BOB,
        membership::EVENT_TYPE,
        Some(&key(BOB, BOB_DEV)),
        json!({}),
    );
    w.run_for(1_000);
    assert!(!w.sides[A].rang());
    assert!(w.sides[A].events().is_empty());
}

#[test]
fn the_ring_stops_when_the_callers_membership_goes() {
    let mut w = World::solo();
    bob_rings(&mut w);
    w.run_for(1_000);
    assert!(w.sides[A].rang());
    w.run_for(5_000);
    w.inject(
        BOB,
        membership::EVENT_TYPE,
        Some(&key(BOB, BOB_DEV)),
        json!({}),
    );
    w.run_for(1_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::NoAnswer));
    assert_eq!(w.phase(A), Phase::Idle);
    assert!(w.sides[A].kinds().is_empty(), "nothing is sent");
}

#[test]
fn the_ring_stops_when_the_callers_membership_expires() {
    let mut w = World::solo();
    // Created 4 h minus 10 s ago: lapses 10 s from now.
    let created = w.now_ms() - (4 * 3600 * 1000 - 10_000);
    let mut content = ec_membership(BOB_DEV, BOB, BOB_SFU);
    content["created_ts"] = json!(created);
    let start = w.now;
    let m = w.inject(
        BOB,
        membership::EVENT_TYPE,
        Some(&key(BOB, BOB_DEV)),
        content,
    );
    let now = w.now_ms();
    w.inject(BOB, notification::EVENT_TYPE, None, ring(&m, now, 30_000));
    w.run_for(20_000);
    assert!(w.sides[A].rang());
    let ended = w.sides[A]
        .when(|e| matches!(e, Event::Ended { .. }))
        .unwrap();
    assert_eq!(ended, start + 10_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::NoAnswer));
}

#[test]
fn another_device_of_ours_answering_stops_the_ring() {
    let mut w = World::solo();
    bob_rings(&mut w);
    w.run_for(1_000);
    w.inject(
        ALICE,
        membership::EVENT_TYPE,
        Some(&key(ALICE, "PHONE")),
        ec_membership("PHONE", ALICE, SFU),
    );
    w.run_for(1_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::AnsweredElsewhere));
    assert_eq!(Outcome::AnsweredElsewhere.exit_code(), 8);
}

#[test]
fn another_device_of_ours_declining_stops_the_ring() {
    let mut w = World::solo();
    let (_, n) = bob_rings(&mut w);
    w.run_for(1_000);
    w.inject(
        ALICE,
        crate::matrixrtc::decline::EVENT_TYPE,
        None,
        crate::matrixrtc::decline::content(&n),
    );
    w.run_for(1_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Declined));
    assert!(w.sides[A].kinds().is_empty());
}

#[test]
fn declining_sends_a_decline_relating_to_the_ring() {
    let mut w = World::solo();
    let (_, n) = bob_rings(&mut w);
    w.run_for(1_000);
    w.cmd(A, Command::Decline);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Declined));
    assert_eq!(
        w.sides[A]
            .requests()
            .into_iter()
            .map(|(_, r)| r)
            .collect::<Vec<_>>(),
        [Request::SendDecline {
            content: json!({ "m.relates_to": { "event_id": n, "rel_type": "m.reference" } })
        }]
    );
    assert_eq!(w.phase(A), Phase::Ending);
    w.run_for(1_000);
    assert!(w.sides[A].m.is_idle());
    // Never joined, so nothing to leave.
    assert!(!w.sides[A].events().contains(&Event::Left));
    assert_eq!(
        w.try_cmd(A, Command::Decline),
        Err(CommandError::NotRinging)
    );
}

#[test]
fn hanging_up_a_ringing_call_declines_it() {
    let mut w = World::solo();
    bob_rings(&mut w);
    w.run_for(1_000);
    w.cmd(A, Command::Hangup);
    assert_eq!(w.sides[A].kinds(), [Kind::Decline]);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Declined));
}

#[test]
fn a_ring_we_declined_before_does_not_ring() {
    // Our own decline of it is already in the room (an earlier run declined it).
    let mut w = World::solo();
    let (_, n) = bob_rings(&mut w);
    w.inject(
        ALICE,
        crate::matrixrtc::decline::EVENT_TYPE,
        None,
        crate::matrixrtc::decline::content(&n),
    );
    w.run_for(1_000);
    assert!(!w.sides[A].rang());
    // …or the engine remembered it.
    let mut w = World::solo();
    w.sides[A].m.remember_handled("$ev2");
    let (_, n) = bob_rings(&mut w);
    assert_eq!(n, "$ev2");
    w.run_for(1_000);
    assert!(!w.sides[A].rang());
    assert!(w.sides[A].m.handled_rings().any(|id| id == "$ev2"));
}

#[test]
fn a_silent_notification_or_one_for_someone_else_does_not_ring() {
    let mut w = World::solo();
    let m = bob_joins(&mut w);
    let now = w.now_ms();
    let mut silent = ring(&m, now, 30_000);
    silent["notification_type"] = json!("notification");
    w.inject(BOB, notification::EVENT_TYPE, None, silent);
    let mut other = ring(&m, now, 30_000);
    other["m.mentions"] = json!({ "user_ids": [EVE], "room": false });
    w.inject(BOB, notification::EVENT_TYPE, None, other);
    // The old call.notify event is not a ring any more.
    w.inject(
        BOB,
        "org.matrix.msc4075.call.notify",
        None,
        json!({ "application": "m.call", "notify_type": "ring", "call_id": "", "m.mentions": { "room": true, "user_ids": [] } }),
    );
    w.run_for(1_000);
    assert!(!w.sides[A].rang());
    assert_eq!(
        w.sides[A].count(|e| matches!(e, Event::SessionActive { .. })),
        1
    );
    // Named explicitly (no room mention): rings.
    let mut named = ring(&m, w.now_ms(), 30_000);
    named["m.mentions"] = json!({ "user_ids": [ALICE] });
    w.inject(BOB, notification::EVENT_TYPE, None, named);
    w.run_for(1_000);
    assert!(w.sides[A].rang());
}

#[test]
fn call_while_ringing_answers() {
    let mut w = World::solo();
    bob_rings(&mut w);
    w.run_for(1_000);
    w.cmd(A, Command::Call);
    w.run_for(1_000);
    assert!(peer_joined(&w.sides[A]));
    assert!(!w.sides[A].kinds().contains(&Kind::Notification));
    assert_eq!(w.try_cmd(A, Command::Call), Err(CommandError::Busy));
    assert_eq!(w.try_cmd(A, Command::Answer), Err(CommandError::NotRinging));
}

#[test]
fn the_caller_giving_up_while_we_join_is_no_answer() {
    let mut w = World::solo();
    bob_rings(&mut w);
    w.run_for(1_000);
    // A slow homeserver: Bob leaves before our membership is on the server.
    w.latency = 500;
    w.cmd(A, Command::Answer);
    w.inject(
        BOB,
        membership::EVENT_TYPE,
        Some(&key(BOB, BOB_DEV)),
        json!({}),
    );
    w.run_for(2_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::NoAnswer));
    assert!(!peer_joined(&w.sides[A]));
    assert!(w.sides[A].m.is_idle());
    // The leave came while the delayed leave was in flight: our membership was never sent,
    // and the delayed leave is cancelled so that it cannot hit a next call.
    assert_eq!(w.sides[A].kinds(), [Kind::DelayedLeave, Kind::Cancel]);
    assert_eq!(w.server.member_content(&key(ALICE, ALICE_DEV)), None);
    assert_eq!(w.server.delayed_count(), 0);
    assert_eq!(w.sides[A].events().last(), Some(&Event::Left));
}

#[test]
fn a_ring_arriving_during_our_call_never_rings_later() {
    let mut w = World::solo();
    let m = bob_joins(&mut w);
    w.run_for(1_000);
    w.cmd(A, Command::Call);
    w.run_for(2_000);
    assert!(peer_joined(&w.sides[A]));
    // Bob's client rings (it thinks it started the call).
    let now = w.now_ms();
    w.inject(BOB, notification::EVENT_TYPE, None, ring(&m, now, 30_000));
    w.run_for(1_000);
    // We hang up; Bob stays in the session.
    w.cmd(A, Command::Hangup);
    w.run_for(3_000);
    assert!(w.sides[A].m.is_idle());
    assert!(!w.sides[A].rang());
}

#[test]
fn a_second_ring_while_ringing_is_dropped() {
    let mut w = World::solo();
    let (m, first) = bob_rings(&mut w);
    w.run_for(1_000);
    let now = w.now_ms();
    w.inject(BOB, notification::EVENT_TYPE, None, ring(&m, now, 30_000));
    w.run_for(1_000);
    w.cmd(A, Command::Decline);
    w.run_for(1_000);
    assert_eq!(w.sides[A].count(|e| matches!(e, Event::Ringing { .. })), 1);
    assert_eq!(ringing_id(&w), Some(first));
    assert!(w.sides[A].m.is_idle());
}
