//! `org.matrix.msc4310.rtc.decline`: declining a ring, and reading someone's decline.

use serde_json::{Value, json};

use super::ParseError;

/// The decline event type (js-sdk `EventType.RTCDecline`; MSC4310's unstable prefix).
pub const EVENT_TYPE: &str = "org.matrix.msc4310.rtc.decline";

/// A decline of the ring `notification_event_id`, as js-sdk `MatrixClient.sendRtcDecline`
/// (what Element Web's incoming-call toast sends) and MSC4310 write it; no mentions (MSC4310:
/// "Decline events SHOULD NOT mention users"):
///
/// ```json
/// {"m.relates_to": {"event_id": "$notification", "rel_type": "m.reference"}}
/// ```
pub fn content(notification_event_id: &str) -> Value {
    json!({
        "m.relates_to": { "event_id": notification_event_id, "rel_type": "m.reference" },
    })
}

/// The notification a decline relates to. Element Call counts a decline only as an
/// `m.reference` to its notification from the callee (`CallNotificationLifecycle.ts`
/// `decline$`); the sender check is the machine's.
pub fn parse(content: &Value) -> Result<String, ParseError> {
    let o = content.as_object().ok_or(ParseError::NotAnObject)?;
    super::notification::reference(o)
}
