//! The engine's media side: one `MediaSession` per call, created on the machine's first media
//! action for it with the process's shared audio, and its events fed back to the machine.

use std::time::Instant;

use matrix_sdk::ruma::OwnedRoomId;
use serde_json::json;

use super::report::with_call;
use super::{Call, Engine};
use crate::media::{self, MediaEvent, MediaSession};
use crate::signalling::{IceCandidate, Input, MediaAction, MediaInput};

impl Engine {
    pub(super) fn on_media_event(&mut self, call_id: String, event: MediaEvent) {
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
                if self.opts.hangup_after_input && self.current.as_deref() == Some(call_id.as_str())
                {
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
                    let fields =
                        with_call(call.room_id.as_str(), &call_id, json!({"by": "remote"}));
                    let (name, line) = if held {
                        ("held", "the other side put the call on hold")
                    } else {
                        ("resumed", "the other side resumed the call")
                    };
                    self.reporter.event(name, fields, Some(line.to_owned()));
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

    pub(super) async fn media_action(
        &mut self,
        room_id: &OwnedRoomId,
        call_id: String,
        action: MediaAction,
    ) {
        let now = Instant::now();
        let result: std::result::Result<Option<MediaInput>, media::MediaError> = async {
            match action {
                MediaAction::CreateOffer => {
                    let session = self.session_for(room_id, &call_id).await?;
                    Ok(Some(MediaInput::LocalOffer(session.create_offer().await?)))
                }
                MediaAction::AcceptOffer(sdp) => {
                    let session = self.session_for(room_id, &call_id).await?;
                    Ok(Some(MediaInput::LocalAnswer(
                        session.accept_offer(&sdp).await?,
                    )))
                }
                MediaAction::AcceptAnswer(sdp) => {
                    let session = self.session_for(room_id, &call_id).await?;
                    session.accept_answer(&sdp).await?;
                    Ok(None)
                }
                MediaAction::AddRemoteCandidates {
                    candidates,
                    end_of_candidates,
                } => {
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
                MediaAction::HoldOffer(held) => {
                    let session = self.session_for(room_id, &call_id).await?;
                    Ok(Some(MediaInput::LocalOffer(
                        session.hold_offer(held).await?,
                    )))
                }
                MediaAction::SetMuted(muted) => {
                    let session = self.session_for(room_id, &call_id).await?;
                    session.set_muted(muted);
                    Ok(None)
                }
                MediaAction::SendDtmf(digits) => {
                    let session = self.session_for(room_id, &call_id).await?;
                    // Not a media failure: the call goes on without the digits.
                    if let Err(why) = session.send_dtmf(&digits) {
                        self.reporter.note(&format!("mxcall: DTMF not sent: {why}"));
                    }
                    Ok(None)
                }
                MediaAction::IceRestart => {
                    let session = self.session_for(room_id, &call_id).await?;
                    Ok(Some(MediaInput::LocalOffer(
                        session.ice_restart_offer().await?,
                    )))
                }
                MediaAction::Close => {
                    if let Some(call) = self.calls.get_mut(&call_id)
                        && let Some(session) = call.session.take()
                    {
                        call.stats = Some(session.close().await);
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
    pub(super) async fn session_for(
        &mut self,
        room_id: &OwnedRoomId,
        call_id: &str,
    ) -> std::result::Result<&MediaSession, media::MediaError> {
        let media_cfg = self.media_config();
        let call = self
            .calls
            .entry(call_id.to_owned())
            .or_insert_with(|| Call {
                room_id: room_id.clone(),
                session: None,
                connected_at: None,
                stats: None,
                hangup: None,
            });
        if call.session.is_none() {
            let mut cfg = media_cfg;
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
