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

mod calls_media;
mod incoming;
mod rtc;
mod rtc_keys;
mod rtc_media;
mod stats;
mod supervisor;
mod user;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use matrix_sdk::Client;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId};
use tokio::sync::mpsc;

use crate::audio::{self, AudioSpec};
use crate::commands::Context;
use crate::error::{Error, Result, exit};
use crate::matrixrtc as matrixrtc_request;
use crate::media::{self, MediaConfig};
use crate::signalling::{CallMachine, Command, Input, Outcome, Output, Party};
use crate::transport::rooms::Target;
use crate::transport::send::{CallSender, SendReport, ends_call};
use crate::transport::sync::{SyncBatch, SyncPace};
use crate::transport::{self};
use audio_slot::{SharedSink, SharedSource, TeeSink};
use control::{ControlServer, Incoming};
use ended::EndedCalls;
use report::Reporter;
use supervisor::Supervisor;

/// What this process is for.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Place one call and run it to its end.
    Call {
        target: Target,
        ring_timeout: Duration,
        protocol: crate::cli::Protocol,
    },
    /// Answer one incoming call (in `room`, or any) arriving within `wait`.
    Answer {
        room: Option<OwnedRoomId>,
        wait: Duration,
        /// `--from`: allowed callers of this run, besides the profile's (`callers`).
        from: Vec<OwnedUserId>,
    },
    /// Report incoming calls; optionally answer them one at a time, or run a command for each.
    Watch {
        rooms: Vec<OwnedRoomId>,
        answer: bool,
        exec: Option<String>,
        once: bool,
        /// `--from`: allowed callers of this run, besides the profile's (`callers`).
        from: Vec<OwnedUserId>,
    },
    /// Decline the newest ringing call (in `room`, or any; with `call_id`, only that one) that
    /// no running process holds: `mxcall hangup` without a running call. The history comes
    /// from `/messages` through the store, once, instead of a sync loop.
    Decline {
        room: Option<OwnedRoomId>,
        call_id: Option<String>,
        reason: Option<String>,
    },
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
    /// `--stats-interval`: how often a connected call reports its quality; `None`: never.
    pub stats_interval: Option<Duration>,
    /// `--dtmf`: digits to send `dtmf_delay` after the call connected (checked by
    /// `media::dtmf::parse_digits`).
    pub dtmf: Option<String>,
    pub dtmf_delay: Duration,
    /// `--hangup-on-dtmf`: hang up when the peer sends one of these digits.
    pub hangup_on_dtmf: Option<String>,
}

/// How long queued events (a final hangup) may take to reach the homeserver at exit.
/// (A rate-limited homeserver asks for seconds between events: the hangup may need them.)
const FLUSH_TIMEOUT: Duration = Duration::from_secs(15);

/// At shutdown, how long a call's media task may take to close (it bounds its own steps; this
/// only guards against a stuck peer connection).
const MEDIA_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Our hangups and rejects on their way to the homeserver: one that never got there leaves the
/// other side ringing or in the call, which the exit code must say (issue 11, rate limits).
#[derive(Debug, Default)]
struct HangupDelivery {
    queued: usize,
    done: usize,
    failed: Option<String>,
}

impl HangupDelivery {
    fn reported(&mut self, report: &SendReport) {
        match report {
            SendReport::Sent { event_type, .. } if ends_call(event_type) => self.done += 1,
            SendReport::Failed { event_type, cause } if ends_call(event_type) => {
                self.done += 1;
                self.failed = Some(cause.clone());
            }
            _ => {}
        }
    }

    /// A line for the user when a hangup did not reach the homeserver.
    fn undelivered(&self) -> Option<String> {
        if let Some(cause) = &self.failed {
            return Some(format!(
                "mxcall: the hangup did not reach the homeserver ({cause}); the other side may still be ringing or in the call"
            ));
        }
        (self.done < self.queued).then(|| {
            format!(
                "mxcall: the hangup had not reached the homeserver after {} s; the other side may still be ringing or in the call",
                FLUSH_TIMEOUT.as_secs()
            )
        })
    }
}

struct Room {
    machine: CallMachine,
    sender: CallSender,
    peer: OwnedUserId,
}

/// A legacy call's state beside its machine: its media task, and what its `ended` event needs.
struct Call {
    room_id: OwnedRoomId,
    /// The media task, until it closed.
    media: Option<calls_media::CallMedia>,
    connected_at: Option<Instant>,
    /// The session's final counters, once its task closed.
    stats: Option<media::MediaStats>,
    hangup: Option<(String, Party)>,
    /// The call ended; its `ended` event waits for the media task's final counters.
    ended: Option<user::PendingEnd>,
}

impl Call {
    fn new(room_id: OwnedRoomId) -> Self {
        Self {
            room_id,
            media: None,
            connected_at: None,
            stats: None,
            hangup: None,
            ended: None,
        }
    }
}

pub async fn run(ctx: &Context, mode: Mode, opts: CallOptions) -> Result<u8> {
    // Not logged in is what to fix first (exit 3), whatever the audio says; then audio, so a
    // missing device or a bad file fails before anything is sent.
    let profile = &ctx.profile;
    let session = profile.load_session()?;
    let source = audio::open_source(&opts.input).map_err(|e| Error::Media(e.to_string()))?;
    let mut sink = audio::open_sink(&opts.output).map_err(|e| Error::Media(e.to_string()))?;
    if let Some(path) = &opts.record {
        let recording = audio::open_sink(&AudioSpec::Wav(path.clone()))
            .map_err(|e| Error::Media(e.to_string()))?;
        sink = Box::new(TeeSink {
            first: sink,
            second: recording,
        });
    }

    let callers = match &mode {
        Mode::Answer { from, .. } | Mode::Watch { from, .. } => crate::callers::CallerPolicy::new(
            crate::callers::AllowList::load(profile)?,
            from.iter().cloned(),
        ),
        _ => crate::callers::CallerPolicy::default(),
    };
    let client = crate::homeserver::restore(profile, &session, true).await?;
    let declining = matches!(mode, Mode::Decline { .. });
    if !crate::identity::is_cross_signed_locally(&client).await {
        ctx.out.note(&crate::identity::untrusted_warning(
            &crate::error::profile_flag(&profile.name),
        ));
    }
    // The history batch is the only one a decline looks at; the sender stays alive (and
    // silent) until the engine is done, so that the loop never sees the source end.
    // A decline needs the store for a moment while other processes of the profile may be
    // syncing on it: claim it (they pause) until this process ends.
    let _claim = declining.then(|| transport::store_claim::StoreClaim::new(&profile.dir));
    let rtc_service = transport::room_facts::ServiceCache::default();
    let (sync_pace, sync_pace_rx) = tokio::sync::watch::channel(SyncPace::Idle);
    let (_history_tx, control, control_rx, sync_rx) = if let Mode::Decline { room, .. } = &mode {
        let mut batch = transport::history::recent_batch(&client, room.as_ref())
            .await
            .map_err(|e| {
                Error::from_sdk(
                    &e,
                    "cannot read the room's calls",
                    &profile.name,
                    &session.homeserver,
                )
            })?;
        // `hangup` joins no call: no LiveKit discovery.
        batch.rooms = transport::room_facts::Describer::new(None)
            .describe(&client, &batch.events)
            .await;
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.send(Ok(batch)).await;
        let (_, control_rx) = mpsc::channel(1);
        (Some(tx), None, control_rx, rx)
    } else {
        rtc_service.prefetch(&client);
        let (control, control_rx) = ControlServer::start(profile)?;
        let rx = transport::sync::spawn(
            client.clone(),
            profile.name.clone(),
            profile.dir.clone(),
            session.homeserver.clone(),
            rtc_service.clone(),
            sync_pace_rx,
        );
        (None, Some(control), control_rx, rx)
    };
    let turn = if declining {
        tokio::sync::watch::channel(None).1
    } else {
        transport::turn::keep_fresh(client.clone()).await
    };

    let (media_tx, media_rx) = mpsc::unbounded_channel();
    let (send_tx, send_rx) = mpsc::unbounded_channel();
    let (rtc_tx, rtc_rx) = mpsc::unbounded_channel();
    let (notes_tx, notes_rx) = mpsc::unbounded_channel();
    let own_party = session.matrix.meta.device_id.to_string();
    let mut engine = Engine {
        client,
        own_user: session.matrix.meta.user_id.clone(),
        stream_id: format!("mxcall-{own_party}"),
        legacy_party: legacy_party_id(&own_party),
        own_party,
        profile_name: profile.name.clone(),
        mode: mode.clone(),
        opts: opts.clone(),
        rooms: HashMap::new(),
        calls: HashMap::new(),
        rtc_rooms: HashMap::new(),
        rtc_service,
        sync_pace,
        declined_rtc: None,
        rtc_decline_request: None,
        calling_rtc: false,
        rtc_tx,
        rtc_rx,
        source: SharedSource::new(source),
        sink: SharedSink::new(sink),
        media_cfg: media_config(&opts.bind),
        turn,
        media_tx,
        media_rx,
        send_tx,
        send_rx,
        send_tasks: Vec::new(),
        notes_tx,
        notes_rx,
        reporter: Reporter::new(ctx.out, opts.output == AudioSpec::RawStdio, !declining),
        ended: EndedCalls::load(profile),
        sup: Supervisor::new(
            supervisor_role(&mode),
            supervisor::Plans {
                duration: opts.duration,
                dtmf_delay: opts.dtmf.as_ref().map(|_| opts.dtmf_delay),
            },
        ),
        started: Instant::now(),
        stats: stats::StatsTimer::default(),
        pending_place: None,
        place_after_first_batch: None,
        declined: None,
        reported_undecryptable: std::collections::HashSet::new(),
        hangups: HangupDelivery::default(),
        callers,
        refused_invites: std::collections::HashSet::new(),
        out: ctx.out,
    };
    let result = engine.run_loop(sync_rx, control_rx).await;
    let undelivered = engine.shutdown().await;
    drop(control);
    // A call that ended "cleanly" but whose hangup never reached the other side did not.
    result.map(|code| {
        if code == exit::OK && undelivered {
            exit::OTHER
        } else {
            code
        }
    })
}

/// The `party_id` of this process's legacy calls: the device id and a random suffix. Two
/// processes of one profile (two `answer`s, a `watch` and a `call`) share a device, and the
/// spec's `party_id` tells the parties of a call apart (Matrix VoIP, "Party Identifiers"; a
/// client *may* reuse its device id): with one id per process, the one not picked by the
/// caller's `m.call.select_answer` sees it was answered elsewhere (exit 8), instead of taking
/// the other's answer for its own echo and the selection for itself.
fn legacy_party_id(device_id: &str) -> String {
    format!("{device_id}_{}", crate::media::random_id(8))
}

struct Engine {
    client: Client,
    own_user: OwnedUserId,
    /// Our device id (MatrixRTC memberships and keys are per device).
    own_party: String,
    /// Our `party_id` in legacy calls: this process's own ([`legacy_party_id`]).
    legacy_party: String,
    profile_name: String,
    stream_id: String,
    mode: Mode,
    opts: CallOptions,
    rooms: HashMap<OwnedRoomId, Room>,
    calls: HashMap<String, Call>,
    /// MatrixRTC calls: one machine (and SFU session) per room.
    rtc_rooms: HashMap<OwnedRoomId, rtc::RtcRoom>,
    /// Our homeserver's LiveKit service (MSC4143 discovery), asked on first use
    /// (`rtc_service()`); shared with the sync task, so it is asked once.
    rtc_service: transport::room_facts::ServiceCache,
    /// Tells the sync task how to wait for news: see [`sync_pace`].
    sync_pace: tokio::sync::watch::Sender<SyncPace>,
    /// `Mode::Decline`: the MatrixRTC ring being declined (room, notification id, caller),
    /// and the request that sends the decline.
    declined_rtc: Option<(OwnedRoomId, String, OwnedUserId)>,
    rtc_decline_request: Option<(OwnedRoomId, matrixrtc_request::RequestId)>,
    /// `call` goes over MatrixRTC (chosen at start by `--protocol`).
    calling_rtc: bool,
    rtc_tx: mpsc::UnboundedSender<rtc::RtcNews>,
    rtc_rx: mpsc::UnboundedReceiver<rtc::RtcNews>,
    source: SharedSource,
    sink: SharedSink,
    media_cfg: MediaConfig,
    /// The homeserver's TURN servers, refreshed in the background before they expire.
    turn: tokio::sync::watch::Receiver<Option<transport::turn::TurnServers>>,
    media_tx: mpsc::UnboundedSender<(String, calls_media::MediaNews)>,
    media_rx: mpsc::UnboundedReceiver<(String, calls_media::MediaNews)>,
    send_tx: mpsc::UnboundedSender<(OwnedRoomId, SendReport)>,
    send_rx: mpsc::UnboundedReceiver<(OwnedRoomId, SendReport)>,
    send_tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Lines for stderr from tasks (a room joined).
    notes_tx: mpsc::UnboundedSender<String>,
    notes_rx: mpsc::UnboundedReceiver<String>,
    reporter: Reporter,
    ended: EndedCalls,
    /// The process policy: the call this process is about (follows glare), when it exits
    /// and with which code, its timers (`--wait`, `--duration`, `--dtmf`, Ctrl-C's grace).
    sup: Supervisor,
    started: Instant,
    /// `stats` events of connected calls (`--stats-interval`).
    stats: stats::StatsTimer,
    /// `call` into a room whose peer (the user id) has not joined yet.
    pending_place: Option<(OwnedRoomId, OwnedUserId)>,
    /// `call` into a room ready for it, placed after the first sync batch.
    place_after_first_batch: Option<OwnedRoomId>,
    /// `Mode::Decline`: the call being declined (room, call id, caller).
    declined: Option<(OwnedRoomId, String, OwnedUserId)>,
    /// Undecryptable events already reported (each is reported once).
    reported_undecryptable: std::collections::HashSet<String>,
    hangups: HangupDelivery,
    /// Who may be answered automatically and whose invites are joined (`callers`).
    callers: crate::callers::CallerPolicy,
    /// Invites not joined because the inviter is not allowed (each is reported once).
    refused_invites: std::collections::HashSet<OwnedRoomId>,
    out: crate::output::Output,
}

impl Engine {
    async fn run_loop(
        &mut self,
        mut sync_rx: mpsc::Receiver<Result<SyncBatch>>,
        mut control_rx: mpsc::Receiver<Incoming>,
    ) -> Result<u8> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut sigint =
            signal(SignalKind::interrupt()).map_err(|e| Error::other("cannot catch signals", e))?;
        let mut sigterm =
            signal(SignalKind::terminate()).map_err(|e| Error::other("cannot catch signals", e))?;

        // The first batch (the backlog since the last run) comes before anything is placed, so
        // that the room list is known and old invites are seen as old.
        // Ctrl-C / SIGTERM end the wait at once (nothing was placed or answered yet).
        let first = tokio::select! {
            batch = sync_rx.recv() => match batch {
                Some(batch) => batch?,
                None => return Err(Error::Other("sync stopped".into())),
            },
            _ = sigint.recv() => return Ok(exit::INTERRUPTED),
            _ = sigterm.recv() => return Ok(exit::INTERRUPTED),
        };
        self.start_mode().await?;
        self.on_batch(first).await?;
        if let Some(room_id) = self.place_after_first_batch.take() {
            self.place_call(&room_id)?;
        }
        self.pump();
        if matches!(self.mode, Mode::Decline { .. }) {
            if self.declined.is_some() {
                self.send_decline();
            } else if self.declined_rtc.is_some() {
                self.send_rtc_decline();
            } else {
                return Err(Error::Other(
                    "no call to hang up: no mxcall process runs one and nothing is ringing".into(),
                ));
            }
            self.pump();
        }

        while self.sup.exit().is_none() {
            let deadline = self.next_deadline();
            tokio::select! {
                batch = sync_rx.recv() => match batch {
                    Some(Ok(batch)) => self.on_batch(batch).await?,
                    Some(Err(e)) => return Err(e),
                    None => return Err(Error::Other("sync stopped".into())),
                },
                Some((call_id, news)) = self.media_rx.recv() => self.on_media_news(call_id, news),
                Some((room_id, report)) = self.send_rx.recv() => self.on_send_report(room_id, report),
                Some(news) = self.rtc_rx.recv() => self.on_rtc_news(news),
                Some(incoming) = control_rx.recv() => self.on_control(incoming),
                Some(line) = self.notes_rx.recv() => self.reporter.note(&line),
                _ = sigint.recv() => self.on_interrupt(),
                _ = sigterm.recv() => self.on_interrupt(),
                _ = sleep_until(deadline) => self.on_timeout(),
            }
            self.pump();
        }
        Ok(self.sup.exit().unwrap_or(exit::OTHER))
    }

    fn next_deadline(&self) -> Option<Instant> {
        let machines = self
            .rooms
            .values()
            .filter_map(|r| r.machine.poll_timeout())
            .chain(self.rtc_deadline());
        let own = [self.sup.poll_timeout(), self.stats.deadline()];
        machines.chain(own.into_iter().flatten()).min()
    }

    fn on_send_report(&mut self, room_id: OwnedRoomId, report: SendReport) {
        self.hangups.reported(&report);
        if let Mode::Decline { .. } = self.mode {
            return self.on_decline_sent(report);
        }
        if let SendReport::Failed { event_type, cause } = report {
            self.reporter
                .note(&format!("mxcall: could not send {event_type}: {cause}"));
            // The peer can no longer be told anything reliably: end the calls in that room.
            if let Some(room) = self.rooms.get_mut(&room_id) {
                let ids: Vec<String> = room.machine.live_calls().map(str::to_owned).collect();
                for call_id in ids {
                    let _ = room.machine.handle_input(Input::Command(
                        Instant::now(),
                        Command::Hangup {
                            call_id: Some(call_id),
                            reason: Some("signalling_timeout".into()),
                        },
                    ));
                }
            }
        }
    }

    /// The run is over with `code` (the first code given stands).
    fn finish(&mut self, code: u8) {
        self.sup.handle_input(supervisor::Input::Finish(code));
    }

    /// This process placed `call_id` or answers it: the call it is about.
    fn set_current(&mut self, call_id: String) {
        self.sup.handle_input(supervisor::Input::Current(call_id));
    }

    fn on_interrupt(&mut self) {
        let any_live = self
            .rooms
            .values()
            .any(|r| r.machine.live_calls().next().is_some())
            || self.rtc_any_live();
        self.sup.handle_input(supervisor::Input::Interrupt {
            any_live,
            now: Instant::now(),
        });
    }

    fn on_timeout(&mut self) {
        let now = Instant::now();
        for room in self.rooms.values_mut() {
            if room.machine.poll_timeout().is_some_and(|t| t <= now) {
                let _ = room.machine.handle_input(Input::Timeout(now));
            }
        }
        self.rtc_on_timeout(now);
        if self.sup.poll_timeout().is_some_and(|t| t <= now) {
            self.sup.handle_input(supervisor::Input::Timeout(now));
        }
        self.report_stats(now);
    }

    /// Carries out the supervisor's actions.
    fn pump_supervisor(&mut self) -> bool {
        let mut progressed = false;
        while let Some(action) = self.sup.poll_action() {
            progressed = true;
            match action {
                supervisor::Action::HangupCurrent => self.hangup_current(None),
                supervisor::Action::SendDtmf => self.send_planned_dtmf(),
                supervisor::Action::HangupAll => self.hangup_all(),
                supervisor::Action::NoAnswer => {
                    let line = match (&self.mode, &self.pending_place) {
                        (Mode::Call { .. }, Some((_, peer))) => {
                            format!("{peer} did not join the room in time")
                        }
                        (Mode::Call { .. }, None) => {
                            "the other user did not join the room in time".to_owned()
                        }
                        _ => "no call to answer arrived in time".to_owned(),
                    };
                    self.ended_without_call(Outcome::NoAnswer, &line);
                }
                supervisor::Action::Cancelled => {
                    let line = match (&self.mode, &self.pending_place) {
                        (Mode::Call { .. }, Some((_, peer))) => {
                            format!("interrupted before {peer} joined the room")
                        }
                        (Mode::Call { .. }, None) => "interrupted before the call rang".to_owned(),
                        _ => "interrupted before a call came".to_owned(),
                    };
                    self.ended_without_call(Outcome::Cancelled, &line);
                }
            }
        }
        progressed
    }

    /// The process ends with no call (nothing came, the callee never joined, or interrupted
    /// before either): `ended` without call fields, and `line` on stderr.
    fn ended_without_call(&mut self, outcome: Outcome, line: &str) {
        self.reporter.stop_spinner();
        self.reporter.event(
            crate::events::Event::Ended {
                call: None,
                outcome: outcome.as_str(),
                duration_ms: 0,
                exit_code: outcome.exit_code(),
                media: None,
            },
            None,
        );
        self.reporter.note(&format!("mxcall: {line}"));
    }

    /// Interrupted: every call that rings or runs is hung up.
    fn hangup_all(&mut self) {
        self.reporter.note("hanging up…");
        self.rtc_hangup_all();
        let now = Instant::now();
        for room in self.rooms.values_mut() {
            let ids: Vec<String> = room.machine.live_calls().map(str::to_owned).collect();
            for call_id in ids {
                let _ = room.machine.handle_input(Input::Command(
                    now,
                    Command::Hangup {
                        call_id: Some(call_id),
                        reason: Some("user_hangup".into()),
                    },
                ));
            }
        }
    }

    /// Drains every machine's outputs and carries them out, until there are none. Never
    /// awaits: media actions go to the calls' media tasks, requests to send tasks.
    fn pump(&mut self) {
        loop {
            let mut progressed = false;
            let room_ids: Vec<OwnedRoomId> = self.rooms.keys().cloned().collect();
            for room_id in room_ids {
                while let Some(output) = self
                    .rooms
                    .get_mut(&room_id)
                    .and_then(|r| r.machine.poll_output())
                {
                    progressed = true;
                    self.execute(&room_id, output);
                }
            }
            if self.pump_rtc() {
                progressed = true;
            }
            if self.pump_supervisor() {
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        let legacy = self
            .calls
            .values()
            .map(|c| c.connected_at.is_some() && c.ended.is_none());
        let rtc = self
            .rtc_rooms
            .values()
            .filter(|r| r.live())
            .map(|r| r.connected_at.is_some());
        let pace = sync_pace(legacy.chain(rtc));
        self.sync_pace.send_if_modified(|now| {
            let changed = *now != pace;
            *now = pace;
            changed
        });
    }

    fn execute(&mut self, room_id: &OwnedRoomId, output: Output) {
        match output {
            Output::Send {
                event_type,
                content,
                ..
            } => {
                if let Some(room) = self.rooms.get(room_id) {
                    if ends_call(event_type) {
                        self.hangups.queued += 1;
                    }
                    room.sender.send(event_type, content);
                }
            }
            Output::Media { call_id, action } => self.media_action(room_id, call_id, action),
            Output::Event(event) => self.on_call_event(room_id, event),
        }
    }

    /// Ends media and the SFU, finishes the sink, and lets queued events (the final hangup)
    /// reach the homeserver; true (and a line on stderr) when a hangup did not.
    async fn shutdown(&mut self) -> bool {
        self.reporter.stop_spinner();
        for (_, mut call) in self.calls.drain() {
            if let Some(media) = call.media.take() {
                media.close(MEDIA_CLOSE_TIMEOUT).await;
            }
        }
        for room in self.rtc_rooms.values_mut() {
            if let Some(session) = room.media.leave() {
                session.leave().await;
            }
        }
        if let Err(e) = self.sink.finish() {
            self.reporter.note(&format!("mxcall: {e}"));
        }
        // Let queued events (the final hangup) reach the homeserver.
        self.rooms.clear();
        let tasks = std::mem::take(&mut self.send_tasks);
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, futures_join_all(tasks)).await;
        while let Ok((_, report)) = self.send_rx.try_recv() {
            self.hangups.reported(&report);
        }
        match self.hangups.undelivered() {
            Some(line) => {
                self.reporter.note(&line);
                true
            }
            None => false,
        }
    }
}

/// JSON events' `ts`, and the `now_ms` of the machines' inputs (invite ages without
/// `unsigned.age`, MatrixRTC expiry and ring lifetimes are wall-clock rules).
pub(super) use crate::transport::unix_ms;

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

fn media_config(bind: &[std::net::IpAddr]) -> MediaConfig {
    let mut cfg = MediaConfig::default();
    if !bind.is_empty() {
        cfg.bind_addrs = bind.to_vec();
    }
    cfg
}

/// The supervisor's view of the mode.
fn supervisor_role(mode: &Mode) -> supervisor::Role {
    match mode {
        Mode::Call { .. } => supervisor::Role::Call,
        Mode::Answer { .. } => supervisor::Role::Answer,
        Mode::Watch { once, answer, .. } => supervisor::Role::Watch {
            once: *once,
            answering: *answer,
        },
        Mode::Decline { .. } => supervisor::Role::Decline,
    }
}

/// How the sync task waits for news ([`SyncPace`]). `calls` has one item per call of the
/// process — legacy calls and live MatrixRTC calls alike — true when that call is connected
/// (and not ending). `Relaxed` (unlocked probes, `transport::sync_probe`, instead of
/// long-polling under the crypto store's lock, whose lease matrix-sdk renews every 50 ms with an
/// SQLite write and an fsync) when there is at least one call and every one is connected:
/// nothing then needs to arrive within milliseconds; what does arrive (a hangup, the other
/// member's leave, a media key rotated for a device that joined) is processed one `/sync`
/// round trip later. `Setup` while any call rings, connects or ends; `Idle` with no call at
/// all (waiting for a ring).
fn sync_pace(calls: impl IntoIterator<Item = bool>) -> SyncPace {
    let mut any = false;
    for connected in calls {
        if !connected {
            return SyncPace::Setup;
        }
        any = true;
    }
    if any {
        SyncPace::Relaxed
    } else {
        SyncPace::Idle
    }
}

#[cfg(test)]
mod relax_tests {
    use super::{SyncPace, sync_pace};

    #[test]
    fn relaxes_only_when_there_are_calls_and_all_are_connected() {
        assert_eq!(
            sync_pace([]),
            SyncPace::Idle,
            "no call: rings must arrive at once"
        );
        assert_eq!(sync_pace([true]), SyncPace::Relaxed);
        assert_eq!(sync_pace([true, true]), SyncPace::Relaxed);
        assert_eq!(
            sync_pace([true, false]),
            SyncPace::Setup,
            "a second call still connecting"
        );
        assert_eq!(sync_pace([false]), SyncPace::Setup);
    }
}
