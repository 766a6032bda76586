//! Only the expected (user, party) may speak for a call. js-sdk was seen ending calls on a third
//! user's forged hangup and sending audio to a third user's answer; here such events change
//! nothing at all. Nor do our own calls placed on another device ring or get answered here.

use serde_json::Value;

use super::harness::*;
use crate::signalling::{Command, MediaAction, MediaInput, Outcome, RingPolicy};

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

/// Our own call to Bob, placed on another of our devices (`PHONE`) as the peers send it: Element
/// Web's invite names no `invitee`; one naming either of us; a version-0 one.
fn own_invites() -> Vec<Value> {
    let with_invitee = |who: &str| {
        let mut i = invite("own", Some("PHONE"), 60000);
        i["invitee"] = Value::from(who);
        i
    };
    vec![
        invite("own", Some("PHONE"), 60000),
        with_invitee(BOB),
        with_invitee(ALICE),
        invite("own", None, 60000),
    ]
}

/// The rest of our own call from `PHONE` to Bob: none of it is for this device.
fn rest_of_own_call(h: &mut H, ms: u64) -> Vec<crate::signalling::Output> {
    let mut out = h.remote(
        ms,
        ALICE,
        "m.call.candidates",
        remote_cands("own", Some("PHONE")),
    );
    out.extend(h.remote(ms, BOB, "m.call.answer", answer("own", Some(BOB_DEV))));
    out.extend(h.remote(
        ms,
        BOB,
        "m.call.candidates",
        remote_cands("own", Some(BOB_DEV)),
    ));
    out.extend(h.remote(
        ms,
        ALICE,
        "m.call.select_answer",
        select_answer("own", "PHONE", BOB_DEV),
    ));
    out.extend(h.remote(ms, BOB, "m.call.hangup", hangup("own", Some(BOB_DEV), None)));
    out.extend(h.batch_end(ms));
    out
}

#[test]
fn our_own_call_from_another_device_never_rings_nor_is_answered() {
    // `mxcall watch` / `watch --answer` in the DM with Bob while the user calls Bob on Element.
    for policy in [RingPolicy::Ring, RingPolicy::AutoAnswer] {
        for content in own_invites() {
            let mut h = H::alice_with(|c| c.ring = policy);
            let out = h.synced(0, ALICE, "m.call.invite", content.clone());
            assert!(out.is_empty(), "{policy:?} {content}: {out:?}");
            assert_eq!(h.m.live_calls().count(), 0, "{policy:?} {content}");
            let out = rest_of_own_call(&mut h, 1000);
            assert!(out.is_empty(), "{policy:?} {content}: {out:?}");
            // Nothing of it is left for a command to act on.
            assert!(h.try_cmd(2000, Command::Answer { call_id: None }).is_err());
        }
    }
}

#[test]
fn our_own_call_from_another_device_leaves_our_calls_alone() {
    // An incoming call with Bob, answered by `--answer`.
    let mut h = H::alice_with(|c| c.ring = RingPolicy::AutoAnswer);
    h.ring_from_bob(0, "c1");
    h.media(100, "c1", MediaInput::LocalAnswer("answer-sdp".into()));
    h.run_until(300);
    h.media(600, "c1", MediaInput::IceConnected);
    let mut out = h.synced(
        1000,
        ALICE,
        "m.call.invite",
        invite("own", Some("PHONE"), 60000),
    );
    out.extend(rest_of_own_call(&mut h, 2000));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(h.m.live_calls().collect::<Vec<_>>(), ["c1"]);
    let out = h.synced(
        3000,
        BOB,
        "m.call.hangup",
        hangup("c1", Some(BOB_DEV), None),
    );
    assert_eq!(outcome(&out), Some(Outcome::Completed));

    // Our own invite out from this device: the other device's call is not glare.
    let mut h = H::alice();
    h.place_and_send(0, "zzz");
    let out = h.synced(
        300,
        ALICE,
        "m.call.invite",
        invite("aaa", Some("PHONE"), 60000),
    );
    assert!(out.is_empty(), "{out:?}");
    let out = h.synced(500, BOB, "m.call.answer", answer("zzz", Some(BOB_DEV)));
    assert_eq!(send_types(&out), ["m.call.select_answer"]);
}

#[test]
fn our_own_calls_do_not_crowd_out_the_peers_early_events() {
    // Many calls from our other devices, each answered by Bob, then Bob's candidates for a call
    // of his that arrive before its invite: they are still there when we answer.
    let mut h = H::alice();
    for n in 0..40 {
        let id = format!("own{n}");
        h.remote(n, ALICE, "m.call.invite", invite(&id, Some("PHONE"), 60000));
        h.remote(n, BOB, "m.call.answer", answer(&id, Some(BOB_DEV)));
        h.batch_end(n);
    }
    h.remote(
        1000,
        BOB,
        "m.call.candidates",
        remote_cands("c1", Some(BOB_DEV)),
    );
    h.ring_from_bob(1000, "c1");
    let out = h.cmd(1100, Command::Answer { call_id: None });
    assert!(
        actions(&out)
            .iter()
            .any(|(_, a)| matches!(a, MediaAction::AddRemoteCandidates { candidates, .. } if candidates.len() == 1)),
        "{out:?}"
    );
}

/// Mute reports (issue 12): the opponent's `m.call.sdp_stream_metadata_changed` with
/// `audio_muted` becomes `RemoteMuted` once per change; a third user's is ignored.
#[test]
fn the_opponents_mute_is_reported_once_per_change_and_others_are_ignored() {
    use crate::signalling::CallEvent;
    let meta = |muted: bool| {
        serde_json::json!({
            "call_id": "out1", "party_id": BOB_DEV, "version": "1",
            "sdp_stream_metadata": {"s1": {"purpose": "m.usermedia", "audio_muted": muted, "video_muted": true}},
        })
    };
    let mutes = |out: &[crate::signalling::Output]| -> Vec<bool> {
        events(out)
            .into_iter()
            .filter_map(|e| match e {
                CallEvent::RemoteMuted { muted, .. } => Some(muted),
                _ => None,
            })
            .collect()
    };
    let mut h = H::alice();
    h.place_and_send(0, "out1");
    h.synced(1000, BOB, "m.call.answer", answer("out1", Some(BOB_DEV)));
    h.media(1100, "out1", MediaInput::IceConnected);
    assert_eq!(
        mutes(&h.synced(2000, EVE, "m.call.sdp_stream_metadata_changed", meta(true))),
        Vec::<bool>::new()
    );
    assert_eq!(
        mutes(&h.synced(3000, BOB, "m.call.sdp_stream_metadata_changed", meta(true))),
        [true]
    );
    assert_eq!(
        mutes(&h.synced(3500, BOB, "m.call.sdp_stream_metadata_changed", meta(true))),
        Vec::<bool>::new()
    );
    assert_eq!(
        mutes(&h.synced(4000, BOB, "m.call.sdp_stream_metadata_changed", meta(false))),
        [false]
    );
}

/// `mxcall hold` / `mute` (issue 12): only a connected call; hold asks the media engine for a
/// hold offer (which goes out as `m.call.negotiate`), mute silences it and tells the peer.
#[test]
fn hold_and_mute_act_on_the_connected_call_only() {
    use crate::signalling::CommandError;
    let mut h = H::alice();
    h.place_and_send(0, "out1");
    assert_eq!(
        h.try_cmd(
            100,
            Command::Hold {
                call_id: None,
                held: true
            }
        )
        .unwrap_err(),
        CommandError::NotConnected
    );
    h.synced(1000, BOB, "m.call.answer", answer("out1", Some(BOB_DEV)));
    h.media(1100, "out1", MediaInput::IceConnected);
    let out = h.cmd(
        2000,
        Command::Hold {
            call_id: None,
            held: true,
        },
    );
    assert_eq!(
        actions(&out),
        [("out1".to_owned(), MediaAction::HoldOffer(true))]
    );
    let out = h.media(2100, "out1", MediaInput::LocalOffer("v=0 hold".into()));
    assert_eq!(sends(&out)[0].0, "m.call.negotiate");
    let out = h.cmd(
        3000,
        Command::Mute {
            call_id: None,
            muted: true,
        },
    );
    assert_eq!(
        actions(&out),
        [("out1".to_owned(), MediaAction::SetMuted(true))]
    );
    let sent = sends(&out);
    assert_eq!(sent[0].0, "m.call.sdp_stream_metadata_changed");
    let streams = sent[0].1["sdp_stream_metadata"].as_object().unwrap();
    assert_eq!(streams.values().next().unwrap()["audio_muted"], true);
    // DTMF is media only: the action, no Matrix event.
    let out = h.cmd(
        4000,
        Command::Dtmf {
            call_id: None,
            digits: "12#".into(),
        },
    );
    assert_eq!(
        actions(&out),
        [("out1".to_owned(), MediaAction::SendDtmf("12#".into()))]
    );
    assert!(sends(&out).is_empty());
}

#[test]
fn dtmf_needs_a_connected_call() {
    use crate::signalling::CommandError;
    let mut h = H::alice();
    let dtmf = || Command::Dtmf {
        call_id: None,
        digits: "5".into(),
    };
    assert_eq!(h.try_cmd(0, dtmf()).unwrap_err(), CommandError::NoSuchCall);
    h.place_and_send(0, "out1");
    assert_eq!(
        h.try_cmd(100, dtmf()).unwrap_err(),
        CommandError::NotConnected
    );
}
