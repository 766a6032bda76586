//! The call engine: one run loop that joins the Matrix transport, one signalling machine per
//! room, and one media session per call, until the call this process is about has ended.
//!
//! Run-loop contract (see ARCHITECTURE.md): every input — a sync batch, a media event, a send
//! report, a control request, a signal, or the earliest deadline — is handed to the signalling
//! machine with the current `Instant`; then `pump` drains every machine's outputs and carries
//! them out (send an event, drive the media session, tell the user) until none is left. Only
//! the engine reads the clock; the machines never do.

pub mod audio_slot;
pub mod control;
pub mod ended;
pub mod report;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use matrix_sdk::Client;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, VoipId};
use serde_json::json;
use tokio::sync::mpsc;

use crate::audio::{self, AudioSpec};
use crate::commands::Context;
use crate::error::{Error, Result, exit};
use crate::media::{self, MediaConfig, MediaEvent, MediaSession};
use crate::signalling::{
    self, CallEvent, CallMachine, Command, IceCandidate, Input, MediaAction, MediaInput, Output,
    Party, RingPolicy,
};
use crate::transport::rooms::{self, Target};
use crate::transport::send::{self, CallSender, SendReport};
use crate::transport::sync::SyncBatch;
use crate::transport::{self, RoomEvent};
use audio_slot::{SharedSink, SharedSource, TeeSink};
use control::{ControlServer, Incoming, Reply, Request};
use ended::EndedCalls;
use report::{Reporter, with_call};

/// What this process is for.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Place one call and run it to its end.
    Call { target: Target, ring_timeout: Duration },
    /// Answer one incoming call (in `room`, or any) arriving within `wait`.
    Answer { room: Option<OwnedRoomId>, wait: Duration },
    /// Report incoming calls; optionally answer them one at a time, or run a command for each.
    Watch { rooms: Vec<OwnedRoomId>, answer: bool, exec: Option<String>, once: bool },
}

/// Where the audio of a call comes from and goes to, and how long it may last.
#[derive(Debug, Clone)]
pub struct CallOptions {
    pub input: AudioSpec,
    pub output: AudioSpec,
    pub record: Option<PathBuf>,
    pub duration: Option<Duration>,
    pub hangup_after_input: bool,
    /// Local addresses for media (tests bind 127.0.0.1).
    pub bind: Vec<std::net::IpAddr>,
}

/// How long the hangup of an interrupted call may take before the process exits anyway.
const INTERRUPT_GRACE: Duration = Duration::from_secs(3);
/// How long queued events (a final hangup) may take to reach the homeserver at exit.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

struct Room {
    machine: CallMachine,
    sender: CallSender,
    peer: OwnedUserId,
}

struct Call {
    room_id: OwnedRoomId,
    session: Option<MediaSession>,
    connected_at: Option<Instant>,
    stats: Option<media::MediaStats>,
    hangup: Option<(String, Party)>,
}

pub async fn run(ctx: &Context, mode: Mode, opts: CallOptions) -> Result<u8> {
    // Audio first: a missing device or a bad file fails before anything is sent.
    let source = audio::open_source(&opts.input).map_err(|e| Error::Media(e.to_string()))?;
    let mut sink = audio::open_sink(&opts.output).map_err(|e| Error::Media(e.to_string()))?;
    if let Some(path) = &opts.record {
        let recording = audio::open_sink(&AudioSpec::Wav(path.clone())).map_err(|e| Error::Media(e.to_string()))?;
        sink = Box::new(TeeSink { first: sink, second: recording });
    }

    let profile = &ctx.profile;
    let session = profile.load_session()?;
    let client = crate::homeserver::restore(profile, &session, true).await?;
    let (control, control_rx) = ControlServer::start(profile)?;
    let sync_rx = transport::sync::spawn(client.clone(), profile.name.clone(), session.homeserver.clone());
    let turn = transport::turn::fetch(&client).await;
    let ice_servers = turn
        .map(|t| vec![media::IceServer { urls: t.uris, username: Some(t.username), credential: Some(t.password) }])
        .unwrap_or_default();

    let (media_tx, media_rx) = mpsc::unbounded_channel();
    let (send_tx, send_rx) = mpsc::unbounded_channel();
    let own_party = session.matrix.meta.device_id.to_string();
    let mut engine = Engine {
        client,
        own_user: session.matrix.meta.user_id.clone(),
        stream_id: format!("mxcall-{own_party}"),
        own_party,
        mode: mode.clone(),
        opts: opts.clone(),
        rooms: HashMap::new(),
        calls: HashMap::new(),
        source: SharedSource::new(source),
        sink: SharedSink::new(sink),
        media_cfg: media_config(ice_servers, &opts.bind),
        media_tx,
        media_rx,
        send_tx,
        send_rx,
        send_tasks: Vec::new(),
        reporter: Reporter::new(ctx.out),
        ended: EndedCalls::load(profile),
        current: None,
        exit: None,
        started: Instant::now(),
        wait_deadline: None,
        duration_deadline: None,
        interrupted_at: None,
        pending_place: None,
        calls_seen: 0,
    };
    let result = engine.run_loop(sync_rx, control_rx).await;
    engine.shutdown().await;
    drop(control);
    result
}

struct Engine {
    client: Client,
    own_user: OwnedUserId,
    own_party: String,
    stream_id: String,
    mode: Mode,
    opts: CallOptions,
    rooms: HashMap<OwnedRoomId, Room>,
    calls: HashMap<String, Call>,
    source: SharedSource,
    sink: SharedSink,
    media_cfg: MediaConfig,
    media_tx: mpsc::UnboundedSender<(String, MediaEvent)>,
    media_rx: mpsc::UnboundedReceiver<(String, MediaEvent)>,
    send_tx: mpsc::UnboundedSender<(OwnedRoomId, SendReport)>,
    send_rx: mpsc::UnboundedReceiver<(OwnedRoomId, SendReport)>,
    send_tasks: Vec<tokio::task::JoinHandle<()>>,
    reporter: Reporter,
    ended: EndedCalls,
    /// The call this process is about (call / answer / watch --answer); follows glare.
    current: Option<String>,
    exit: Option<u8>,
    started: Instant,
    /// `answer --wait`, or `call @user` waiting for the user to join the new room.
    wait_deadline: Option<Instant>,
    /// `--duration`: when to hang up, counted from `connected`.
    duration_deadline: Option<Instant>,
    interrupted_at: Option<Instant>,
    /// `call` into a room whose peer has not joined yet.
    pending_place: Option<OwnedRoomId>,
    calls_seen: u32,
}

impl Engine {
    async fn run_loop(
        &mut self,
        mut sync_rx: mpsc::Receiver<Result<SyncBatch>>,
        mut control_rx: mpsc::Receiver<Incoming>,
    ) -> Result<u8> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut sigint = signal(SignalKind::interrupt()).map_err(|e| Error::other("cannot catch signals", e))?;
        let mut sigterm = signal(SignalKind::terminate()).map_err(|e| Error::other("cannot catch signals", e))?;

        // The first batch (the backlog since the last run) comes before anything is placed, so
        // that the room list is known and old invites are seen as old.
        let first = match sync_rx.recv().await {
            Some(batch) => batch?,
            None => return Err(Error::Other("sync stopped".into())),
        };
        self.on_batch(first).await?;
        self.start_mode().await?;
        self.pump().await;

        while self.exit.is_none() {
            let deadline = self.next_deadline();
            tokio::select! {
                batch = sync_rx.recv() => match batch {
                    Some(Ok(batch)) => self.on_batch(batch).await?,
                    Some(Err(e)) => return Err(e),
                    None => return Err(Error::Other("sync stopped".into())),
                },
                Some((call_id, event)) = self.media_rx.recv() => self.on_media_event(call_id, event),
                Some((room_id, report)) = self.send_rx.recv() => self.on_send_report(room_id, report),
                Some(incoming) = control_rx.recv() => self.on_control(incoming),
                _ = sigint.recv() => self.on_interrupt(),
                _ = sigterm.recv() => self.on_interrupt(),
                _ = sleep_until(deadline) => self.on_timeout(),
            }
            self.pump().await;
        }
        Ok(self.exit.unwrap_or(exit::OTHER))
    }

    fn next_deadline(&self) -> Option<Instant> {
        let machines = self.rooms.values().filter_map(|r| r.machine.poll_timeout());
        let own = [self.wait_deadline, self.duration_deadline, self.interrupted_at.map(|t| t + INTERRUPT_GRACE)];
        machines.chain(own.into_iter().flatten()).min()
    }

    async fn start_mode(&mut self) -> Result<()> {
        match self.mode.clone() {
            Mode::Call { target, ring_timeout } => {
                let call_room = rooms::resolve(&self.client, &target).await?;
                let room_id = call_room.room.room_id().to_owned();
                self.add_room(call_room.room, call_room.peer.clone(), RingPolicy::Ring, ring_timeout);
                if call_room.peer_joined {
                    self.place(&room_id)?;
                } else {
                    self.reporter.note(&format!(
                        "invited {} to {room_id}; waiting for them to join before ringing",
                        call_room.peer
                    ));
                    self.reporter.start_spinner(format!("waiting for {} to join…", call_room.peer));
                    self.pending_place = Some(room_id);
                    self.wait_deadline = Some(self.started + ring_timeout);
                }
            }
            Mode::Answer { wait, .. } => {
                self.wait_deadline = Some(self.started + wait);
                if self.current.is_none() {
                    self.reporter.start_spinner("waiting for a call…".into());
                }
            }
            Mode::Watch { .. } => {
                self.reporter.note("watching for calls (Ctrl-C to stop)");
            }
        }
        Ok(())
    }

    fn place(&mut self, room_id: &OwnedRoomId) -> Result<()> {
        let call_id = VoipId::new().to_string();
        let now = Instant::now();
        let room = self.rooms.get_mut(room_id).ok_or_else(|| Error::Other("no room".into()))?;
        room.machine
            .handle_input(Input::Command(now, Command::Place { call_id: call_id.clone() }))
            .map_err(|e| Error::Other(format!("cannot place the call: {e}")))?;
        self.current = Some(call_id);
        self.pending_place = None;
        self.wait_deadline = None;
        Ok(())
    }

    fn add_room(&mut self, room: matrix_sdk::Room, peer: OwnedUserId, ring: RingPolicy, lifetime: Duration) {
        let room_id = room.room_id().to_owned();
        if self.rooms.contains_key(&room_id) {
            return;
        }
        let mut config = signalling::Config::new(self.own_user.clone(), self.own_party.clone(), peer.clone());
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
        self.rooms.insert(room_id, Room { machine, sender, peer });
    }

    /// The ring policy for incoming calls in this mode, if calls in `room_id` are of interest.
    fn incoming_policy(&self, room_id: &OwnedRoomId) -> Option<RingPolicy> {
        match &self.mode {
            Mode::Call { .. } => None,
            Mode::Answer { room, .. } => {
                (room.as_ref().is_none_or(|r| r == room_id)).then_some(RingPolicy::AutoAnswer)
            }
            Mode::Watch { rooms, answer, .. } => (rooms.is_empty() || rooms.contains(room_id))
                .then_some(if *answer { RingPolicy::AutoAnswer } else { RingPolicy::Ring }),
        }
    }

    async fn on_batch(&mut self, batch: SyncBatch) -> Result<()> {
        let now = batch.received_at.unwrap_or_else(Instant::now);
        if !matches!(self.mode, Mode::Call { .. }) {
            self.join_invites(&batch.invited).await;
        }
        let mut touched: Vec<OwnedRoomId> = Vec::new();
        for event in &batch.events {
            if !self.rooms.contains_key(&event.room_id) {
                if event.event_type != "m.call.invite" {
                    continue;
                }
                let Some(policy) = self.incoming_policy(&event.room_id) else { continue };
                let Some(room) = self.client.get_room(&event.room_id) else { continue };
                if !rooms::may_ring(&room) {
                    tracing::debug!(room = %event.room_id, "ignoring a call in a room that is not 1:1");
                    continue;
                }
                let Ok((peer, _)) = rooms::peer_of(&room, &self.own_user).await else { continue };
                self.add_room(room, peer, policy, signalling::DEFAULT_INVITE_LIFETIME);
            }
            self.feed_event(now, event);
            if !touched.contains(&event.room_id) {
                touched.push(event.room_id.clone());
            }
        }
        for room_id in &batch.left {
            if let Some(room) = self.rooms.get_mut(room_id) {
                let _ = room.machine.handle_input(Input::PeerLeft { now });
                touched.push(room_id.clone());
            }
        }
        for room_id in touched {
            if let Some(room) = self.rooms.get_mut(&room_id) {
                let _ = room.machine.handle_input(Input::BatchEnd { now });
            }
        }
        Ok(())
    }

    fn feed_event(&mut self, now: Instant, event: &RoomEvent) {
        let Some(room) = self.rooms.get_mut(&event.room_id) else { return };
        if event.event_type == "m.room.member" {
            let membership = event.content.get("membership").and_then(|m| m.as_str());
            if event.state_key.as_deref() == Some(room.peer.as_str()) {
                match membership {
                    Some("leave" | "ban") => {
                        let _ = room.machine.handle_input(Input::PeerLeft { now });
                    }
                    Some("join") if self.pending_place.as_ref() == Some(&event.room_id) => {
                        let room_id = event.room_id.clone();
                        self.reporter.stop_spinner();
                        if let Err(e) = self.place(&room_id) {
                            self.reporter.note(&format!("mxcall: {e}"));
                            self.exit = Some(exit::OTHER);
                        }
                    }
                    _ => {}
                }
            }
            return;
        }
        let _ = room.machine.handle_input(Input::Remote {
            now,
            sender: &event.sender,
            event_type: &event.event_type,
            content: &event.content,
            age: event.age,
        });
    }

    /// `answer` and `watch` join rooms they are invited to, so that a caller's new direct room
    /// (`mxcall call @user`) can ring.
    async fn join_invites(&mut self, invited: &[OwnedRoomId]) {
        for room_id in invited {
            let Some(room) = self.client.get_room(room_id) else { continue };
            if room.state() != matrix_sdk::RoomState::Invited {
                continue;
            }
            match room.join().await {
                Ok(()) => self.reporter.note(&format!("joined {room_id} (invited)")),
                Err(e) => tracing::warn!(%room_id, "cannot join: {}", crate::error::root_cause(&e)),
            }
        }
    }

    fn on_media_event(&mut self, call_id: String, event: MediaEvent) {
        let now = Instant::now();
        let input = match event {
            MediaEvent::LocalCandidate(c) => MediaInput::LocalCandidate(IceCandidate {
                candidate: c.candidate,
                sdp_mid: c.sdp_mid,
                sdp_mline_index: c.sdp_mline_index,
            }),
            MediaEvent::GatheringComplete => MediaInput::GatheringComplete,
            MediaEvent::Connection(state) => match state {
                media::ConnState::Connected => MediaInput::IceConnected,
                media::ConnState::Disconnected => MediaInput::IceDisconnected,
                media::ConnState::Failed => MediaInput::IceFailed,
                _ => return,
            },
            MediaEvent::FirstAudio => {
                if let Some(call) = self.calls.get(&call_id) {
                    let fields = with_call(call.room_id.as_str(), &call_id, json!({}));
                    self.reporter.event("media", fields, None);
                }
                return;
            }
            MediaEvent::InputEnded => {
                if self.opts.hangup_after_input && self.current.as_deref() == Some(call_id.as_str()) {
                    self.hangup_current(None);
                }
                return;
            }
            MediaEvent::Error(e) => {
                self.reporter.note(&format!("mxcall: {e}"));
                return;
            }
        };
        let Some(call) = self.calls.get(&call_id) else { return };
        if let Some(room) = self.rooms.get_mut(&call.room_id) {
            let _ = room.machine.handle_input(Input::Media(now, call_id, input));
        }
    }

    fn on_send_report(&mut self, room_id: OwnedRoomId, report: SendReport) {
        if let SendReport::Failed { event_type, cause } = report {
            self.reporter.note(&format!("mxcall: could not send {event_type}: {cause}"));
            // The peer can no longer be told anything reliably: end the calls in that room.
            if let Some(room) = self.rooms.get_mut(&room_id) {
                let ids: Vec<String> = room.machine.live_calls().map(str::to_owned).collect();
                for call_id in ids {
                    let _ = room.machine.handle_input(Input::Command(
                        Instant::now(),
                        Command::Hangup { call_id: Some(call_id), reason: Some("signalling_timeout".into()) },
                    ));
                }
            }
        }
    }

    fn on_control(&mut self, incoming: Incoming) {
        let Request::Hangup { room_id, call_id, reason } = incoming.request;
        let now = Instant::now();
        let mut reply = Reply { ok: false, call_id: None, error: Some("no matching call in this process".into()) };
        for (id, room) in self.rooms.iter_mut() {
            if room_id.as_deref().is_some_and(|r| r != id.as_str()) {
                continue;
            }
            let live: Vec<String> = room.machine.live_calls().map(str::to_owned).collect();
            let target = match &call_id {
                Some(c) => live.iter().find(|l| *l == c).cloned(),
                None => live.last().cloned(),
            };
            let Some(target) = target else { continue };
            let command = Command::Hangup { call_id: Some(target.clone()), reason: reason.clone() };
            match room.machine.handle_input(Input::Command(now, command)) {
                Ok(()) => {
                    reply = Reply { ok: true, call_id: Some(target), error: None };
                    break;
                }
                Err(e) => reply.error = Some(e.to_string()),
            }
        }
        let _ = incoming.reply.send(reply);
    }

    fn on_interrupt(&mut self) {
        if self.interrupted_at.is_some() {
            // A second Ctrl-C: stop waiting for the hangup to go out.
            self.exit = Some(130);
            return;
        }
        self.interrupted_at = Some(Instant::now());
        let any_live = self.rooms.values().any(|r| r.machine.live_calls().next().is_some());
        if !any_live {
            self.exit = Some(130);
            return;
        }
        self.reporter.note("hanging up…");
        let now = Instant::now();
        for room in self.rooms.values_mut() {
            let ids: Vec<String> = room.machine.live_calls().map(str::to_owned).collect();
            for call_id in ids {
                let _ = room.machine.handle_input(Input::Command(
                    now,
                    Command::Hangup { call_id: Some(call_id), reason: Some("user_hangup".into()) },
                ));
            }
        }
    }

    fn hangup_current(&mut self, reason: Option<String>) {
        let Some(call_id) = self.current.clone() else { return };
        let Some(call) = self.calls.get(&call_id) else { return };
        if let Some(room) = self.rooms.get_mut(&call.room_id) {
            let _ = room.machine.handle_input(Input::Command(
                Instant::now(),
                Command::Hangup { call_id: Some(call_id), reason },
            ));
        }
    }

    fn on_timeout(&mut self) {
        let now = Instant::now();
        for room in self.rooms.values_mut() {
            if room.machine.poll_timeout().is_some_and(|t| t <= now) {
                let _ = room.machine.handle_input(Input::Timeout(now));
            }
        }
        if self.interrupted_at.is_some_and(|t| now >= t + INTERRUPT_GRACE) {
            self.exit = Some(130);
        }
        if self.duration_deadline.is_some_and(|t| now >= t) {
            self.duration_deadline = None;
            self.hangup_current(None);
        }
        if self.wait_deadline.is_some_and(|t| now >= t) {
            self.wait_deadline = None;
            self.reporter.stop_spinner();
            let what = match &self.mode {
                Mode::Call { .. } => "the other user did not join the room in time",
                _ => "no call to answer arrived in time",
            };
            self.reporter.event("ended", json!({"outcome": "no_answer", "exit_code": exit::NO_ANSWER, "duration_ms": 0}), None);
            self.reporter.note(&format!("mxcall: {what}"));
            self.exit = Some(exit::NO_ANSWER);
        }
    }

    /// Drains every machine's outputs and carries them out, until there are none.
    async fn pump(&mut self) {
        loop {
            let mut progressed = false;
            let room_ids: Vec<OwnedRoomId> = self.rooms.keys().cloned().collect();
            for room_id in room_ids {
                while let Some(output) = self.rooms.get_mut(&room_id).and_then(|r| r.machine.poll_output()) {
                    progressed = true;
                    self.execute(&room_id, output).await;
                }
            }
            if !progressed {
                break;
            }
        }
    }

    async fn execute(&mut self, room_id: &OwnedRoomId, output: Output) {
        match output {
            Output::Send { event_type, content, .. } => {
                if let Some(room) = self.rooms.get(room_id) {
                    room.sender.send(event_type, content);
                }
            }
            Output::Media { call_id, action } => self.media_action(room_id, call_id, action).await,
            Output::Event(event) => self.on_call_event(room_id, event).await,
        }
    }

    async fn media_action(&mut self, room_id: &OwnedRoomId, call_id: String, action: MediaAction) {
        let now = Instant::now();
        let result: std::result::Result<Option<MediaInput>, media::MediaError> = async {
            match action {
                MediaAction::CreateOffer => {
                    let session = self.session_for(room_id, &call_id).await?;
                    Ok(Some(MediaInput::LocalOffer(session.create_offer().await?)))
                }
                MediaAction::AcceptOffer(sdp) => {
                    let session = self.session_for(room_id, &call_id).await?;
                    Ok(Some(MediaInput::LocalAnswer(session.accept_offer(&sdp).await?)))
                }
                MediaAction::AcceptAnswer(sdp) => {
                    let session = self.session_for(room_id, &call_id).await?;
                    session.accept_answer(&sdp).await?;
                    Ok(None)
                }
                MediaAction::AddRemoteCandidates { candidates, end_of_candidates } => {
                    let session = self.session_for(room_id, &call_id).await?;
                    for c in candidates {
                        let candidate = media::Candidate {
                            candidate: c.candidate,
                            sdp_mid: c.sdp_mid,
                            sdp_mline_index: c.sdp_mline_index,
                        };
                        if let Err(e) = session.add_remote_candidate(Some(candidate)).await {
                            tracing::debug!("remote candidate refused: {e}");
                        }
                    }
                    if end_of_candidates {
                        let _ = session.add_remote_candidate(None).await;
                    }
                    Ok(None)
                }
                MediaAction::IceRestart => {
                    let session = self.session_for(room_id, &call_id).await?;
                    Ok(Some(MediaInput::LocalOffer(session.ice_restart_offer().await?)))
                }
                MediaAction::Close => {
                    if let Some(call) = self.calls.get_mut(&call_id) {
                        if let Some(session) = call.session.take() {
                            call.stats = Some(session.stats());
                            session.close().await;
                        }
                    }
                    Ok(None)
                }
            }
        }
        .await;
        let input = match result {
            Ok(Some(input)) => input,
            Ok(None) => return,
            Err(e) => {
                self.reporter.note(&format!("mxcall: {e}"));
                MediaInput::Failed(e.to_string())
            }
        };
        if let Some(room) = self.rooms.get_mut(room_id) {
            let _ = room.machine.handle_input(Input::Media(now, call_id, input));
        }
    }

    /// The media session of a call, created (with the shared audio) on first use.
    async fn session_for(&mut self, room_id: &OwnedRoomId, call_id: &str) -> std::result::Result<&MediaSession, media::MediaError> {
        let call = self.calls.entry(call_id.to_owned()).or_insert_with(|| Call {
            room_id: room_id.clone(),
            session: None,
            connected_at: None,
            stats: None,
            hangup: None,
        });
        if call.session.is_none() {
            let mut cfg = self.media_cfg.clone();
            cfg.stream_id = Some(self.stream_id.clone());
            let (session, mut events) = MediaSession::new(
                cfg,
                Box::new(self.source.clone()),
                Box::new(self.sink.clone()),
            )
            .await?;
            let tx = self.media_tx.clone();
            let id = call_id.to_owned();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    if tx.send((id.clone(), event)).is_err() {
                        break;
                    }
                }
            });
            call.session = Some(session);
        }
        Ok(call.session.as_ref().expect("session just created"))
    }

    async fn on_call_event(&mut self, room_id: &OwnedRoomId, event: CallEvent) {
        let peer = self.rooms.get(room_id).map(|r| r.peer.to_string()).unwrap_or_default();
        match event {
            CallEvent::InviteSent { call_id } => {
                self.reporter.event("invite_sent", with_call(room_id.as_str(), &call_id, json!({"callee": peer})), None);
                self.reporter.start_spinner(format!("ringing {peer}…"));
            }
            CallEvent::Ringing { call_id, caller } => {
                self.calls_seen += 1;
                let policy = self.rooms.get(room_id).map(|r| r.machine.config().ring);
                let answering = policy == Some(RingPolicy::AutoAnswer) && self.current.is_none();
                self.reporter.stop_spinner();
                self.reporter.event(
                    "ringing",
                    with_call(room_id.as_str(), &call_id, json!({"caller": caller.as_str()})),
                    Some(format!(
                        "incoming call from {caller} in {room_id}{}",
                        if answering { "; answering" } else { "" }
                    )),
                );
                if answering {
                    self.current = Some(call_id.clone());
                    self.wait_deadline = None;
                }
                if let Mode::Watch { exec: Some(cmd), .. } = &self.mode {
                    spawn_exec(cmd, room_id.as_str(), &call_id, caller.as_str());
                }
            }
            CallEvent::Connecting { call_id } => {
                self.reporter.stop_spinner();
                self.reporter.event("connecting", with_call(room_id.as_str(), &call_id, json!({})), Some(format!("connecting to {peer}…")));
            }
            CallEvent::Connected { call_id } => {
                let now = Instant::now();
                if let Some(call) = self.calls.get_mut(&call_id) {
                    call.connected_at.get_or_insert(now);
                }
                self.reporter.event("connected", with_call(room_id.as_str(), &call_id, json!({})), Some(format!("connected with {peer}")));
                if self.current.as_deref() == Some(call_id.as_str()) {
                    if let Some(d) = self.opts.duration {
                        self.duration_deadline.get_or_insert(now + d);
                    }
                }
            }
            CallEvent::Replaced { call_id, by } => {
                tracing::info!(%call_id, %by, "glare: the call continues as {by}");
                if self.current.as_deref() == Some(call_id.as_str()) {
                    self.current = Some(by);
                }
            }
            CallEvent::Hangup { call_id, reason, by } => {
                let by_str = match by { Party::Local => "local", Party::Remote => "remote" };
                if let Some(call) = self.calls.get_mut(&call_id) {
                    call.hangup = Some((reason.clone(), by));
                }
                self.reporter.event(
                    "hangup",
                    with_call(room_id.as_str(), &call_id, json!({"reason": reason, "by": by_str})),
                    Some(format!("hung up by {} ({reason})", if by == Party::Local { "us" } else { peer.as_str() })),
                );
            }
            CallEvent::Ended { call_id, outcome } => self.on_ended(room_id, call_id, outcome, &peer).await,
        }
    }

    async fn on_ended(&mut self, room_id: &OwnedRoomId, call_id: String, outcome: signalling::Outcome, peer: &str) {
        self.ended.add(&call_id);
        let call = self.calls.remove(&call_id);
        let mut stats = None;
        let mut duration = Duration::ZERO;
        let mut hangup = None;
        if let Some(mut call) = call {
            if let Some(session) = call.session.take() {
                call.stats = Some(session.stats());
                session.close().await;
            }
            stats = call.stats;
            duration = call.connected_at.map(|t| t.elapsed()).unwrap_or_default();
            hangup = call.hangup;
        }
        let is_current = self.current.as_deref() == Some(call_id.as_str());
        let code = outcome.exit_code();
        self.reporter.event(
            "ended",
            with_call(room_id.as_str(), &call_id, json!({
                "outcome": outcome.as_str(),
                "duration_ms": duration.as_millis() as u64,
                "exit_code": code,
                "stats": stats,
            })),
            None,
        );
        if !is_current && !matches!(self.mode, Mode::Watch { .. }) {
            return;
        }
        let how = match &hangup {
            Some((reason, Party::Remote)) => format!("hung up by {peer} ({reason})"),
            Some((reason, Party::Local)) => format!("hung up by us ({reason})"),
            None => String::new(),
        };
        let words = outcome.as_str().replace('_', " ");
        let line = match (&stats, duration.is_zero()) {
            (Some(s), false) => format!(
                "call with {peer} {words} after {:.1} s, {how}; {} packets received, {} lost",
                duration.as_secs_f64(),
                s.packets_received,
                s.packets_lost
            ),
            _ if how.is_empty() => format!("call with {peer}: {words}"),
            _ => format!("call with {peer}: {words} ({how})"),
        };
        self.reporter.summary(&line);
        self.duration_deadline = None;
        match &self.mode {
            Mode::Watch { once, answer, .. } => {
                if is_current {
                    self.current = None;
                }
                if *once {
                    self.exit = Some(if *answer { code } else { exit::OK });
                }
            }
            _ => self.exit = Some(code),
        }
    }

    async fn shutdown(&mut self) {
        self.reporter.stop_spinner();
        for (_, mut call) in self.calls.drain() {
            if let Some(session) = call.session.take() {
                session.close().await;
            }
        }
        if let Err(e) = self.sink.finish() {
            self.reporter.note(&format!("mxcall: {e}"));
        }
        // Let queued events (the final hangup) reach the homeserver.
        self.rooms.clear();
        let tasks = std::mem::take(&mut self.send_tasks);
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, futures_join_all(tasks)).await;
    }
}

async fn futures_join_all(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// `watch --exec CMD`: runs CMD through the shell for an incoming call, not waiting for it.
fn spawn_exec(cmd: &str, room_id: &str, call_id: &str, caller: &str) {
    let child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .env("MXCALL_ROOM_ID", room_id)
        .env("MXCALL_CALL_ID", call_id)
        .env("MXCALL_CALLER", caller)
        .stdin(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(mut child) => {
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
        }
        Err(e) => tracing::warn!("cannot run --exec command: {e}"),
    }
}

fn media_config(ice_servers: Vec<media::IceServer>, bind: &[std::net::IpAddr]) -> MediaConfig {
    let mut cfg = MediaConfig { ice_servers, ..MediaConfig::default() };
    if !bind.is_empty() {
        cfg.bind_addrs = bind.to_vec();
    }
    cfg
}
