//! The tolerant, validating parser of remote contents, and the shape of our own contents.

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::*;
use crate::signalling::content::{self, Ids};
use crate::signalling::event::{Body, ParseError, Version, parse};
use crate::signalling::{IceCandidate, Outcome};

fn with(extra: Value) -> Value {
    let mut v = json!({ "call_id": "c1", "party_id": "P", "version": "1" });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    v
}

#[test]
fn version_zero_is_only_the_integer_zero() {
    // (version field, expected version, party_id kept)
    let table: &[(Value, Version, Option<&str>)] = &[
        (json!(0), Version::V0, None),
        (json!("1"), Version::V1, Some("P")),
        (json!(1), Version::V1, Some("P")), // old bots: integer 1 counts as "1"
        (json!("2"), Version::V1, Some("P")),
        (json!("0"), Version::V1, Some("P")),
        (Value::Null, Version::V1, Some("P")),
        (json!({}), Version::V1, Some("P")),
    ];
    for (version, want, party) in table {
        let mut c = hangup("c1", Some("P"), None);
        c["version"] = version.clone();
        let ev = parse("m.call.hangup", &c).expect("parses");
        assert_eq!(
            (ev.version, ev.party_id.as_deref()),
            (*want, *party),
            "version {version}"
        );
    }
    // Missing version and missing party_id (v1 "naughty" senders) are accepted too.
    let ev = parse("m.call.hangup", &json!({ "call_id": "c1" })).expect("parses");
    assert_eq!((ev.version, ev.party_id), (Version::V1, None));
}

#[test]
fn version_zero_ignores_whatever_party_id_it_sends() {
    let c = json!({ "call_id": "c1", "version": 0, "party_id": 12 });
    assert_eq!(parse("m.call.hangup", &c).map(|e| e.party_id), Ok(None));
}

#[test]
fn malformed_invites_are_rejected() {
    let good = invite("c1", Some("P"), 60000);
    assert!(parse("m.call.invite", &good).is_ok());
    let long_id = "x".repeat(256);
    let big_sdp = "a".repeat(64 * 1024);
    // (what is wrong, the mutation)
    type Mutation = Box<dyn Fn(&mut Value)>;
    let table: Vec<(&str, Mutation)> = vec![
        (
            "missing call_id",
            Box::new(|v| drop(v.as_object_mut().map(|o| o.remove("call_id")))),
        ),
        ("integer call_id", Box::new(|v| v["call_id"] = json!(5))),
        ("empty call_id", Box::new(|v| v["call_id"] = json!(""))),
        (
            "call_id with spaces",
            Box::new(|v| v["call_id"] = json!("a b")),
        ),
        (
            "call_id with newline",
            Box::new(|v| v["call_id"] = json!("a\nb")),
        ),
        (
            "256-byte call_id",
            Box::new(move |v| v["call_id"] = json!(long_id)),
        ),
        ("integer party_id", Box::new(|v| v["party_id"] = json!(7))),
        (
            "missing lifetime",
            Box::new(|v| drop(v.as_object_mut().map(|o| o.remove("lifetime")))),
        ),
        (
            "string lifetime",
            Box::new(|v| v["lifetime"] = json!("60000")),
        ),
        ("zero lifetime", Box::new(|v| v["lifetime"] = json!(0))),
        ("negative lifetime", Box::new(|v| v["lifetime"] = json!(-5))),
        ("float lifetime", Box::new(|v| v["lifetime"] = json!(1.5))),
        (
            "missing offer",
            Box::new(|v| drop(v.as_object_mut().map(|o| o.remove("offer")))),
        ),
        (
            "offer not an object",
            Box::new(|v| v["offer"] = json!("v=0")),
        ),
        (
            "offer of type answer",
            Box::new(|v| v["offer"]["type"] = json!("answer")),
        ),
        (
            "offer without type",
            Box::new(|v| drop(v["offer"].as_object_mut().map(|o| o.remove("type")))),
        ),
        ("empty sdp", Box::new(|v| v["offer"]["sdp"] = json!(""))),
        ("integer sdp", Box::new(|v| v["offer"]["sdp"] = json!(1))),
        (
            "64 KiB sdp",
            Box::new(move |v| v["offer"]["sdp"] = json!(big_sdp)),
        ),
        ("invalid invitee", Box::new(|v| v["invitee"] = json!("bob"))),
        ("integer invitee", Box::new(|v| v["invitee"] = json!(1))),
    ];
    for (what, mutate) in table {
        let mut c = good.clone();
        mutate(&mut c);
        assert!(parse("m.call.invite", &c).is_err(), "{what} was accepted");
    }
    for not_object in [json!(null), json!([]), json!("x"), json!(1)] {
        assert_eq!(
            parse("m.call.invite", &not_object),
            Err(ParseError::NotAnObject)
        );
    }
    assert_eq!(
        parse("m.room.message", &good),
        Err(ParseError::NotACallEvent)
    );
}

#[test]
fn lifetimes_are_clamped() {
    // (lifetime, expected)
    let table = [
        (1, Duration::from_millis(1)),
        (60_000, Duration::from_secs(60)),
        (9_007_199_254_740_991, Duration::from_secs(600)), // js-sdk's timer overflowed on 2^53−1
        (u64::MAX, Duration::from_secs(600)),
    ];
    for (ms, want) in table {
        match parse("m.call.invite", &invite("c1", Some("P"), ms)).map(|e| e.body) {
            Ok(Body::Invite { lifetime, .. }) => assert_eq!(lifetime, want, "lifetime {ms}"),
            other => panic!("lifetime {ms}: {other:?}"),
        }
    }
}

#[test]
fn candidates_are_read_tolerantly() {
    let c = |candidate: &str, mid: Option<&str>, idx: Option<u16>| IceCandidate {
        candidate: candidate.into(),
        sdp_mid: mid.map(Into::into),
        sdp_mline_index: idx,
    };
    // (candidates array, expected candidates, end-of-candidates)
    let table = [
        (
            json!([{ "candidate": "a", "sdpMid": "0", "sdpMLineIndex": 0 }]),
            vec![c("a", Some("0"), Some(0))],
            false,
        ),
        // Nheko: empty sdpMid and only the m-line index.
        (
            json!([{ "candidate": "a", "sdpMid": "", "sdpMLineIndex": 1 }]),
            vec![c("a", None, Some(1))],
            false,
        ),
        (
            json!([{ "candidate": "a", "sdpMid": "audio" }]),
            vec![c("a", Some("audio"), None)],
            false,
        ),
        (
            json!([{ "candidate": "a", "sdpMid": "0" }, { "candidate": "" }]),
            vec![c("a", Some("0"), None)],
            true,
        ),
        (json!([{ "candidate": "", "sdpMid": "0" }]), vec![], true),
        (json!([]), vec![], false),
        // Bad entries are dropped one by one.
        (
            json!([
                { "candidate": "a" },                                   // neither mid nor index
                { "candidate": 5, "sdpMid": "0" },                      // not a string
                { "candidate": "b", "sdpMLineIndex": 70000 },           // index out of range
                { "candidate": "c", "sdpMLineIndex": -1 },
                { "candidate": "d", "sdpMid": 3 },
                { "candidate": "e\r\na=evil", "sdpMid": "0" },
                "f",
                { "candidate": "g", "sdpMid": null, "sdpMLineIndex": 2 },
            ]),
            vec![c("g", None, Some(2))],
            false,
        ),
    ];
    for (list, want, want_end) in table {
        let content = candidates("c1", Some("P"), list.clone());
        match parse("m.call.candidates", &content).map(|e| e.body) {
            Ok(Body::Candidates {
                candidates,
                end_of_candidates,
            }) => {
                assert_eq!((candidates, end_of_candidates), (want, want_end), "{list}")
            }
            other => panic!("{list}: {other:?}"),
        }
    }
    for bad in [
        json!(null),
        json!({}),
        json!("a"),
        json!(vec![json!({"candidate": "a", "sdpMid": "0"}); 257]),
    ] {
        assert!(parse("m.call.candidates", &candidates("c1", Some("P"), bad)).is_err());
    }
}

#[test]
fn hangup_reasons_unknown_ones_included() {
    // (reason field, parsed reason)
    let table = [
        (None, "user_hangup"), // version 0 had none
        (Some(json!("ice_failed")), "ice_failed"),
        (Some(json!("replaced")), "replaced"), // js-sdk
        (Some(json!("signalling_timeout")), "signalling_timeout"),
        (Some(json!("org.example.custom")), "org.example.custom"),
        (Some(json!(42)), "user_hangup"),
        (Some(json!("bad reason\n")), "unknown_error"),
    ];
    for (reason, want) in table {
        let mut c = with(json!({}));
        if let Some(r) = reason.clone() {
            c["reason"] = r;
        }
        match parse("m.call.hangup", &c).map(|e| e.body) {
            Ok(Body::Hangup { reason }) => assert_eq!(reason, want),
            other => panic!("{reason:?}: {other:?}"),
        }
    }
}

#[test]
fn other_event_types_validate_their_fields() {
    // (type, content, accepted)
    let table = [
        ("m.call.answer", answer("c1", Some("P")), true),
        (
            "m.call.answer",
            with(json!({ "answer": { "type": "offer", "sdp": "x" } })),
            false,
        ),
        (
            "m.call.select_answer",
            with(json!({ "selected_party_id": "Q" })),
            true,
        ),
        (
            "m.call.select_answer",
            with(json!({ "selected_party_id": 1 })),
            false,
        ),
        ("m.call.select_answer", with(json!({})), false),
        ("m.call.reject", with(json!({})), true),
        (
            "m.call.negotiate",
            negotiate("c1", "P", "offer", 1000),
            true,
        ),
        (
            "m.call.negotiate",
            negotiate("c1", "P", "answer", 1000),
            true,
        ),
        (
            "m.call.negotiate",
            negotiate("c1", "P", "pranswer", 1000),
            false,
        ),
        (
            "m.call.negotiate",
            with(json!({ "description": { "type": "offer", "sdp": "x" } })),
            false,
        ),
        (
            "m.call.sdp_stream_metadata_changed",
            with(json!({ "sdp_stream_metadata": {} })),
            true,
        ),
    ];
    for (ty, content, ok) in table {
        assert_eq!(parse(ty, &content).is_ok(), ok, "{ty} {content}");
    }
}

#[test]
fn our_contents_carry_call_id_party_id_and_version_1() {
    let ids = Ids {
        call_id: "c1",
        party_id: "ME",
    };
    let bob = user(BOB);
    let all = [
        content::invite(ids, Duration::from_secs(90), "sdp", &bob, "s"),
        content::answer(ids, "sdp", "s"),
        content::candidates(ids, &[cand(1)], true),
        content::select_answer(ids, "THEM"),
        content::reject(ids),
        content::hangup(ids, Some("user_hangup")),
        content::hangup(ids, None),
        content::negotiate(
            ids,
            crate::signalling::event::SdpKind::Offer,
            "sdp",
            Duration::from_secs(30),
            "s",
        ),
    ];
    for c in &all {
        assert_eq!(
            (&c["call_id"], &c["party_id"], &c["version"]),
            (&json!("c1"), &json!("ME"), &json!("1")),
            "{c}"
        );
    }
    let inv = &all[0];
    assert_eq!(inv["lifetime"], json!(90000));
    assert_eq!(inv["invitee"], json!(BOB));
    assert_eq!(inv["offer"], json!({ "type": "offer", "sdp": "sdp" }));
    assert_eq!(
        inv["sdp_stream_metadata"],
        json!({ "s": { "purpose": "m.usermedia" } })
    );
    assert_eq!(
        all[1]["sdp_stream_metadata"],
        json!({ "s": { "purpose": "m.usermedia" } })
    );
    assert_eq!(
        all[2]["candidates"],
        json!([
            { "candidate": cand(1).candidate, "sdpMid": "0", "sdpMLineIndex": 0 },
            { "candidate": "" }
        ])
    );
    assert_eq!(all[3]["selected_party_id"], json!("THEM"));
    assert_eq!(all[5]["reason"], json!("user_hangup"));
    assert!(all[6].get("reason").is_none());
    // Every content we write is read back by our own parser.
    let types = [
        "m.call.invite",
        "m.call.answer",
        "m.call.candidates",
        "m.call.select_answer",
        "m.call.reject",
        "m.call.hangup",
        "m.call.hangup",
        "m.call.negotiate",
    ];
    for (ty, c) in types.iter().zip(&all) {
        assert!(parse(ty, c).is_ok(), "{ty} {c}");
    }
}

#[test]
fn exit_codes() {
    let table = [
        (Outcome::Completed, 0, "completed"),
        (Outcome::Cancelled, 130, "cancelled"),
        (Outcome::Error, 1, "error"),
        (Outcome::Declined, 5, "declined"),
        (Outcome::NoAnswer, 6, "no_answer"),
        (Outcome::MediaFailed, 7, "media_failed"),
        (Outcome::AnsweredElsewhere, 8, "answered_elsewhere"),
    ];
    for (o, code, name) in table {
        assert_eq!((o.exit_code(), o.as_str()), (code, name));
    }
}
