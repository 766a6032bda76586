//! What the engine must know about a room before its first call event goes to a machine: the
//! room's other member (`rooms::peer_of`, the 1:1 rule — a member list that may need a request
//! the first time), and for MatrixRTC the call memberships already in the room (a `/state`
//! request), whether it is encrypted, and our homeserver's LiveKit service (MSC4143 discovery,
//! once per process). The task that produces a batch (the sync task, or the history read of
//! `hangup`) looks them up and hands them over with the batch, so the engine's run loop never
//! awaits them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use matrix_sdk::Client;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId};

use super::RoomEvent;
use super::rooms;

/// A room's facts, as of the batch they came with.
#[derive(Debug, Clone, Default)]
pub struct RoomFacts {
    /// The other member, when the room is one we joined with exactly one other member (joined
    /// or invited); `None` otherwise (no call from it may ring).
    pub peer: Option<OwnedUserId>,
    /// Present the first time a MatrixRTC event of the room comes in a batch.
    pub rtc: Option<RtcFacts>,
}

/// What a room's MatrixRTC machine starts from.
#[derive(Debug, Clone, Default)]
pub struct RtcFacts {
    /// The call memberships in the room's state (a session may have started before us).
    pub memberships: Vec<RoomEvent>,
    /// The room is encrypted (its calls' media are end-to-end encrypted); unknown counts as
    /// encrypted.
    pub encrypted: bool,
    /// Our homeserver's LiveKit service (`None`: it advertises none, or discovery is off).
    pub service: Option<String>,
}

/// Our homeserver's LiveKit service (MSC4143 discovery), asked once per process and shared by
/// the engine and the sync task: empty until first needed; `Some(None)`: there is none.
#[derive(Clone, Default)]
pub struct ServiceCache(Arc<tokio::sync::OnceCell<Option<String>>>);

impl ServiceCache {
    /// The service, discovered on first use.
    pub async fn get(&self, client: &Client) -> Option<String> {
        self.0
            .get_or_init(|| super::rtc::discover_service(client))
            .await
            .clone()
    }

    /// Starts the discovery in the background, so that it overlaps the first sync: a call
    /// that asks later ([`ServiceCache::get`]) waits only for what is left of it.
    pub fn prefetch(&self, client: &Client) {
        let (cache, client) = (self.clone(), client.clone());
        tokio::spawn(async move {
            cache.get(&client).await;
        });
    }
}

/// Looks facts up for the rooms of each batch; remembers which rooms' MatrixRTC facts it gave.
pub struct Describer {
    rtc_described: HashSet<OwnedRoomId>,
    /// Where our LiveKit service is asked for; `None`: never (`hangup`, which joins no call).
    service: Option<ServiceCache>,
}

impl Describer {
    pub fn new(service: Option<ServiceCache>) -> Self {
        Self {
            rtc_described: HashSet::new(),
            service,
        }
    }

    /// The facts of every room with a call event (`m.call.invite`, a MatrixRTC event) in
    /// `events`.
    pub async fn describe(
        &mut self,
        client: &Client,
        events: &[RoomEvent],
    ) -> HashMap<OwnedRoomId, RoomFacts> {
        let mut facts: HashMap<OwnedRoomId, RoomFacts> = HashMap::new();
        let Some(own) = client.user_id().map(ToOwned::to_owned) else {
            return facts;
        };
        for event in events {
            let rtc = is_rtc_event(event);
            if !(rtc || event.event_type == "m.call.invite") {
                continue;
            }
            let Some(room) = client.get_room(&event.room_id) else {
                continue;
            };
            if !facts.contains_key(&event.room_id) {
                let peer = if rooms::may_ring(&room) {
                    rooms::peer_of(&room, &own).await.ok().map(|(peer, _)| peer)
                } else {
                    None
                };
                facts.insert(
                    event.room_id.clone(),
                    RoomFacts {
                        peer,
                        ..Default::default()
                    },
                );
            }
            // No MatrixRTC machine is made for a room without a peer: no /state for it.
            let Some(f) = facts.get_mut(&event.room_id).filter(|f| f.peer.is_some()) else {
                continue;
            };
            if rtc && self.rtc_described.insert(event.room_id.clone()) {
                let service = match &self.service {
                    Some(cache) => cache.get(client).await,
                    None => None,
                };
                f.rtc = Some(rtc_facts(&room, service).await);
            }
        }
        facts
    }
}

/// A room's MatrixRTC facts now, with our LiveKit `service`.
pub async fn rtc_facts(room: &matrix_sdk::Room, service: Option<String>) -> RtcFacts {
    let memberships = match super::rtc::current_memberships(room).await {
        Ok(events) => events,
        Err(e) => {
            tracing::debug!(room = %room.room_id(), "cannot read the room's call memberships: {e}");
            Vec::new()
        }
    };
    let encrypted = room
        .latest_encryption_state()
        .await
        .map(|s| s.is_encrypted())
        .unwrap_or(true);
    RtcFacts {
        memberships,
        encrypted,
        service,
    }
}

/// One of the MatrixRTC call events (membership, ring, decline).
pub fn is_rtc_event(event: &RoomEvent) -> bool {
    use crate::matrixrtc::{decline, membership, notification};
    [
        membership::EVENT_TYPE,
        notification::EVENT_TYPE,
        decline::EVENT_TYPE,
    ]
    .contains(&event.event_type.as_str())
}
