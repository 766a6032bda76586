//! Encrypted room events this device could not decrypt: what to tell the user about each (once),
//! and the ones kept to be decrypted again when a room key arrives late.
//!
//! A call event that fails to decrypt must not vanish silently: in an Element DM that is exactly
//! what happens when this device is not cross-signed (Element withholds its room keys with
//! `m.unverified`, MSC4153). matrix-sdk requests a missing key (from our other devices, and from
//! the key backup) when decryption fails; if it arrives, the event is decrypted and handed on
//! with its age grown by the wait, so a stale invite still never rings.

use std::time::{Duration, Instant};

use matrix_sdk::Client;
use matrix_sdk::deserialized_responses::{
    TimelineEvent, TimelineEventKind, UnableToDecryptReason, WithheldCode,
};
use matrix_sdk::ruma::events::room::encrypted::OriginalSyncRoomEncryptedEvent;
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};

use super::RoomEvent;

/// How many undecryptable events are kept for a retry; older ones are dropped first.
const MAX_PENDING: usize = 64;
/// After this long a late key no longer matters: any call in the event is long over.
const KEEP_FOR: Duration = Duration::from_secs(600);

/// One event that could not be decrypted, as reported to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecryptable {
    pub room_id: OwnedRoomId,
    pub sender: OwnedUserId,
    pub event_id: Option<OwnedEventId>,
    /// A short reason a person can act on.
    pub reason: String,
    /// The sender's device refused to share the key with this one because this device is not
    /// verified (`m.unverified`): the fix is on our side (`mxcall verify`).
    pub unverified: bool,
}

struct Entry {
    room_id: OwnedRoomId,
    raw: Raw<OriginalSyncRoomEncryptedEvent>,
    seen: Instant,
    age: Option<Duration>,
}

/// Undecryptable events waiting for their key.
#[derive(Default)]
pub struct Pending {
    entries: Vec<Entry>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keeps `ev` for a retry if it could not be decrypted, and says what to report.
    pub fn add(
        &mut self,
        room_id: &OwnedRoomId,
        ev: &TimelineEvent,
        now: Instant,
    ) -> Option<Undecryptable> {
        let TimelineEventKind::UnableToDecrypt { event, utd_info } = &ev.kind else {
            return None;
        };
        let (sender, event_id) = utd_fields(ev)?;
        let age = event
            .get_field::<serde_json::Value>("unsigned")
            .ok()
            .flatten()
            .and_then(|u| u.get("age").and_then(|a| a.as_u64()))
            .map(Duration::from_millis);
        if self.entries.len() >= MAX_PENDING {
            self.entries.remove(0);
        }
        self.entries.push(Entry {
            room_id: room_id.clone(),
            raw: event.clone().cast_unchecked(),
            seen: now,
            age,
        });
        let (reason, unverified) = describe(&utd_info.reason);
        Some(Undecryptable {
            room_id: room_id.clone(),
            sender,
            event_id,
            reason,
            unverified,
        })
    }

    /// Tries every kept event again; returns those that decrypt now, oldest first, with their
    /// age as it is now.
    pub async fn retry(&mut self, client: &Client) -> Vec<RoomEvent> {
        let now = Instant::now();
        self.entries
            .retain(|e| now.duration_since(e.seen) < KEEP_FOR);
        let mut opened = Vec::new();
        let mut kept = Vec::new();
        for entry in std::mem::take(&mut self.entries) {
            let Some(room) = client.get_room(&entry.room_id) else {
                continue;
            };
            match room.decrypt_event(&entry.raw, None).await {
                Ok(ev) if matches!(ev.kind, TimelineEventKind::Decrypted(_)) => {
                    if let Some(mut event) = super::sync::room_event(&entry.room_id, &ev) {
                        let waited = now.duration_since(entry.seen);
                        // Without any age the signalling ages it by `origin_server_ts` (which already
                        // includes the wait); with one, the wait is added.
                        event.age = entry.age.or(event.age).map(|a| a + waited);
                        tracing::debug!(room = %entry.room_id, ?waited, "decrypted an event late");
                        opened.push(event);
                    }
                }
                _ => kept.push(entry),
            }
        }
        self.entries = kept;
        opened
    }
}

/// Sender and event id of an undecryptable event, for the report.
fn utd_fields(ev: &TimelineEvent) -> Option<(OwnedUserId, Option<OwnedEventId>)> {
    let TimelineEventKind::UnableToDecrypt { event, .. } = &ev.kind else {
        return None;
    };
    let sender = event.get_field::<OwnedUserId>("sender").ok().flatten()?;
    let event_id = event.get_field::<OwnedEventId>("event_id").ok().flatten();
    Some((sender, event_id))
}

/// A short reason for a decryption failure, and whether it is this device's missing
/// verification (see [`Undecryptable::unverified`]).
pub fn describe(reason: &UnableToDecryptReason) -> (String, bool) {
    match reason {
        UnableToDecryptReason::MissingMegolmSession {
            withheld_code: Some(WithheldCode::Unverified),
        } => (
            "the sender's client withheld the key because this device is not verified (m.unverified)"
                .into(),
            true,
        ),
        UnableToDecryptReason::MissingMegolmSession {
            withheld_code: Some(code),
        } => (format!("the sender's client withheld the key ({code})"), false),
        UnableToDecryptReason::MissingMegolmSession {
            withheld_code: None,
        }
        | UnableToDecryptReason::UnknownMegolmMessageIndex => {
            ("its room key has not arrived (requested)".into(), false)
        }
        UnableToDecryptReason::SenderIdentityNotTrusted(level) => {
            (format!("the sender's device is not trusted ({level})"), false)
        }
        UnableToDecryptReason::MismatchedIdentityKeys => {
            ("the sender's keys do not match (possible forgery)".into(), false)
        }
        other => (format!("decryption failed ({other:?})"), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_withheld_unverified_key_points_at_verification() {
        let (text, unverified) = describe(&UnableToDecryptReason::MissingMegolmSession {
            withheld_code: Some(WithheldCode::Unverified),
        });
        assert!(unverified);
        assert!(text.contains("not verified"), "{text}");
        let (text, unverified) = describe(&UnableToDecryptReason::MissingMegolmSession {
            withheld_code: None,
        });
        assert!(!unverified);
        assert!(text.contains("not arrived"), "{text}");
    }
}
