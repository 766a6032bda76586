//! The engine's media side: one `MediaSession` per call, owned by a task of its own (started
//! on the machine's first media action for the call, with the process's shared audio). The run
//! loop hands the task the machine's media actions without awaiting; the task sends back the
//! session's events, the actions' results and, once closed, the final counters, all as
//! [`MediaNews`] on one channel.

use std::time::Instant;

use matrix_sdk::ruma::OwnedRoomId;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::report::legacy_call;
use super::{Call, Engine};
use crate::events::{By, Event};
use crate::media::{self, MediaEvent, MediaSession, MediaStats, SessionProbe};
use crate::signalling::{IceCandidate, Input, MediaAction, MediaInput};

impl Engine {
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
                    let call = legacy_call(call.room_id.as_str(), &call_id);
                    self.reporter.event(Event::Media { call }, None);
                }
                return;
            }
            MediaEvent::InputEnded => {
                if self.opts.hangup_after_input && self.sup.is_current(call_id.as_str()) {
                    self.hangup_current(None);
                }
                return;
            }
            MediaEvent::Error(e) => {
                self.reporter.note(&format!("mxcall: {e}"));
                return;
            }
            MediaEvent::Dtmf(d) => return self.on_dtmf(&call_id, d),
            MediaEvent::PeerHold(held) => {
                if let Some(call) = self.calls.get(&call_id) {
                    let call = legacy_call(call.room_id.as_str(), &call_id);
                    let by = By::Remote;
                    let (event, line) = if held {
                        (
                            Event::Held { call, by },
                            "the other side put the call on hold",
                        )
                    } else {
                        (
                            Event::Resumed { call, by },
                            "the other side resumed the call",
                        )
                    };
                    self.reporter.event(event, Some(line.to_owned()));
                }
                return;
            }
        };
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        if let Some(room) = self.rooms.get_mut(&call.room_id) {
            let _ = room.machine.handle_input(Input::Media(now, call_id, input));
        }
    }

    /// Hands one of the machine's media actions to the call's media task (started, with the
    /// shared audio, on the first action). Never awaits: results come back as [`MediaNews`].
    pub(super) fn media_action(
        &mut self,
        room_id: &OwnedRoomId,
        call_id: String,
        action: MediaAction,
    ) {
        if let MediaAction::Close = action {
            // A call that never had media has nothing to close.
            if let Some(media) = self.calls.get(&call_id).and_then(|c| c.media.as_ref()) {
                let _ = media.actions.send(action);
            }
            return;
        }
        let media_cfg = self.media_config();
        let call = self
            .calls
            .entry(call_id.clone())
            .or_insert_with(|| Call::new(room_id.clone()));
        if call.ended.is_some() {
            return;
        }
        let media = call.media.get_or_insert_with(|| {
            let mut cfg = media_cfg;
            cfg.stream_id = Some(self.stream_id.clone());
            CallMedia::start(
                call_id.clone(),
                cfg,
                Box::new(self.source.clone()),
                Box::new(self.sink.clone()),
                self.media_tx.clone(),
            )
        });
        let _ = media.actions.send(action);
    }

    /// News from a call's media task: session events, results of media actions (into the
    /// machine), and the final counters once it closed (which completes a pending end).
    pub(super) fn on_media_news(&mut self, call_id: String, news: MediaNews) {
        let now = Instant::now();
        match news {
            MediaNews::Ready(probe) => {
                if let Some(media) = self.calls.get_mut(&call_id).and_then(|c| c.media.as_mut()) {
                    media.probe = Some(probe);
                }
            }
            MediaNews::Event(event) => self.on_media_event(call_id, event),
            MediaNews::Note(line) => self.reporter.note(&format!("mxcall: {line}")),
            MediaNews::Done(input) => {
                let Some(call) = self.calls.get(&call_id) else {
                    return;
                };
                if let Some(room) = self.rooms.get_mut(&call.room_id) {
                    let _ = room.machine.handle_input(Input::Media(now, call_id, input));
                }
            }
            MediaNews::Closed(stats) => {
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return;
                };
                call.media = None;
                call.stats = stats;
                if call.ended.is_some() {
                    self.finish_ended(call_id);
                }
            }
        }
    }
}

/// What a call's media task reports to the run loop, tagged with the call id.
pub(super) enum MediaNews {
    /// The session exists: its counters and DTMF readiness can be read without awaiting.
    Ready(SessionProbe),
    /// An event of the session (candidates, ICE state, first audio, DTMF, the peer's hold…).
    Event(MediaEvent),
    /// The result of a media action, for the call's machine (an offer, an answer, a failure).
    Done(MediaInput),
    /// A line for stderr: a failure, or DTMF that could not be sent.
    Note(String),
    /// The task ended: the session's final counters (`None`: it never started).
    Closed(Option<MediaStats>),
}

/// A call's media session, owned by a task of its own. The run loop only sends it the machine's
/// [`MediaAction`]s, in order; `MediaAction::Close` (or dropping this) ends it.
pub(super) struct CallMedia {
    actions: mpsc::UnboundedSender<MediaAction>,
    /// Reads the session's counters and DTMF readiness; `None` until the session exists.
    pub(super) probe: Option<SessionProbe>,
    task: JoinHandle<()>,
}

impl CallMedia {
    fn start(
        call_id: String,
        cfg: media::MediaConfig,
        source: Box<dyn crate::audio::AudioSource>,
        sink: Box<dyn crate::audio::AudioSink>,
        news: mpsc::UnboundedSender<(String, MediaNews)>,
    ) -> Self {
        let (actions, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(call_id, cfg, source, sink, rx, news));
        Self {
            actions,
            probe: None,
            task,
        }
    }

    /// Tells the task to close the session; its final counters follow as
    /// [`MediaNews::Closed`].
    pub(super) fn close_soon(&self) {
        let _ = self.actions.send(MediaAction::Close);
    }

    /// Closes the session and waits (at most `limit`) for the task to end; for the process's
    /// shutdown, after the run loop stopped.
    pub(super) async fn close(self, limit: std::time::Duration) {
        let _ = self.actions.send(MediaAction::Close);
        let _ = tokio::time::timeout(limit, self.task).await;
    }
}

/// The media task: creates the session, carries out the actions one at a time, and forwards
/// the session's events in between — so an action's result always reaches the machine before
/// the events that followed it (the candidates gathered for a new offer).
async fn run(
    call_id: String,
    cfg: media::MediaConfig,
    source: Box<dyn crate::audio::AudioSource>,
    sink: Box<dyn crate::audio::AudioSink>,
    mut actions: mpsc::UnboundedReceiver<MediaAction>,
    news: mpsc::UnboundedSender<(String, MediaNews)>,
) {
    let tell = |n: MediaNews| {
        let _ = news.send((call_id.clone(), n));
    };
    let (session, mut events) = match MediaSession::new(cfg, source, sink).await {
        Ok(created) => created,
        Err(e) => {
            tell(MediaNews::Note(e.to_string()));
            tell(MediaNews::Done(MediaInput::Failed(e.to_string())));
            tell(MediaNews::Closed(None));
            return;
        }
    };
    tell(MediaNews::Ready(session.probe()));
    loop {
        tokio::select! {
            biased;
            action = actions.recv() => match action {
                None | Some(MediaAction::Close) => break,
                Some(action) => match execute(&session, action).await {
                    Ok(Some(input)) => tell(MediaNews::Done(input)),
                    Ok(None) => {}
                    Err(Failure::Media(e)) => {
                        tell(MediaNews::Note(e.to_string()));
                        tell(MediaNews::Done(MediaInput::Failed(e.to_string())));
                    }
                    // Not a media failure: the call goes on without the digits.
                    Err(Failure::Dtmf(why)) => tell(MediaNews::Note(format!("DTMF not sent: {why}"))),
                },
            },
            Some(event) = events.recv() => tell(MediaNews::Event(event)),
        }
    }
    tell(MediaNews::Closed(Some(session.close().await)));
}

enum Failure {
    Media(media::MediaError),
    Dtmf(String),
}

impl From<media::MediaError> for Failure {
    fn from(e: media::MediaError) -> Self {
        Failure::Media(e)
    }
}

/// One media action on the session; `Some` input for the machine when it has a result.
async fn execute(
    session: &MediaSession,
    action: MediaAction,
) -> Result<Option<MediaInput>, Failure> {
    Ok(match action {
        MediaAction::CreateOffer => Some(MediaInput::LocalOffer(session.create_offer().await?)),
        MediaAction::AcceptOffer(sdp) => {
            Some(MediaInput::LocalAnswer(session.accept_offer(&sdp).await?))
        }
        MediaAction::AcceptAnswer(sdp) => {
            session.accept_answer(&sdp).await?;
            None
        }
        MediaAction::AddRemoteCandidates {
            candidates,
            end_of_candidates,
        } => {
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
            None
        }
        MediaAction::HoldOffer(held) => {
            Some(MediaInput::LocalOffer(session.hold_offer(held).await?))
        }
        MediaAction::SetMuted(muted) => {
            session.set_muted(muted);
            None
        }
        MediaAction::SendDtmf(digits) => {
            session.send_dtmf(&digits).map_err(Failure::Dtmf)?;
            None
        }
        MediaAction::IceRestart => Some(MediaInput::LocalOffer(session.ice_restart_offer().await?)),
        // Handled by the task's loop.
        MediaAction::Close => None,
    })
}

impl Engine {
    /// The media configuration for a new session: the process's, with the homeserver's TURN
    /// servers as they are now (refreshed in the background before they expire).
    pub(super) fn media_config(&self) -> media::MediaConfig {
        let mut cfg = self.media_cfg.clone();
        if let Some(turn) = self.turn.borrow().as_ref() {
            cfg.ice_servers = vec![media::IceServer {
                urls: turn.uris.clone(),
                username: Some(turn.username.clone()),
                credential: Some(turn.password.clone()),
            }];
        }
        cfg
    }
}
