//! Receiving: a task that long-polls `/sync` and hands each response to the engine as one batch
//! of raw call-relevant events.
//!
//! The sync token lives in the profile's SQLite store, so a new invocation continues where the
//! last one stopped instead of doing a slow full initial sync. A filter keeps only what calls
//! need: call events, membership, and the state that says whether a room may carry a call.
//! The batch boundary matters: an invite may ring only after its whole batch was looked at
//! (a hangup later in the same batch cancels it), so events are never handed over one by one.

use std::time::{Duration, Instant};

use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk::ruma::api::client::filter::{FilterDefinition, RoomEventFilter, RoomFilter};
use matrix_sdk::ruma::api::client::sync::sync_events::v3::Filter;
use tokio::sync::mpsc;

use super::RoomEvent;
use crate::error::{Error, Result};

/// How long one `/sync` request waits on the server for news.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(25);

#[derive(Debug, Default)]
pub struct SyncBatch {
    /// When the response arrived; event ages are measured from here.
    pub received_at: Option<Instant>,
    pub events: Vec<RoomEvent>,
    /// Rooms we were invited to in this batch (a new direct-message room, usually).
    pub invited: Vec<OwnedRoomId>,
    /// Rooms we left or were removed from.
    pub left: Vec<OwnedRoomId>,
    /// True for the first batch of this process: it may contain old events (backlog).
    pub first: bool,
}

fn filter() -> FilterDefinition {
    let mut timeline = RoomEventFilter::empty();
    timeline.types = Some(vec![
        "m.call.*".into(),
        "m.room.member".into(),
        "m.room.encrypted".into(),
        "m.room.join_rules".into(),
    ]);
    timeline.limit = Some(50u32.into());
    let mut state = RoomEventFilter::empty();
    state.types = Some(vec![
        "m.room.member".into(),
        "m.room.join_rules".into(),
        "m.room.encryption".into(),
        "m.room.create".into(),
    ]);
    let mut room = RoomFilter::empty();
    room.timeline = timeline;
    room.state = state;
    room.ephemeral = RoomEventFilter::ignore_all();
    room.account_data = RoomEventFilter::ignore_all();
    let mut def = FilterDefinition::empty();
    def.room = room;
    def.presence = matrix_sdk::ruma::api::client::filter::Filter::ignore_all();
    def
}

/// Starts the sync task. It ends when the receiver is dropped; a fatal error (token rejected)
/// is sent as the last item.
pub fn spawn(
    client: Client,
    profile: String,
    homeserver: String,
) -> mpsc::Receiver<Result<SyncBatch>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let filter_id = match client
            .get_or_upload_filter("mxcall-calls-v1", filter())
            .await
        {
            Ok(id) => Some(id),
            Err(e) => {
                let err = Error::from_sdk(&e, "sync failed", &profile, &homeserver);
                if matches!(err, Error::Auth { .. }) {
                    let _ = tx.send(Err(err)).await;
                    return;
                }
                None
            }
        };
        let mut first = true;
        let mut backoff = Duration::from_millis(250);
        loop {
            let mut settings =
                SyncSettings::new().timeout(if first { Duration::ZERO } else { POLL_TIMEOUT });
            if let Some(id) = &filter_id {
                settings = settings.filter(Filter::FilterId(id.clone()));
            }
            let result = tokio::select! {
                r = client.sync_once(settings) => r,
                _ = tx.closed() => return,
            };
            match result {
                Ok(response) => {
                    backoff = Duration::from_millis(250);
                    let batch = to_batch(response, first);
                    first = false;
                    if tx.send(Ok(batch)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    if tx.is_closed() {
                        // The engine is gone (the process is ending): this error is only the
                        // runtime tearing the request down, not news for the user.
                        return;
                    }
                    let err = Error::from_sdk(&e, "sync failed", &profile, &homeserver);
                    if matches!(err, Error::Auth { .. }) {
                        let _ = tx.send(Err(err)).await;
                        return;
                    }
                    // The homeserver may be restarting: keep trying, the call state survives.
                    tracing::warn!("sync failed, retrying in {backoff:?}: {err}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
    rx
}

fn to_batch(response: matrix_sdk::sync::SyncResponse, first: bool) -> SyncBatch {
    let received_at = Some(Instant::now());
    let mut events = Vec::new();
    for (room_id, update) in &response.rooms.joined {
        for ev in &update.timeline.events {
            let Ok(json) = ev.raw().deserialize_as::<serde_json::Value>() else {
                continue;
            };
            match RoomEvent::from_json(room_id, &json) {
                Some(event) => events.push(event),
                None => tracing::debug!(%room_id, "ignored a malformed event"),
            }
        }
    }
    SyncBatch {
        received_at,
        events,
        invited: response.rooms.invited.keys().cloned().collect(),
        left: response.rooms.left.keys().cloned().collect(),
        first,
    }
}
