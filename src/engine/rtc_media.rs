//! The LiveKit side of a MatrixRTC call: once our membership is on the server, a task buys
//! credentials from our LiveKit service (`transport::rtc::sfu_credentials`) and joins the SFU
//! with the process's shared audio (`livekit::SfuSession`); its events come back to the run
//! loop as [`RtcNews`]. Each join has a generation number, so that news of a session that was
//! already left is ignored.

use matrix_sdk::ruma::OwnedRoomId;

use super::Engine;
use super::rtc::RtcNews;
use crate::livekit::{PeerRole, SfuEvent, SfuSession};
use crate::media::{self, MediaEvent};

/// The SFU session of one room's call.
#[derive(Default)]
pub(super) struct RtcMedia {
    generation: u64,
    joining: bool,
    session: Option<SfuSession>,
    /// The publisher connection (our audio to the SFU) is connected.
    publishing: bool,
    /// The other participants in the LiveKit room (identities).
    others: std::collections::HashSet<String>,
}

impl RtcMedia {
    /// Our audio reaches the SFU and someone else is in the LiveKit room.
    pub fn connected(&self) -> bool {
        self.publishing && !self.others.is_empty()
    }

    /// Forgets the SFU session (news of it is ignored from now on) and hands it out, if
    /// joined, to be left (`SfuSession::leave`, which returns the final counters).
    pub fn leave(&mut self) -> Option<SfuSession> {
        self.generation += 1;
        self.joining = false;
        self.publishing = false;
        self.others.clear();
        self.session.take()
    }

    /// The call's counters so far, while connected.
    pub fn stats(&self) -> Option<media::MediaStats> {
        self.session
            .as_ref()
            .filter(|_| self.connected())
            .map(|s| s.stats().merged())
    }
}

impl Engine {
    /// Joins the room's call on our LiveKit SFU (in a task), unless already joined or joining.
    pub(super) fn start_rtc_media(&mut self, room_id: &OwnedRoomId) {
        if self
            .rtc_rooms
            .get(room_id)
            .is_none_or(|r| r.media.joining || r.media.session.is_some())
        {
            return;
        }
        let mut media_cfg = self.media_config();
        match self.rtc_e2ee(room_id) {
            Ok(crypto) => media_cfg.frame_crypto = crypto,
            Err(e) => return self.rtc_media_failed(room_id, e),
        }
        let Some(room) = self.rtc_rooms.get_mut(room_id) else {
            return;
        };
        room.media.generation += 1;
        room.media.joining = true;
        let generation = room.media.generation;
        let config = room.machine.config().clone();
        let member_id = format!("{}:{}", config.own_user, config.own_device);
        let client = self.client.clone();
        let source = Box::new(self.source.clone());
        let sink = Box::new(self.sink.clone());
        let tx = self.rtc_tx.clone();
        let room_id = room_id.clone();
        self.send_tasks.push(tokio::spawn(async move {
            let result = async {
                if config.livekit_service_url.is_empty() {
                    return Err("no LiveKit service to join the call on".to_owned());
                }
                let credentials = crate::transport::rtc::sfu_credentials(
                    &client,
                    &config.livekit_service_url,
                    &config.room_id,
                    &member_id,
                )
                .await?;
                tracing::debug!(url = credentials.url, "joining the LiveKit SFU");
                SfuSession::join(&credentials.url, &credentials.jwt, media_cfg, source, sink)
                    .await
                    .map_err(|e| format!("cannot join the LiveKit SFU at {}: {e}", credentials.url))
            }
            .await;
            let _ = tx.send(RtcNews::SfuJoined {
                room_id,
                generation,
                result,
            });
        }));
    }

    pub(super) fn on_sfu_joined(
        &mut self,
        room_id: OwnedRoomId,
        generation: u64,
        result: Result<(SfuSession, tokio::sync::mpsc::Receiver<SfuEvent>), String>,
    ) {
        let Some(room) = self.rtc_rooms.get_mut(&room_id) else {
            return;
        };
        if room.media.generation != generation {
            // The call ended while we were joining: leave at once.
            if let Ok((session, _)) = result {
                tokio::spawn(session.leave());
            }
            return;
        }
        room.media.joining = false;
        match result {
            Ok((session, mut events)) => {
                tracing::info!(
                    identity = session.joined().identity,
                    room = session.joined().room,
                    "joined the LiveKit room"
                );
                room.media.others = session.joined().others.iter().cloned().collect();
                room.media.session = Some(session);
                let tx = self.rtc_tx.clone();
                tokio::spawn(async move {
                    while let Some(event) = events.recv().await {
                        let news = RtcNews::Sfu {
                            room_id: room_id.clone(),
                            generation,
                            event,
                        };
                        if tx.send(news).is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => self.rtc_media_failed(&room_id, e),
        }
    }

    pub(super) fn on_sfu_event(&mut self, room_id: OwnedRoomId, generation: u64, event: SfuEvent) {
        let Some(room) = self.rtc_rooms.get_mut(&room_id) else {
            return;
        };
        if room.media.generation != generation {
            return;
        }
        match event {
            SfuEvent::Media { role, event } => match (role, event) {
                (PeerRole::Publisher, MediaEvent::Connection(media::ConnState::Connected)) => {
                    room.media.publishing = true;
                    self.maybe_rtc_connected(&room_id);
                }
                (_, MediaEvent::Connection(media::ConnState::Failed)) => {
                    self.rtc_media_failed(
                        &room_id,
                        format!("the {role:?} connection to the LiveKit SFU failed"),
                    );
                }
                (_, MediaEvent::FirstAudio) => {
                    let call = super::report::call_ref(
                        room_id.as_str(),
                        room.call_id.as_deref().unwrap_or(""),
                        super::rtc::PROTOCOL,
                    );
                    self.reporter
                        .event(crate::events::Event::Media { call }, None);
                }
                (_, MediaEvent::InputEnded) if self.opts.hangup_after_input => {
                    self.rtc_hangup_current();
                }
                (_, MediaEvent::Error(e)) => self.reporter.note(&format!("mxcall: {e}")),
                _ => {}
            },
            SfuEvent::Ended { reason } => {
                self.rtc_media_failed(
                    &room_id,
                    format!("the LiveKit SFU ended the session: {reason}"),
                );
            }
            SfuEvent::Error(e) => tracing::debug!("LiveKit: {e}"),
            SfuEvent::ParticipantJoined { identity } => {
                tracing::debug!(identity, "LiveKit participant joined");
                room.media.others.insert(identity);
                self.maybe_rtc_connected(&room_id);
            }
            SfuEvent::ParticipantLeft { identity } => {
                tracing::debug!(identity, "LiveKit participant left");
                room.media.others.remove(&identity);
            }
            _ => {}
        }
    }
}
