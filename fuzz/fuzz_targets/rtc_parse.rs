//! The MatrixRTC content parsers fed arbitrary contents, senders and state keys: memberships
//! (`org.matrix.msc3401.call.member`, src/matrixrtc/membership.rs), ring notifications
//! (`org.matrix.msc4075.rtc.notification`, notification.rs) and declines (decline.rs). Raw JSON
//! from the fuzz bytes (also laid over a valid content), valid contents with arbitrary values put
//! anywhere in them, and our own contents from arbitrary configurations.
//!
//! For any input: no panic, the same answer twice, and what is accepted holds what the parsers
//! document: a membership only under a state key owned by its sender (and no state key owned by
//! two users), only the room's call (`m.call`, `call_id: ""`, scope `m.room`), a non-empty
//! device id, every value taken from the content (numbers as whole non-negative milliseconds,
//! the 4 h default expiry, the `{sender}:{device}` member id, only LiveKit transports with a
//! URL); a notification's integers non-negative, its lifetime capped at 90 s, its reference an
//! `m.reference` to a non-empty event id, its expiry the MSC4075 rule; a decline's reference
//! likewise. Our own membership, ring and decline parse back to what was put in them.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../src/signalling/mod.rs"]
mod signalling;

/// `crate::exit`: the exit codes `signalling::Outcome` maps to.
#[allow(dead_code)]
#[path = "../../src/exit.rs"]
mod exit;

#[allow(dead_code, unused_imports)]
#[path = "../../src/matrixrtc/mod.rs"]
mod matrixrtc;

mod common;

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use matrix_sdk::ruma::{OwnedUserId, UserId};
use serde_json::{Map, Value, json};

use common::{Gen, overlay};
use matrixrtc::membership::{self, NotMember};
use matrixrtc::{Config, LivekitTransport, MAX_RING_LIFETIME, ParseError, decline, notification};

const ALICE: &str = "@alice:example.org";
const BOB: &str = "@bob:example.org";
/// Valid user ids of every shape: ports, IP literals, historical localparts, lookalikes.
const USERS: [&str; 10] = [
    ALICE,
    BOB,
    "@bob:example.org:8448",
    "@bob:example.org.evil",
    "@bob:example",
    "@b:[::1]",
    "@b:[::1]:1",
    "@Bob:example.org",
    "@b_o.b=/-:x",
    "@bob_x:example.org",
];
const MEMBER_KEYS: [&str; 20] = [
    "application",
    "call_id",
    "scope",
    "device_id",
    "membershipID",
    "expires",
    "created_ts",
    "m.call.intent",
    "focus_active",
    "type",
    "focus_selection",
    "foci_preferred",
    "livekit_service_url",
    "livekit_alias",
    "memberships",
    "msc4354_sticky_key",
    "notification_type",
    "m.relates_to",
    "event_id",
    "",
];
const RING_KEYS: [&str; 14] = [
    "notification_type",
    "sender_ts",
    "lifetime",
    "m.relates_to",
    "rel_type",
    "event_id",
    "m.call.intent",
    "m.mentions",
    "room",
    "user_ids",
    "application",
    "type",
    "m.reference",
    "",
];
const STRINGS: [&str; 16] = [
    "m.call",
    "",
    "m.room",
    "livekit",
    "multi_sfu",
    "oldest_membership",
    "https://sfu.example.org",
    "ALICEDEV",
    "DEV",
    "audio",
    "ring",
    "notification",
    "m.reference",
    "$e1",
    ALICE,
    BOB,
];

fuzz_target!(|data: &[u8]| {
    let mut g = Gen::new(data);
    match g.byte() % 6 {
        0 => {
            let (sender, key) = (user(&mut g), state_key(&mut g));
            let raw = g.rest();
            if let Ok(content) = serde_json::from_slice::<Value>(raw) {
                check_membership(&sender, &key, &content);
                if let Some(c) = overlay(&ec_membership("DEV", sender.as_str()), &content) {
                    check_membership(&sender, &key, &c);
                }
            }
        }
        1 => {
            let (sender, key) = (user(&mut g), state_key(&mut g));
            let device = g.string(&["DEV", "ALICEDEV", ""]);
            let mut content = ec_membership(&device, sender.as_str());
            for _ in 0..g.below(4) {
                g.mutate(&mut content, &MEMBER_KEYS, &STRINGS);
            }
            check_membership(&sender, &key, &content);
        }
        2 => {
            let raw = g.rest();
            if let Ok(content) = serde_json::from_slice::<Value>(raw) {
                check_notification(&content);
                check_decline(&content);
                for base in [
                    ring("$m", 1_800_000_000_000, 30_000),
                    decline::content("$n"),
                ] {
                    if let Some(c) = overlay(&base, &content) {
                        check_notification(&c);
                        check_decline(&c);
                    }
                }
            }
        }
        3 => {
            let mut content = if g.bool() {
                ring(&g.string(&["$m", ""]), g.ms(), g.ms())
            } else {
                decline::content(&g.string(&["$n", ""]))
            };
            for _ in 0..1 + g.below(4) {
                g.mutate(&mut content, &RING_KEYS, &STRINGS);
            }
            check_notification(&content);
            check_decline(&content);
        }
        4 => own_contents(&mut g),
        _ => state_keys(&mut g),
    }
});

fn user(g: &mut Gen) -> OwnedUserId {
    match g.byte() % 4 {
        0 => {
            let local = g.raw_string(12);
            let server = g.pick(&["example.org", "x", "[::1]", "example.org:8448"]);
            UserId::parse(format!("@{local}:{server}")).unwrap_or_else(|_| parse_user(BOB))
        }
        _ => parse_user(g.pick(&USERS)),
    }
}

fn parse_user(s: &str) -> OwnedUserId {
    UserId::parse(s).expect("user id")
}

/// A state key: one of the forms js-sdk and ruma write, for the sender or someone else, or
/// anything.
fn state_key_for(g: &mut Gen, owner: &UserId) -> String {
    let device = g.string(&["DEV", "ALICEDEV", "", "_"]);
    match g.byte() % 8 {
        0 => format!("{owner}_{device}_m.call"),
        1 => format!("{owner}_{device}"),
        2 => format!("_{owner}_"),
        3 => owner.to_string(),
        4 => format!("__{owner}_{device}"),
        5 => g.string(&STRINGS),
        _ => membership::state_key(owner, &device),
    }
}

fn state_key(g: &mut Gen) -> String {
    let owner = user(g);
    state_key_for(g, &owner)
}

/// A membership as Element Call writes it.
fn ec_membership(device: &str, sender: &str) -> Value {
    json!({
        "application": "m.call",
        "call_id": "",
        "scope": "m.room",
        "device_id": device,
        "membershipID": format!("{sender}:{device}"),
        "expires": 14_400_000,
        "created_ts": 1_800_000_000_000u64,
        "m.call.intent": "audio",
        "focus_active": { "type": "livekit", "focus_selection": "multi_sfu" },
        "foci_preferred": [
            {
                "livekit_alias": "!room:example.org",
                "type": "livekit",
                "livekit_service_url": "https://sfu.example.org"
            },
            { "type": "livekit", "livekit_service_url": "https://sfu2.example.org" },
            { "type": "other" }
        ],
    })
}

/// A ring as js-sdk sends it.
fn ring(membership_event_id: &str, sender_ts: u64, lifetime: u64) -> Value {
    json!({
        "m.mentions": { "user_ids": [BOB], "room": false },
        "notification_type": "ring",
        "m.relates_to": { "event_id": membership_event_id, "rel_type": "m.reference" },
        "sender_ts": sender_ts,
        "lifetime": lifetime,
        "m.call.intent": "audio",
    })
}

/// A JSON number as whole milliseconds, as membership.rs documents it: negative → 0, fractions
/// dropped, huge → `u64::MAX`; not a number → `None`.
fn number_ms(v: &Value) -> Option<u64> {
    let n = v.as_number()?;
    if let Some(u) = n.as_u64() {
        return Some(u);
    }
    if n.as_i64().is_some() {
        return Some(0);
    }
    let f = n.as_f64()?;
    Some(if f <= 0.0 { 0 } else { f as u64 })
}

/// The ownership rule of `membership::owned_by`, restated: `_{sender}_{device}` or
/// `{sender}_{device}`, device non-empty.
fn owned(sender: &UserId, key: &str) -> bool {
    let key = key.strip_prefix('_').unwrap_or(key);
    key.strip_prefix(sender.as_str())
        .and_then(|r| r.strip_prefix('_'))
        .is_some_and(|d| !d.is_empty())
}

fn check_membership(sender: &UserId, key: &str, content: &Value) {
    let result = membership::parse(sender, key, content);
    assert_eq!(
        result,
        membership::parse(sender, key, content),
        "not deterministic"
    );
    assert_eq!(
        membership::owned_by(sender, key),
        owned(sender, key),
        "{sender} {key:?}"
    );
    let m = match result {
        Err(NotMember::ForeignStateKey) => return assert!(!owned(sender, key)),
        Err(e) => {
            assert!(owned(sender, key), "{e} under a foreign key");
            match e {
                NotMember::Malformed(ParseError::NotAnObject) => assert!(!content.is_object()),
                NotMember::Left => {
                    let o = content.as_object().expect("left: an object");
                    let keys = o.keys().filter(|k| *k != "msc4354_sticky_key").count();
                    assert!(keys <= 1 || !o.contains_key("application"), "{content}");
                }
                _ => assert!(content.is_object()),
            }
            return;
        }
        Ok(m) => m,
    };
    assert!(
        owned(sender, key),
        "accepted under a foreign key: {sender} {key:?}"
    );
    let o = content.as_object().expect("accepted: an object");
    let str_of = |k: &str| o.get(k).and_then(Value::as_str);
    // Only the room's call.
    assert_eq!(str_of("application"), Some(membership::APPLICATION));
    assert_eq!(str_of("call_id"), Some(membership::ROOM_CALL_ID));
    assert!(matches!(o.get("scope"), None) || str_of("scope") == Some(membership::SCOPE_ROOM));
    // Every value from the content.
    assert!(!m.device_id.is_empty());
    assert_eq!(str_of("device_id"), Some(m.device_id.as_str()));
    let focus = o
        .get("focus_active")
        .and_then(Value::as_object)
        .expect("focus_active");
    assert!(focus.get("type").is_some_and(Value::is_string));
    assert_eq!(
        m.focus_selection.as_deref(),
        focus.get("focus_selection").and_then(Value::as_str)
    );
    let member_id =
        str_of("membershipID").map_or_else(|| format!("{sender}:{}", m.device_id), str::to_owned);
    assert_eq!(m.member_id, member_id);
    assert_eq!(m.intent.as_deref(), str_of("m.call.intent"));
    assert_eq!(
        m.expires_ms,
        o.get("expires")
            .map_or(Some(14_400_000), number_ms)
            .expect("expires")
    );
    assert_eq!(
        m.created_ts,
        o.get("created_ts")
            .map(|v| number_ms(v).expect("created_ts"))
    );
    let foci: &[Value] = o
        .get("foci_preferred")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let expected: Vec<LivekitTransport> = foci
        .iter()
        .filter(|f| f["type"] == "livekit")
        .filter_map(|f| {
            Some(LivekitTransport {
                livekit_service_url: f.get("livekit_service_url")?.as_str()?.to_owned(),
                livekit_alias: f
                    .get("livekit_alias")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        })
        .collect();
    assert_eq!(m.transports, expected);
    // Expiry arithmetic saturates.
    for ts in [0, 1_800_000_000_000, u64::MAX] {
        let created = m.created_at_ms(ts);
        assert_eq!(created, m.created_ts.unwrap_or(ts));
        assert_eq!(m.expires_at_ms(ts), created.saturating_add(m.expires_ms));
    }
}

fn check_notification(content: &Value) {
    let result = notification::parse(content);
    assert_eq!(result, notification::parse(content), "not deterministic");
    let Ok(n) = result else {
        return;
    };
    let o = content.as_object().expect("accepted: an object");
    assert_eq!(
        Some(n.notification_type.as_str()),
        o["notification_type"].as_str()
    );
    assert_eq!(n.is_ring(), n.notification_type == notification::RING);
    assert_eq!(Some(n.sender_ts), o["sender_ts"].as_u64());
    let lifetime = Duration::from_millis(o["lifetime"].as_u64().expect("lifetime"));
    assert_eq!(n.lifetime, lifetime.min(MAX_RING_LIFETIME));
    assert_reference(o, &n.membership_event_id);
    assert_eq!(
        n.intent.as_deref(),
        o.get("m.call.intent").map(|v| v.as_str().expect("intent"))
    );
    match (&n.mentions, o.get("m.mentions")) {
        (None, None) => {}
        (Some((room, users)), Some(m)) => {
            assert_eq!(*room, m.get("room").is_some_and(|r| r == true));
            let listed: Vec<&str> = m
                .get("user_ids")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(users, &listed);
        }
        (got, sent) => panic!("mentions {got:?} from {sent:?}"),
    }
    for u in [ALICE, BOB] {
        let u = parse_user(u);
        let expected = match &n.mentions {
            None => true,
            Some((room, users)) => *room || users.iter().any(|x| x == u.as_str()),
        };
        assert_eq!(n.targets(&u), expected);
    }
    // MSC4075: `lifetime` after `sender_ts`, or after `origin_server_ts` when they are more
    // than the skew apart.
    for (ots, skew) in [
        (n.sender_ts, 20_000),
        (n.sender_ts.saturating_add(20_001), 20_000),
        (n.sender_ts.saturating_sub(20_000), 20_000),
        (0, 0),
        (u64::MAX, u64::MAX),
    ] {
        let start = if n.sender_ts.abs_diff(ots) > skew {
            ots
        } else {
            n.sender_ts
        };
        let lifetime_ms = n.lifetime.as_millis() as u64;
        assert_eq!(
            n.expires_at_ms(ots, Duration::from_millis(skew)),
            start.saturating_add(lifetime_ms)
        );
    }
}

/// An `m.reference` to `event_id`, non-empty.
fn assert_reference(o: &Map<String, Value>, event_id: &str) {
    let rel = &o["m.relates_to"];
    assert_eq!(rel["rel_type"], "m.reference");
    assert_eq!(rel["event_id"].as_str(), Some(event_id));
    assert!(!event_id.is_empty());
}

fn check_decline(content: &Value) {
    let result = decline::parse(content);
    assert_eq!(result, decline::parse(content), "not deterministic");
    match result {
        Ok(id) => assert_reference(content.as_object().expect("an object"), &id),
        Err(ParseError::NotAnObject) => assert!(!content.is_object()),
        Err(_) => assert!(content.is_object()),
    }
}

/// Our membership, ring and decline, from arbitrary configurations and ids, parse back.
fn own_contents(g: &mut Gen) {
    let own = user(g);
    let peer = user(g);
    let device = g.string(&["ALICEDEV", "DEV", ""]);
    let mut cfg = Config::new(
        own.clone(),
        device.clone(),
        peer.clone(),
        g.string(&["!room:example.org"]),
        g.string(&["https://sfu.example.org"]),
    );
    cfg.call_intent = g.string(&["audio", "video"]);
    assert_eq!(cfg.own_state_key, membership::state_key(&own, &device));
    assert!(membership::owned_by(&own, &cfg.own_state_key));

    let expires = Duration::from_millis(g.ms());
    let created_ts = g.bool().then(|| g.ms());
    let content = membership::content(&cfg, expires, created_ts);
    check_membership(&own, &cfg.own_state_key, &content);
    match membership::parse(&own, &cfg.own_state_key, &content) {
        Err(e) => assert!(device.is_empty(), "our membership refused: {e}: {content}"),
        Ok(m) => {
            assert_eq!(m.device_id, device);
            assert_eq!(
                m.expires_ms,
                u64::try_from(expires.as_millis()).unwrap_or(u64::MAX)
            );
            assert_eq!(m.created_ts, created_ts);
            assert_eq!(m.member_id, format!("{own}:{device}"));
            assert_eq!(
                m.focus_selection.as_deref(),
                Some(membership::FOCUS_SELECTION)
            );
            assert_eq!(
                m.transports,
                vec![LivekitTransport {
                    livekit_service_url: cfg.livekit_service_url.clone(),
                    livekit_alias: Some(cfg.room_id.clone()),
                }]
            );
            assert_eq!(m.intent, Some(cfg.call_intent.clone()));
        }
    }
    // Nobody else owns our state key.
    assert!(!membership::owned_by(&peer, &cfg.own_state_key) || peer == own);

    let event_id = g.string(&["$m", ""]);
    let sender_ts = g.ms();
    let lifetime = Duration::from_millis(g.ms());
    let content =
        notification::ring_content(&peer, &event_id, sender_ts, lifetime, &cfg.call_intent);
    check_notification(&content);
    match notification::parse(&content) {
        Err(e) => assert!(event_id.is_empty(), "our ring refused: {e}: {content}"),
        Ok(n) => {
            assert!(n.is_ring() && n.targets(&peer));
            assert_eq!(n.sender_ts, sender_ts);
            assert_eq!(n.lifetime, lifetime.min(MAX_RING_LIFETIME));
            assert_eq!(n.membership_event_id, event_id);
            assert_eq!(n.intent, Some(cfg.call_intent.clone()));
        }
    }
    let content = decline::content(&event_id);
    check_decline(&content);
    match decline::parse(&content) {
        Ok(id) => assert_eq!(id, event_id),
        Err(e) => assert!(event_id.is_empty(), "our decline refused: {e}"),
    }
}

/// No state key is owned by two users.
fn state_keys(g: &mut Gen) {
    let (a, b) = (user(g), user(g));
    for _ in 0..4 {
        let owner = if g.bool() { &a } else { &b };
        let key = state_key_for(g, owner);
        let both = membership::owned_by(&a, &key) && membership::owned_by(&b, &key);
        assert!(!both || a == b, "{key:?} owned by {a} and {b}");
    }
}
