//! The engine's Matrix side: what this process waits for, the rooms it keeps a signalling
//! machine for, and how a sync batch is fed to them (whole, then `BatchEnd`).

use std::time::{Duration, Instant};

use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, UserId, VoipId};

use super::{Engine, Mode, Room};
use crate::error::{Error, Result, exit};
use crate::signalling::{self, CallMachine, Command, Input, RingPolicy};
use crate::transport::RoomEvent;
use crate::transport::room_facts::{RoomFacts, is_rtc_event};
use crate::transport::rooms;
use crate::transport::send;
use crate::transport::sync::SyncBatch;
use crate::transport::undecryptable::Undecryptable;

impl Engine {
    pub(super) async fn start_mode(&mut self) -> Result<()> {
        match self.mode.clone() {
            Mode::Call {
                target,
                ring_timeout,
                protocol,
            } => {
                let call_room = rooms::resolve(&self.client, &target).await?;
                let room_id = call_room.room.room_id().to_owned();
                self.calling_rtc = self
                    .choose_rtc(&call_room.room, &call_room.peer, protocol, ring_timeout)
                    .await?;
                self.add_room(
                    call_room.room,
                    call_room.peer.clone(),
                    RingPolicy::Ring,
                    ring_timeout,
                );
                if call_room.peer_joined {
                    // Placed once the first batch went through the machine: an invite of
                    // theirs in it makes this glare, which the machine resolves.
                    self.place_after_first_batch = Some(room_id);
                } else {
                    self.reporter.event(
                        crate::events::Event::AwaitingJoin {
                            room_id: room_id.to_string(),
                            user_id: call_room.peer.to_string(),
                        },
                        None,
                    );
                    self.reporter.note(&format!(
                        "invited {} to {room_id}; waiting for them to join before ringing",
                        call_room.peer
                    ));
                    self.reporter
                        .start_spinner(format!("waiting for {} to join…", call_room.peer));
                    self.pending_place = Some((room_id, call_room.peer.clone()));
                    self.sup.handle_input(super::supervisor::Input::WaitUntil(
                        self.started + ring_timeout,
                    ));
                }
            }
            Mode::Answer { wait, .. } => {
                self.sup
                    .handle_input(super::supervisor::Input::WaitUntil(self.started + wait));
                if self.sup.current().is_none() {
                    self.reporter.start_spinner("waiting for a call…".into());
                }
            }
            Mode::Watch { .. } => {
                self.reporter.note("watching for calls (Ctrl-C to stop)");
            }
            Mode::Decline { .. } => {}
        }
        Ok(())
    }

    /// `call --protocol`: whether this call goes over MatrixRTC (see `rtc`'s module docs for
    /// the `auto` rule). Creates the room's MatrixRTC machine when it does.
    ///
    /// Errors: `--protocol matrixrtc` on a homeserver without a LiveKit service (exit 7).
    async fn choose_rtc(
        &mut self,
        room: &matrix_sdk::Room,
        peer: &OwnedUserId,
        protocol: crate::cli::Protocol,
        ring_timeout: Duration,
    ) -> Result<bool> {
        use crate::cli::Protocol;
        if protocol == Protocol::Legacy {
            return Ok(false);
        }
        self.add_rtc_room(room.clone(), peer.clone(), None, ring_timeout)
            .await;
        let active = self
            .rtc_rooms
            .get(room.room_id())
            .is_some_and(|r| r.machine.session_active());
        // MatrixRTC whenever the homeserver has a LiveKit service; in an encrypted room the
        // media is end-to-end encrypted as Element Call does there (`rtc_keys`).
        let rtc = active || self.rtc_service().await.is_some();
        if !rtc {
            self.rtc_rooms.remove(room.room_id());
            if protocol == Protocol::Matrixrtc {
                return Err(self.no_rtc_transport_error());
            }
            tracing::info!("calling with legacy m.call.* events");
        } else {
            tracing::info!(active, "calling over MatrixRTC");
        }
        Ok(rtc)
    }

    /// Places this process's call with the protocol chosen at start.
    pub(super) fn place_call(&mut self, room_id: &OwnedRoomId) -> Result<()> {
        if self.calling_rtc {
            self.place_rtc(room_id)
        } else {
            self.place(room_id)
        }
    }

    pub(super) fn place(&mut self, room_id: &OwnedRoomId) -> Result<()> {
        let call_id = VoipId::new().to_string();
        let now = Instant::now();
        let room = self
            .rooms
            .get_mut(room_id)
            .ok_or_else(|| Error::Other("no room".into()))?;
        room.machine
            .handle_input(Input::Command(
                now,
                Command::Place {
                    call_id: call_id.clone(),
                },
            ))
            .map_err(|e| Error::Other(format!("cannot place the call: {e}")))?;
        self.set_current(call_id);
        self.pending_place = None;
        Ok(())
    }

    pub(super) fn add_room(
        &mut self,
        room: matrix_sdk::Room,
        peer: OwnedUserId,
        ring: RingPolicy,
        lifetime: Duration,
    ) {
        let room_id = room.room_id().to_owned();
        if self.rooms.contains_key(&room_id) {
            return;
        }
        let mut config = signalling::Config::new(
            self.own_user.clone(),
            self.legacy_party.clone(),
            peer.clone(),
        );
        config.ring = ring;
        config.invite_lifetime = lifetime;
        config.stream_id = self.stream_id.clone();
        let mut machine = CallMachine::new(config);
        for id in self.ended.ids() {
            machine.remember_ended(id);
        }
        let (sender, mut reports) = send::spawn(room);
        let tx = self.send_tx.clone();
        let forward_room = room_id.clone();
        self.send_tasks.push(tokio::spawn(async move {
            while let Some(report) = reports.recv().await {
                if tx.send((forward_room.clone(), report)).is_err() {
                    break;
                }
            }
        }));
        self.rooms.insert(
            room_id,
            Room {
                machine,
                sender,
                peer,
            },
        );
    }

    /// The ring policy for incoming calls in this mode, if calls in `room_id` are of interest.
    /// `AutoAnswer` only for a caller the user allowed (`callers`); others just ring.
    pub(super) fn caller_policy(&self, policy: RingPolicy, peer: &UserId) -> RingPolicy {
        if policy == RingPolicy::AutoAnswer && !self.callers.may_answer(peer) {
            RingPolicy::Ring
        } else {
            policy
        }
    }

    pub(super) fn incoming_policy(&self, room_id: &OwnedRoomId) -> Option<RingPolicy> {
        match &self.mode {
            Mode::Call { .. } => None,
            Mode::Answer { room, .. } => {
                (room.as_ref().is_none_or(|r| r == room_id)).then_some(RingPolicy::AutoAnswer)
            }
            Mode::Watch { rooms, answer, .. } => (rooms.is_empty() || rooms.contains(room_id))
                .then_some(if *answer {
                    RingPolicy::AutoAnswer
                } else {
                    RingPolicy::Ring
                }),
            Mode::Decline { room, .. } => {
                (room.as_ref().is_none_or(|r| r == room_id)).then_some(RingPolicy::Ring)
            }
        }
    }

    pub(super) async fn on_batch(&mut self, batch: SyncBatch) -> Result<()> {
        let now = batch.received_at.unwrap_or_else(Instant::now);
        // The wall clock at `now`: events without `unsigned.age` are aged by their timestamp.
        let now_ms = super::unix_ms().saturating_sub(now.elapsed().as_millis() as u64);
        if matches!(self.mode, Mode::Answer { .. } | Mode::Watch { .. }) {
            let mut invited = batch.invited.clone();
            if batch.first {
                // Invites that arrived before this process (an earlier run left a stranger's
                // invite alone; now the inviter may be allowed).
                for room in self.client.invited_rooms() {
                    if !invited.iter().any(|r| r == room.room_id()) {
                        invited.push(room.room_id().to_owned());
                    }
                }
            }
            self.join_invites(&invited).await;
        }
        for utd in &batch.undecryptable {
            self.report_undecryptable(utd);
        }
        let mut touched: Vec<OwnedRoomId> = Vec::new();
        for event in &batch.events {
            if is_rtc_event(event) && !self.rtc_rooms.contains_key(&event.room_id) {
                self.add_incoming_rtc_room(&event.room_id, batch.rooms.get(&event.room_id));
            }
            if self.rtc_rooms.contains_key(&event.room_id) {
                self.feed_rtc_event(now, event);
                if !touched.contains(&event.room_id) {
                    touched.push(event.room_id.clone());
                }
            }
            if !self.rooms.contains_key(&event.room_id) {
                if event.event_type != "m.call.invite" {
                    continue;
                }
                let Some(policy) = self.incoming_policy(&event.room_id) else {
                    continue;
                };
                let Some(room) = self.client.get_room(&event.room_id) else {
                    continue;
                };
                if !rooms::may_ring(&room) {
                    tracing::debug!(room = %event.room_id, "ignoring a call in a room that is not 1:1");
                    continue;
                }
                let Some(peer) = batch.rooms.get(&event.room_id).and_then(|f| f.peer.clone())
                else {
                    continue;
                };
                let policy = self.caller_policy(policy, &peer);
                self.add_room(room, peer, policy, signalling::DEFAULT_INVITE_LIFETIME);
            }
            self.feed_event(now, now_ms, event);
            if !touched.contains(&event.room_id) {
                touched.push(event.room_id.clone());
            }
        }
        for room_id in &batch.left {
            if let Some(room) = self.rooms.get_mut(room_id) {
                let _ = room.machine.handle_input(Input::PeerLeft { now });
            }
            touched.push(room_id.clone());
        }
        for room_id in touched {
            if let Some(room) = self.rooms.get_mut(&room_id) {
                let _ = room.machine.handle_input(Input::BatchEnd { now });
            }
            self.rtc_batch_end(now, &room_id, batch.left.contains(&room_id));
        }
        self.feed_media_keys(batch.media_keys);
        Ok(())
    }

    pub(super) fn feed_event(&mut self, now: Instant, now_ms: u64, event: &RoomEvent) {
        let Some(room) = self.rooms.get_mut(&event.room_id) else {
            return;
        };
        if event.event_type == "m.room.member" {
            let membership = event.content.get("membership").and_then(|m| m.as_str());
            if event.state_key.as_deref() == Some(room.peer.as_str()) {
                match membership {
                    Some("leave" | "ban") => {
                        let _ = room.machine.handle_input(Input::PeerLeft { now });
                    }
                    Some("join")
                        if self.pending_place.as_ref().map(|(r, _)| r) == Some(&event.room_id) =>
                    {
                        let room_id = event.room_id.clone();
                        self.reporter.stop_spinner();
                        if let Err(e) = self.place_call(&room_id) {
                            self.reporter.note(&format!("mxcall: {e}"));
                            self.finish(exit::OTHER);
                        }
                    }
                    _ => {}
                }
            }
            return;
        }
        let _ = room.machine.handle_input(Input::Remote {
            now,
            now_ms,
            sender: &event.sender,
            event_type: &event.event_type,
            content: &event.content,
            age: event.age,
            origin_server_ts: event.origin_server_ts,
        });
    }

    /// A MatrixRTC event in a room without a MatrixRTC machine: one is made if rings in that
    /// room matter to this process (the same rule as legacy invites: a 1:1 room of interest).
    /// The room's facts came with the batch (`transport::room_facts`).
    fn add_incoming_rtc_room(&mut self, room_id: &OwnedRoomId, facts: Option<&RoomFacts>) {
        let Some(policy) = self.incoming_policy(room_id) else {
            return;
        };
        let Some(room) = self.client.get_room(room_id) else {
            return;
        };
        let (Some(peer), Some(rtc)) = (
            facts.and_then(|f| f.peer.clone()),
            facts.and_then(|f| f.rtc.clone()),
        ) else {
            return;
        };
        let policy = self.caller_policy(policy, &peer);
        self.install_rtc_room(
            room,
            peer,
            Some(policy),
            crate::matrixrtc::RING_LIFETIME,
            rtc,
        );
    }

    /// Tells the user, once per room, sender and reason, that an event in a room whose calls matter here could
    /// not be decrypted — it may be a call that will now never ring.
    fn report_undecryptable(&mut self, utd: &Undecryptable) {
        let relevant = self.rooms.contains_key(&utd.room_id)
            || (self.incoming_policy(&utd.room_id).is_some()
                && self
                    .client
                    .get_room(&utd.room_id)
                    .is_some_and(|room| rooms::may_ring(&room)));
        // Once per room, sender and reason: a call is many events under one room key, and the
        // user needs to hear about the problem, not about each candidate.
        let key = format!("{}\n{}\n{}", utd.room_id, utd.sender, utd.reason);
        if !relevant || !self.reported_undecryptable.insert(key) {
            return;
        }
        tracing::info!(room = %utd.room_id, sender = %utd.sender, event = ?utd.event_id, "undecryptable: {}", utd.reason);
        let fix = if utd.unverified {
            format!(
                "; verify this device (`mxcall{} verify`) so that Element shares its keys with it",
                crate::error::profile_flag(&self.profile_name)
            )
        } else {
            String::new()
        };
        let line = format!(
            "mxcall: cannot decrypt an event from {} in {} (it may be a call): {}{fix}",
            utd.sender, utd.room_id, utd.reason
        );
        self.reporter.event(
            crate::events::Event::Undecryptable {
                room_id: utd.room_id.to_string(),
                sender: utd.sender.to_string(),
                event_id: utd.event_id.as_ref().map(|e| e.to_string()),
                reason: utd.reason.clone(),
                unverified_device: utd.unverified,
            },
            None,
        );
        // Also on stderr in JSON mode: it is a problem a person must fix.
        self.reporter.note(&line);
    }

    /// `answer` and `watch` join direct-chat rooms they are invited to (`is_direct` in the
    /// invite, as `mxcall call @user` and other clients' "start a DM" send) by an allowed caller
    /// (`callers`), so that their new direct room can ring. Other invites are left alone. The
    /// joins run in tasks.
    pub(super) async fn join_invites(&mut self, invited: &[OwnedRoomId]) {
        for room_id in invited {
            let Some(room) = self.client.get_room(room_id) else {
                continue;
            };
            if room.state() != matrix_sdk::RoomState::Invited
                || self.incoming_policy(room_id).is_none()
            {
                continue;
            }
            let (direct, inviter) = match room.invite_details().await {
                Ok(invite) => {
                    use matrix_sdk::deserialized_responses::SyncOrStrippedState as S;
                    let direct = match &**invite.invitee.event() {
                        S::Sync(e) => e.as_original().and_then(|o| o.content.is_direct),
                        S::Stripped(e) => e.content.is_direct,
                    }
                    .unwrap_or(false);
                    (direct, invite.inviter.map(|m| m.user_id().to_owned()))
                }
                Err(_) => (false, None),
            };
            if !direct {
                tracing::debug!(%room_id, "not joining: the invite is not for a direct chat");
                continue;
            }
            if !self.callers.may_join_invite(inviter.as_deref()) {
                if self.refused_invites.insert(room_id.clone()) {
                    let who = inviter
                        .as_ref()
                        .map_or("an unknown user".to_owned(), |u| u.to_string());
                    self.reporter.note(&format!(
                        "not joining {room_id}: invited by {who}, who is not an allowed caller \
                         (allow them with --from {who} or `mxcall allow {who}`)"
                    ));
                }
                continue;
            }
            // In a task: the join is a round trip to the homeserver (seconds when rate
            // limited), and the room's events come with a later sync batch anyway.
            let notes = self.notes_tx.clone();
            let room_id = room_id.clone();
            tokio::spawn(async move {
                match room.join().await {
                    Ok(()) => {
                        let _ = notes.send(format!("joined {room_id} (invited)"));
                    }
                    Err(e) => {
                        tracing::warn!(%room_id, "cannot join: {}", crate::error::root_cause(&e))
                    }
                }
            });
        }
    }
}
