//! Contents: ours exactly as Element Call writes them, theirs parsed strictly, expiry and ring
//! lifetime arithmetic.

use std::time::Duration;

use serde_json::json;

use super::harness::*;
use crate::matrixrtc::membership::{self, NotMember};
use crate::matrixrtc::{LivekitTransport, ParseError, decline, notification};

#[test]
fn our_membership_is_element_calls() {
    let cfg = alice_config();
    assert_eq!(cfg.own_state_key, "_@alice:example.org_ALICEDEV_m.call");
    assert_eq!(
        membership::content(&cfg, Duration::from_secs(4 * 3600), None),
        json!({
            "application": "m.call",
            "call_id": "",
            "scope": "m.room",
            "device_id": "ALICEDEV",
            "membershipID": "@alice:example.org:ALICEDEV",
            "expires": 14_400_000,
            "m.call.intent": "audio",
            "focus_active": { "type": "livekit", "focus_selection": "multi_sfu" },
            "foci_preferred": [{
                "livekit_alias": ROOM,
                "type": "livekit",
                "livekit_service_url": SFU,
            }],
        })
    );
    let refreshed = membership::content(&cfg, Duration::from_secs(8 * 3600), Some(1234));
    assert_eq!(refreshed["created_ts"], json!(1234));
    assert_eq!(refreshed["expires"], json!(28_800_000));
    // And it parses back (as Element X must parse it: foci_preferred, scope, expires and
    // livekit_alias present).
    let m = membership::parse(&user(ALICE), &cfg.own_state_key, &refreshed).unwrap();
    assert_eq!(m.device_id, ALICE_DEV);
    assert_eq!(m.created_ts, Some(1234));
    assert_eq!(
        m.transports,
        [LivekitTransport {
            livekit_service_url: SFU.into(),
            livekit_alias: Some(ROOM.into()),
        }]
    );
}

#[test]
fn memberships_parse_as_js_sdk_accepts_them() {
    let bob = user(BOB);
    let k = key(BOB, BOB_DEV);
    let ec = ec_membership(BOB_DEV, BOB, BOB_SFU);
    let m = membership::parse(&bob, &k, &ec).unwrap();
    assert_eq!(m.expires_ms, 14_400_000);
    assert_eq!(m.member_id, "@bob:example.org:BOBDEV");
    assert_eq!(m.intent.as_deref(), Some("audio"));
    assert_eq!(m.expires_at_ms(1_000), 14_401_000);

    // Minimal js-sdk-valid content: no scope, expires, foci_preferred or membershipID.
    let minimal = json!({
        "application": "m.call", "call_id": "", "device_id": BOB_DEV,
        "focus_active": { "type": "livekit" },
    });
    let m = membership::parse(&bob, &k, &minimal).unwrap();
    assert_eq!(m.expires_ms, 4 * 3600 * 1000);
    assert_eq!(m.member_id, "@bob:example.org:BOBDEV");
    assert!(m.transports.is_empty());
    assert_eq!(m.created_at_ms(77), 77);

    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = ec.clone();
        f(&mut c);
        membership::parse(&bob, &k, &c)
    };
    assert_eq!(
        with(&|c| {
            c.as_object_mut().unwrap().remove("focus_active");
        }),
        Err(NotMember::Malformed(ParseError::Missing("focus_active")))
    );
    assert_eq!(
        with(&|c| c["focus_active"] = json!({})),
        Err(NotMember::Malformed(ParseError::Missing("type")))
    );
    assert_eq!(
        with(&|c| c["device_id"] = json!(5)),
        Err(NotMember::Malformed(ParseError::WrongType("device_id")))
    );
    assert_eq!(
        with(&|c| c["device_id"] = json!("")),
        Err(NotMember::Malformed(ParseError::BadValue("device_id")))
    );
    assert_eq!(
        with(&|c| c["foci_preferred"] = json!({})),
        Err(NotMember::Malformed(ParseError::WrongType(
            "foci_preferred"
        )))
    );
    assert_eq!(
        with(&|c| c["foci_preferred"] = json!([5])),
        Err(NotMember::Malformed(ParseError::WrongType(
            "foci_preferred"
        )))
    );
    assert_eq!(
        with(&|c| c["expires"] = json!("4h")),
        Err(NotMember::Malformed(ParseError::WrongType("expires")))
    );
    assert_eq!(
        with(&|c| c["created_ts"] = json!(null)),
        Err(NotMember::Malformed(ParseError::WrongType("created_ts")))
    );
    assert_eq!(
        with(&|c| c["m.call.intent"] = json!(1)),
        Err(NotMember::Malformed(ParseError::WrongType("m.call.intent")))
    );
    assert_eq!(
        with(&|c| c["scope"] = json!("m.user")),
        Err(NotMember::OtherSlot)
    );
    assert_eq!(
        with(&|c| c["call_id"] = json!("breakout")),
        Err(NotMember::OtherSlot)
    );
    assert_eq!(
        with(&|c| c["application"] = json!("io.element.whiteboard")),
        Err(NotMember::OtherSlot)
    );
    // Numbers: negative counts as 0 (expired at once), fractions are dropped.
    assert_eq!(with(&|c| c["expires"] = json!(-5)).unwrap().expires_ms, 0);
    assert_eq!(
        with(&|c| c["created_ts"] = json!(12.9)).unwrap().created_ts,
        Some(12)
    );
    // Non-livekit transports are skipped, a livekit one without a URL too.
    let t = with(&|c| c["foci_preferred"] = json!([{ "type": "other" }, { "type": "livekit" }, { "type": "livekit", "livekit_service_url": "u" }])).unwrap();
    assert_eq!(
        t.transports,
        [LivekitTransport {
            livekit_service_url: "u".into(),
            livekit_alias: None
        }]
    );

    // Left, in its forms.
    for left in [
        json!({}),
        json!({ "memberships": [] }),
        json!({ "application": "m.call" }),
        json!({ "a": 1, "b": 2 }),
    ] {
        assert_eq!(
            membership::parse(&bob, &k, &left),
            Err(NotMember::Left),
            "{left}"
        );
    }
    assert_eq!(
        membership::parse(&bob, &k, &json!([1])),
        Err(NotMember::Malformed(ParseError::NotAnObject))
    );
    assert_eq!(
        membership::parse(&bob, &k, &json!(null)),
        Err(NotMember::Malformed(ParseError::NotAnObject))
    );
}

#[test]
fn a_state_key_must_belong_to_its_sender() {
    let bob = user(BOB);
    for (k, owned) in [
        ("_@bob:example.org_BOBDEV_m.call", true),
        ("_@bob:example.org_BOBDEV", true),
        ("@bob:example.org_BOBDEV", true),
        ("_@bob:example.org", false),
        ("_@bob:example.org_", false),
        ("_@bob:example.orgX_BOBDEV", false),
        ("_@eve:example.org_BOBDEV_m.call", false),
        ("", false),
    ] {
        assert_eq!(membership::owned_by(&bob, k), owned, "{k}");
    }
    assert_eq!(
        membership::parse(&user(EVE), &key(BOB, BOB_DEV), &json!({})),
        Err(NotMember::ForeignStateKey)
    );
}

#[test]
fn our_ring_and_its_parse() {
    let c = notification::ring_content(&user(BOB), "$m", 1_000, Duration::from_secs(30), "audio");
    let n = notification::parse(&c).unwrap();
    assert!(n.is_ring());
    assert_eq!(n.sender_ts, 1_000);
    assert_eq!(n.lifetime, Duration::from_secs(30));
    assert_eq!(n.membership_event_id, "$m");
    assert!(n.targets(&user(BOB)));
    assert!(n.targets(&user(EVE)), "room: true mentions everyone");
}

#[test]
fn ring_lifetime_follows_msc4075_and_ruma() {
    // ruma's `expiration_ts_computation` vectors: sender_ts 100_365, lifetime 30 s.
    let n = notification::parse(&ring("$m", 100_365, 30_000)).unwrap();
    let skew = Duration::from_secs(20);
    assert_eq!(n.expires_at_ms(120_000, skew), 130_365, "sender_ts trusted");
    assert_eq!(
        n.expires_at_ms(200_000, skew),
        230_000,
        "sender_ts too small"
    );
    assert_eq!(n.expires_at_ms(50_000, skew), 80_000, "sender_ts too large");
    let tight = Duration::from_millis(100);
    assert_eq!(n.expires_at_ms(130_200, tight), 160_200);
    assert_eq!(n.expires_at_ms(100_300, tight), 130_365);
    // Exactly 20 s apart still trusts sender_ts ("> 20000 ms").
    assert_eq!(n.expires_at_ms(120_365, skew), 130_365);
    // Lifetimes are capped at 90 s (js-sdk parseCallNotificationContent).
    let long = notification::parse(&ring("$m", 0, 9_007_199_254_740_991)).unwrap();
    assert_eq!(long.lifetime, Duration::from_secs(90));
    assert_eq!(long.expires_at_ms(0, skew), 90_000);
    let huge = notification::parse(&ring("$m", u64::MAX, 30_000)).unwrap();
    assert_eq!(huge.expires_at_ms(1_000, skew), 31_000);
}

#[test]
fn notifications_are_parsed_strictly() {
    let ok = ring("$m", 5, 30_000);
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = ok.clone();
        f(&mut c);
        notification::parse(&c)
    };
    assert_eq!(
        with(&|c| c["sender_ts"] = json!("5")),
        Err(ParseError::WrongType("sender_ts"))
    );
    assert_eq!(
        with(&|c| c["sender_ts"] = json!(-5)),
        Err(ParseError::BadValue("sender_ts"))
    );
    assert_eq!(
        with(&|c| c["lifetime"] = json!(1.5)),
        Err(ParseError::BadValue("lifetime"))
    );
    assert_eq!(
        with(&|c| {
            c.as_object_mut().unwrap().remove("lifetime");
        }),
        Err(ParseError::Missing("lifetime"))
    );
    assert_eq!(
        with(&|c| c["notification_type"] = json!(null)),
        Err(ParseError::WrongType("notification_type"))
    );
    assert_eq!(
        with(&|c| c["m.mentions"] = json!("all")),
        Err(ParseError::WrongType("m.mentions"))
    );
    assert_eq!(
        with(&|c| c["m.call.intent"] = json!(false)),
        Err(ParseError::WrongType("m.call.intent"))
    );
    assert_eq!(
        with(&|c| {
            c.as_object_mut().unwrap().remove("m.relates_to");
        }),
        Err(ParseError::Missing("m.relates_to"))
    );
    assert_eq!(
        with(&|c| c["m.relates_to"]["rel_type"] = json!("m.annotation")),
        Err(ParseError::BadValue("m.relates_to.rel_type"))
    );
    assert_eq!(
        with(&|c| c["m.relates_to"]["event_id"] = json!("")),
        Err(ParseError::BadValue("m.relates_to.event_id"))
    );
    assert_eq!(
        notification::parse(&json!("ring")),
        Err(ParseError::NotAnObject)
    );
    // Mentions decide who is rung.
    let only_eve = with(&|c| c["m.mentions"] = json!({ "user_ids": [EVE] })).unwrap();
    assert!(!only_eve.targets(&user(ALICE)));
    assert!(only_eve.targets(&user(EVE)));
    let none = with(&|c| {
        c.as_object_mut().unwrap().remove("m.mentions");
    })
    .unwrap();
    assert!(none.targets(&user(ALICE)));
}

#[test]
fn declines_relate_to_the_ring() {
    let c = decline::content("$ring");
    assert_eq!(
        c,
        json!({ "m.relates_to": { "event_id": "$ring", "rel_type": "m.reference" } })
    );
    assert_eq!(decline::parse(&c), Ok("$ring".to_owned()));
    assert!(decline::parse(&json!({})).is_err());
    assert!(
        decline::parse(&json!({ "m.relates_to": { "event_id": "$r", "rel_type": "m.thread" } }))
            .is_err()
    );
    assert!(
        decline::parse(&json!({ "m.relates_to": { "event_id": 5, "rel_type": "m.reference" } }))
            .is_err()
    );
}
