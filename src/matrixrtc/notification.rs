//! `org.matrix.msc4075.rtc.notification`: the ring we send after joining, and the rule of
//! whether a received one is still live.

use std::time::Duration;

use matrix_sdk::ruma::UserId;
use serde_json::{Map, Value, json};

use super::ParseError;

/// The notification event type (js-sdk `EventType.RTCNotification`). The older
/// `org.matrix.msc4075.call.notify` no longer rings on current Element X and is ignored.
pub const EVENT_TYPE: &str = "org.matrix.msc4075.rtc.notification";

/// `notification_type` that rings (MSC4075; js-sdk `RTCNotificationType = "ring" |
/// "notification"`).
pub const RING: &str = "ring";

/// Our ring, as js-sdk `MatrixRTCSession.sendCallNotify` builds it (fields at the top level, not
/// in the MSC draft's `application` object):
///
/// ```json
/// {"m.mentions": {"user_ids": ["@callee:hs"], "room": true},
///  "notification_type": "ring",
///  "m.relates_to": {"event_id": "$membership", "rel_type": "m.reference"},
///  "sender_ts": 1767225600000, "lifetime": 30000, "m.call.intent": "audio"}
/// ```
///
/// js-sdk sends `user_ids: []` with `room: true`; a room mention needs power level 50 to
/// notify (Synapse's default `notifications.room`), so the callee is named as well, which wakes
/// a phone through the `.m.rule.is_user_mention` push rule (Synapse has no push rule for this
/// event type). `sender_ts` is our wall clock (Unix ms), `lifetime` in ms.
pub fn ring_content(
    callee: &UserId,
    membership_event_id: &str,
    sender_ts: u64,
    lifetime: Duration,
    intent: &str,
) -> Value {
    json!({
        "m.mentions": { "user_ids": [callee.as_str()], "room": true },
        "notification_type": RING,
        "m.relates_to": { "event_id": membership_event_id, "rel_type": "m.reference" },
        "sender_ts": sender_ts,
        "lifetime": u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX),
        "m.call.intent": intent,
    })
}

/// A received notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// `notification_type`: `ring`, `notification`, or anything else.
    pub notification_type: String,
    /// The sender's wall clock when sending (Unix ms).
    pub sender_ts: u64,
    /// `lifetime`, capped at [`super::MAX_RING_LIFETIME`].
    pub lifetime: Duration,
    /// The membership event it relates to (`m.relates_to`, `m.reference`).
    pub membership_event_id: String,
    pub intent: Option<String>,
    /// `m.mentions`, if present: (`room`, `user_ids`).
    pub mentions: Option<(bool, Vec<String>)>,
}

impl Notification {
    /// Whether it rings (as opposed to a silent `notification`).
    pub fn is_ring(&self) -> bool {
        self.notification_type == RING
    }

    /// Whether it is meant for `user`: no `m.mentions` (ruma treats them as optional), a room
    /// mention, or `user` named (MSC4075: "The user is included in the `m.mentions` section").
    pub fn targets(&self, user: &UserId) -> bool {
        match &self.mentions {
            None => true,
            Some((room, users)) => *room || users.iter().any(|u| u == user.as_str()),
        }
    }

    /// When the ring is over (Unix ms): `lifetime` after `sender_ts`, or after
    /// `origin_server_ts` when the two are more than `max_skew` apart (the sender's clock
    /// cannot be trusted that far). MSC4075 and ruma `RtcNotificationEventContent::
    /// expiration_ts` (Element X), whose default `max_skew` is 20 s.
    pub fn expires_at_ms(&self, origin_server_ts: u64, max_skew: Duration) -> u64 {
        let skew = self.sender_ts.abs_diff(origin_server_ts);
        let start = if u128::from(skew) > max_skew.as_millis() {
            origin_server_ts
        } else {
            self.sender_ts
        };
        start.saturating_add(u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Parse a notification's content, as js-sdk `parseCallNotificationContent` does
/// (`notification_type` string, `sender_ts` and `lifetime` numbers, `m.mentions` an object,
/// `m.call.intent` a string; `lifetime` capped at 90 s) and as strictly as ruma's typed
/// content (what Element X parses): `sender_ts` and `lifetime` non-negative integers, and an
/// `m.relates_to` `m.reference` to the caller's membership, which MSC4075 requires.
pub fn parse(content: &Value) -> Result<Notification, ParseError> {
    let o = content.as_object().ok_or(ParseError::NotAnObject)?;
    let notification_type = o
        .get("notification_type")
        .ok_or(ParseError::Missing("notification_type"))?
        .as_str()
        .ok_or(ParseError::WrongType("notification_type"))?
        .to_owned();
    let sender_ts = integer(o, "sender_ts")?;
    let lifetime = Duration::from_millis(integer(o, "lifetime")?).min(super::MAX_RING_LIFETIME);
    let membership_event_id = reference(o)?;
    let intent = match o.get("m.call.intent") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .ok_or(ParseError::WrongType("m.call.intent"))?
                .to_owned(),
        ),
    };
    let mentions = match o.get("m.mentions") {
        None => None,
        Some(v) => Some(mentions(v)?),
    };
    Ok(Notification {
        notification_type,
        sender_ts,
        lifetime,
        membership_event_id,
        intent,
        mentions,
    })
}

fn integer(o: &Map<String, Value>, key: &'static str) -> Result<u64, ParseError> {
    let v = o.get(key).ok_or(ParseError::Missing(key))?;
    if !v.is_number() {
        return Err(ParseError::WrongType(key));
    }
    v.as_u64().ok_or(ParseError::BadValue(key))
}

fn mentions(v: &Value) -> Result<(bool, Vec<String>), ParseError> {
    let o = v.as_object().ok_or(ParseError::WrongType("m.mentions"))?;
    let room = match o.get("room") {
        None => false,
        Some(r) => r
            .as_bool()
            .ok_or(ParseError::WrongType("m.mentions.room"))?,
    };
    let users = match o.get("user_ids") {
        None => Vec::new(),
        Some(u) => u
            .as_array()
            .ok_or(ParseError::WrongType("m.mentions.user_ids"))?
            .iter()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect(),
    };
    Ok((room, users))
}

/// The target of an `m.relates_to` `m.reference` (notifications and declines).
pub(super) fn reference(o: &Map<String, Value>) -> Result<String, ParseError> {
    let rel = o
        .get("m.relates_to")
        .ok_or(ParseError::Missing("m.relates_to"))?
        .as_object()
        .ok_or(ParseError::WrongType("m.relates_to"))?;
    let rel_type = rel
        .get("rel_type")
        .ok_or(ParseError::Missing("m.relates_to.rel_type"))?
        .as_str()
        .ok_or(ParseError::WrongType("m.relates_to.rel_type"))?;
    if rel_type != "m.reference" {
        return Err(ParseError::BadValue("m.relates_to.rel_type"));
    }
    let id = rel
        .get("event_id")
        .ok_or(ParseError::Missing("m.relates_to.event_id"))?
        .as_str()
        .ok_or(ParseError::WrongType("m.relates_to.event_id"))?;
    if id.is_empty() {
        return Err(ParseError::BadValue("m.relates_to.event_id"));
    }
    Ok(id.to_owned())
}
