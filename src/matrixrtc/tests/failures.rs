//! Send failures as js-sdk's membership manager handles them: rate limits (`retry_after`),
//! network errors (1 s), local timeouts (at once), limits on both, a server without delayed
//! events, errors that end the call; and the ring and decline sends.

use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::*;
use crate::matrixrtc::{
    Command, Event, Input, Outcome, Phase, Request, RequestId, Response, SendError,
};

/// (time, kind) of side A's requests from index `from`.
fn timeline(w: &World, from: usize) -> Vec<(u64, Kind)> {
    w.sides[A].requests()[from..]
        .iter()
        .map(|(t, r)| (*t, kind(r)))
        .collect()
}

#[test]
fn a_rate_limited_join_is_retried_after_retry_after() {
    let mut w = World::new();
    w.sides[A].faults.push_back((
        Kind::Join,
        SendError::RateLimited {
            retry_after: Some(Duration::from_millis(2_500)),
        },
    ));
    w.cmd(A, Command::Call);
    w.run_for(5_000);
    let t = timeline(&w, 0);
    assert_eq!(t[0], (0, Kind::DelayedLeave));
    assert_eq!(t[1], (50, Kind::Join));
    // Failed at 100, retried 2.5 s later.
    assert_eq!(t[2], (2_600, Kind::Join));
    assert!(w.sides[B].rang());
}

#[test]
fn a_rate_limit_without_retry_after_waits_five_seconds() {
    let mut w = World::new();
    w.sides[A].faults.push_back((
        Kind::DelayedLeave,
        SendError::RateLimited { retry_after: None },
    ));
    w.cmd(A, Command::Call);
    w.run_for(6_000);
    let t = timeline(&w, 0);
    assert_eq!(
        &t[..2],
        [(0, Kind::DelayedLeave), (5_050, Kind::DelayedLeave)]
    );
}

#[test]
fn too_many_rate_limits_end_the_call() {
    let mut w = World::new();
    for _ in 0..11 {
        w.sides[A].faults.push_back((
            Kind::DelayedLeave,
            SendError::RateLimited {
                retry_after: Some(Duration::from_secs(1)),
            },
        ));
    }
    w.cmd(A, Command::Call);
    w.run_for(30_000);
    let tries = w.sides[A]
        .kinds()
        .iter()
        .filter(|k| **k == Kind::DelayedLeave)
        .count();
    assert_eq!(tries, 11, "the first try and ten retries");
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Error));
    assert!(
        w.sides[A]
            .events()
            .iter()
            .any(|e| matches!(e, Event::Warning(_)))
    );
    assert!(!w.sides[A].kinds().contains(&Kind::Join));
    assert!(w.sides[A].m.is_idle());
    assert_eq!(Outcome::Error.exit_code(), 1);
}

#[test]
fn network_errors_on_restart_are_retried_after_a_second() {
    let mut w = World::new();
    w.connected_call();
    w.sides[A].faults.push_back((
        Kind::Restart,
        SendError::Transient("connection refused".into()),
    ));
    w.sides[A]
        .faults
        .push_back((Kind::Restart, SendError::LocalTimeout));
    let from = w.sides[A].requests().len();
    w.run_for(12_000);
    let t: Vec<u64> = timeline(&w, from)
        .into_iter()
        .filter(|(_, k)| *k == Kind::Restart)
        .map(|(t, _)| t)
        .collect();
    // fails → 1 s → fails (local timeout) → at once → succeeds → 5 s → …
    assert_eq!(t[1] - t[0], w.latency + 1_000);
    assert_eq!(t[2] - t[1], w.latency);
    assert_eq!(t[3] - t[2], w.latency + 5_000);
    assert_eq!(w.phase(A), Phase::InCall);
}

#[test]
fn a_join_that_keeps_failing_ends_the_call_and_cancels_the_delayed_leave() {
    let mut w = World::new();
    for _ in 0..11 {
        w.sides[A]
            .faults
            .push_back((Kind::Join, SendError::Transient("502".into())));
    }
    w.cmd(A, Command::Call);
    w.run_for(60_000);
    let joins = w.sides[A]
        .kinds()
        .iter()
        .filter(|k| **k == Kind::Join)
        .count();
    assert_eq!(joins, 11);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Error));
    assert_eq!(w.sides[A].kinds().last(), Some(&Kind::Cancel));
    assert_eq!(w.server.delayed_count(), 0);
    assert!(w.sides[A].m.is_idle());
    assert!(!w.sides[B].rang());
}

#[test]
fn a_forbidden_join_ends_the_call() {
    let mut w = World::new();
    w.sides[A]
        .faults
        .push_back((Kind::Join, SendError::Other("M_FORBIDDEN".into())));
    w.cmd(A, Command::Call);
    w.run_for(5_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Error));
    assert_eq!(
        w.sides[A].kinds(),
        [Kind::DelayedLeave, Kind::Join, Kind::Cancel]
    );
    let warning = w.sides[A].events().into_iter().find_map(|e| match e {
        Event::Warning(w) => Some(w),
        _ => None,
    });
    assert_eq!(
        warning.as_deref(),
        Some("cannot send our membership: M_FORBIDDEN")
    );
}

#[test]
fn without_delayed_events_the_call_goes_on_and_leaves_with_an_empty_membership() {
    let mut w = World::new();
    w.server.delayed_events = false;
    w.connected_call();
    let warnings: Vec<Event> = w.sides[A]
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Warning(_)))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(matches!(&warnings[0], Event::Warning(w) if w.contains("MSC4140")));
    w.run_for(30_000);
    let kinds = w.sides[A].kinds();
    assert_eq!(
        kinds.iter().filter(|k| **k == Kind::DelayedLeave).count(),
        1
    );
    assert!(!kinds.contains(&Kind::Restart));
    w.cmd(A, Command::Hangup);
    w.run_for(2_000);
    assert_eq!(w.sides[A].kinds().last(), Some(&Kind::Leave));
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Completed));
    assert_eq!(w.sides[B].outcome(), Some(Outcome::Completed));
    assert_eq!(
        w.server.member_content(&key(ALICE, ALICE_DEV)),
        Some(&json!({}))
    );
}

#[test]
fn a_leave_whose_delayed_event_is_gone_sends_the_empty_membership_itself() {
    let mut w = World::new();
    w.connected_call();
    w.server.lose_delayed_events();
    w.cmd(A, Command::Hangup);
    w.run_for(2_000);
    let kinds = w.sides[A].kinds();
    assert_eq!(&kinds[kinds.len() - 2..], [Kind::SendNow, Kind::Leave]);
    assert_eq!(
        w.server.member_content(&key(ALICE, ALICE_DEV)),
        Some(&json!({}))
    );
    assert_eq!(w.sides[A].events().last(), Some(&Event::Left));
}

#[test]
fn hanging_up_while_joining_leaves_once_the_join_is_answered() {
    let mut w = World::new();
    w.cmd(A, Command::Call);
    w.run_for(60); // the delayed leave is answered, the join is in flight
    assert_eq!(w.sides[A].kinds(), [Kind::DelayedLeave, Kind::Join]);
    w.cmd(A, Command::Hangup);
    // Nobody had joined: the caller gave up on the call.
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Cancelled));
    w.run_for(2_000);
    assert_eq!(
        w.sides[A].kinds(),
        [Kind::DelayedLeave, Kind::Join, Kind::SendNow],
        "no ring, no restart: the leave replaces them"
    );
    assert_eq!(
        w.server.member_content(&key(ALICE, ALICE_DEV)),
        Some(&json!({}))
    );
    assert!(w.sides[A].m.is_idle());
}

#[test]
fn a_rate_limited_ring_is_resent_with_what_is_left_of_its_lifetime() {
    let mut w = World::new();
    w.sides[A].faults.push_back((
        Kind::Notification,
        SendError::RateLimited {
            retry_after: Some(Duration::from_secs(4)),
        },
    ));
    w.cmd(A, Command::Call);
    w.run_for(10_000);
    let rings: Vec<(u64, serde_json::Value)> = w.sides[A]
        .requests()
        .into_iter()
        .filter_map(|(t, r)| match r {
            Request::SendNotification { content } => Some((t, content)),
            _ => None,
        })
        .collect();
    assert_eq!(rings.len(), 2);
    let (t0, t1) = (rings[0].0, rings[1].0);
    assert_eq!(t1 - t0, w.latency + 4_000);
    assert_eq!(rings[0].1["lifetime"], json!(30_000));
    assert_eq!(rings[1].1["lifetime"], json!(30_000 - (t1 - t0)));
    assert_eq!(rings[1].1["sender_ts"], json!(BASE_MS + t1));
    assert!(w.sides[B].rang());
    // Alice still gives up 30 s after the first attempt.
    w.run_for(40_000);
    let ended = w.sides[A]
        .when(|e| matches!(e, Event::Ended { .. }))
        .unwrap();
    assert_eq!(ended, t0 + 30_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::NoAnswer));
}

#[test]
fn a_ring_that_cannot_be_sent_ends_the_call() {
    let mut w = World::new();
    w.sides[A]
        .faults
        .push_back((Kind::Notification, SendError::Other("M_FORBIDDEN".into())));
    w.cmd(A, Command::Call);
    w.run_for(3_000);
    assert_eq!(w.sides[A].outcome(), Some(Outcome::Error));
    assert_eq!(
        w.server.member_content(&key(ALICE, ALICE_DEV)),
        Some(&json!({}))
    );
    assert!(!w.sides[B].rang());
}

#[test]
fn a_decline_is_retried_and_holds_the_machine_until_sent() {
    let mut w = World::solo();
    bob_rings(&mut w);
    w.run_for(1_000);
    w.sides[A]
        .faults
        .push_back((Kind::Decline, SendError::Transient("no route".into())));
    w.cmd(A, Command::Decline);
    w.run_for(100);
    assert_eq!(w.phase(A), Phase::Ending);
    assert!(!w.sides[A].m.is_idle());
    w.run_for(5_000);
    assert_eq!(w.sides[A].kinds(), [Kind::Decline, Kind::Decline]);
    assert_eq!(
        w.server
            .events_of(crate::matrixrtc::decline::EVENT_TYPE)
            .len(),
        1
    );
    assert!(w.sides[A].m.is_idle());
}

#[test]
fn results_for_unknown_or_answered_requests_are_ignored() {
    let mut w = World::new();
    w.cmd(A, Command::Call);
    let t = Instant::now();
    for id in [RequestId(999), RequestId(0)] {
        w.sides[A]
            .m
            .handle_input(Input::SendResult {
                now: t,
                now_ms: BASE_MS,
                id,
                result: Ok(Response::Empty),
            })
            .unwrap();
    }
    assert!(w.sides[A].m.poll_output().is_none());
    w.run_for(3_000);
    assert!(w.sides[B].rang());
    // The delayed leave's result again (a duplicate): nothing happens.
    let (now, now_ms) = (w.instant(w.now), w.now_ms());
    w.sides[A]
        .m
        .handle_input(Input::SendResult {
            now,
            now_ms,
            id: RequestId(1),
            result: Ok(Response::DelayId("syd_x".into())),
        })
        .unwrap();
    assert!(w.sides[A].m.poll_output().is_none());
}

#[test]
fn an_outage_longer_than_the_delay_ends_in_a_rejoin() {
    let mut w = World::solo();
    bob_joins(&mut w);
    w.run_for(1_000);
    w.cmd(A, Command::Call);
    w.run_for(2_000);
    for _ in 0..5 {
        w.sides[A]
            .faults
            .push_back((Kind::Restart, SendError::Transient("unreachable".into())));
    }
    w.run_for(30_000);
    // The server published our delayed leave; js-sdk's answer is to join again.
    assert!(
        w.sides[A]
            .events()
            .iter()
            .any(|e| matches!(e, Event::Warning(w) if w.contains("removed")))
    );
    assert_eq!(
        w.sides[A]
            .kinds()
            .iter()
            .filter(|k| **k == Kind::Join)
            .count(),
        2
    );
    let content = w.server.member_content(&key(ALICE, ALICE_DEV)).unwrap();
    assert_eq!(content["device_id"], json!(ALICE_DEV));
    assert_eq!(w.sides[A].outcome(), None);
    assert_eq!(w.phase(A), Phase::InCall);
}
