//! Glare: Bob's invite crossing ours.

use serde_json::json;

use super::harness::*;
use crate::signalling::glare::{OutgoingStage, Resolution, resolve};
use crate::signalling::{CallEvent, Command, MediaAction, MediaInput, Outcome};

#[test]
fn the_rule() {
    // (ours, stage, theirs, resolution)
    let table = [
        ("b", OutgoingStage::Preparing, "a", Resolution::TakeTheirs),
        ("a", OutgoingStage::Preparing, "b", Resolution::TakeTheirs),
        ("b", OutgoingStage::InviteSent, "a", Resolution::TakeTheirs),
        ("a", OutgoingStage::InviteSent, "b", Resolution::KeepOurs),
        ("c10", OutgoingStage::InviteSent, "c9", Resolution::KeepOurs), // lexicographic, not numeric
        ("B", OutgoingStage::InviteSent, "a", Resolution::KeepOurs),    // byte order: 'B' < 'a'
    ];
    for (ours, stage, theirs, want) in table {
        assert_eq!(
            resolve(ours, stage, theirs),
            want,
            "{ours} {stage:?} {theirs}"
        );
    }
}

/// Bob's invite arrives while our call is `prepared` (offer not sent) or sent.
fn crossing(ours: &str, theirs: &str, sent: bool) -> (H, Vec<crate::signalling::Output>) {
    let mut h = H::alice();
    if sent {
        h.place_and_send(0, ours);
    } else {
        h.cmd(
            0,
            Command::Place {
                call_id: ours.into(),
            },
        );
        h.media(100, ours, MediaInput::LocalOffer("sdp".into())); // still in the 200 ms window
    }
    let out = h.synced(
        150,
        BOB,
        "m.call.invite",
        invite(theirs, Some(BOB_DEV), 60000),
    );
    (h, out)
}

#[test]
fn their_invite_while_we_prepare_replaces_ours() {
    let (mut h, out) = crossing("zzz", "aaa", false);
    assert!(!rang(&out), "answered for the user, no ringing");
    assert!(
        sends(&out).is_empty(),
        "our invite never went out, so no hangup: {out:?}"
    );
    assert_eq!(
        events(&out),
        [
            CallEvent::Replaced {
                call_id: "zzz".into(),
                by: "aaa".into()
            },
            CallEvent::Connecting {
                call_id: "aaa".into()
            },
        ]
    );
    assert_eq!(
        actions(&out),
        [
            ("zzz".into(), MediaAction::Close),
            (
                "aaa".into(),
                MediaAction::AcceptOffer("v=0 remote offer".into())
            ),
        ]
    );
    // Our dropped call's timers are gone: nothing goes out for it later.
    let later = h.run_until(1000);
    assert!(
        sends(&later)
            .iter()
            .all(|(_, c)| c["call_id"] != json!("zzz")),
        "{later:?}"
    );
    // The surviving call carries on as ours.
    h.media(1000, "aaa", MediaInput::LocalAnswer("answer".into()));
    assert_eq!(send_types(&h.run_until(1200)), ["m.call.answer"]);
    let out = h.media(1300, "aaa", MediaInput::IceConnected);
    assert_eq!(
        events(&out),
        [CallEvent::Connected {
            call_id: "aaa".into()
        }]
    );
}

#[test]
fn their_lesser_invite_after_ours_was_sent_replaces_ours() {
    let (_, out) = crossing("c-bbb", "c-aaa", true);
    let s = sends(&out);
    assert_eq!(send_types(&out), ["m.call.hangup"]);
    assert_eq!(
        (&s[0].1["call_id"], &s[0].1["reason"]),
        (&json!("c-bbb"), &json!("replaced"))
    );
    assert_eq!(
        events(&out),
        [
            CallEvent::Replaced {
                call_id: "c-bbb".into(),
                by: "c-aaa".into()
            },
            CallEvent::Connecting {
                call_id: "c-aaa".into()
            },
        ]
    );
    assert_eq!(
        actions(&out)[1],
        (
            "c-aaa".into(),
            MediaAction::AcceptOffer("v=0 remote offer".into())
        )
    );
}

#[test]
fn their_greater_invite_after_ours_was_sent_is_hung_up() {
    let (mut h, out) = crossing("c-aaa", "c-bbb", true);
    assert!(events(&out).is_empty(), "the user sees nothing: {out:?}");
    let s = sends(&out);
    assert_eq!(
        (s[0].0, &s[0].1["call_id"], &s[0].1["reason"]),
        ("m.call.hangup", &json!("c-bbb"), &json!("replaced"))
    );
    // Ours still waits for Bob's answer (his side replaces his call with ours).
    let out = h.synced(500, BOB, "m.call.answer", answer("c-aaa", Some(BOB_DEV)));
    assert_eq!(
        events(&out),
        [CallEvent::Connecting {
            call_id: "c-aaa".into()
        }]
    );
}

#[test]
fn placing_a_call_while_the_peer_rings_us_answers_theirs() {
    let mut h = H::alice();
    h.ring_from_bob(0, "theirs");
    let out = h.cmd(
        100,
        Command::Place {
            call_id: "ours".into(),
        },
    );
    assert_eq!(
        events(&out),
        [
            CallEvent::Replaced {
                call_id: "ours".into(),
                by: "theirs".into()
            },
            CallEvent::Connecting {
                call_id: "theirs".into()
            },
        ]
    );
    assert!(sends(&out).is_empty());
}

#[test]
fn glare_applies_only_to_the_peer_and_only_while_ours_is_unanswered() {
    // Our own other device calling Bob is not glare (nor a ring: security.rs).
    let mut h = H::alice();
    h.place_and_send(0, "zzz");
    let out = h.synced(
        300,
        ALICE,
        "m.call.invite",
        invite("aaa", Some("PHONE"), 60000),
    );
    assert!(out.is_empty(), "{out:?}");
    // An answered call is not in glare either: the new invite just rings.
    let mut h = H::alice();
    h.place_and_send(0, "zzz");
    h.synced(300, BOB, "m.call.answer", answer("zzz", Some(BOB_DEV)));
    let out = h.synced(
        400,
        BOB,
        "m.call.invite",
        invite("aaa", Some("TABLET"), 60000),
    );
    assert!(rang(&out));
    assert!(outcome(&out).is_none());
    assert_eq!(outcome(&h.out), None::<Outcome>);
}
