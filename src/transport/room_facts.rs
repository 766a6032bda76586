//! What the engine must know about a room before its first call event goes to a machine: the
//! room's other member (`rooms::peer_of`, the 1:1 rule — a member list that may need a request
//! the first time), and for MatrixRTC the call memberships already in the room (a `/state`
//! request), whether it is encrypted, and our homeserver's LiveKit service (MSC4143 discovery,
//! once per process). The task that produces a batch (the sync task, or the history read of
//! `hangup`) looks them up and hands them over with the batch, so the engine's run loop never
//! awaits them.

use std::collections::{HashMap, HashSet};

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

/// Looks facts up for the rooms of each batch; remembers which rooms' MatrixRTC facts it gave
/// and the discovered LiveKit service.
pub struct Describer {
    rtc_described: HashSet<OwnedRoomId>,
    /// `None` until first needed; `Some(None)`: the homeserver has no LiveKit service.
    service: Option<Option<String>>,
    /// Ask the homeserver for its LiveKit service (not for `hangup`, which joins no call).
    discover: bool,
}

impl Describer {
    pub fn new(discover: bool) -> Self {
        Self {
            rtc_described: HashSet::new(),
            service: None,
            discover,
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
            if rtc && self.rtc_described.insert(event.room_id.clone()) {
                let rtc = self.rtc_facts(client, &room).await;
                if let Some(f) = facts.get_mut(&event.room_id) {
                    f.rtc = Some(rtc);
                }
            }
        }
        facts
    }

    /// A room's MatrixRTC facts now.
    pub async fn rtc_facts(&mut self, client: &Client, room: &matrix_sdk::Room) -> RtcFacts {
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
            service: self.service(client).await,
        }
    }

    /// Our homeserver's LiveKit service, discovered on first use and kept.
    pub async fn service(&mut self, client: &Client) -> Option<String> {
        if !self.discover {
            return None;
        }
        if self.service.is_none() {
            self.service = Some(super::rtc::discover_service(client).await);
        }
        self.service.clone().flatten()
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
