//! The Matrix side of a call: sync batches of call events in, call events out (ordered, with
//! transaction ids and retries), which room a call goes to, and the homeserver's TURN servers.
//!
//! Everything here does I/O through matrix-sdk; the decisions about what the events mean belong
//! to the signalling machine.

pub mod history;
pub mod room_facts;
pub mod rooms;
pub mod rtc;
pub mod send;
pub mod store_claim;
pub mod sync;
pub mod sync_probe;
pub mod turn;
pub mod undecryptable;

use std::time::Duration;

/// The wall clock in Unix milliseconds (0 before 1970).
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};

/// One event from a sync response that a call may care about, in its raw JSON form so that the
/// signalling machine can parse (and reject) it itself.
#[derive(Debug, Clone)]
pub struct RoomEvent {
    pub room_id: OwnedRoomId,
    pub event_id: Option<OwnedEventId>,
    pub sender: OwnedUserId,
    pub event_type: String,
    pub content: serde_json::Value,
    pub state_key: Option<String>,
    /// `unsigned.age` when the server sent the batch: how old the event already was.
    pub age: Option<Duration>,
    /// `origin_server_ts` (Unix ms; 0 when missing): MatrixRTC expiry and ring lifetimes
    /// count from it.
    pub origin_server_ts: u64,
}

impl RoomEvent {
    /// Parses one raw timeline event; `None` for anything without the fields every event has.
    pub fn from_json(room_id: &OwnedRoomId, json: &serde_json::Value) -> Option<Self> {
        let event_type = json.get("type")?.as_str()?.to_owned();
        let sender = OwnedUserId::try_from(json.get("sender")?.as_str()?).ok()?;
        let content = json.get("content")?.clone();
        if !content.is_object() {
            return None;
        }
        let age = json
            .get("unsigned")
            .and_then(|u| u.get("age"))
            .and_then(|a| a.as_u64())
            .map(Duration::from_millis);
        Some(RoomEvent {
            room_id: room_id.clone(),
            event_id: json
                .get("event_id")
                .and_then(|e| e.as_str())
                .and_then(|e| OwnedEventId::try_from(e).ok()),
            sender,
            event_type,
            content,
            state_key: json
                .get("state_key")
                .and_then(|s| s.as_str())
                .map(str::to_owned),
            age,
            origin_server_ts: json
                .get("origin_server_ts")
                .and_then(|t| t.as_u64())
                .unwrap_or(0),
        })
    }

    pub fn is_call_event(&self) -> bool {
        self.event_type.starts_with("m.call.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use matrix_sdk::ruma::room_id;
    use serde_json::json;

    #[test]
    fn parses_a_call_event_with_age() {
        let room = room_id!("!r:localhost").to_owned();
        let ev = RoomEvent::from_json(
            &room,
            &json!({"type": "m.call.invite", "sender": "@a:localhost", "event_id": "$e",
                    "content": {"call_id": "c"}, "unsigned": {"age": 1500}}),
        )
        .unwrap();
        assert!(ev.is_call_event());
        assert_eq!(ev.age, Some(Duration::from_millis(1500)));
        assert_eq!(ev.sender.as_str(), "@a:localhost");
    }

    #[test]
    fn rejects_events_missing_basic_fields() {
        let room = room_id!("!r:localhost").to_owned();
        for bad in [
            json!({"sender": "@a:localhost", "content": {}}),
            json!({"type": "m.call.invite", "content": {}}),
            json!({"type": "m.call.invite", "sender": "not-a-user", "content": {}}),
            json!({"type": "m.call.invite", "sender": "@a:localhost", "content": "x"}),
            json!({"type": 7, "sender": "@a:localhost", "content": {}}),
        ] {
            assert!(RoomEvent::from_json(&room, &bad).is_none(), "{bad}");
        }
    }
}
