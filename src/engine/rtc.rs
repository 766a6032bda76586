//! The engine's MatrixRTC side: one [`RtcCallMachine`] per room whose MatrixRTC calls matter
//! here, its requests carried out by tasks (results come back as [`RtcNews`]), its events
//! turned into the same JSON events and exit codes as legacy calls (with `"protocol":
//! "matrixrtc"`), and the call's LiveKit session (`rtc_media`).
//!
//! Protocol choice for `call` (`--protocol auto`): the room's MatrixRTC session if the other
//! member is in it; else MatrixRTC when the homeserver advertises a LiveKit service; else
//! legacy. `answer` and `watch` ring on both kinds.

use std::time::{Duration, Instant};

use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::report::call_ref;
use super::rtc_media::RtcMedia;
use super::{Engine, Mode, unix_ms};
use crate::livekit::{SfuEvent, SfuSession};
use crate::matrixrtc::{
    self, Command, Event, Input, Output, Phase, Request, RequestId, Response, RtcCallMachine,
    SendError,
};
use crate::signalling::{Outcome, RingPolicy};
use crate::transport::{self, RoomEvent};

/// `"protocol"` of MatrixRTC calls' JSON events.
pub const PROTOCOL: &str = "matrixrtc";

/// How long the other member may be in the call (their membership is there) without us being
/// connected with them on the SFU before the call fails as a media failure (exit 7), like a
/// legacy call whose ICE never connects. livekit-client gives up a connection attempt after 15 s
/// (`peerConnectionTimeout`); this leaves room for both sides' joins.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// One room's MatrixRTC call.
pub(super) struct RtcRoom {
    pub machine: RtcCallMachine,
    pub room: matrix_sdk::Room,
    pub peer: OwnedUserId,
    /// How an incoming ring is treated (`None`: this process places the call).
    pub policy: Option<RingPolicy>,
    /// The current call's id in JSON events: the ring notification's event id when we were
    /// rung, our own id when we call.
    pub call_id: Option<String>,
    pub media: RtcMedia,
    /// A device of the other member is in the call.
    pub peer_joined: bool,
    /// When the other member joined and we started waiting to be connected with them.
    pub connecting_since: Option<Instant>,
    pub connected_at: Option<Instant>,
    /// The room is encrypted: its calls' media are end-to-end encrypted (as Element Call
    /// does in encrypted rooms).
    pub encrypted: bool,
    /// The current call's media keys (`rtc_keys`), in an encrypted room.
    pub e2ee: Option<super::rtc_keys::RtcE2ee>,
}

impl RtcRoom {
    /// A user command to the room's machine, now.
    fn command(&mut self, command: Command) -> Result<(), matrixrtc::CommandError> {
        self.machine.handle_input(Input::Command {
            now: Instant::now(),
            now_ms: unix_ms(),
            command,
        })
    }

    /// Ringing or in a call.
    pub(super) fn live(&self) -> bool {
        matches!(self.machine.phase(), Phase::Ringing | Phase::InCall)
    }
}

/// A MatrixRTC call that ended, waiting for the SFU's final counters before `ended` is
/// reported.
pub(super) struct RtcPendingEnd {
    call_id: String,
    outcome: Outcome,
    /// The other member, for the summary line.
    peer: String,
    /// Connected time, counted to the end of the call.
    duration: Duration,
    /// The call's media keys: their frame counters go into the `ended` event.
    e2ee: Option<super::rtc_keys::RtcE2ee>,
}

/// What tasks report back to the run loop.
pub(super) enum RtcNews {
    /// The result of a machine request.
    Sent {
        room_id: OwnedRoomId,
        id: RequestId,
        result: Result<Response, SendError>,
    },
    /// The SFU session of the room's call is up (or could not be set up).
    SfuJoined {
        room_id: OwnedRoomId,
        generation: u64,
        result: Result<(SfuSession, mpsc::Receiver<SfuEvent>), String>,
    },
    /// An event of that session.
    Sfu {
        room_id: OwnedRoomId,
        generation: u64,
        event: SfuEvent,
    },
    /// The SFU of a call that ended is left: the call's final counters (both connections,
    /// merged), to report its end with.
    SfuLeft {
        room_id: OwnedRoomId,
        end: Box<RtcPendingEnd>,
        stats: Box<crate::media::MediaStats>,
    },
    /// A media key send is done: `Ok` with the devices it did not reach.
    KeysSent {
        room_id: OwnedRoomId,
        id: u64,
        targets: Vec<crate::matrixrtc::keys::Device>,
        result: Result<Vec<crate::matrixrtc::keys::Device>, String>,
    },
}

impl Engine {
    /// Creates the room's MatrixRTC machine (if it has none) and feeds it the room's current
    /// memberships, so that a session that started before this process is known.
    /// At start-up (`call`): the facts are looked up here.
    pub(super) async fn add_rtc_room(
        &mut self,
        room: matrix_sdk::Room,
        peer: OwnedUserId,
        policy: Option<RingPolicy>,
        ring_lifetime: Duration,
    ) {
        if self.rtc_rooms.contains_key(room.room_id()) {
            return;
        }
        let service = self.rtc_service().await;
        let facts = transport::room_facts::rtc_facts(&room, service).await;
        self.install_rtc_room(room, peer, policy, ring_lifetime, facts);
    }

    /// Creates the room's MatrixRTC machine (if it has none) from the room's facts
    /// (`transport::room_facts`), its current memberships fed in, so that a session that
    /// started before this process is known.
    pub(super) fn install_rtc_room(
        &mut self,
        room: matrix_sdk::Room,
        peer: OwnedUserId,
        policy: Option<RingPolicy>,
        ring_lifetime: Duration,
        facts: transport::room_facts::RtcFacts,
    ) {
        let room_id = room.room_id().to_owned();
        if self.rtc_rooms.contains_key(&room_id) {
            return;
        }
        let current = facts.memberships;
        // Our membership goes to our homeserver's LiveKit service (multi_sfu); without one, to
        // the other member's.
        let service = facts.service.or_else(|| {
            current.iter().find_map(|e| {
                let m =
                    matrixrtc::membership::parse(&e.sender, e.state_key.as_deref()?, &e.content)
                        .ok()?;
                (e.sender == peer)
                    .then(|| m.transports.first().map(|t| t.livekit_service_url.clone()))
                    .flatten()
            })
        });
        let mut config = matrixrtc::Config::new(
            self.own_user.clone(),
            self.own_party.clone(),
            peer.clone(),
            room_id.as_str(),
            service.unwrap_or_default(),
        );
        config.ring_lifetime = ring_lifetime;
        let encrypted = facts.encrypted;
        let mut machine = RtcCallMachine::new(config);
        for id in self.ended.ids() {
            machine.remember_handled(id);
        }
        let now = Instant::now();
        let now_ms = unix_ms();
        for event in &current {
            feed_remote(&mut machine, now, now_ms, event);
        }
        let _ = machine.handle_input(Input::BatchEnd { now, now_ms });
        self.rtc_rooms.insert(
            room_id,
            RtcRoom {
                machine,
                room,
                peer,
                policy,
                call_id: None,
                media: RtcMedia::default(),
                peer_joined: false,
                connecting_since: None,
                connected_at: None,
                encrypted,
                e2ee: None,
            },
        );
    }

    /// Our homeserver's LiveKit service, discovered on first use — not at start-up, which
    /// `answer` and `watch` would pay for calls that may all be legacy — and kept for the
    /// process's life. `hangup` (`Mode::Decline`) never joins a call and never asks.
    /// The sync task shares the same answer (`room_facts::ServiceCache`).
    pub(super) async fn rtc_service(&mut self) -> Option<String> {
        if matches!(self.mode, Mode::Decline { .. }) {
            return None;
        }
        self.rtc_service.get(&self.client).await
    }

    /// `call` over MatrixRTC: join the room's session (ringing the other member unless they
    /// are already in it).
    pub(super) fn place_rtc(&mut self, room_id: &OwnedRoomId) -> crate::error::Result<()> {
        let call_id = matrix_sdk::ruma::VoipId::new().to_string();
        let room = self
            .rtc_rooms
            .get_mut(room_id)
            .ok_or_else(|| crate::error::Error::Other("no room".into()))?;
        room.command(Command::Call)
            .map_err(|e| crate::error::Error::Other(format!("cannot place the call: {e}")))?;
        room.call_id = Some(call_id.clone());
        self.set_current(call_id);
        self.pending_place = None;
        // The SFU is joined while the membership goes out (as Element Call connects to LiveKit
        // while js-sdk sends the membership): the other member's audio flows the moment they join.
        self.start_rtc_media(room_id);
        Ok(())
    }

    /// A sync event for the MatrixRTC machine of its room (if the room has one).
    pub(super) fn feed_rtc_event(&mut self, now: Instant, event: &RoomEvent) {
        if let Some(room) = self.rtc_rooms.get_mut(&event.room_id) {
            if event.event_type == "m.room.member" {
                let left = matches!(
                    event.content.get("membership").and_then(Value::as_str),
                    Some("leave" | "ban")
                );
                if left && event.state_key.as_deref() == Some(room.peer.as_str()) {
                    let _ = room.machine.handle_input(Input::PeerLeftRoom {
                        now,
                        now_ms: unix_ms(),
                    });
                }
                return;
            }
            feed_remote(&mut room.machine, now, unix_ms(), event);
        }
    }

    pub(super) fn rtc_batch_end(&mut self, now: Instant, room_id: &OwnedRoomId, left: bool) {
        if let Some(room) = self.rtc_rooms.get_mut(room_id) {
            let now_ms = unix_ms();
            if left {
                let _ = room
                    .machine
                    .handle_input(Input::PeerLeftRoom { now, now_ms });
            }
            let _ = room.machine.handle_input(Input::BatchEnd { now, now_ms });
        }
    }

    pub(super) fn rtc_deadline(&self) -> Option<Instant> {
        let machines = self
            .rtc_rooms
            .values()
            .filter_map(|r| r.machine.poll_timeout());
        let connects = self
            .rtc_rooms
            .values()
            .filter(|r| r.connected_at.is_none())
            .filter_map(|r| r.connecting_since.map(|t| t + CONNECT_TIMEOUT));
        machines
            .chain(connects)
            .chain(self.rtc_e2ee_deadline())
            .min()
    }

    pub(super) fn rtc_on_timeout(&mut self, now: Instant) {
        let now_ms = unix_ms();
        self.rtc_e2ee_on_timeout(now);
        for room in self.rtc_rooms.values_mut() {
            if room.machine.poll_timeout().is_some_and(|t| t <= now) {
                let _ = room.machine.handle_input(Input::Timeout { now, now_ms });
            }
        }
        let stuck: Vec<OwnedRoomId> = self
            .rtc_rooms
            .iter()
            .filter(|(_, r)| {
                r.connected_at.is_none()
                    && r.connecting_since
                        .is_some_and(|t| now >= t + CONNECT_TIMEOUT)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for room_id in stuck {
            if let Some(room) = self.rtc_rooms.get_mut(&room_id) {
                room.connecting_since = None;
            }
            self.rtc_media_failed(
                &room_id,
                format!(
                    "the other member joined the call but did not reach the LiveKit SFU within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ),
            );
        }
    }

    /// Whether any MatrixRTC call is ringing or running.
    pub(super) fn rtc_any_live(&self) -> bool {
        self.rtc_rooms.values().any(RtcRoom::live)
    }

    /// Ends every MatrixRTC call (Ctrl-C): leave, or decline a ring.
    pub(super) fn rtc_hangup_all(&mut self) {
        for room in self.rtc_rooms.values_mut().filter(|r| r.live()) {
            let _ = room.command(Command::Hangup);
        }
    }

    /// `mxcall hangup` through the control socket, `--duration` or the end of the input: ends
    /// the MatrixRTC call in `room_id` (or any) whose id is `call_id` (or any), leaving it or
    /// declining its ring. Returns the call's id; `None` when no such call rings or runs.
    pub(super) fn rtc_hangup(
        &mut self,
        room_id: Option<&str>,
        call_id: Option<&str>,
    ) -> Option<Result<String, String>> {
        let (_, room) = self.rtc_rooms.iter_mut().find(|(id, room)| {
            room.live()
                && room_id.is_none_or(|r| r == id.as_str())
                && call_id.is_none_or(|c| room.call_id.as_deref().unwrap_or_default() == c)
        })?;
        let this = room.call_id.clone().unwrap_or_default();
        Some(
            room.command(Command::Hangup)
                .map(|()| this)
                .map_err(|e| e.to_string()),
        )
    }

    pub(super) fn on_rtc_news(&mut self, news: RtcNews) {
        match news {
            RtcNews::Sent {
                room_id,
                id,
                result,
            } => {
                if self.rtc_decline_request.as_ref() == Some(&(room_id.clone(), id)) {
                    self.on_rtc_decline_sent(&result);
                }
                if let Some(room) = self.rtc_rooms.get_mut(&room_id) {
                    let _ = room.machine.handle_input(Input::SendResult {
                        now: Instant::now(),
                        now_ms: unix_ms(),
                        id,
                        result,
                    });
                }
            }
            RtcNews::SfuJoined {
                room_id,
                generation,
                result,
            } => self.on_sfu_joined(room_id, generation, result),
            RtcNews::Sfu {
                room_id,
                generation,
                event,
            } => self.on_sfu_event(room_id, generation, event),
            RtcNews::KeysSent {
                room_id,
                id,
                targets,
                result,
            } => self.on_keys_sent(&room_id, id, targets, result),
            RtcNews::SfuLeft {
                room_id,
                end,
                stats,
            } => self.finish_rtc_ended(&room_id, *end, Some(*stats)),
        }
    }

    /// Drains every MatrixRTC machine's outputs and carries them out.
    pub(super) fn pump_rtc(&mut self) -> bool {
        let mut progressed = false;
        let room_ids: Vec<OwnedRoomId> = self.rtc_rooms.keys().cloned().collect();
        for room_id in room_ids {
            while let Some(output) = self
                .rtc_rooms
                .get_mut(&room_id)
                .and_then(|r| r.machine.poll_output())
            {
                progressed = true;
                match output {
                    Output::Send { id, request } => self.rtc_send(&room_id, id, request),
                    Output::Event(event) => self.on_rtc_event(&room_id, event),
                }
            }
        }
        progressed |= self.pump_rtc_keys();
        progressed
    }

    /// Carries out a request in a task; its result comes back as [`RtcNews::Sent`].
    fn rtc_send(&mut self, room_id: &OwnedRoomId, id: RequestId, request: Request) {
        let Some(room) = self.rtc_rooms.get(room_id) else {
            return;
        };
        let room = room.room.clone();
        let tx = self.rtc_tx.clone();
        let room_id = room_id.clone();
        let is_restart = matches!(request, Request::RestartDelayed { .. });
        if matches!(request, Request::SendDecline { .. })
            && matches!(self.mode, Mode::Decline { .. })
        {
            self.rtc_decline_request = Some((room_id.clone(), id));
        }
        tracing::debug!(?request, "MatrixRTC request");
        self.send_tasks.push(tokio::spawn(async move {
            let work = transport::rtc::execute(&room, request);
            let result = if is_restart {
                tokio::time::timeout(matrixrtc::DELAYED_LEAVE_RESTART_TIMEOUT, work)
                    .await
                    .unwrap_or(Err(SendError::LocalTimeout))
            } else {
                work.await
            };
            if let Err(e) = &result {
                tracing::debug!("MatrixRTC request failed: {e}");
            }
            let _ = tx.send(RtcNews::Sent {
                room_id,
                id,
                result,
            });
        }));
    }

    /// The room's current MatrixRTC call, for its events.
    pub(super) fn rtc_call(&self, room_id: &OwnedRoomId) -> crate::events::CallRef {
        let call_id = self
            .rtc_rooms
            .get(room_id)
            .and_then(|r| r.call_id.clone())
            .unwrap_or_default();
        call_ref(room_id.as_str(), &call_id, PROTOCOL)
    }

    fn on_rtc_event(&mut self, room_id: &OwnedRoomId, event: Event) {
        let peer = self
            .rtc_rooms
            .get(room_id)
            .map(|r| r.peer.to_string())
            .unwrap_or_default();
        match event {
            Event::SessionActive { member } => {
                tracing::info!(%room_id, device = member.device_id, "the other member is in the room's MatrixRTC session");
            }
            Event::Ringing {
                notification_id,
                caller,
                intent,
            } => self.on_rtc_ringing(room_id, notification_id, caller, intent),
            Event::Joined { event_id } => {
                let call = self.rtc_call(room_id);
                self.reporter.event(
                    crate::events::Event::Joined {
                        call,
                        membership_event_id: event_id,
                    },
                    None,
                );
                self.start_rtc_media(room_id);
            }
            Event::RingSent { notification_id } => {
                let call = self.rtc_call(room_id);
                self.reporter.event(
                    crate::events::Event::InviteSent {
                        call,
                        callee: peer.clone(),
                        notification_id: Some(notification_id.to_string()),
                    },
                    None,
                );
                self.reporter.start_spinner(format!("ringing {peer}…"));
            }
            Event::PeerJoined { member } => {
                let first = self
                    .rtc_rooms
                    .get_mut(room_id)
                    .is_some_and(|r| !std::mem::replace(&mut r.peer_joined, true));
                if first {
                    if let Some(room) = self.rtc_rooms.get_mut(room_id) {
                        room.connecting_since.get_or_insert_with(Instant::now);
                    }
                    self.reporter.stop_spinner();
                    let call = self.rtc_call(room_id);
                    self.reporter.event(
                        crate::events::Event::Connecting {
                            call,
                            device_id: Some(member.device_id.clone()),
                        },
                        Some(format!("connecting to {peer}…")),
                    );
                }
                let device = crate::matrixrtc::keys::Device {
                    user: member.user.clone(),
                    device_id: member.device_id.clone(),
                };
                match self.rtc_e2ee(room_id) {
                    Ok(_) => self.rtc_e2ee_member(room_id, device, true),
                    Err(e) => self.rtc_media_failed(room_id, e),
                }
                self.maybe_rtc_connected(room_id);
            }
            Event::PeerLeft { device_id } => {
                tracing::info!(%room_id, device_id, "the other member's device left the call");
                if let Some(user) = self.rtc_rooms.get(room_id).map(|r| r.peer.clone()) {
                    let device = crate::matrixrtc::keys::Device { user, device_id };
                    self.rtc_e2ee_member(room_id, device, false);
                }
            }
            Event::Warning(w) => self.reporter.note(&format!("mxcall: {w}")),
            Event::Ended { outcome } => self.on_rtc_ended(room_id, outcome, &peer),
            Event::Left => self.sup.handle_input(super::supervisor::Input::Left),
        }
    }

    fn on_rtc_ringing(
        &mut self,
        room_id: &OwnedRoomId,
        notification_id: String,
        caller: OwnedUserId,
        intent: Option<String>,
    ) {
        if let Mode::Decline {
            call_id: wanted, ..
        } = &self.mode
        {
            // Rings ring in the order they happened: the last one chosen is the newest.
            if wanted.as_ref().is_none_or(|w| *w == notification_id) {
                self.declined_rtc = Some((room_id.clone(), notification_id, caller));
            }
            return;
        }
        let Some(room) = self.rtc_rooms.get_mut(room_id) else {
            return;
        };
        // A call we are placing keeps its id (our `call` answers a ring that was already there).
        let call_id = room.call_id.get_or_insert(notification_id).clone();
        let answering = room.policy == Some(RingPolicy::AutoAnswer) && self.sup.current().is_none();
        self.reporter.stop_spinner();
        let call = self.rtc_call(room_id);
        self.reporter.event(
            crate::events::Event::Ringing {
                call,
                caller: caller.to_string(),
                answering,
                intent,
            },
            Some(format!(
                "incoming MatrixRTC call from {caller} in {room_id}{}",
                if answering { "; answering" } else { "" }
            )),
        );
        self.note_unanswered_caller(&caller);
        if answering {
            self.set_current(call_id.clone());
            if let Some(room) = self.rtc_rooms.get_mut(room_id)
                && room.command(Command::Answer).is_ok()
            {
                self.start_rtc_media(room_id);
            }
        }
        if let Mode::Watch {
            exec: Some(cmd), ..
        } = &self.mode
        {
            super::user::spawn_exec(
                cmd,
                &self.profile_name,
                room_id.as_str(),
                &call_id,
                caller.as_str(),
            );
        }
    }

    /// `connected` once our audio is on the SFU and the other member is in the call: their
    /// membership is there and they are in the LiveKit room.
    pub(super) fn maybe_rtc_connected(&mut self, room_id: &OwnedRoomId) {
        let now = Instant::now();
        let Some(room) = self.rtc_rooms.get_mut(room_id) else {
            return;
        };
        if room.connected_at.is_some() || !room.peer_joined || !room.media.connected() {
            return;
        }
        room.connected_at = Some(now);
        let call_id = room.call_id.clone();
        let peer = room.peer.to_string();
        let encrypted = room.e2ee.is_some();
        let call = self.rtc_call(room_id);
        let line = if encrypted {
            format!("connected with {peer} (media end-to-end encrypted)")
        } else {
            format!("connected with {peer}")
        };
        self.reporter.event(
            crate::events::Event::Connected { call, encrypted },
            Some(line),
        );
        if let Some(call_id) = call_id {
            self.sup.handle_input(super::supervisor::Input::Connected {
                call_id,
                dtmf: false,
                now,
            });
        }
        self.stats.start(now, self.opts.stats_interval);
    }

    /// The room's MatrixRTC call ended: the SFU is left in a task (the `ended` event waits for
    /// its final counters, [`RtcNews::SfuLeft`]); without an SFU session it is reported now.
    fn on_rtc_ended(&mut self, room_id: &OwnedRoomId, outcome: Outcome, peer: &str) {
        let Some(room) = self.rtc_rooms.get_mut(room_id) else {
            return;
        };
        let call_id = room.call_id.take().unwrap_or_default();
        let duration = room
            .connected_at
            .take()
            .map(|t| t.elapsed())
            .unwrap_or_default();
        room.peer_joined = false;
        room.connecting_since = None;
        if !call_id.is_empty() {
            self.ended.add(&call_id);
        }
        let end = RtcPendingEnd {
            call_id,
            outcome,
            peer: peer.to_owned(),
            duration,
            e2ee: room.e2ee.take(),
        };
        let Some(session) = room.media.leave() else {
            return self.finish_rtc_ended(room_id, end, None);
        };
        let tx = self.rtc_tx.clone();
        let id = room_id.clone();
        self.send_tasks.push(tokio::spawn(async move {
            let stats = session.leave().await.merged();
            let _ = tx.send(RtcNews::SfuLeft {
                room_id: id,
                end: Box::new(end),
                stats: Box::new(stats),
            });
        }));
    }

    /// Reports a MatrixRTC call's end once the SFU is left (see
    /// [`on_rtc_ended`](Self::on_rtc_ended)).
    fn finish_rtc_ended(
        &mut self,
        room_id: &OwnedRoomId,
        end: RtcPendingEnd,
        stats: Option<crate::media::MediaStats>,
    ) {
        // Our leave may already be on the server by now (the SFU's close took a while).
        let owes_leave = self
            .rtc_rooms
            .get(room_id)
            .is_some_and(|r| !r.machine.is_idle());
        self.report_end(
            room_id,
            &end.call_id,
            PROTOCOL,
            end.outcome,
            end.duration,
            stats,
            None,
            &end.peer,
            super::user::MediaE2ee::Frames(end.e2ee.map(|e| e.crypto.stats())),
            // Exit only once our leave is on the server: a killed or stale membership would
            // keep the other side's call "active".
            owes_leave,
        );
    }

    /// The process's own call ended by `--duration` or the end of the input; false when it is
    /// not a MatrixRTC call that rings or runs.
    pub(super) fn rtc_hangup_current(&mut self) -> bool {
        let Some(current) = self.sup.current().map(str::to_owned) else {
            return false;
        };
        self.rtc_hangup(None, Some(&current)).is_some()
    }

    pub(super) fn rtc_media_failed(&mut self, room_id: &OwnedRoomId, reason: String) {
        self.reporter.note(&format!("mxcall: {reason}"));
        if let Some(room) = self.rtc_rooms.get_mut(room_id) {
            let _ = room.machine.handle_input(Input::MediaFailed {
                now: Instant::now(),
                now_ms: unix_ms(),
                reason,
            });
        }
    }

    /// `Mode::Decline` (`mxcall hangup` with no process to ask): declines the chosen ring.
    pub(super) fn send_rtc_decline(&mut self) {
        let Some((room_id, _, _)) = &self.declined_rtc else {
            return;
        };
        if let Some(room) = self.rtc_rooms.get_mut(room_id)
            && let Err(e) = room.command(Command::Decline)
        {
            self.reporter.note(&format!("mxcall: cannot decline: {e}"));
            self.finish(crate::error::exit::OTHER);
        }
    }

    /// `Mode::Decline`: done when the decline is on the server (or could not be sent; the
    /// machine retries transient failures itself).
    fn on_rtc_decline_sent(&mut self, result: &Result<Response, SendError>) {
        let Some((room_id, notification_id, caller)) = self.declined_rtc.clone() else {
            return;
        };
        match result {
            Ok(_) => {
                self.ended.add(&notification_id);
                self.out.result(
                    &format!(
                        "declined MatrixRTC call {notification_id} from {caller} in {room_id}"
                    ),
                    &json!({"call_id": notification_id, "room_id": room_id, "caller": caller,
                            "action": "decline", "protocol": PROTOCOL}),
                );
                self.finish(crate::error::exit::OK);
            }
            Err(
                SendError::RateLimited { .. } | SendError::Transient(_) | SendError::LocalTimeout,
            ) => {}
            Err(e) => {
                self.reporter
                    .note(&format!("mxcall: could not send the decline: {e}"));
                self.finish(crate::error::exit::OTHER);
            }
        }
    }

    /// Exit code for `call --protocol matrixrtc` without a LiveKit service.
    pub(super) fn no_rtc_transport_error(&self) -> crate::error::Error {
        crate::error::Error::Media(
            "the homeserver advertises no MatrixRTC transport (no LiveKit service in \
             /_matrix/client/unstable/org.matrix.msc4143/rtc/transports nor in .well-known \
             org.matrix.msc4143.rtc_foci); Element X cannot be called through it — use \
             --protocol legacy"
                .into(),
        )
    }
}

fn feed_remote(machine: &mut RtcCallMachine, now: Instant, now_ms: u64, event: &RoomEvent) {
    let event_id = event.event_id.as_ref().map(|e| e.as_str()).unwrap_or("");
    let _ = machine.handle_input(Input::Remote {
        now,
        now_ms,
        sender: &event.sender,
        event_type: &event.event_type,
        event_id,
        state_key: event.state_key.as_deref(),
        content: &event.content,
        origin_server_ts: event.origin_server_ts,
    });
}
