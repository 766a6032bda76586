//! Whole calls between two machines through the fake homeserver: ring, answer, hang up on
//! either side, decline, no answer, glare, a killed process, an active session joined.

use std::time::Duration;

use serde_json::json;

use super::harness::*;
use crate::matrixrtc::{Command, Event, LivekitTransport, Outcome, Phase, Request, membership};

#[test]
fn alice_rings_bob_answers_alice_hangs_up() {
    let mut w = World::new();
    w.cmd(A, Command::Call);
    // The delayed leave goes first, before anything is announced (MSC4140, js-sdk
    // `SendDelayedEvent` → `SendJoinEvent`).
    assert_eq!(
        w.sides[A].requests(),
        [(
            0,
            Request::SendDelayedLeave {
                state_key: key(ALICE, ALICE_DEV),
                delay: Duration::from_secs(8),
            }
        )]
    );
    w.run_for(1_000);
    let kinds = w.sides[A].kinds();
    assert_eq!(&kinds[..2], [Kind::DelayedLeave, Kind::Join]);
    assert!(kinds.contains(&Kind::Notification));
    let membership_id = w.server.events_of(membership::EVENT_TYPE)[0]
        .event_id
        .clone();
    let (sent_at, ring) = w.sides[A]
        .requests()
        .into_iter()
        .find_map(|(t, r)| match r {
            Request::SendNotification { content } => Some((t, content)),
            _ => None,
        })
        .expect("a ring");
    assert_eq!(
        ring,
        json!({
            "m.mentions": { "user_ids": [BOB], "room": true },
            "notification_type": "ring",
            "m.relates_to": { "event_id": membership_id, "rel_type": "m.reference" },
            "sender_ts": BASE_MS + sent_at,
            "lifetime": 30000,
            "m.call.intent": "audio",
        })
    );
    let notification_id = w
        .server
        .events_of(crate::matrixrtc::notification::EVENT_TYPE)[0]
        .event_id
        .clone();
    assert!(w.sides[A].events().contains(&Event::RingSent {
        notification_id: notification_id.clone()
    }));
    assert!(w.sides[B].events().contains(&Event::Ringing {
        notification_id,
        caller: user(ALICE),
        intent: Some("audio".into()),
    }));
    assert_eq!(w.phase(B), Phase::Ringing);

    w.cmd(B, Command::Answer);
    w.run_for(1_000);
    // Bob joins without ringing back.
    assert!(!w.sides[B].kinds().contains(&Kind::Notification));
    let bob_member = w.sides[A].events().into_iter().find_map(|e| match e {
        Event::PeerJoined { member } => Some(member),
        _ => None,
    });
    let bob_member = bob_member.expect("alice sees bob");
    assert_eq!(bob_member.user, user(BOB));
    assert_eq!(bob_member.device_id, BOB_DEV);
    assert_eq!(bob_member.member_id, format!("{BOB}:{BOB_DEV}"));
    assert_eq!(bob_member.focus_selection.as_deref(), Some("multi_sfu"));
    assert_eq!(
        bob_member.transports,
        [LivekitTransport {
            livekit_service_url: BOB_SFU.into(),
            livekit_alias: Some(ROOM.into()),
        }]
    );
    assert!(peer_joined(&w.sides[B]));
    assert_eq!(w.phase(A), Phase::InCall);
    assert_eq!(w.phase(B), Phase::InCall);

    w.run_until(10_000);
    w.cmd(A, Command::Hangup);
    // js-sdk leaves by publishing the scheduled delayed leave now.
    assert_eq!(w.sides[A].kinds().last(), Some(&Kind::SendNow));
    w.run_for(2_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Completed));
    assert_eq!(w.sides[B].outcome(), Some(Outcome::Completed));
    assert!(w.sides[B].events().contains(&Event::PeerLeft {
        device_id: ALICE_DEV.into()
    }));
    for s in [A, B] {
        assert_eq!(w.sides[s].events().last(), Some(&Event::Left), "side {s}");
        assert!(w.sides[s].m.is_idle(), "side {s}");
        assert_eq!(w.sides[s].m.poll_timeout(), None, "side {s}");
    }
    assert_eq!(
        w.server.member_content(&key(ALICE, ALICE_DEV)),
        Some(&json!({}))
    );
    assert_eq!(
        w.server.member_content(&key(BOB, BOB_DEV)),
        Some(&json!({}))
    );
    assert_eq!(w.server.delayed_count(), 0);
    assert_eq!(Outcome::Completed.exit_code(), 0);
}

#[test]
fn callee_hangs_up_first() {
    let mut w = World::new();
    w.connected_call();
    w.run_for(5_000);
    w.cmd(B, Command::Hangup);
    w.run_for(2_000);
    assert_eq!(w.sides[B].outcome(), Some(Outcome::Completed));
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Completed));
    assert!(w.sides[A].events().contains(&Event::PeerLeft {
        device_id: BOB_DEV.into()
    }));
    assert!(w.sides[A].m.is_idle() && w.sides[B].m.is_idle());
}

#[test]
fn bob_declines() {
    let mut w = World::new();
    w.cmd(A, Command::Call);
    w.run_for(2_000);
    assert!(w.sides[B].rang());
    let declined_at = w.now;
    w.cmd(B, Command::Decline);
    assert_eq!(w.sides[B].outcome(), Some(Outcome::Declined));
    w.run_for(2_000);
    let notification_id = w
        .server
        .events_of(crate::matrixrtc::notification::EVENT_TYPE)[0]
        .event_id
        .clone();
    let declines = w.server.events_of(crate::matrixrtc::decline::EVENT_TYPE);
    assert_eq!(declines.len(), 1);
    assert_eq!(
        declines[0].content,
        json!({ "m.relates_to": { "event_id": notification_id, "rel_type": "m.reference" } })
    );
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Declined));
    let ended = w.sides[A]
        .when(|e| matches!(e, Event::Ended { .. }))
        .expect("ended");
    assert!(
        ended - declined_at < 1_000,
        "alice ended {ended} after {declined_at}"
    );
    assert_eq!(
        w.server.member_content(&key(ALICE, ALICE_DEV)),
        Some(&json!({}))
    );
    // Bob never joined.
    assert!(!w.sides[B].kinds().contains(&Kind::Join));
    assert!(!w.sides[B].events().contains(&Event::Left));
    assert!(w.sides[A].m.is_idle() && w.sides[B].m.is_idle());
    assert_eq!(Outcome::Declined.exit_code(), 5);
}

#[test]
fn nobody_answers() {
    let mut w = World::new();
    w.cmd(A, Command::Call);
    w.run_for(60_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::NoAnswer));
    let sent = w.sides[A]
        .requests()
        .into_iter()
        .find(|(_, r)| matches!(r, Request::SendNotification { .. }))
        .expect("ring")
        .0;
    let ended = w.sides[A]
        .when(|e| matches!(e, Event::Ended { .. }))
        .unwrap();
    assert_eq!(
        ended,
        sent + 30_000,
        "alice rings exactly the ring's lifetime"
    );
    // Bob rang, and stopped when Alice's membership went (or the lifetime ended), whichever came
    // first — within a sync of Alice giving up.
    assert!(w.sides[B].rang());
    assert_eq!(w.sides[B].outcome(), Some(Outcome::NoAnswer));
    let bob_end = w.sides[B]
        .when(|e| matches!(e, Event::Ended { .. }))
        .unwrap();
    assert!(bob_end <= ended + 500, "bob stopped ringing at {bob_end}");
    assert_eq!(
        w.server.member_content(&key(ALICE, ALICE_DEV)),
        Some(&json!({}))
    );
    assert!(w.sides[A].m.is_idle() && w.sides[B].m.is_idle());
    assert_eq!(Outcome::NoAnswer.exit_code(), 6);
}

#[test]
fn delayed_leave_restarts_every_five_seconds_over_a_minute() {
    let mut w = World::new();
    w.connected_call();
    let start = w.now;
    w.run_until(start + 60_000);
    let restarts: Vec<u64> = w.sides[A]
        .requests()
        .into_iter()
        .filter(|(t, r)| *t >= start && matches!(r, Request::RestartDelayed { .. }))
        .map(|(t, _)| t)
        .collect();
    // Restarted 5 s after each answer (one request latency of 50 ms each time).
    assert!(restarts.len() >= 11, "{restarts:?}");
    for pair in restarts.windows(2) {
        let gap = pair[1] - pair[0];
        assert_eq!(gap, 5_000 + w.latency, "{restarts:?}");
    }
    // The same delay id all along, and the leave never fired.
    let ids: std::collections::HashSet<String> = w.sides[A]
        .requests()
        .into_iter()
        .filter_map(|(_, r)| match r {
            Request::RestartDelayed { delay_id } => Some(delay_id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(w.phase(A), Phase::InCall);
    assert_eq!(w.phase(B), Phase::InCall);
    assert_eq!(w.sides[B].count(|e| matches!(e, Event::PeerLeft { .. })), 0);
}

#[test]
fn a_killed_caller_disappears_through_its_delayed_leave() {
    let mut w = World::new();
    w.connected_call();
    w.run_for(3_000);
    let killed_at = w.now;
    w.kill(A);
    w.run_for(30_000);
    assert_eq!(
        w.server.member_content(&key(ALICE, ALICE_DEV)),
        Some(&json!({}))
    );
    let left = w.sides[B]
        .when(|e| matches!(e, Event::PeerLeft { .. }))
        .expect("bob sees alice go");
    // At most the delay after the last restart, plus a sync.
    assert!(
        left - killed_at <= 8_000 + w.sync_delay,
        "gone after {} ms",
        left - killed_at
    );
    assert_eq!(w.sides[B].outcome(), Some(Outcome::Completed));
    assert!(w.sides[B].m.is_idle());
}

#[test]
fn both_call_at_once_and_end_up_in_one_call() {
    let mut w = World::new();
    w.cmd(A, Command::Call);
    w.cmd(B, Command::Call);
    w.run_for(5_000);
    assert!(peer_joined(&w.sides[A]) && peer_joined(&w.sides[B]));
    assert_eq!(w.phase(A), Phase::InCall);
    assert_eq!(w.phase(B), Phase::InCall);
    // A ring of the other side arriving in a call never rings.
    assert!(!w.sides[A].rang() && !w.sides[B].rang());
    w.run_for(40_000);
    // Nobody gave up: the other side joined, which answers any ring.
    assert_eq!(w.sides[A].outcome(), None);
    assert_eq!(w.sides[B].outcome(), None);
    w.cmd(A, Command::Hangup);
    w.run_for(2_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Completed));
    assert_eq!(w.sides[B].outcome(), Some(Outcome::Completed));
}

#[test]
fn an_active_session_is_announced_and_joined_without_ringing() {
    let mut w = World::solo();
    bob_joins(&mut w);
    w.run_for(1_000);
    let announced = w.sides[A].events();
    assert!(
        matches!(&announced[..], [Event::SessionActive { member }] if member.device_id == BOB_DEV),
        "{announced:?}"
    );
    assert!(!w.sides[A].rang());
    w.cmd(A, Command::Call);
    w.run_for(2_000);
    assert!(!w.sides[A].kinds().contains(&Kind::Notification));
    assert!(peer_joined(&w.sides[A]));
    // Bob's Element Call leaves: the call is over.
    w.inject(
        BOB,
        membership::EVENT_TYPE,
        Some(&key(BOB, BOB_DEV)),
        json!({}),
    );
    w.run_for(2_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Completed));
    assert!(w.sides[A].m.is_idle());
}

#[test]
fn media_failure_ends_the_call_and_leaves() {
    let mut w = World::new();
    w.connected_call();
    w.media_failed(A);
    w.run_for(2_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::MediaFailed));
    assert_eq!(Outcome::MediaFailed.exit_code(), 7);
    assert_eq!(w.sides[B].outcome(), Some(Outcome::Completed));
    assert_eq!(
        w.server.member_content(&key(ALICE, ALICE_DEV)),
        Some(&json!({}))
    );
}

#[test]
fn the_callee_leaving_the_room_while_ringing_is_a_decline() {
    let mut w = World::new();
    w.cmd(A, Command::Call);
    w.run_for(2_000);
    w.peer_left_room(A);
    w.run_for(1_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Declined));
    assert_eq!(
        w.try_cmd(A, Command::Call),
        Err(crate::matrixrtc::CommandError::PeerNotInRoom)
    );
}

#[test]
fn a_second_call_after_the_first_rings_again() {
    let mut w = World::new();
    w.connected_call();
    w.cmd(A, Command::Hangup);
    w.run_for(3_000);
    assert!(w.sides[A].m.is_idle() && w.sides[B].m.is_idle());
    w.cmd(A, Command::Call);
    w.run_for(2_000);
    assert_eq!(w.sides[B].count(|e| matches!(e, Event::Ringing { .. })), 2);
    w.cmd(B, Command::Answer);
    w.run_for(2_000);
    assert_eq!(
        w.sides[A].count(|e| matches!(e, Event::PeerJoined { .. })),
        2
    );
}
