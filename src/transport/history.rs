//! The recent call history of rooms as one batch (legacy call events, MatrixRTC rings and
//! declines): what `mxcall hangup` feeds the signalling machines when no running mxcall process holds the ringing call it should decline.
//!
//! A running process may have moved the stored sync token past the invite long ago, so the
//! next `/sync` would not show it; `/messages` does. Events come through the profile's store,
//! so matrix-sdk decrypts them (after one sync took in any pending room keys), and the batch
//! goes through the same machine and send path as a live call — one implementation of the
//! rules: lifetimes, who may ring, what a v0 or v1 caller is declined with.

use std::time::Instant;

use matrix_sdk::Client;
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::api::client::filter::RoomEventFilter;
use matrix_sdk::ruma::{OwnedRoomId, UInt};

use super::rooms;
use super::sync::{SyncBatch, sync_now, take_events};
use super::undecryptable::Pending;

/// How many of each room's newest call events are looked at.
const HISTORY_LIMIT: u32 = 50;

/// Syncs once (room keys), then reads the newest call events of `only` (or of every joined 1:1
/// room) into one batch, oldest first, marked `first` (a backlog).
///
/// Errors: the sync's, as matrix-sdk returns them; a room whose history cannot be read is
/// skipped (logged at -v).
pub async fn recent_batch(
    client: &Client,
    only: Option<&OwnedRoomId>,
) -> Result<SyncBatch, matrix_sdk::Error> {
    sync_now(client).await?;
    let candidates: Vec<matrix_sdk::Room> = match only {
        Some(id) => client.get_room(id).into_iter().collect(),
        None => client.joined_rooms(),
    };
    let now = Instant::now();
    let mut batch = SyncBatch {
        received_at: Some(now),
        first: true,
        ..Default::default()
    };
    let mut pending = Pending::default();
    for room in candidates {
        if !rooms::may_ring(&room) {
            continue;
        }
        let mut options = MessagesOptions::backward();
        options.limit = UInt::from(HISTORY_LIMIT);
        let mut filter = RoomEventFilter::empty();
        filter.types = Some(vec![
            "m.call.*".into(),
            crate::matrixrtc::notification::EVENT_TYPE.into(),
            crate::matrixrtc::decline::EVENT_TYPE.into(),
            "m.room.encrypted".into(),
        ]);
        options.filter = filter;
        let messages = match room.messages(options).await {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(room = %room.room_id(), "cannot read the room's history: {}", crate::error::root_cause(&e));
                continue;
            }
        };
        let room_id = room.room_id().to_owned();
        // /messages backwards is newest first; the machine wants the order they happened in.
        take_events(
            &room_id,
            messages.chunk.iter().rev(),
            &mut pending,
            now,
            &mut batch.events,
            &mut batch.undecryptable,
        );
    }
    Ok(batch)
}
