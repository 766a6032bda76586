//! `org.matrix.msc3401.call.member`: the content of our membership exactly as Element Call's
//! compatibility mode writes it, and the strict parse and expiry of anyone's.
//!
//! One state event per device (MSC4143's "session" form). State key
//! `_@user:hs_DEVICE_m.call`; leaving writes `{}` to the same key.

use std::time::Duration;

use matrix_sdk::ruma::UserId;
use serde_json::{Map, Value, json};

use super::{Config, LivekitTransport, ParseError};

/// The membership state event type (js-sdk `EventType.GroupCallMemberPrefix`).
pub const EVENT_TYPE: &str = "org.matrix.msc3401.call.member";

/// The call application (MSC4196 / js-sdk `slotDescription.application`).
pub const APPLICATION: &str = "m.call";

/// `scope` of a room-wide call (js-sdk `makeMyMembership`: `"scope": "m.room"`).
pub const SCOPE_ROOM: &str = "m.room";

/// `call_id` of the room's one call. js-sdk sends `""` in state events for the slot `m.call#ROOM`
/// ("INFO_SLOT_ID_LEGACY_CASE" in `MembershipManager.ts` / `CallMembership.slotId`).
pub const ROOM_CALL_ID: &str = "";

/// `focus_active.focus_selection` when each member publishes to its own SFU. js-sdk
/// `makeMyMembership` writes `"multi_sfu"` when a multi-SFU transport is given, which Element
/// Call does in its `Compatibility` and `Matrix_2_0` modes (`enterRTCSession`: `multiSFU`);
/// otherwise `"oldest_membership"`.
pub const FOCUS_SELECTION: &str = "multi_sfu";

/// The state key of a device's membership: `_{user}_{device}_m.call`. js-sdk
/// `makeMembershipStateKey`: `${userId}_${deviceId}_${application}${slotId}` with the slot id
/// `""` for `m.call#ROOM`, prefixed with `_` unless the room version is one of the owned-state
/// test versions (`org.matrix.msc3757` / `msc3779`).
pub fn state_key(user: &UserId, device: &str) -> String {
    format!("_{user}_{device}_{APPLICATION}")
}

/// Our membership content, as js-sdk `MembershipManager.makeMyMembership` builds it for Element
/// Call's compatibility mode (`enterRTCSession` passes `{livekit_alias: roomId, type: "livekit",
/// livekit_service_url}` as the multi-SFU transport and `[]` as `fociPreferred`):
///
/// ```json
/// {"application": "m.call", "call_id": "", "scope": "m.room", "device_id": "DEV",
///  "membershipID": "@u:hs:DEV", "expires": 14400000, "m.call.intent": "audio",
///  "focus_active": {"type": "livekit", "focus_selection": "multi_sfu"},
///  "foci_preferred": [{"livekit_alias": "!room", "type": "livekit",
///                      "livekit_service_url": "https://…"}]}
/// ```
///
/// `expires` (ms) grows by [`super::MEMBERSHIP_EXPIRY`] with each refresh (`expires` ×
/// iteration); `created_ts` (Unix ms) is added on refreshes once our own membership's creation
/// time is known (`ownMembership.createdTs()`), so the expiry keeps counting from the join.
pub fn content(cfg: &Config, expires: Duration, created_ts: Option<u64>) -> Value {
    let mut v = json!({
        "application": APPLICATION,
        "call_id": ROOM_CALL_ID,
        "scope": SCOPE_ROOM,
        "device_id": cfg.own_device,
        "membershipID": format!("{}:{}", cfg.own_user, cfg.own_device),
        "expires": u64::try_from(expires.as_millis()).unwrap_or(u64::MAX),
        "m.call.intent": cfg.call_intent,
        "focus_active": { "type": "livekit", "focus_selection": FOCUS_SELECTION },
        "foci_preferred": [{
            "livekit_alias": cfg.room_id,
            "type": "livekit",
            "livekit_service_url": cfg.livekit_service_url,
        }],
    });
    if let (Some(ts), Some(o)) = (created_ts, v.as_object_mut()) {
        o.insert("created_ts".into(), json!(ts));
    }
    v
}

/// Content that withdraws a membership.
pub fn left() -> Value {
    json!({})
}

/// A device's membership in the room's `m.call` session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub device_id: String,
    /// `expires` in ms ([`super::MEMBERSHIP_EXPIRY`] when absent).
    pub expires_ms: u64,
    /// `created_ts` (Unix ms), if given.
    pub created_ts: Option<u64>,
    /// `membershipID`, else `{sender}:{device_id}`.
    pub member_id: String,
    pub focus_selection: Option<String>,
    pub transports: Vec<LivekitTransport>,
    pub intent: Option<String>,
}

impl Membership {
    /// When it was created: `created_ts`, else the event's `origin_server_ts` (js-sdk
    /// `CallMembership.createdTs`).
    pub fn created_at_ms(&self, origin_server_ts: u64) -> u64 {
        self.created_ts.unwrap_or(origin_server_ts)
    }

    /// When it lapses (Unix ms): `createdTs() + (expires ?? DEFAULT_EXPIRE_DURATION)` (js-sdk
    /// `CallMembership.getAbsoluteExpiry`); it counts as expired once the local clock reaches
    /// it (`isExpired`: `getMsUntilExpiry() <= 0`).
    pub fn expires_at_ms(&self, origin_server_ts: u64) -> u64 {
        self.created_at_ms(origin_server_ts)
            .saturating_add(self.expires_ms)
    }
}

/// Why content is not a membership of the room's call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotMember {
    /// `{}` (or nothing but keys js-sdk's `quickFilterNonRelevantContents` skips): left.
    #[error("left")]
    Left,
    /// The state key does not belong to the sender: `_{sender}_…` or `{sender}_…` (mxcall's
    /// rule: js-sdk takes the user from the sender and never checks the key, so a third user
    /// could otherwise overwrite someone's key).
    #[error("state key not owned by the sender")]
    ForeignStateKey,
    /// A membership of another application or call (`call_id` other than `""`, a scope other
    /// than `m.room`): js-sdk `isValidMembership` ignores other slots.
    #[error("another call")]
    OtherSlot,
    /// Content js-sdk's `checkSessionsMembershipData` refuses; Element X (strict) counts such a
    /// member as left, and so do we.
    #[error("malformed: {0}")]
    Malformed(ParseError),
}

/// Parse the content of a membership state event sent by `sender` under `state_key`.
///
/// Accepted as js-sdk `checkSessionsMembershipData` accepts (`device_id`, `call_id`,
/// `application` strings; `focus_active` an object with a string `type`; `foci_preferred`, if
/// present, an array of objects with a string `type`; `created_ts`, `expires` numbers;
/// `scope`, `m.call.intent`, `membershipID` strings), and stricter where js-sdk would compute
/// nonsense: `device_id` non-empty, numbers finite (negative counts as 0), and the state key
/// owned by the sender. Only `application: "m.call"`, `call_id: ""` and a missing or `m.room`
/// scope are the room's call.
pub fn parse(sender: &UserId, state_key: &str, content: &Value) -> Result<Membership, NotMember> {
    if !owned_by(sender, state_key) {
        return Err(NotMember::ForeignStateKey);
    }
    let Some(obj) = content.as_object() else {
        return Err(NotMember::Malformed(ParseError::NotAnObject));
    };
    // js-sdk quickFilterNonRelevantContents: empty, single-key (the deprecated `memberships`
    // array) or application-less content is no membership.
    let keys = obj.keys().filter(|k| *k != "msc4354_sticky_key").count();
    if keys <= 1 || !obj.contains_key("application") {
        return Err(NotMember::Left);
    }
    let m = |e| NotMember::Malformed(e);
    let device_id = string(obj, "device_id").map_err(m)?;
    let call_id = string(obj, "call_id").map_err(m)?;
    let application = string(obj, "application").map_err(m)?;
    let focus_active = obj
        .get("focus_active")
        .ok_or(m(ParseError::Missing("focus_active")))?
        .as_object()
        .ok_or(m(ParseError::WrongType("focus_active")))?;
    string(focus_active, "type").map_err(m)?;
    let focus_selection = opt_string(focus_active, "focus_selection").map_err(m)?;
    let transports = match obj.get("foci_preferred") {
        None => Vec::new(),
        Some(v) => transports(v).map_err(m)?,
    };
    let created_ts = opt_number(obj, "created_ts").map_err(m)?;
    let expires_ms = opt_number(obj, "expires").map_err(m)?;
    let scope = opt_string(obj, "scope").map_err(m)?;
    let intent = opt_string(obj, "m.call.intent").map_err(m)?;
    let member_id = opt_string(obj, "membershipID").map_err(m)?;
    if device_id.is_empty() {
        return Err(m(ParseError::BadValue("device_id")));
    }
    if application != APPLICATION
        || call_id != ROOM_CALL_ID
        || scope.as_deref().is_some_and(|s| s != SCOPE_ROOM)
    {
        return Err(NotMember::OtherSlot);
    }
    Ok(Membership {
        member_id: member_id.unwrap_or_else(|| format!("{sender}:{device_id}")),
        device_id: device_id.to_owned(),
        expires_ms: expires_ms
            .unwrap_or(u64::try_from(super::MEMBERSHIP_EXPIRY.as_millis()).unwrap_or(u64::MAX)),
        created_ts,
        focus_selection,
        transports,
        intent,
    })
}

/// Whether `state_key` names a device of `sender`: `_{sender}_{rest}` or `{sender}_{rest}` with a
/// non-empty rest (the forms ruma's `CallMemberStateKey` and js-sdk write).
pub fn owned_by(sender: &UserId, state_key: &str) -> bool {
    let key = state_key.strip_prefix('_').unwrap_or(state_key);
    key.strip_prefix(sender.as_str())
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|device| !device.is_empty())
}

fn transports(v: &Value) -> Result<Vec<LivekitTransport>, ParseError> {
    let list = v
        .as_array()
        .ok_or(ParseError::WrongType("foci_preferred"))?;
    let mut out = Vec::new();
    for f in list {
        let f = f
            .as_object()
            .ok_or(ParseError::WrongType("foci_preferred"))?;
        let ty = string(f, "type")?;
        if ty != "livekit" {
            continue;
        }
        // A livekit entry without a service URL is of no use (js-sdk
        // `isLivekitTransportConfig`): skipped, not fatal.
        let Ok(url) = string(f, "livekit_service_url") else {
            continue;
        };
        out.push(LivekitTransport {
            livekit_service_url: url.to_owned(),
            livekit_alias: opt_string(f, "livekit_alias")?,
        });
    }
    Ok(out)
}

fn string<'a>(o: &'a Map<String, Value>, key: &'static str) -> Result<&'a str, ParseError> {
    o.get(key)
        .ok_or(ParseError::Missing(key))?
        .as_str()
        .ok_or(ParseError::WrongType(key))
}

fn opt_string(o: &Map<String, Value>, key: &'static str) -> Result<Option<String>, ParseError> {
    match o.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(|s| Some(s.to_owned()))
            .ok_or(ParseError::WrongType(key)),
    }
}

/// A JSON number as whole milliseconds: negative → 0, fractions dropped, huge → `u64::MAX`.
pub(super) fn opt_number(
    o: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<u64>, ParseError> {
    match o.get(key) {
        None => Ok(None),
        Some(v) => number_ms(v).map(Some).ok_or(ParseError::WrongType(key)),
    }
}

pub(super) fn number_ms(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    if v.as_i64().is_some() {
        return Some(0); // negative
    }
    let f = v.as_f64().filter(|f| f.is_finite())?;
    // `as` saturates for floats.
    Some(if f <= 0.0 { 0 } else { f as u64 })
}
