//! The `m.call.*` content parser (src/signalling/event.rs) fed arbitrary contents of every call
//! event type: raw JSON from the fuzz bytes (checked as each type, and laid over a valid content
//! of each type), valid contents with arbitrary values put anywhere in them, and our own contents
//! (src/signalling/content.rs) built from arbitrary ids, SDPs and candidates. For any input: no
//! panic, the same answer twice, and what is accepted holds what the parser documents: ids
//! printable and bounded, version 0 exactly for the integer 0 (and then no party id), SDPs of
//! the expected kind, non-blank and under 64 KB, lifetimes positive and clamped to 10 minutes,
//! candidates bounded, single-line and with an m-line, hangup reasons printable, every value
//! taken from the content as sent. Our own contents parse back to what was put in them. The
//! age rule (`event::age`) never panics and follows its documentation.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../src/signalling/mod.rs"]
mod signalling;

/// `crate::exit`: the exit codes `signalling::Outcome` maps to.
#[allow(dead_code)]
#[path = "../../src/exit.rs"]
mod exit;

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut g = common::Gen::new(data);
    match g.byte() % 4 {
        0 => {
            let rest = g.rest();
            if let Ok(content) = serde_json::from_slice::<serde_json::Value>(rest) {
                sig::raw(&content);
            }
        }
        1 => sig::structured(&mut g),
        2 => sig::own_contents(&mut g),
        _ => sig::age(&mut g),
    }
});

/// The parser and the content builders are private to `signalling`: included here again as
/// children of this module (which supplies the `super::IceCandidate` they use), so their
/// `pub(super)` items are visible to the checks. (`path = "."`: the files below are found
/// from this directory, not from a `sig/` that does not exist.)
#[path = "."]
mod sig {
    use std::time::Duration;

    use matrix_sdk::ruma::UserId;
    use serde_json::{Value, json};

    pub use crate::signalling::IceCandidate;

    use crate::common::{Gen, overlay};

    #[allow(dead_code)]
    #[path = "../../src/signalling/content.rs"]
    mod content;
    #[allow(dead_code)]
    #[path = "../../src/signalling/event.rs"]
    mod event;

    use event::{Body, MAX_ID_LEN, MAX_LIFETIME, MAX_SDP_LEN, ParseError, SdpKind, Version};

    // The parser's other bounds are private to event.rs; its values, as documented there.
    const MAX_CANDIDATES: usize = 256;
    const MAX_CANDIDATE_LEN: usize = 4096;
    const MAX_MID_LEN: usize = 64;
    const MAX_REASON_LEN: usize = 255;

    const TYPES: [&str; 8] = [
        "m.call.invite",
        "m.call.answer",
        "m.call.candidates",
        "m.call.select_answer",
        "m.call.reject",
        "m.call.hangup",
        "m.call.negotiate",
        "m.call.sdp_stream_metadata_changed",
    ];
    const OTHER_TYPES: [&str; 4] = ["m.call.unknown", "m.room.message", "", "m.call.invite "];

    pub const KEYS: [&str; 24] = [
        "call_id",
        "party_id",
        "version",
        "lifetime",
        "offer",
        "answer",
        "description",
        "type",
        "sdp",
        "invitee",
        "candidates",
        "candidate",
        "sdpMid",
        "sdpMLineIndex",
        "selected_party_id",
        "reason",
        "sdp_stream_metadata",
        "purpose",
        "audio_muted",
        "video_muted",
        "capabilities",
        "m.call.transferee",
        "stream",
        "",
    ];
    pub const STRINGS: [&str; 18] = [
        "c1",
        "p1",
        "1",
        "0",
        "offer",
        "answer",
        "pranswer",
        "rollback",
        "v=0",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n",
        "candidate:1 1 udp 1 192.0.2.1 9 typ host",
        "0",
        "m.usermedia",
        "m.screenshare",
        "user_hangup",
        "ice_failed",
        "@bob:example.org",
        "@:x",
    ];

    /// The printable-id rule of `event::is_valid_id`, restated from its documentation.
    fn valid_id(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= MAX_ID_LEN
            && !s.chars().any(|c| c.is_control() || c.is_whitespace())
    }

    fn valid_sdp(s: &str) -> bool {
        !s.trim().is_empty() && s.len() < MAX_SDP_LEN
    }

    /// A valid content of each type (version 1), as js-sdk sends them.
    fn valid(event_type: &str) -> Value {
        let mut v = json!({"call_id": "c1", "party_id": "p1", "version": "1"});
        let extra = match event_type {
            "m.call.invite" => json!({
                "lifetime": 60000,
                "offer": {"type": "offer", "sdp": "v=0"},
                "invitee": "@bob:example.org",
                "sdp_stream_metadata": {"s": {"purpose": "m.usermedia"}},
            }),
            "m.call.answer" => json!({"answer": {"type": "answer", "sdp": "v=0"}}),
            "m.call.candidates" => json!({"candidates": [
                {"candidate": "candidate:1 1 udp 1 192.0.2.1 9 typ host",
                 "sdpMid": "0", "sdpMLineIndex": 0},
                {"candidate": "candidate:2 1 udp 1 192.0.2.2 9 typ host", "sdpMid": ""},
                {"candidate": ""}
            ]}),
            "m.call.select_answer" => json!({"selected_party_id": "p2"}),
            "m.call.reject" => json!({}),
            "m.call.hangup" => json!({"reason": "user_hangup"}),
            "m.call.negotiate" => {
                json!({"lifetime": 30000, "description": {"type": "offer", "sdp": "v=0"}})
            }
            "m.call.sdp_stream_metadata_changed" => json!({"sdp_stream_metadata": {
                "s": {"purpose": "m.usermedia", "audio_muted": true, "video_muted": true},
                "t": {"purpose": "m.screenshare", "audio_muted": false}
            }}),
            _ => json!({}),
        };
        for (k, x) in extra.as_object().into_iter().flatten() {
            v[k] = x.clone();
        }
        v
    }

    /// Raw JSON: as every type, and over a valid content of every type.
    pub fn raw(content: &Value) {
        for t in TYPES.iter().chain(&OTHER_TYPES) {
            check(t, content);
            if let Some(v) = overlay(&valid(t), content) {
                check(t, &v);
            }
        }
    }

    /// A valid content with arbitrary values put anywhere in it.
    pub fn structured(g: &mut Gen) {
        let t = if g.byte() % 16 == 0 {
            g.pick(&OTHER_TYPES)
        } else {
            g.pick(&TYPES)
        };
        let mut content = valid(t);
        // Version 0 (party ids ignored) and the other spellings of version 1.
        match g.byte() % 8 {
            0 => content["version"] = json!(0),
            1 => content["version"] = json!(1),
            2 => {
                if let Some(o) = content.as_object_mut() {
                    o.remove("version");
                }
            }
            _ => {}
        }
        let n = 1 + g.below(4);
        for _ in 0..n {
            g.mutate(&mut content, &KEYS, &STRINGS);
        }
        check(t, &content);
    }

    /// Parse `content` as `event_type` and check the result against the content.
    fn check(event_type: &str, content: &Value) {
        let result = event::parse(event_type, content);
        assert_eq!(
            result,
            event::parse(event_type, content),
            "not deterministic"
        );
        let known = TYPES.contains(&event_type);
        let ev = match result {
            Err(ParseError::NotACallEvent) => return assert!(!known, "{event_type} refused"),
            Err(ParseError::NotAnObject) => return assert!(known && !content.is_object()),
            Err(ParseError::Field(_)) => return assert!(known && content.is_object()),
            Ok(ev) => ev,
        };
        assert!(known, "{event_type} accepted");
        let obj = content.as_object().expect("accepted content is an object");
        let str_of = |k: &str| obj.get(k).and_then(Value::as_str);

        assert!(valid_id(&ev.call_id), "call_id {:?}", ev.call_id);
        assert_eq!(str_of("call_id"), Some(ev.call_id.as_str()));
        // Only the integer 0 is version 0.
        let v0 = obj.get("version").and_then(Value::as_u64) == Some(0);
        assert_eq!(
            ev.version == Version::V0,
            v0,
            "version {:?}",
            obj.get("version")
        );
        match &ev.party_id {
            Some(p) => {
                assert!(!v0, "version-0 party id");
                assert!(valid_id(p), "party_id {p:?}");
                assert_eq!(str_of("party_id"), Some(p.as_str()));
            }
            None if !v0 => assert!(matches!(obj.get("party_id"), None | Some(Value::Null))),
            None => {}
        }

        let lifetime_of = |k: &str| {
            let ms = obj
                .get(k)
                .and_then(Value::as_u64)
                .expect("accepted lifetime");
            assert!(ms > 0);
            Duration::from_millis(ms).min(MAX_LIFETIME)
        };
        let description_of = |k: &str| {
            let d = obj
                .get(k)
                .and_then(Value::as_object)
                .expect("accepted description");
            let sdp = d.get("sdp").and_then(Value::as_str).expect("accepted sdp");
            (
                d.get("type")
                    .and_then(Value::as_str)
                    .expect("accepted type"),
                sdp,
            )
        };
        match (event_type, ev.body) {
            (
                "m.call.invite",
                Body::Invite {
                    offer,
                    lifetime,
                    invitee,
                },
            ) => {
                assert_eq!(description_of("offer"), ("offer", offer.as_str()));
                assert!(valid_sdp(&offer));
                assert_eq!(lifetime, lifetime_of("lifetime"));
                assert!(!lifetime.is_zero() && lifetime <= MAX_LIFETIME);
                match invitee {
                    Some(u) => {
                        assert_eq!(str_of("invitee"), Some(u.as_str()));
                        assert!(UserId::parse(u.as_str()).is_ok());
                    }
                    None => assert!(matches!(obj.get("invitee"), None | Some(Value::Null))),
                }
            }
            ("m.call.answer", Body::Answer { sdp }) => {
                assert_eq!(description_of("answer"), ("answer", sdp.as_str()));
                assert!(valid_sdp(&sdp));
            }
            (
                "m.call.candidates",
                Body::Candidates {
                    candidates,
                    end_of_candidates,
                },
            ) => {
                let list = obj
                    .get("candidates")
                    .and_then(Value::as_array)
                    .expect("list");
                assert!(list.len() <= MAX_CANDIDATES);
                assert!(candidates.len() <= list.len());
                // The end marker is an entry whose `candidate` is "".
                let end = list
                    .iter()
                    .any(|e| e.get("candidate").and_then(Value::as_str) == Some(""));
                assert_eq!(end_of_candidates, end);
                // Each one taken, in order, from an entry of the list.
                let mut entries = list.iter();
                for c in &candidates {
                    assert!(!c.candidate.is_empty() && c.candidate.len() <= MAX_CANDIDATE_LEN);
                    assert!(!c.candidate.contains(['\r', '\n']), "{c:?}");
                    assert!(c.sdp_mid.is_some() || c.sdp_mline_index.is_some(), "{c:?}");
                    if let Some(mid) = &c.sdp_mid {
                        assert!(!mid.is_empty() && mid.len() <= MAX_MID_LEN, "{c:?}");
                    }
                    let found = entries.any(|e| {
                        e.get("candidate").and_then(Value::as_str) == Some(c.candidate.as_str())
                            && (c.sdp_mid.is_none()
                                || e.get("sdpMid").and_then(Value::as_str) == c.sdp_mid.as_deref())
                            && (c.sdp_mline_index.is_none()
                                || e.get("sdpMLineIndex").and_then(Value::as_u64)
                                    == c.sdp_mline_index.map(u64::from))
                    });
                    assert!(found, "{c:?} not in {list:?}");
                }
            }
            ("m.call.select_answer", Body::SelectAnswer { selected_party_id }) => {
                assert!(valid_id(&selected_party_id));
                assert_eq!(
                    str_of("selected_party_id"),
                    Some(selected_party_id.as_str())
                );
            }
            ("m.call.reject", Body::Reject) => {}
            ("m.call.hangup", Body::Hangup { reason }) => {
                // A missing reason is `user_hangup`, an unprintable one `unknown_error`.
                let expected = match str_of("reason") {
                    Some(r) if valid_id(r) && r.len() <= MAX_REASON_LEN => r,
                    Some(_) => "unknown_error",
                    None => "user_hangup",
                };
                assert_eq!(reason, expected);
            }
            (
                "m.call.negotiate",
                Body::Negotiate {
                    kind,
                    sdp,
                    lifetime,
                },
            ) => {
                let kind = match kind {
                    SdpKind::Offer => "offer",
                    SdpKind::Answer => "answer",
                };
                assert_eq!(description_of("description"), (kind, sdp.as_str()));
                assert!(valid_sdp(&sdp));
                assert_eq!(lifetime, lifetime_of("lifetime"));
            }
            ("m.call.sdp_stream_metadata_changed", Body::StreamMetadataChanged { audio_muted }) => {
                // `audio_muted` of the first `m.usermedia` stream that has one (MSC3077).
                let expected = obj
                    .get("sdp_stream_metadata")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|m| m.values())
                    .filter(|s| s.get("purpose").and_then(Value::as_str) == Some("m.usermedia"))
                    .find_map(|s| s.get("audio_muted").and_then(Value::as_bool));
                assert_eq!(audio_muted, expected);
            }
            (t, body) => panic!("{t} parsed as {body:?}"),
        }
    }

    /// Our own contents (content.rs) from arbitrary ids, SDPs and candidates parse back to what
    /// was put in them — or are refused for the first invalid field, when one was.
    pub fn own_contents(g: &mut Gen) {
        let id = |g: &mut Gen| {
            if g.byte() % 4 == 0 {
                g.string(&STRINGS)
            } else {
                g.pick(&["c1", "p1", "ALICEDEV", "1700000000000abcdef", "x"])
                    .to_owned()
            }
        };
        let call_id = id(g);
        let party_id = id(g);
        let ids = content::Ids {
            call_id: &call_id,
            party_id: &party_id,
        };
        let sdp = match g.byte() % 4 {
            0 => g.string(&STRINGS),
            1 => "v".repeat(g.pick(&[MAX_SDP_LEN - 1, MAX_SDP_LEN])),
            _ => "v=0\r\na=msid:s t\r\n".to_owned(),
        };
        let stream_id = g.string(&["mxcall-ALICEDEV", "s"]);
        let lifetime = Duration::from_millis(g.ms());
        let lifetime_ms = u64::try_from(lifetime.as_millis())
            .unwrap_or(u64::MAX)
            .min((1 << 53) - 1); // `UInt` saturates at 2^53 - 1
        let expected_lifetime = Duration::from_millis(lifetime_ms).min(MAX_LIFETIME);

        let (t, content, body, sdp_field) = match g.byte() % 8 {
            0 => {
                let invitee = UserId::parse("@bob:example.org").expect("user id");
                let body = Body::Invite {
                    offer: sdp.clone(),
                    lifetime: expected_lifetime,
                    invitee: Some(invitee.clone()),
                };
                let c = content::invite(ids, lifetime, &sdp, &invitee, &stream_id);
                ("m.call.invite", c, body, Some("offer"))
            }
            1 => {
                let c = content::answer(ids, &sdp, &stream_id);
                let body = Body::Answer { sdp: sdp.clone() };
                ("m.call.answer", c, body, Some("answer"))
            }
            2 => {
                let n = g.below(6);
                let mut list = Vec::new();
                for _ in 0..n {
                    // What the parser keeps: one line, an m-line, a non-empty mid.
                    let mut candidate = g.string(&STRINGS).replace(['\r', '\n'], "");
                    if candidate.is_empty() || candidate.len() > MAX_CANDIDATE_LEN {
                        candidate = "c".repeat(1 + candidate.len() % MAX_CANDIDATE_LEN);
                    }
                    let sdp_mid = match g.byte() % 3 {
                        0 => None,
                        1 => Some("0".to_owned()),
                        _ => Some(g.raw_string(MAX_MID_LEN))
                            .filter(|m| !m.is_empty() && m.len() <= MAX_MID_LEN),
                    };
                    let sdp_mline_index = match (g.bool(), &sdp_mid) {
                        (false, Some(_)) => None,
                        _ => Some(g.u16()),
                    };
                    list.push(IceCandidate {
                        candidate,
                        sdp_mid,
                        sdp_mline_index,
                    });
                }
                let end = g.bool();
                let c = content::candidates(ids, &list, end);
                let body = Body::Candidates {
                    candidates: list,
                    end_of_candidates: end,
                };
                ("m.call.candidates", c, body, None)
            }
            3 => {
                let selected = id(g);
                let c = content::select_answer(ids, &selected);
                if !valid_id(&selected) {
                    return expect(
                        "m.call.select_answer",
                        &c,
                        &call_id,
                        &party_id,
                        Some("selected_party_id"),
                        None,
                    );
                }
                let body = Body::SelectAnswer {
                    selected_party_id: selected,
                };
                ("m.call.select_answer", c, body, None)
            }
            4 => ("m.call.reject", content::reject(ids), Body::Reject, None),
            5 => {
                let reason = match g.byte() % 3 {
                    0 => None,
                    1 => Some(
                        g.pick(&["user_hangup", "ice_failed", "replaced", "x"])
                            .to_owned(),
                    ),
                    _ => Some(g.string(&STRINGS)),
                };
                let c = content::hangup(ids, reason.as_deref());
                let expected = match reason.as_deref() {
                    None => "user_hangup".to_owned(),
                    Some(r) if valid_id(r) && r.len() <= MAX_REASON_LEN => r.to_owned(),
                    Some(_) => "unknown_error".to_owned(),
                };
                ("m.call.hangup", c, Body::Hangup { reason: expected }, None)
            }
            6 => {
                let kind = if g.bool() {
                    SdpKind::Offer
                } else {
                    SdpKind::Answer
                };
                let c = content::negotiate(ids, kind, &sdp, lifetime, &stream_id);
                let body = Body::Negotiate {
                    kind,
                    sdp: sdp.clone(),
                    lifetime: expected_lifetime,
                };
                ("m.call.negotiate", c, body, Some("description"))
            }
            _ => {
                let muted = g.bool();
                let c = content::stream_metadata_changed(ids, &stream_id, muted);
                let body = Body::StreamMetadataChanged {
                    audio_muted: Some(muted),
                };
                ("m.call.sdp_stream_metadata_changed", c, body, None)
            }
        };
        let bad_sdp = sdp_field.filter(|_| !valid_sdp(&sdp));
        let bad_lifetime = match t {
            "m.call.invite" | "m.call.negotiate" if lifetime_ms == 0 => Some("lifetime"),
            _ => None,
        };
        expect(
            t,
            &content,
            &call_id,
            &party_id,
            bad_sdp.or(bad_lifetime),
            Some(body),
        );
    }

    /// What parsing our content must give: the first invalid field refused (ids first, then
    /// `bad_field` of the body), else exactly `body`.
    fn expect(
        t: &str,
        content: &Value,
        call_id: &str,
        party_id: &str,
        bad_field: Option<&'static str>,
        body: Option<Body>,
    ) {
        // Every content of ours carries call_id, our party_id and version "1".
        assert_eq!(content["call_id"], json!(call_id), "{content}");
        assert_eq!(content["party_id"], json!(party_id), "{content}");
        assert_eq!(content["version"], json!("1"), "{content}");
        check(t, content);
        let got = event::parse(t, content);
        if !valid_id(call_id) {
            return assert_eq!(got, Err(ParseError::Field("call_id")));
        }
        if !valid_id(party_id) {
            return assert_eq!(got, Err(ParseError::Field("party_id")));
        }
        if let Some(field) = bad_field {
            return assert_eq!(got, Err(ParseError::Field(field)), "{content}");
        }
        let ev = got.unwrap_or_else(|e| panic!("our {t} refused: {e}: {content}"));
        assert_eq!(ev.call_id, call_id);
        assert_eq!(ev.party_id.as_deref(), Some(party_id));
        assert_eq!(ev.version, Version::V1);
        assert_eq!(Some(ev.body), body, "{content}");
    }

    /// `event::age`: `unsigned.age` when sent, else the wall clock minus `origin_server_ts`,
    /// never negative, 0 when either is missing.
    pub fn age(g: &mut Gen) {
        for _ in 0..8 {
            let unsigned = g.bool().then(|| Duration::from_millis(g.ms()));
            let (ts, now_ms) = (g.ms(), g.ms());
            let age = event::age(unsigned, ts, now_ms);
            let expected = match unsigned {
                Some(a) => a,
                None if ts == 0 => Duration::ZERO,
                None => Duration::from_millis(now_ms.saturating_sub(ts)),
            };
            assert_eq!(age, expected);
            assert_eq!(crate::signalling::event_age(unsigned, ts, now_ms), expected);
        }
    }
}
