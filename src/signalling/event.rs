//! Reading remote `m.call.*` events: a tolerant but validating parser of their contents from
//! `serde_json::Value`, and their age at receipt.
//!
//! Tolerant, because peers in the wild send what ruma's typed contents reject: integer versions
//! (0, and 1 from old bots), no `party_id`, unknown hangup reasons, Nheko's `sdpMid: ""`.
//! Validating, because js-sdk was seen to ring on a missing call_id, a string lifetime or a 60 KB
//! SDP, and to overflow its timer on a lifetime of 2^53−1: every field is checked here, bounded,
//! and nothing panics on any input.

use std::time::Duration;

use matrix_sdk::ruma::{OwnedUserId, UserId};
use serde_json::{Map, Value};

use super::IceCandidate;

/// Opaque identifiers (call_id, party_id) have at most 255 characters in the spec's grammar.
pub(super) const MAX_ID_LEN: usize = 255;
/// An audio SDP is a few KB; anything near this is an attack or a bug.
pub(super) const MAX_SDP_LEN: usize = 64 * 1024;
/// Incoming lifetimes are clamped to this: nobody rings for longer, and it keeps every deadline
/// far from `Instant` overflow.
pub(super) const MAX_LIFETIME: Duration = Duration::from_secs(10 * 60);
const MAX_CANDIDATES: usize = 256;
const MAX_CANDIDATE_LEN: usize = 4096;
const MAX_MID_LEN: usize = 64;
const MAX_REASON_LEN: usize = 255;

/// `version` of a call event: integer 0, or anything else, which counts as "1".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Version {
    V0,
    V1,
}

/// A validated remote call event.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RemoteEvent {
    pub call_id: String,
    /// `None` for version 0 (whatever it sent) and for version-1 senders that omit it.
    pub party_id: Option<String>,
    pub version: Version,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Body {
    Invite {
        offer: String,
        lifetime: Duration,
        invitee: Option<OwnedUserId>,
    },
    Answer {
        sdp: String,
    },
    Candidates {
        candidates: Vec<IceCandidate>,
        end_of_candidates: bool,
    },
    SelectAnswer {
        selected_party_id: String,
    },
    Reject,
    /// `reason` is the wire reason, `user_hangup` when missing; unknown reasons are kept.
    Hangup {
        reason: String,
    },
    Negotiate {
        kind: SdpKind,
        sdp: String,
        lifetime: Duration,
    },
    /// `audio_muted` of the sender's user-media stream (js-sdk's `setMicrophoneMuted`), if
    /// the metadata names one (spec `m.call.sdp_stream_metadata_changed`, MSC3077).
    StreamMetadataChanged {
        audio_muted: Option<bool>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SdpKind {
    Offer,
    Answer,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ParseError {
    #[error("not a call event type")]
    NotACallEvent,
    #[error("content is not an object")]
    NotAnObject,
    #[error("missing or invalid `{0}`")]
    Field(&'static str),
}

/// Parse and validate the content of a room event of type `event_type`.
pub(super) fn parse(event_type: &str, content: &Value) -> Result<RemoteEvent, ParseError> {
    let kind = match event_type {
        "m.call.invite"
        | "m.call.answer"
        | "m.call.candidates"
        | "m.call.select_answer"
        | "m.call.reject"
        | "m.call.hangup"
        | "m.call.negotiate"
        | "m.call.sdp_stream_metadata_changed" => event_type,
        _ => return Err(ParseError::NotACallEvent),
    };
    let obj = content.as_object().ok_or(ParseError::NotAnObject)?;
    let call_id = opaque_id(obj.get("call_id")).ok_or(ParseError::Field("call_id"))?;
    // Only the integer 0 is version 0; the spec says any other value, including the integer 1
    // and a missing field, is treated as "1".
    let version = match obj.get("version") {
        Some(v) if v.as_u64() == Some(0) => Version::V0,
        _ => Version::V1,
    };
    let party_id = match version {
        // Version 0 has no party ids; js-sdk ignores one if sent, and so must we, or a v0 peer
        // sending junk in it would not match itself.
        Version::V0 => None,
        Version::V1 => match obj.get("party_id") {
            None | Some(Value::Null) => None,
            some => Some(opaque_id(some).ok_or(ParseError::Field("party_id"))?),
        },
    };
    let body = match kind {
        "m.call.invite" => Body::Invite {
            offer: description(obj.get("offer"), Some(SdpKind::Offer))
                .ok_or(ParseError::Field("offer"))?
                .1,
            lifetime: lifetime(obj.get("lifetime")).ok_or(ParseError::Field("lifetime"))?,
            invitee: match obj.get("invitee") {
                None | Some(Value::Null) => None,
                Some(v) => Some(user_id(v).ok_or(ParseError::Field("invitee"))?),
            },
        },
        "m.call.answer" => Body::Answer {
            sdp: description(obj.get("answer"), Some(SdpKind::Answer))
                .ok_or(ParseError::Field("answer"))?
                .1,
        },
        "m.call.candidates" => {
            let (candidates, end_of_candidates) =
                candidates(obj.get("candidates")).ok_or(ParseError::Field("candidates"))?;
            Body::Candidates {
                candidates,
                end_of_candidates,
            }
        }
        "m.call.select_answer" => Body::SelectAnswer {
            selected_party_id: opaque_id(obj.get("selected_party_id"))
                .ok_or(ParseError::Field("selected_party_id"))?,
        },
        "m.call.reject" => Body::Reject,
        "m.call.hangup" => Body::Hangup {
            reason: reason(obj.get("reason")),
        },
        "m.call.negotiate" => {
            let (kind, sdp) = description(obj.get("description"), None)
                .ok_or(ParseError::Field("description"))?;
            let lifetime = lifetime(obj.get("lifetime")).ok_or(ParseError::Field("lifetime"))?;
            Body::Negotiate {
                kind,
                sdp,
                lifetime,
            }
        }
        _ => Body::StreamMetadataChanged {
            audio_muted: usermedia_audio_muted(obj.get("sdp_stream_metadata")),
        },
    };
    Ok(RemoteEvent {
        call_id,
        party_id,
        version,
        body,
    })
}

/// `audio_muted` of the first stream whose `purpose` is `m.usermedia` (MSC3077).
fn usermedia_audio_muted(metadata: Option<&Value>) -> Option<bool> {
    metadata?
        .as_object()?
        .values()
        .filter(|s| s.get("purpose").and_then(Value::as_str) == Some("m.usermedia"))
        .find_map(|s| s.get("audio_muted").and_then(Value::as_bool))
}

/// How old a remote event was at receipt. Spec "Call Event Liveness": an invite is judged by the
/// event's `unsigned.age` plus the time since it was received, which the machine adds from `now`.
///
/// `unsigned.age` is the server's own measure, immune to our clock ("the use of the `age` field
/// ensures that incorrect clocks on client devices don't break calls"): it is used whenever the
/// server sent one. Some servers omit it; then the age is our wall clock at receipt (`now_ms`)
/// minus the event's `origin_server_ts`, which compares our clock with the sending homeserver's.
/// The tolerance for their skew, and why:
/// - Our clock behind theirs makes the event look younger; behind by more than its age, the
///   difference is negative. That counts as 0: a fresh event, never an error or a dropped call.
/// - Our clock ahead of theirs by `s` makes the event look `s` older. Nothing is subtracted for
///   that: any allowance would ring invites that much past their lifetime, and the expiry test
///   stays the spec's (`age` > `lifetime`, less the machine's ring grace) for both sources. With
///   js-sdk's 60 s lifetime and the 3 s grace an invite still rings unless our clock is ~57 s
///   ahead, while NTP keeps clocks within a second.
///
/// A missing `origin_server_ts` (0) or wall clock (0) says nothing: the age is 0, as a missing
/// age always counted.
pub fn age(unsigned_age: Option<Duration>, origin_server_ts: u64, now_ms: u64) -> Duration {
    match unsigned_age {
        Some(age) => age,
        None if origin_server_ts == 0 => Duration::ZERO,
        None => Duration::from_millis(now_ms.saturating_sub(origin_server_ts)),
    }
}

/// An opaque identifier: a non-empty string of at most 255 bytes without control characters or
/// whitespace. Looser than the spec's `[0-9A-Za-z._~-]`, since clients were seen with others, but
/// enough to keep ids printable and safe to log and to put in an environment variable.
pub(super) fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && !s.chars().any(|c| c.is_control() || c.is_whitespace())
}

fn opaque_id(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?;
    is_valid_id(s).then(|| s.to_owned())
}

fn user_id(v: &Value) -> Option<OwnedUserId> {
    UserId::parse(v.as_str()?).ok()
}

/// A lifetime in milliseconds: a positive integer, clamped to [`MAX_LIFETIME`].
fn lifetime(v: Option<&Value>) -> Option<Duration> {
    let ms = v?.as_u64().filter(|&ms| ms > 0)?;
    Some(Duration::from_millis(ms).min(MAX_LIFETIME))
}

/// An `RTCSessionDescriptionInit`: `{type, sdp}`. The spec says not to validate `type` in invites
/// and answers, but a mismatched one would only fail later in WebRTC, so it must be the expected
/// kind when one is expected (negotiate carries either).
fn description(v: Option<&Value>, expected: Option<SdpKind>) -> Option<(SdpKind, String)> {
    let obj = v?.as_object()?;
    let kind = match obj.get("type")?.as_str()? {
        "offer" => SdpKind::Offer,
        "answer" => SdpKind::Answer,
        _ => return None,
    };
    if expected.is_some_and(|e| e != kind) {
        return None;
    }
    let sdp = obj.get("sdp")?.as_str()?;
    (!sdp.trim().is_empty() && sdp.len() < MAX_SDP_LEN).then(|| (kind, sdp.to_owned()))
}

/// The `candidates` array. Bad entries are dropped one by one rather than failing the event: a
/// peer that sends one odd candidate among good ones should still connect. The end-of-candidates
/// entry (`candidate: ""`) is turned into the flag.
fn candidates(v: Option<&Value>) -> Option<(Vec<IceCandidate>, bool)> {
    let list = v?.as_array()?;
    if list.len() > MAX_CANDIDATES {
        return None;
    }
    let mut out = Vec::with_capacity(list.len());
    let mut end = false;
    for entry in list {
        match candidate(entry) {
            Some(None) => end = true,
            Some(Some(c)) => out.push(c),
            None => tracing::debug!("dropping malformed remote candidate"),
        }
    }
    Some((out, end))
}

/// `Some(None)` is the end-of-candidates marker.
fn candidate(v: &Value) -> Option<Option<IceCandidate>> {
    let obj: &Map<String, Value> = v.as_object()?;
    let candidate = obj.get("candidate")?.as_str()?;
    if candidate.is_empty() {
        return Some(None);
    }
    if candidate.len() > MAX_CANDIDATE_LEN || candidate.contains(['\r', '\n']) {
        return None;
    }
    // Nheko sends `sdpMid: ""` with only `sdpMLineIndex`: an empty mid means "no mid".
    let sdp_mid = match obj.get("sdpMid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s.len() <= MAX_MID_LEN => Some(s.clone()),
        Some(_) => return None,
    };
    let sdp_mline_index = match obj.get("sdpMLineIndex") {
        None | Some(Value::Null) => None,
        Some(v) => Some(u16::try_from(v.as_u64()?).ok()?),
    };
    if sdp_mid.is_none() && sdp_mline_index.is_none() {
        return None;
    }
    Some(Some(IceCandidate {
        candidate: candidate.to_owned(),
        sdp_mid,
        sdp_mline_index,
    }))
}

/// The hangup reason: a missing one means `user_hangup` (version 0 had none); unknown strings
/// are kept (js-sdk sends `replaced`, `signalling_timeout`, …); anything unprintable is not.
fn reason(v: Option<&Value>) -> String {
    match v.and_then(Value::as_str) {
        Some(r) if is_valid_id(r) && r.len() <= MAX_REASON_LEN => r.to_owned(),
        Some(_) => "unknown_error".to_owned(),
        None => "user_hangup".to_owned(),
    }
}

/// Property tests (issue 15): any JSON content, and valid contents with one field replaced by
/// anything, of every call event type: `parse` never panics, and what it accepts is bounded.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    const TYPES: [&str; 9] = [
        "m.call.invite",
        "m.call.answer",
        "m.call.candidates",
        "m.call.select_answer",
        "m.call.reject",
        "m.call.hangup",
        "m.call.negotiate",
        "m.call.sdp_stream_metadata_changed",
        "m.call.unknown",
    ];

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,40}".prop_map(Value::String),
            Just(json!("x".repeat(70_000))),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("call_id".to_owned()),
                        Just("party_id".to_owned()),
                        Just("version".to_owned()),
                        Just("lifetime".to_owned()),
                        Just("offer".to_owned()),
                        Just("answer".to_owned()),
                        Just("sdp".to_owned()),
                        Just("type".to_owned()),
                        Just("candidates".to_owned()),
                        Just("description".to_owned()),
                        Just("sdp_stream_metadata".to_owned()),
                        ".{0,8}",
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A valid content of each type (version 1).
    fn valid(event_type: &str) -> Value {
        let base = json!({"call_id": "c1", "party_id": "p1", "version": "1"});
        let mut v = base.as_object().unwrap().clone();
        let extra = match event_type {
            "m.call.invite" => json!({"lifetime": 60000, "offer": {"type": "offer", "sdp": "v=0"}}),
            "m.call.answer" => json!({"answer": {"type": "answer", "sdp": "v=0"}}),
            "m.call.candidates" => json!({"candidates": [
                {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0},
                {"candidate": ""}
            ]}),
            "m.call.select_answer" => json!({"selected_party_id": "p2"}),
            "m.call.hangup" => json!({"reason": "user_hangup"}),
            "m.call.negotiate" => {
                json!({"lifetime": 30000, "description": {"type": "offer", "sdp": "v=0"}})
            }
            "m.call.sdp_stream_metadata_changed" => {
                json!({"sdp_stream_metadata": {"s": {"purpose": "m.usermedia", "audio_muted": true}}})
            }
            _ => json!({}),
        };
        v.extend(extra.as_object().unwrap().clone());
        Value::Object(v)
    }

    fn check(result: Result<RemoteEvent, ParseError>) -> Result<(), TestCaseError> {
        let Ok(e) = result else { return Ok(()) };
        prop_assert!(is_valid_id(&e.call_id));
        match e.body {
            Body::Invite {
                offer, lifetime, ..
            } => {
                prop_assert!(offer.len() <= MAX_SDP_LEN);
                prop_assert!(lifetime <= MAX_LIFETIME);
            }
            Body::Negotiate { sdp, lifetime, .. } => {
                prop_assert!(sdp.len() <= MAX_SDP_LEN);
                prop_assert!(lifetime <= MAX_LIFETIME);
            }
            Body::Answer { sdp } => prop_assert!(sdp.len() <= MAX_SDP_LEN),
            Body::Candidates { candidates, .. } => {
                prop_assert!(candidates.len() <= MAX_CANDIDATES);
                prop_assert!(
                    candidates
                        .iter()
                        .all(|c| c.candidate.len() <= MAX_CANDIDATE_LEN)
                );
            }
            Body::Hangup { reason } => prop_assert!(reason.len() <= MAX_REASON_LEN),
            _ => {}
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn any_content_of_any_type_parses_or_is_refused(t in 0usize..TYPES.len(), content in any_json()) {
            check(parse(TYPES[t], &content))?;
        }

        #[test]
        fn a_valid_content_with_one_field_replaced_parses_or_is_refused(
            t in 0usize..TYPES.len(),
            field in 0usize..8,
            value in any_json(),
        ) {
            let mut content = valid(TYPES[t]);
            let obj = content.as_object_mut().unwrap();
            let key = obj.keys().nth(field % obj.len()).unwrap().clone();
            obj.insert(key, value);
            check(parse(TYPES[t], &content))?;
        }
    }

    #[test]
    fn the_valid_contents_parse() {
        for t in &TYPES[..8] {
            assert!(
                parse(t, &valid(t)).is_ok(),
                "{t}: {:?}",
                parse(t, &valid(t))
            );
        }
    }
}
