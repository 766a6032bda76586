//! Whole calls: placing, answering, declining, hanging up; versions 0 and 1; echo; the first
//! answer winning; answered elsewhere; candidates that come early.

use serde_json::json;

use super::harness::*;
use crate::signalling::{
    CallEvent, Command, CommandError, MediaAction, MediaInput, Outcome, Output, Party,
};

#[test]
fn outgoing_call_from_place_to_hangup() {
    let mut h = H::alice();
    let out = h.cmd(
        0,
        Command::Place {
            call_id: "c1".into(),
        },
    );
    assert_eq!(actions(&out), [("c1".into(), MediaAction::CreateOffer)]);
    assert!(sends(&out).is_empty());
    h.media(10, "c1", MediaInput::LocalOffer("offer-sdp".into()));
    let out = h.run_until(210);
    let s = sends(&out);
    assert_eq!(send_types(&out), ["m.call.invite"]);
    assert_eq!(s[0].1["offer"]["sdp"], json!("offer-sdp"));
    assert_eq!(s[0].1["lifetime"], json!(90000));
    assert_eq!(
        s[0].1["sdp_stream_metadata"],
        json!({ "alice-stream": { "purpose": "m.usermedia" } })
    );
    assert_eq!(
        events(&out),
        [CallEvent::InviteSent {
            call_id: "c1".into()
        }]
    );

    let out = h.synced(1000, BOB, "m.call.answer", answer("c1", Some(BOB_DEV)));
    assert_eq!(
        actions(&out),
        [(
            "c1".into(),
            MediaAction::AcceptAnswer("v=0 remote answer".into())
        )]
    );
    let s = sends(&out);
    assert_eq!(s.len(), 1);
    assert_eq!(
        (s[0].0, &s[0].1["selected_party_id"]),
        ("m.call.select_answer", &json!(BOB_DEV))
    );
    assert_eq!(
        events(&out),
        [CallEvent::Connecting {
            call_id: "c1".into()
        }]
    );

    let out = h.media(1500, "c1", MediaInput::IceConnected);
    assert_eq!(
        events(&out),
        [CallEvent::Connected {
            call_id: "c1".into()
        }]
    );

    let out = h.cmd(
        5000,
        Command::Hangup {
            call_id: None,
            reason: None,
        },
    );
    assert_eq!(send_types(&out), ["m.call.hangup"]);
    assert_eq!(sends(&out)[0].1["reason"], json!("user_hangup"));
    assert_eq!(actions(&out), [("c1".into(), MediaAction::Close)]);
    assert_eq!(
        events(&out),
        [
            CallEvent::Hangup {
                call_id: "c1".into(),
                reason: "user_hangup".into(),
                by: Party::Local
            },
            CallEvent::Ended {
                call_id: "c1".into(),
                outcome: Outcome::Completed
            },
        ]
    );
    assert_eq!(h.m.live_calls().count(), 0);
    assert_eq!(h.m.poll_timeout(), None);
}

#[test]
fn incoming_call_from_ring_to_remote_hangup() {
    let mut h = H::alice();
    let out = h.remote(0, BOB, "m.call.invite", invite("c1", Some(BOB_DEV), 60000));
    assert!(out.is_empty(), "nothing before the batch ends: {out:?}");
    let out = h.batch_end(0);
    assert_eq!(
        events(&out),
        [CallEvent::Ringing {
            call_id: "c1".into(),
            caller: user(BOB)
        }]
    );
    assert!(
        actions(&out).is_empty(),
        "no peer connection before the user answers"
    );

    let out = h.cmd(2000, Command::Answer { call_id: None });
    assert_eq!(
        actions(&out),
        [(
            "c1".into(),
            MediaAction::AcceptOffer("v=0 remote offer".into())
        )]
    );
    assert_eq!(
        events(&out),
        [CallEvent::Connecting {
            call_id: "c1".into()
        }]
    );
    h.media(2010, "c1", MediaInput::LocalAnswer("answer-sdp".into()));
    let out = h.run_until(2210);
    let s = sends(&out);
    assert_eq!(send_types(&out), ["m.call.answer"]);
    assert_eq!(
        s[0].1["answer"],
        json!({ "type": "answer", "sdp": "answer-sdp" })
    );
    assert_eq!(
        s[0].1["sdp_stream_metadata"],
        json!({ "alice-stream": { "purpose": "m.usermedia" } })
    );
    h.synced(
        2500,
        BOB,
        "m.call.select_answer",
        select_answer("c1", BOB_DEV, ALICE_DEV),
    );
    let out = h.media(2600, "c1", MediaInput::IceConnected);
    assert_eq!(
        events(&out),
        [CallEvent::Connected {
            call_id: "c1".into()
        }]
    );

    let out = h.synced(
        9000,
        BOB,
        "m.call.hangup",
        hangup("c1", Some(BOB_DEV), Some("user_hangup")),
    );
    assert!(sends(&out).is_empty());
    assert_eq!(
        events(&out),
        [
            CallEvent::Hangup {
                call_id: "c1".into(),
                reason: "user_hangup".into(),
                by: Party::Remote
            },
            CallEvent::Ended {
                call_id: "c1".into(),
                outcome: Outcome::Completed
            },
        ]
    );
}

#[test]
fn every_event_we_send_carries_call_id_party_id_and_version_1() {
    let mut h = H::alice();
    h.place_and_send(0, "out1");
    h.media(300, "out1", MediaInput::LocalCandidate(cand(1)));
    h.media(400, "out1", MediaInput::GatheringComplete);
    h.synced(1000, BOB, "m.call.answer", answer("out1", Some(BOB_DEV)));
    h.media(1100, "out1", MediaInput::IceConnected);
    h.media(1200, "out1", MediaInput::IceFailed);
    h.media(1300, "out1", MediaInput::LocalOffer("restart".into()));
    h.cmd(
        2000,
        Command::Hangup {
            call_id: None,
            reason: None,
        },
    );
    h.answer_bob(3000, "in1");
    h.media(3300, "in1", MediaInput::LocalCandidate(cand(2)));
    h.run_until(4000);
    h.cmd(
        5000,
        Command::Hangup {
            call_id: None,
            reason: Some("user_busy".into()),
        },
    );
    h.ring_from_bob(6000, "in2");
    h.cmd(
        6100,
        Command::Reject {
            call_id: None,
            reason: None,
        },
    );
    let all = sends(&h.out);
    let types: Vec<_> = all.iter().map(|(t, _)| *t).collect();
    for t in [
        "m.call.invite",
        "m.call.candidates",
        "m.call.select_answer",
        "m.call.negotiate",
        "m.call.hangup",
        "m.call.answer",
        "m.call.reject",
    ] {
        assert!(types.contains(&t), "{t} not covered: {types:?}");
    }
    for (t, c) in &all {
        assert!(c["call_id"].is_string(), "{t}: {c}");
        assert_eq!(
            (&c["party_id"], &c["version"]),
            (&json!(ALICE_DEV), &json!("1")),
            "{t}: {c}"
        );
    }
}

#[test]
fn version_0_peers_get_version_0_behaviour() {
    // Declining a v0 invite is a hangup without reason (v0 knows no reject and no user_hangup).
    let mut h = H::alice();
    h.synced(0, BOB, "m.call.invite", invite("c0", None, 60000));
    let out = h.cmd(
        100,
        Command::Reject {
            call_id: None,
            reason: None,
        },
    );
    assert_eq!(send_types(&out), ["m.call.hangup"]);
    assert!(sends(&out)[0].1.get("reason").is_none());
    assert_eq!(outcome(&out), Some(Outcome::Declined));
    // ... and a v1 invite with m.call.reject.
    h.synced(
        1000,
        BOB,
        "m.call.invite",
        invite("c1", Some(BOB_DEV), 60000),
    );
    let out = h.cmd(
        1100,
        Command::Reject {
            call_id: None,
            reason: None,
        },
    );
    assert_eq!(send_types(&out), ["m.call.reject"]);
    // A busy decline keeps its reason for v0.
    h.synced(2000, BOB, "m.call.invite", invite("c2", None, 60000));
    let out = h.cmd(
        2100,
        Command::Hangup {
            call_id: None,
            reason: Some("user_busy".into()),
        },
    );
    assert_eq!(sends(&out)[0].1["reason"], json!("user_busy"));

    // A v0 callee: no select_answer (no party to select), hangup without user_hangup, and its
    // party-less candidates, hangup and answer all match it.
    let mut h = H::alice();
    h.place_and_send(0, "out");
    h.synced(500, BOB, "m.call.candidates", remote_cands("out", None));
    let out = h.synced(1000, BOB, "m.call.answer", answer("out", None));
    assert!(
        send_types(&out).is_empty(),
        "no select_answer to v0: {out:?}"
    );
    assert!(matches!(
        &actions(&out)[1].1,
        MediaAction::AddRemoteCandidates { candidates, .. } if candidates.len() == 1
    ));
    h.media(1100, "out", MediaInput::IceConnected);
    let out = h.cmd(
        2000,
        Command::Hangup {
            call_id: None,
            reason: None,
        },
    );
    assert!(sends(&out)[0].1.get("reason").is_none());

    // A v0 caller's hangup (no party_id, no reason) ends our answered call as user_hangup.
    let mut h = H::alice();
    h.synced(0, BOB, "m.call.invite", invite("c0", None, 60000));
    h.cmd(100, Command::Answer { call_id: None });
    h.media(110, "c0", MediaInput::LocalAnswer("a".into()));
    h.run_until(400);
    h.media(500, "c0", MediaInput::IceConnected);
    let out = h.synced(900, BOB, "m.call.hangup", hangup("c0", None, None));
    assert_eq!(
        events(&out)[0],
        CallEvent::Hangup {
            call_id: "c0".into(),
            reason: "user_hangup".into(),
            by: Party::Remote
        }
    );
}

#[test]
fn own_echo_is_ignored_but_our_party_id_from_the_peer_is_not_an_echo() {
    let mut h = H::alice();
    let out = h.place_and_send(0, "c1");
    let (_, our_invite) = sends(&out)[0].clone();
    // The echo of our own invite must not ring.
    let out = h.synced(300, ALICE, "m.call.invite", our_invite.clone());
    assert!(out.is_empty(), "{out:?}");
    // Nor may the echo of our own hangup end anything else.
    h.cmd(
        400,
        Command::Hangup {
            call_id: None,
            reason: None,
        },
    );

    // (Invites from our other devices are our own calls to Bob: security.rs.)
    // Our own party on another user's event is not our echo.
    let mut h = H::alice();
    let out = h.synced(
        0,
        BOB,
        "m.call.invite",
        invite("c2", Some(ALICE_DEV), 60000),
    );
    assert!(rang(&out));
}

#[test]
fn the_first_answer_wins() {
    let mut h = H::alice();
    h.place_and_send(0, "c1");
    h.remote(
        900,
        BOB,
        "m.call.candidates",
        remote_cands("c1", Some("TABLET")),
    );
    h.remote(
        950,
        BOB,
        "m.call.candidates",
        remote_cands("c1", Some("PHONE")),
    );
    let out = h.remote(1000, BOB, "m.call.answer", answer("c1", Some("PHONE")));
    assert_eq!(sends(&out)[0].1["selected_party_id"], json!("PHONE"));
    // The chosen party's early candidates are applied; the other party's are dropped.
    let adds: Vec<_> = actions(&out)
        .into_iter()
        .filter(|(_, a)| matches!(a, MediaAction::AddRemoteCandidates { .. }))
        .collect();
    assert_eq!(adds.len(), 1);
    let out = h.remote(1100, BOB, "m.call.answer", answer("c1", Some("TABLET")));
    assert!(out.is_empty(), "second answer ignored: {out:?}");
    let out = h.remote(
        1200,
        BOB,
        "m.call.candidates",
        remote_cands("c1", Some("TABLET")),
    );
    assert!(
        out.is_empty(),
        "the loser's candidates are ignored: {out:?}"
    );
    let out = h.remote(
        1300,
        BOB,
        "m.call.candidates",
        remote_cands("c1", Some("PHONE")),
    );
    assert_eq!(actions(&out).len(), 1);
}

#[test]
fn a_callee_not_selected_ends_as_answered_elsewhere() {
    // (select_answer's selected party, ends?)
    for (selected, ends) in [("OTHERDEV", true), (ALICE_DEV, false)] {
        let mut h = H::alice();
        h.answer_bob(0, "c1");
        let out = h.synced(
            1000,
            BOB,
            "m.call.select_answer",
            select_answer("c1", BOB_DEV, selected),
        );
        assert!(sends(&out).is_empty(), "silently: {out:?}");
        assert_eq!(
            outcome(&out),
            ends.then_some(Outcome::AnsweredElsewhere),
            "{selected}"
        );
        assert_eq!(h.m.live_calls().count(), usize::from(!ends));
    }
    // Still ringing here when another of our devices answers: stop ringing.
    let mut h = H::alice();
    h.ring_from_bob(0, "c1");
    let out = h.synced(1000, ALICE, "m.call.answer", answer("c1", Some("PHONE")));
    assert_eq!(outcome(&out), Some(Outcome::AnsweredElsewhere));
    // Declined on another of our devices.
    let mut h = H::alice();
    h.ring_from_bob(0, "c1");
    let out = h.synced(1000, ALICE, "m.call.reject", reject("c1", "PHONE"));
    assert_eq!(outcome(&out), Some(Outcome::Declined));
}

#[test]
fn declines_and_rejects() {
    // (what Bob sends while our invite rings, outcome)
    let table = [
        ("m.call.reject", reject("c1", BOB_DEV), Outcome::Declined),
        (
            "m.call.hangup",
            hangup("c1", Some(BOB_DEV), Some("user_busy")),
            Outcome::Declined,
        ),
        ("m.call.hangup", hangup("c1", None, None), Outcome::Declined), // v0 decline
    ];
    for (ty, content, want) in table {
        let mut h = H::alice();
        h.place_and_send(0, "c1");
        let out = h.synced(1000, BOB, ty, content.clone());
        assert_eq!(outcome(&out), Some(want), "{ty} {content}");
        assert!(sends(&out).is_empty());
        assert_eq!(actions(&out), [("c1".into(), MediaAction::Close)]);
    }
    // A reject after an answer was taken is ignored.
    let mut h = H::alice();
    h.place_and_send(0, "c1");
    h.synced(1000, BOB, "m.call.answer", answer("c1", Some(BOB_DEV)));
    let out = h.synced(1100, BOB, "m.call.reject", reject("c1", "TABLET"));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(h.m.live_calls().count(), 1);
}

#[test]
fn remote_hangup_reasons_map_to_outcomes() {
    // (reason, connected first, outcome) — unknown reasons are accepted.
    let table = [
        (Some("user_hangup"), true, Outcome::Completed),
        (None, true, Outcome::Completed),
        (Some("ice_failed"), true, Outcome::MediaFailed),
        (Some("ice_timeout"), true, Outcome::MediaFailed),
        (Some("user_busy"), false, Outcome::Declined),
        (Some("replaced"), false, Outcome::AnsweredElsewhere),
        (Some("signalling_timeout"), false, Outcome::Error),
        (Some("signalling_timeout"), true, Outcome::Completed),
        (Some("org.example.whatever"), true, Outcome::Completed),
    ];
    for (reason, connect, want) in table {
        let mut h = H::alice();
        h.place_and_send(0, "c1");
        h.synced(1000, BOB, "m.call.answer", answer("c1", Some(BOB_DEV)));
        if connect {
            h.media(1100, "c1", MediaInput::IceConnected);
        }
        let out = h.synced(
            2000,
            BOB,
            "m.call.hangup",
            hangup("c1", Some(BOB_DEV), reason),
        );
        assert_eq!(outcome(&out), Some(want), "{reason:?}");
        let reason = reason.unwrap_or("user_hangup").to_owned();
        assert!(events(&out).contains(&CallEvent::Hangup {
            call_id: "c1".into(),
            reason,
            by: Party::Remote
        }));
    }
}

#[test]
fn early_candidates_are_queued_not_dropped() {
    // Candidates (with end-of-candidates) before the invite they belong to.
    let mut h = H::alice();
    let list = json!([
        { "candidate": "candidate:1 1 udp 1 198.51.100.1 1 typ host", "sdpMid": "", "sdpMLineIndex": 0 },
        { "candidate": "" }
    ]);
    h.remote(
        0,
        BOB,
        "m.call.candidates",
        candidates("c1", Some(BOB_DEV), list),
    );
    h.remote(
        0,
        EVE,
        "m.call.candidates",
        remote_cands("c1", Some("EVEDEV")),
    );
    h.batch_end(0);
    h.synced(
        100,
        BOB,
        "m.call.invite",
        invite("c1", Some(BOB_DEV), 60000),
    );
    // More while ringing.
    h.synced(
        200,
        BOB,
        "m.call.candidates",
        remote_cands("c1", Some(BOB_DEV)),
    );
    let out = h.cmd(1000, Command::Answer { call_id: None });
    let acts = actions(&out);
    assert_eq!(
        acts[0].1,
        MediaAction::AcceptOffer("v=0 remote offer".into())
    );
    match &acts[1].1 {
        MediaAction::AddRemoteCandidates {
            candidates,
            end_of_candidates,
        } => {
            assert_eq!(candidates.len(), 2, "Eve's candidate is not among them");
            assert_eq!(candidates[0].sdp_mid, None, "Nheko's empty sdpMid");
            assert!(*end_of_candidates);
        }
        other => panic!("{other:?}"),
    }
    // After answering, candidates go straight to the media engine.
    let out = h.synced(
        1100,
        BOB,
        "m.call.candidates",
        remote_cands("c1", Some(BOB_DEV)),
    );
    assert_eq!(actions(&out).len(), 1);
}

#[test]
fn commands_that_do_not_fit_are_refused() {
    let mut h = H::alice();
    assert_eq!(
        h.try_cmd(0, Command::Answer { call_id: None }).err(),
        Some(CommandError::NoSuchCall)
    );
    assert_eq!(
        h.try_cmd(
            0,
            Command::Reject {
                call_id: None,
                reason: None
            }
        )
        .err(),
        Some(CommandError::NoSuchCall)
    );
    assert_eq!(
        h.try_cmd(
            0,
            Command::Hangup {
                call_id: None,
                reason: None
            }
        )
        .err(),
        Some(CommandError::NoSuchCall)
    );
    for bad in ["", "a b", &"x".repeat(300)] {
        assert_eq!(
            h.try_cmd(
                0,
                Command::Place {
                    call_id: bad.to_owned()
                }
            )
            .err(),
            Some(CommandError::BadCallId)
        );
    }
    h.place_and_send(0, "c1");
    assert_eq!(
        h.try_cmd(
            1,
            Command::Place {
                call_id: "c1".into()
            }
        )
        .err(),
        Some(CommandError::BadCallId)
    );
    assert_eq!(
        h.try_cmd(
            1,
            Command::Place {
                call_id: "c2".into()
            }
        )
        .err(),
        Some(CommandError::Busy)
    );
    assert_eq!(
        h.try_cmd(
            1,
            Command::Answer {
                call_id: Some("c1".into())
            }
        )
        .err(),
        Some(CommandError::NotRinging)
    );
    h.cmd(
        2,
        Command::Hangup {
            call_id: Some("c1".into()),
            reason: None,
        },
    );
    // An ended call id cannot be reused.
    assert_eq!(
        h.try_cmd(
            3,
            Command::Place {
                call_id: "c1".into()
            }
        )
        .err(),
        Some(CommandError::BadCallId)
    );
}

#[test]
fn hanging_up_a_ringing_call_declines_it_and_unsent_calls_send_nothing() {
    let mut h = H::alice();
    h.ring_from_bob(0, "c1");
    let out = h.cmd(
        10,
        Command::Hangup {
            call_id: None,
            reason: None,
        },
    );
    assert_eq!(send_types(&out), ["m.call.reject"]);
    // Hung up before the invite went out: nothing on the wire.
    let mut h = H::alice();
    h.cmd(
        0,
        Command::Place {
            call_id: "c2".into(),
        },
    );
    let out = h.cmd(
        10,
        Command::Hangup {
            call_id: None,
            reason: None,
        },
    );
    assert!(sends(&out).is_empty());
    // The caller gave up before it connected: not a call that succeeded.
    assert_eq!(outcome(&out), Some(Outcome::Cancelled));
}

#[test]
fn the_peer_leaving_is_a_hangup() {
    let mut h = H::alice();
    h.place_and_send(0, "c1");
    let now = h.at(500);
    h.m.handle_input(crate::signalling::Input::PeerLeft { now })
        .expect("input");
    let mut out = Vec::new();
    while let Some(o) = h.m.poll_output() {
        out.push(o);
    }
    assert_eq!(outcome(&out), Some(Outcome::Declined));
    assert!(out.iter().all(|o| !matches!(o, Output::Send { .. })));
}
