//! Time: invite liveness and ringing at the end of a sync batch, the caller giving up, candidate
//! batching, media setup timeouts, and replayed invites.

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::*;
use crate::signalling::{CallEvent, Command, MediaAction, MediaInput, Outcome, Party, RingPolicy};

#[test]
fn an_invite_rings_only_while_live() {
    // (lifetime ms, unsigned.age ms, time from receipt to batch end ms, rings?) with the default
    // 3 s minimum ring time: rings iff age + since receipt + 3 s < lifetime.
    let table = [
        (60_000, 0, 0, true),
        (60_000, 56_000, 0, true),
        (60_000, 57_000, 0, false),
        (60_000, 50_000, 6_999, true),
        (60_000, 50_000, 7_000, false),
        (60_000, 120_000, 0, false), // from the backlog
        (90_000, 86_999, 0, true),
        (2_000, 0, 0, false), // shorter than the minimum ring time
    ];
    for (lifetime, age, delay, want) in table {
        let mut h = H::alice();
        h.remote_aged(
            0,
            BOB,
            "m.call.invite",
            invite("c1", Some(BOB_DEV), lifetime),
            age,
        );
        let out = h.batch_end(delay);
        assert_eq!(
            rang(&out),
            want,
            "lifetime {lifetime} age {age} delay {delay}"
        );
        // A stale invite leaves no trace for the user.
        if !want {
            assert!(out.is_empty() && h.m.live_calls().count() == 0, "{out:?}");
        }
    }
    // The rule itself does not depend on the grace: without it, a live invite always rings.
    let mut h = H::alice_with(|c| c.min_ring_time = Duration::ZERO);
    h.remote_aged(
        0,
        BOB,
        "m.call.invite",
        invite("c1", Some(BOB_DEV), 60_000),
        59_999,
    );
    assert!(rang(&h.batch_end(0)));
}

#[test]
fn an_invite_without_unsigned_age_is_aged_by_its_origin_server_ts() {
    // Some servers omit `unsigned.age`: the age is then our wall clock at receipt minus
    // `origin_server_ts`. (ms sent before receipt by our clock — negative: the sending server's
    // clock is ahead of ours —, lifetime ms, rings and is answered?) under `--answer`, with the
    // same 3 s minimum ring time as for `unsigned.age`.
    let table: [(i64, u64, bool); 7] = [
        (10_000, 5_000, false), // 10 s old, 5 s lifetime: once rang, was answered and connected
        (0, 5_000, true),
        (56_000, 60_000, true),
        (57_000, 60_000, false),
        (3_600_000, 60_000, false), // from the backlog
        (-1_000, 5_000, true),      // the server's clock ahead: a negative age counts as 0
        (-3_600_000, 60_000, true),
    ];
    for (sent_before, lifetime, want) in table {
        let mut h = H::alice_with(|c| c.ring = RingPolicy::AutoAnswer);
        let ts = h.wall(10_000).checked_add_signed(-sent_before).unwrap();
        h.remote_stamped(
            10_000,
            BOB,
            "m.call.invite",
            invite("c1", Some(BOB_DEV), lifetime),
            ts,
        );
        let out = h.batch_end(10_000);
        let what = format!("sent {sent_before} ms before, lifetime {lifetime}");
        assert_eq!(rang(&out), want, "{what}");
        let answered = actions(&out)
            .iter()
            .any(|(_, a)| matches!(a, MediaAction::AcceptOffer(_)));
        assert_eq!(answered, want, "{what}");
        if !want {
            assert!(
                out.is_empty() && h.m.live_calls().count() == 0,
                "{what}: {out:?}"
            );
        }
    }
    // `unsigned.age`, when sent, is the server's measure and wins over a skewed clock.
    let mut h = H::alice();
    let ts = h.wall(10_000) - 3_600_000;
    h.remote_full(
        10_000,
        BOB,
        "m.call.invite",
        invite("c1", Some(BOB_DEV), 60_000),
        Some(1_000),
        ts,
    );
    assert!(rang(&h.batch_end(10_000)));
    // Time since receipt counts on top, as with `unsigned.age`: 50 s old + 7 s in the batch.
    let mut h = H::alice();
    let ts = h.wall(0) - 50_000;
    h.remote_stamped(
        0,
        BOB,
        "m.call.invite",
        invite("c1", Some(BOB_DEV), 60_000),
        ts,
    );
    assert!(!rang(&h.batch_end(7_000)));
    // Neither `unsigned.age` nor `origin_server_ts` (0): nothing says it is old.
    let mut h = H::alice();
    h.remote_stamped(
        0,
        BOB,
        "m.call.invite",
        invite("c1", Some(BOB_DEV), 60_000),
        0,
    );
    assert!(rang(&h.batch_end(0)));
}

#[test]
fn a_negotiate_without_unsigned_age_is_aged_by_its_origin_server_ts() {
    // (ms sent before receipt, applied?) for a 30 s negotiate offer on a connected call.
    for (sent_before, want) in [(31_000, false), (1_000, true)] {
        let mut h = H::alice();
        h.answer_bob(0, "c1");
        h.media(600, "c1", MediaInput::IceConnected);
        let ts = h.wall(40_000) - sent_before;
        let out = h.remote_stamped(
            40_000,
            BOB,
            "m.call.negotiate",
            negotiate("c1", BOB_DEV, "offer", 30_000),
            ts,
        );
        let applied = actions(&out)
            .iter()
            .any(|(_, a)| matches!(a, MediaAction::AcceptOffer(_)));
        assert_eq!(applied, want, "sent {sent_before} ms before: {out:?}");
    }
}

#[test]
fn ringing_waits_for_the_end_of_the_batch_and_a_later_hangup_cancels_it() {
    // (events after the invite in the same batch, rings?)
    let table: [(&str, &str, Value, bool); 5] = [
        ("nothing", BOB, json!(null), true),
        (
            "caller hangs up",
            BOB,
            hangup("c1", Some(BOB_DEV), Some("user_hangup")),
            false,
        ),
        (
            "answered on our other device",
            ALICE,
            answer("c1", Some("PHONE")),
            false,
        ),
        (
            "rejected on our other device",
            ALICE,
            reject("c1", "PHONE"),
            false,
        ),
        (
            "a third user's hangup",
            EVE,
            hangup("c1", Some(BOB_DEV), None),
            true,
        ),
    ];
    for (what, sender, later, want) in table {
        let mut h = H::alice();
        let mut out = h.remote(0, BOB, "m.call.invite", invite("c1", Some(BOB_DEV), 60000));
        if !later.is_null() {
            let ty = if later.get("answer").is_some() {
                "m.call.answer"
            } else if later.get("reason").is_some() || sender == EVE {
                "m.call.hangup"
            } else {
                "m.call.reject"
            };
            out.extend(h.remote(0, sender, ty, later));
        }
        assert!(!rang(&out), "{what}: rang before the batch ended");
        let out = h.batch_end(0);
        assert_eq!(rang(&out), want, "{what}");
        if !want {
            assert!(out.is_empty(), "{what}: {out:?}");
        }
    }
}

#[test]
fn a_hangup_before_its_invite_keeps_it_from_ringing() {
    let mut h = H::alice();
    h.remote(0, BOB, "m.call.hangup", hangup("c1", Some(BOB_DEV), None));
    h.remote(0, BOB, "m.call.invite", invite("c1", Some(BOB_DEV), 60000));
    assert!(!rang(&h.batch_end(0)));
}

#[test]
fn a_ringing_invite_expires_with_its_lifetime() {
    let mut h = H::alice();
    h.remote_aged(
        1000,
        BOB,
        "m.call.invite",
        invite("c1", Some(BOB_DEV), 60000),
        10_000,
    );
    h.batch_end(1500);
    assert_eq!(h.m.poll_timeout(), Some(h.at(51_000)));
    assert!(h.run_until(50_999).is_empty());
    let out = h.run_until(51_000);
    assert!(sends(&out).is_empty());
    assert_eq!(
        events(&out),
        [
            CallEvent::Hangup {
                call_id: "c1".into(),
                reason: "invite_timeout".into(),
                by: Party::Remote
            },
            CallEvent::Ended {
                call_id: "c1".into(),
                outcome: Outcome::NoAnswer
            },
        ]
    );
}

#[test]
fn the_caller_gives_up_at_the_lifetime() {
    // (configured lifetime s, `lifetime` sent ms)
    for (secs, ms) in [(90, 90_000), (30, 30_000), (1, 1_000)] {
        let mut h = H::alice_with(|c| c.invite_lifetime = Duration::from_secs(secs));
        let out = h.place_and_send(0, "c1");
        assert_eq!(sends(&out)[0].1["lifetime"], json!(ms));
        let sent_at = 200;
        assert!(h.run_until(sent_at + ms - 1).is_empty());
        let out = h.run_until(sent_at + ms);
        assert_eq!(send_types(&out), ["m.call.hangup"]);
        assert_eq!(sends(&out)[0].1["reason"], json!("invite_timeout"));
        assert_eq!(outcome(&out), Some(Outcome::NoAnswer));
        // The callee's late answer finds nothing.
        let out = h.synced(
            sent_at + ms + 1,
            BOB,
            "m.call.answer",
            answer("c1", Some(BOB_DEV)),
        );
        assert!(out.is_empty());
    }
    // An answer in time stops the clock.
    let mut h = H::alice();
    h.place_and_send(0, "c1");
    h.synced(89_000, BOB, "m.call.answer", answer("c1", Some(BOB_DEV)));
    h.media(89_500, "c1", MediaInput::IceConnected);
    assert!(h.run_until(200_000).is_empty());
}

/// What went out when: (ms, candidate count, end-of-candidates) per `m.call.candidates`, and
/// when the description (invite/answer) went out.
fn timeline(h: &H) -> Vec<(String, usize, bool)> {
    sends(&h.out)
        .into_iter()
        .map(|(t, c)| {
            let list = c["candidates"].as_array().cloned().unwrap_or_default();
            let end = list.iter().any(|c| c["candidate"] == json!(""));
            (t.to_owned(), list.len() - usize::from(end), end)
        })
        .collect()
}

#[test]
fn candidates_are_batched() {
    // Steps: (ms, input), then the expected sends, each with (type, candidates, end) and the
    // time it must have gone out by.
    enum Step {
        Cand(u64, u32),
        Done(u64),
        Offer(u64),
    }
    use Step::*;
    type Want = (&'static str, usize, bool, u64);
    let table: Vec<(&str, Vec<Step>, Vec<Want>)> = vec![
        (
            "caller: 200 ms window, then 2 s batches, flush on completion",
            vec![
                Offer(0),
                Cand(50, 1),
                Cand(100, 2),
                Cand(300, 3),
                Cand(1500, 4),
                Cand(2400, 5),
                Cand(3000, 6),
                Done(3100),
            ],
            vec![
                ("m.call.invite", 0, false, 200),
                ("m.call.candidates", 2, false, 200),
                ("m.call.candidates", 2, false, 2300),
                ("m.call.candidates", 2, true, 3100),
            ],
        ),
        (
            "caller: gathering done within the window sends at once",
            vec![Offer(0), Cand(10, 1), Done(20)],
            vec![
                ("m.call.invite", 0, false, 20),
                ("m.call.candidates", 1, true, 20),
            ],
        ),
        (
            "caller: candidates gathered before the offer ride with the first batch",
            vec![Cand(0, 1), Offer(5)],
            vec![
                ("m.call.invite", 0, false, 205),
                ("m.call.candidates", 1, false, 205),
            ],
        ),
    ];
    for (what, steps, want) in table {
        let mut h = H::alice();
        h.cmd(
            0,
            Command::Place {
                call_id: "c1".into(),
            },
        );
        let mut sent_at = Vec::new();
        let mut last = 0;
        for step in steps {
            let (ms, input) = match step {
                Cand(ms, n) => (ms, MediaInput::LocalCandidate(cand(n))),
                Done(ms) => (ms, MediaInput::GatheringComplete),
                Offer(ms) => (ms, MediaInput::LocalOffer("sdp".into())),
            };
            for t in last..ms {
                if !sends(&h.run_until(t)).is_empty() {
                    sent_at.push(t);
                }
            }
            if !sends(&h.media(ms, "c1", input)).is_empty() {
                sent_at.push(ms);
            }
            last = ms;
        }
        for t in last..5000 {
            if !sends(&h.run_until(t)).is_empty() {
                sent_at.push(t);
            }
        }
        let got: Vec<_> = timeline(&h);
        let want_shape: Vec<_> = want
            .iter()
            .map(|(t, n, e, _)| ((*t).to_owned(), *n, *e))
            .collect();
        assert_eq!(got, want_shape, "{what}");
        let mut want_times: Vec<u64> = want.iter().map(|w| w.3).collect();
        want_times.dedup();
        assert_eq!(sent_at, want_times, "{what}");
    }
}

#[test]
fn callee_candidates_go_with_the_answer_then_every_500_ms() {
    let mut h = H::alice();
    h.ring_from_bob(0, "c1");
    h.cmd(1000, Command::Answer { call_id: None });
    h.media(1000, "c1", MediaInput::LocalCandidate(cand(1)));
    h.media(1050, "c1", MediaInput::LocalAnswer("answer".into()));
    h.media(1100, "c1", MediaInput::LocalCandidate(cand(2)));
    let out = h.run_until(1250);
    assert_eq!(send_types(&out), ["m.call.answer", "m.call.candidates"]);
    assert_eq!(
        sends(&out)[1].1["candidates"].as_array().map(Vec::len),
        Some(2)
    );
    h.media(1300, "c1", MediaInput::LocalCandidate(cand(3)));
    assert!(h.run_until(1799).is_empty());
    assert_eq!(send_types(&h.run_until(1800)), ["m.call.candidates"]);
    // A callee that never trickles (js-sdk): nothing else is sent, and that is fine.
    h.media(1900, "c1", MediaInput::IceConnected);
    assert!(sends(&h.run_until(60_000)).is_empty());
}

#[test]
fn the_media_engine_gets_10_s_to_produce_an_offer_or_answer() {
    let mut h = H::alice();
    h.cmd(
        0,
        Command::Place {
            call_id: "c1".into(),
        },
    );
    assert!(h.run_until(9_999).is_empty());
    let out = h.run_until(10_000);
    assert!(
        sends(&out).is_empty(),
        "nothing was sent, nothing to hang up"
    );
    assert_eq!(outcome(&out), Some(Outcome::MediaFailed));
    assert_eq!(actions(&out), [("c1".into(), MediaAction::Close)]);

    // Answering: the caller is told at once (reject), instead of ringing to its timeout.
    let mut h = H::alice();
    h.ring_from_bob(0, "c1");
    h.cmd(100, Command::Answer { call_id: None });
    let out = h.run_until(10_100);
    assert_eq!(sends(&out).len(), 1, "{out:?}");
    assert_eq!(sends(&out)[0].0, "m.call.reject");
    assert_eq!(outcome(&out), Some(Outcome::MediaFailed));

    // A media failure after the invite went out is a hangup on the wire.
    let mut h = H::alice();
    h.place_and_send(0, "c2");
    let out = h.media(300, "c2", MediaInput::Failed("no microphone".into()));
    assert_eq!(sends(&out)[0].1["reason"], json!("user_media_failed"));
    assert_eq!(outcome(&out), Some(Outcome::MediaFailed));
}

/// Media that cannot be set up while answering (no multicast, a broken TURN list, a device
/// gone): the caller gets `m.call.reject` (a version-0 caller the hangup with
/// `user_media_failed`) at once, and the call ends `MediaFailed` (exit 7), not exit 1.
#[test]
fn a_media_failure_while_answering_tells_the_caller() {
    let mut h = H::alice();
    h.ring_from_bob(0, "c1");
    h.cmd(100, Command::Answer { call_id: None });
    let out = h.media(
        200,
        "c1",
        MediaInput::Failed("creating the peer connection".into()),
    );
    assert_eq!(sends(&out).len(), 1, "{out:?}");
    assert_eq!(sends(&out)[0].0, "m.call.reject");
    assert_eq!(outcome(&out), Some(Outcome::MediaFailed));
    assert_eq!(Outcome::MediaFailed.exit_code(), 7);
}

#[test]
fn replayed_invites_of_ended_calls_never_ring() {
    // Synapse can serve a cached sync again, old ages and all.
    let mut h = H::alice();
    h.ring_from_bob(0, "c1");
    h.cmd(
        100,
        Command::Reject {
            call_id: None,
            reason: None,
        },
    );
    assert!(!rang(&h.ring_from_bob(200, "c1")));
    assert!(h.m.ended_calls().any(|c| c == "c1"));
    // Across runs: the engine hands the ids it persisted back in.
    let mut h = H::alice();
    h.m.remember_ended("c1");
    assert!(!rang(&h.ring_from_bob(0, "c1")));
}

/// What the media engine's offer/answer looks like to the machine: one audio section.
const SECTION_SDP: &str = "v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n";

#[test]
fn candidates_gathered_before_the_answer_go_in_its_sdp_and_a_finished_gathering_sends_none() {
    let mut h = H::alice();
    h.ring_from_bob(0, "c1");
    h.cmd(1000, Command::Answer { call_id: None });
    h.media(1002, "c1", MediaInput::LocalCandidate(cand(1)));
    h.media(1003, "c1", MediaInput::LocalCandidate(cand(2)));
    h.media(1004, "c1", MediaInput::GatheringComplete);
    h.media(1005, "c1", MediaInput::LocalAnswer(SECTION_SDP.into()));
    let out = h.run_until(1005);
    assert_eq!(send_types(&out), ["m.call.answer"], "sent at once");
    let sdp = sends(&out)[0].1["answer"]["sdp"]
        .as_str()
        .map(str::to_owned);
    assert_eq!(
        sdp.as_deref(),
        Some(
            "v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
             a=candidate:1 1 udp 2122260223 192.0.2.1 50001 typ host\r\n\
             a=candidate:2 1 udp 2122260223 192.0.2.2 50002 typ host\r\n\
             a=end-of-candidates\r\n"
        )
    );
    // As matrix-js-sdk's callee: no `m.call.candidates` at all.
    h.media(1100, "c1", MediaInput::IceConnected);
    assert!(sends(&h.run_until(60_000)).is_empty());
}

#[test]
fn the_caller_s_invite_carries_what_was_gathered_and_the_rest_trickles_with_the_end_marker() {
    let mut h = H::alice();
    h.cmd(
        0,
        Command::Place {
            call_id: "c1".into(),
        },
    );
    h.media(5, "c1", MediaInput::LocalOffer(SECTION_SDP.into()));
    h.media(6, "c1", MediaInput::LocalCandidate(cand(1)));
    // Gathering still running (a TURN allocation): the invite waits 200 ms for it, no longer.
    assert!(sends(&h.run_until(204)).is_empty());
    let out = h.run_until(205);
    assert_eq!(send_types(&out), ["m.call.invite"]);
    let sdp = sends(&out)[0].1["offer"]["sdp"].as_str().map(str::to_owned);
    let sdp = sdp.unwrap_or_default();
    assert!(sdp.ends_with("a=candidate:1 1 udp 2122260223 192.0.2.1 50001 typ host\r\n"));
    assert!(
        !sdp.contains("end-of-candidates"),
        "gathering has not ended"
    );
    // The relay candidate and the end come later: one batch when gathering ends.
    h.media(300, "c1", MediaInput::LocalCandidate(cand(2)));
    assert!(sends(&h.run_until(349)).is_empty());
    let out = h.media(350, "c1", MediaInput::GatheringComplete);
    assert_eq!(send_types(&out), ["m.call.candidates"]);
    assert_eq!(
        sends(&out)[0].1["candidates"],
        json!([
            { "candidate": cand(2).candidate, "sdpMid": "0", "sdpMLineIndex": 0 },
            { "candidate": "" },
        ])
    );
}
