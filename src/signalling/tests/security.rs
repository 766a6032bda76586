//! Only the expected (user, party) may speak for a call. js-sdk was seen ending calls on a third
//! user's forged hangup and sending audio to a third user's answer; here such events change
//! nothing at all.

use serde_json::Value;

use super::harness::*;
use crate::signalling::{Command, MediaInput};

/// Forged events: (sender, type, content) that must have no effect on an established call `c1`
/// between Alice and Bob's device `BOB_DEV`.
fn forgeries() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            EVE,
            "m.call.hangup",
            hangup("c1", Some(BOB_DEV), Some("user_hangup")),
        ),
        (EVE, "m.call.hangup", hangup("c1", None, None)),
        (EVE, "m.call.answer", answer("c1", Some(BOB_DEV))),
        (EVE, "m.call.candidates", remote_cands("c1", Some(BOB_DEV))),
        (
            EVE,
            "m.call.negotiate",
            negotiate("c1", BOB_DEV, "offer", 30000),
        ),
        (
            EVE,
            "m.call.select_answer",
            select_answer("c1", BOB_DEV, "EVEDEV"),
        ),
        (EVE, "m.call.reject", reject("c1", BOB_DEV)),
        (BOB, "m.call.hangup", hangup("c1", Some("TABLET"), None)),
        (BOB, "m.call.hangup", hangup("c1", None, None)), // party-less is not BOB_DEV
        (BOB, "m.call.candidates", remote_cands("c1", Some("TABLET"))),
        (
            BOB,
            "m.call.negotiate",
            negotiate("c1", "TABLET", "offer", 30000),
        ),
        (
            BOB,
            "m.call.select_answer",
            select_answer("c1", "TABLET", "OTHER"),
        ),
        (BOB, "m.call.answer", answer("c1", Some("TABLET"))),
        (BOB, "m.call.reject", reject("c1", "TABLET")),
        (ALICE, "m.call.hangup", hangup("c1", Some("PHONE"), None)),
    ]
}

#[test]
fn forged_events_on_an_outgoing_call_are_ignored() {
    for (sender, ty, content) in forgeries() {
        let mut h = H::alice();
        h.place_and_send(0, "c1");
        h.synced(500, BOB, "m.call.answer", answer("c1", Some(BOB_DEV)));
        h.media(600, "c1", MediaInput::IceConnected);
        let out = h.synced(1000, sender, ty, content.clone());
        assert!(out.is_empty(), "{sender} {ty} {content}: {out:?}");
        assert_eq!(h.m.live_calls().count(), 1);
    }
}

#[test]
fn forged_events_on_an_incoming_call_are_ignored() {
    for (sender, ty, content) in forgeries() {
        let mut h = H::alice();
        h.answer_bob(0, "c1");
        h.media(600, "c1", MediaInput::IceConnected);
        let out = h.synced(1000, sender, ty, content.clone());
        assert!(out.is_empty(), "{sender} {ty} {content}: {out:?}");
        assert_eq!(h.m.live_calls().count(), 1);
    }
}

#[test]
fn while_our_invite_rings_only_the_invited_user_may_answer_or_decline() {
    // (sender, type, content, has effect)
    let table = [
        (EVE, "m.call.answer", answer("c1", Some("EVEDEV")), false),
        (EVE, "m.call.reject", reject("c1", "EVEDEV"), false),
        (
            EVE,
            "m.call.hangup",
            hangup("c1", Some("EVEDEV"), None),
            false,
        ),
        (ALICE, "m.call.answer", answer("c1", Some("PHONE")), false),
        (BOB, "m.call.answer", answer("c1", Some("ANYDEV")), true),
        (BOB, "m.call.reject", reject("c1", "ANYDEV"), true),
    ];
    for (sender, ty, content, effect) in table {
        let mut h = H::alice();
        h.place_and_send(0, "c1");
        let out = h.synced(1000, sender, ty, content.clone());
        assert_eq!(!out.is_empty(), effect, "{sender} {ty} {content}: {out:?}");
    }
}

#[test]
fn invites_from_third_users_or_for_others_never_ring() {
    let table: [(&str, Value); 3] = [
        (EVE, invite("c1", Some("EVEDEV"), 60000)),
        (BOB, {
            let mut i = invite("c1", Some(BOB_DEV), 60000);
            i["invitee"] = Value::from(EVE);
            i
        }),
        (BOB, {
            let mut i = invite("c1", Some(BOB_DEV), 60000);
            i["lifetime"] = Value::from("60000");
            i
        }),
    ];
    for (sender, content) in table {
        let mut h = H::alice();
        assert!(
            h.synced(0, sender, "m.call.invite", content.clone())
                .is_empty(),
            "{sender} {content}"
        );
    }
    // An invitee naming us is fine.
    let mut h = H::alice();
    let mut i = invite("c1", Some(BOB_DEV), 60000);
    i["invitee"] = Value::from(ALICE);
    assert!(rang(&h.synced(0, BOB, "m.call.invite", i)));
}

#[test]
fn a_flood_of_invites_is_bounded() {
    let mut h = H::alice();
    for n in 0..100 {
        h.remote(
            0,
            BOB,
            "m.call.invite",
            invite(&format!("c{n}"), Some(BOB_DEV), 60000),
        );
    }
    h.batch_end(0);
    assert!(h.m.live_calls().count() <= 8);
    // Decline them all; the machine is usable afterwards.
    while h
        .try_cmd(
            1,
            Command::Reject {
                call_id: None,
                reason: None,
            },
        )
        .is_ok()
    {}
    h.place_and_send(2, "mine");
}
