//! [`SfuSession`]: one participant in a LiveKit room — the signalling WebSocket and the peer
//! connection(s) it negotiates, run by one task.
//!
//! The rules, in the order a session meets them (client-sdk-js `RTCEngine.ts`,
//! `PCTransportManager.ts`; livekit-server `pkg/rtc/transport.go`):
//! - The join: on `/rtc` ([`Connections::Dual`], [`DEFAULT_CONNECTIONS`]), or on `/rtc/v1`
//!   with a `WrappedJoinRequest` ([`Connections::Single`], livekit-client 2.23's default; a
//!   server without that path answers HTTP 404 and we join on `/rtc` instead). The first
//!   response is `JoinResponse` (`SignalClient.ts` `connect`): our identity, who is already
//!   there, ICE servers, ping interval and timeout.
//! - Single: one peer connection for both directions, and we are always the offerer. Our audio
//!   goes up on its send-receive section; the SFU forwards the others' audio in sections we
//!   offered (it may reuse ours: pion `RTPTransceiver.isSendAllowed`). Whenever it has a track
//!   to forward it sends `MediaSectionsRequirement{num_audios}`: we add that many receive-only
//!   sections and offer again (`num_audios` 0: offer again as we are), and its answer carries
//!   the track. One offer at a time ([`OfferGate`]): a requirement that comes while an offer
//!   waits for its answer is met once the answer is in.
//! - Dual (`/rtc`): the publisher (we offer, the SFU answers) and the subscriber (the SFU
//!   offers, we answer; with `subscriber_primary` it does so right after the join, with its
//!   data channels and then once more for every track it forwards).
//! - Publishing (`LocalParticipant.ts` `publish`): `AddTrackRequest{cid}` → the SFU's
//!   `TrackPublishedResponse{cid, track}` → an offer carrying the track whose msid track id is
//!   `cid`.
//! - Trickle ICE both ways, `TrickleRequest{candidate_init: JSON, target}` (single: always the
//!   publisher target); a candidate that arrives before its connection has the remote
//!   description waits for it (`PCTransport.ts` `pendingCandidates`).
//! - Keep-alive (`SignalClient.ts` `startPingInterval`, `resetPingTimeout`): `PingReq` every
//!   `ping_interval` s; no message at all for `ping_timeout` s means the SFU is gone.
//! - `LeaveRequest` from the SFU ends the session; ours (`sendLeave`) says we go for good.
//!   No resume or reconnect: a MatrixRTC call that loses its SFU ends (the caller decides).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use livekit_protocol as proto;
use proto::signal_request::Message as Request;
use proto::signal_response::Message as Response;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::SfuError;
use super::join_url::{join_url, join_url_v1};
use super::offers::OfferGate;
use super::socket::SignalSocket;
use super::wire::{self, PeerRole};
use crate::audio::{AudioSink, AudioSource};
use crate::media::{
    Candidate, IceServer, MediaConfig, MediaEvent, MediaSession, MediaStats, SessionProbe,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// client-sdk-js waits 15 s for the join response (`SignalClient.ts` `connect` timeout).
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);
const EVENT_QUEUE: usize = 1024;

/// What the SFU told us when we joined.
#[derive(Debug, Clone)]
pub struct Joined {
    pub room: String,
    pub identity: String,
    pub participant_sid: String,
    /// Identities of the participants already in the room.
    pub others: Vec<String>,
    pub server_version: String,
    /// The signalling path and number of peer connections we joined with.
    pub connections: Connections,
}

/// How many peer connections a session uses: which of livekit-server's signalling paths it
/// joined on (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    /// `/rtc/v1`: one connection carries our audio up and the others' down.
    Single,
    /// `/rtc`: a publisher and a subscriber connection.
    Dual,
}

/// What [`SfuSession::join`] uses: two connections on `/rtc`, still. The one-connection path
/// works (every MatrixRTC test, Element Call's interop suite included, passed on it), but in
/// the interop suite's key-rotation test — a second Element device joins and leaves, so the SFU
/// asks for a receive section and we renegotiate twice — mxcall's recording of the first
/// device had dropouts of 120 ms, 140 ms and over 200 ms (the test's limit) in 3 of 7 runs
/// under the suite's parallel load, against 0 and 20 ms in two runs on two connections; not the
/// default until that is understood.
pub const DEFAULT_CONNECTIONS: Connections = Connections::Dual;

/// What a session reports while it runs.
#[derive(Debug)]
#[non_exhaustive]
pub enum SfuEvent {
    /// The SFU accepted our audio track; its offer follows on the publisher connection.
    TrackPublished {
        sid: String,
    },
    ParticipantJoined {
        identity: String,
    },
    ParticipantLeft {
        identity: String,
    },
    /// An event of a media session (candidates are already sent). With
    /// [`Connections::Single`] every event is the publisher's.
    Media {
        role: PeerRole,
        event: MediaEvent,
    },
    /// The signalling is over: the SFU sent `LeaveRequest`, closed the socket or went silent.
    /// The media sessions keep running until [`SfuSession::leave`].
    Ended {
        reason: String,
    },
    /// Something failed, the session goes on (a bad remote description or candidate).
    Error(SfuError),
}

/// Counters of both connections at the end.
#[derive(Debug, Clone, Default)]
pub struct SfuStats {
    pub publisher: MediaStats,
    pub subscriber: MediaStats,
}

impl SfuStats {
    /// One call's counters: what we received (subscriber) and what we sent (publisher).
    pub fn merged(&self) -> MediaStats {
        MediaStats {
            packets_sent: self.publisher.packets_sent,
            bytes_sent: self.publisher.bytes_sent,
            ..self.subscriber.clone()
        }
    }
}

/// One participant's session with a LiveKit SFU. See the module documentation.
pub struct SfuSession {
    joined: Joined,
    /// The publisher's and the subscriber's counters, readable while the task runs.
    stats: [SessionProbe; 2],
    leave: mpsc::Sender<oneshot::Sender<SfuStats>>,
    task: JoinHandle<()>,
}

impl SfuSession {
    /// Joins the room the `token` names at `sfu_url` (what the MatrixRTC JWT service hands
    /// out), publishes `source` as our microphone and plays the first audio track the SFU
    /// forwards into `sink`, with [`DEFAULT_CONNECTIONS`]. Returns once the SFU accepted the
    /// join; everything after that is reported as [`SfuEvent`]s.
    pub async fn join(
        sfu_url: &str,
        token: &str,
        media: MediaConfig,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
    ) -> Result<(Self, mpsc::Receiver<SfuEvent>), SfuError> {
        Self::join_using(DEFAULT_CONNECTIONS, sfu_url, token, media, source, sink).await
    }

    /// [`join`](Self::join) with `connections`: [`Connections::Single`] joins on `/rtc/v1`,
    /// and on `/rtc` with two connections when the server has no `/rtc/v1`
    /// ([`Joined::connections`] says which); [`Connections::Dual`] joins on `/rtc`.
    pub async fn join_using(
        connections: Connections,
        sfu_url: &str,
        token: &str,
        media: MediaConfig,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
    ) -> Result<(Self, mpsc::Receiver<SfuEvent>), SfuError> {
        let (mut socket, connections) = match connections {
            Connections::Dual => (dual(sfu_url, token).await?, Connections::Dual),
            Connections::Single => {
                let url = join_url_v1(sfu_url, token, &wire::join_request())?;
                match SignalSocket::connect(&url, CONNECT_TIMEOUT).await {
                    Ok(socket) => (socket, Connections::Single),
                    Err(e) if lacks_v1(&e) => {
                        tracing::debug!(
                            "the SFU has no /rtc/v1 ({e}): joining with two connections"
                        );
                        (dual(sfu_url, token).await?, Connections::Dual)
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let join = match tokio::time::timeout(JOIN_TIMEOUT, socket.recv()).await {
            Ok(Some(Ok(Response::Join(join)))) => join,
            Ok(Some(Ok(Response::Leave(leave)))) => {
                return Err(SfuError::Closed(format!(
                    "sent leave ({}) instead of join",
                    leave.reason().as_str_name()
                )));
            }
            Ok(Some(Ok(other))) => {
                return Err(SfuError::Protocol(format!(
                    "'{}' before the join response",
                    wire::response_name(&other)
                )));
            }
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) => return Err(SfuError::Closed("before the join response".to_owned())),
            Err(_) => {
                return Err(SfuError::Protocol(format!(
                    "no join response within {} s",
                    JOIN_TIMEOUT.as_secs()
                )));
            }
        };
        let me = join.participant.clone().unwrap_or_default();
        let joined = Joined {
            room: join
                .room
                .as_ref()
                .map(|r| r.name.clone())
                .unwrap_or_default(),
            identity: me.identity.clone(),
            participant_sid: me.sid.clone(),
            others: join
                .other_participants
                .iter()
                .map(|p| p.identity.clone())
                .collect(),
            server_version: join.server_version.clone(),
            connections,
        };
        tracing::debug!(
            room = %joined.room,
            identity = %joined.identity,
            ?connections,
            subscriber_primary = join.subscriber_primary,
            "joined the LiveKit room"
        );

        if let Some(crypto) = &media.frame_crypto {
            crypto.set_sif_trailer(&join.sif_trailer);
            for p in &join.other_participants {
                crypto.set_participant(&p.sid, &p.identity);
            }
        }
        let crypto = media.frame_crypto.clone();
        let encrypted = crypto.is_some();
        let media = with_ice_servers(media, &join.ice_servers);
        let (publisher, publisher_events, subscriber, subscriber_events) = match connections {
            Connections::Single => {
                let (publisher, events) = MediaSession::new(media, source, sink).await?;
                (publisher, events, None, None)
            }
            Connections::Dual => {
                let (publisher, publisher_events) =
                    MediaSession::send_only(media.clone(), source).await?;
                let (subscriber, subscriber_events) =
                    MediaSession::receive_only(media, sink).await?;
                (
                    publisher,
                    publisher_events,
                    Some(subscriber),
                    Some(subscriber_events),
                )
            }
        };
        let cid = publisher.track_id().unwrap_or_default().to_owned();
        // Single: one session's counters serve as both (`SfuStats::merged` takes what was sent
        // from the first, the rest from the second).
        let stats = [
            publisher.probe(),
            subscriber.as_ref().unwrap_or(&publisher).probe(),
        ];
        socket.send(wire::add_audio_track(&cid, encrypted)).await?;

        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (leave_tx, leave_rx) = mpsc::channel(1);
        let run = Run {
            socket: Some(socket),
            publisher,
            subscriber,
            events: events_tx,
            own_sid: me.sid,
            cid,
            next_offer_id: 1,
            offers: OfferGate::default(),
            described: [false, false],
            early: Vec::new(),
            others: join
                .other_participants
                .iter()
                .map(|p| (p.sid.clone(), p.identity.clone()))
                .collect(),
            ping_interval: secs(join.ping_interval),
            ping_timeout: secs(join.ping_timeout),
            last_heard: Instant::now(),
            rtt_ms: 0,
            crypto,
        };
        let task = tokio::spawn(run.run(publisher_events, subscriber_events, leave_rx));
        Ok((
            SfuSession {
                joined,
                stats,
                leave: leave_tx,
                task,
            },
            events_rx,
        ))
    }

    pub fn joined(&self) -> &Joined {
        &self.joined
    }

    /// The counters so far (sampled from the stack once a second).
    pub fn stats(&self) -> SfuStats {
        SfuStats {
            publisher: self.stats[0].stats(),
            subscriber: self.stats[1].stats(),
        }
    }

    /// Leaves the room; the final counters, taken after the last frame was sent.
    pub async fn leave(self) -> SfuStats {
        let (tx, rx) = oneshot::channel();
        let stats = if self.leave.send(tx).await.is_ok() {
            rx.await.unwrap_or_default()
        } else {
            SfuStats::default()
        };
        let _ = self.task.await;
        stats
    }
}

/// Opens the v0 signalling socket (two connections).
async fn dual(sfu_url: &str, token: &str) -> Result<SignalSocket, SfuError> {
    SignalSocket::connect(&join_url(sfu_url, token)?, CONNECT_TIMEOUT).await
}

/// Whether the SFU's refusal of a `/rtc/v1` join says it has no such path (an older
/// livekit-server: Go's mux answers 404 for a path it does not route), as livekit-client
/// decides it (`SignalClient.ts` `handleConnectionError`): a 404 that is not "requested room
/// does not exist".
fn lacks_v1(e: &SfuError) -> bool {
    matches!(e, SfuError::Refused { status: 404, reason } if !reason.contains("requested room does not exist"))
}

fn secs(s: i32) -> Option<Duration> {
    (s > 0).then(|| Duration::from_secs(s as u64))
}

fn with_ice_servers(mut media: MediaConfig, servers: &[proto::IceServer]) -> MediaConfig {
    media.ice_servers.extend(
        servers
            .iter()
            .filter(|s| !s.urls.is_empty())
            .map(|s| IceServer {
                urls: s.urls.clone(),
                username: (!s.username.is_empty()).then(|| s.username.clone()),
                credential: (!s.credential.is_empty()).then(|| s.credential.clone()),
            }),
    );
    media
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The session task's state.
struct Run {
    /// `None` once the signalling ended; the media runs on until `leave`.
    socket: Option<SignalSocket>,
    /// With [`Connections::Single`] the one connection, for both directions.
    publisher: MediaSession,
    /// `None` with [`Connections::Single`].
    subscriber: Option<MediaSession>,
    events: mpsc::Sender<SfuEvent>,
    own_sid: String,
    /// Our track's client id (its msid track id).
    cid: String,
    next_offer_id: u32,
    /// One offer at a time.
    offers: OfferGate,
    /// Whether each connection (publisher, subscriber) has its remote description.
    described: [bool; 2],
    /// Remote candidates that came before their connection's remote description.
    early: Vec<(PeerRole, Option<Candidate>)>,
    /// Other participants: sid → identity.
    others: HashMap<String, String>,
    ping_interval: Option<Duration>,
    ping_timeout: Option<Duration>,
    last_heard: Instant,
    rtt_ms: i64,
    /// Frame E2EE: told which participant each sid is.
    crypto: Option<std::sync::Arc<crate::e2ee::MediaCrypto>>,
}

impl Run {
    async fn run(
        mut self,
        mut publisher_events: mpsc::Receiver<MediaEvent>,
        mut subscriber_events: Option<mpsc::Receiver<MediaEvent>>,
        mut leave: mpsc::Receiver<oneshot::Sender<SfuStats>>,
    ) {
        let mut ping =
            tokio::time::interval(self.ping_interval.unwrap_or(Duration::from_secs(3600)));
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let reply = loop {
            tokio::select! {
                reply = leave.recv() => break reply,
                message = recv(&mut self.socket) => match message {
                    Some(Ok(message)) => {
                        self.last_heard = Instant::now();
                        self.on_response(message).await;
                    }
                    Some(Err(e)) => self.end(e.to_string()).await,
                    None => self.end("the SFU closed the signalling connection".to_owned()).await,
                },
                Some(event) = publisher_events.recv() => {
                    self.on_media(PeerRole::Publisher, event).await;
                }
                Some(event) = next_event(&mut subscriber_events) => {
                    self.on_media(PeerRole::Subscriber, event).await;
                }
                _ = ping.tick(), if self.socket.is_some() && self.ping_interval.is_some() => {
                    self.keep_alive().await;
                }
            }
        };
        if let Some(mut socket) = self.socket.take() {
            let _ = socket.send(wire::leave()).await;
            socket.close().await;
        }
        let publisher = self.publisher.close().await;
        let stats = SfuStats {
            subscriber: match self.subscriber {
                Some(subscriber) => subscriber.close().await,
                None => publisher.clone(),
            },
            publisher,
        };
        if let Some(reply) = reply {
            let _ = reply.send(stats);
        }
    }

    fn emit(&self, event: SfuEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.events.try_send(event) {
            tracing::warn!(?event, "SFU event queue full; event dropped");
        }
    }

    async fn send(&mut self, message: Request) {
        let Some(socket) = self.socket.as_mut() else {
            return;
        };
        if let Err(e) = socket.send(message).await {
            self.end(e.to_string()).await;
        }
    }

    async fn end(&mut self, reason: String) {
        if let Some(mut socket) = self.socket.take() {
            socket.close().await;
            tracing::debug!(%reason, "LiveKit signalling ended");
            self.emit(SfuEvent::Ended { reason });
        }
    }

    async fn keep_alive(&mut self) {
        if let Some(timeout) = self.ping_timeout
            && self.last_heard.elapsed() > timeout
        {
            let reason = format!("no message from the SFU for {} s", timeout.as_secs());
            self.end(reason).await;
            return;
        }
        self.send(wire::ping(unix_ms(), self.rtt_ms)).await;
    }

    fn session(&self, role: PeerRole) -> &MediaSession {
        match (role, &self.subscriber) {
            (PeerRole::Subscriber, Some(subscriber)) => subscriber,
            _ => &self.publisher,
        }
    }

    /// Offers on the publisher connection, or once its pending offer is answered.
    async fn offer(&mut self) {
        if self.offers.want() {
            self.make_offer().await;
        }
    }

    /// Makes and sends the offer the gate allowed.
    async fn make_offer(&mut self) {
        match self.publisher.create_offer().await {
            Ok(sdp) => {
                let id = self.next_offer_id;
                self.next_offer_id += 1;
                self.send(Request::Offer(wire::description("offer", sdp, id)))
                    .await;
            }
            Err(e) => {
                self.offers.failed();
                self.emit(SfuEvent::Error(e.into()));
            }
        }
    }

    async fn on_media(&mut self, role: PeerRole, event: MediaEvent) {
        match event {
            MediaEvent::LocalCandidate(c) => self.send(wire::trickle(role, &c)).await,
            // client-sdk-js sends no end-of-candidates marker (`onicecandidate` with a null
            // candidate is dropped); the SFU does not need one.
            MediaEvent::GatheringComplete => {}
            event => self.emit(SfuEvent::Media { role, event }),
        }
    }

    async fn on_response(&mut self, message: Response) {
        tracing::trace!(message = wire::response_name(&message), "LiveKit signal");
        match message {
            Response::Offer(offer) => {
                let Some(subscriber) = &self.subscriber else {
                    let e = SfuError::Protocol("an offer on a single peer connection".to_owned());
                    self.emit(SfuEvent::Error(e));
                    return;
                };
                match subscriber.accept_offer(&offer.sdp).await {
                    Ok(sdp) => {
                        let answer = wire::description("answer", sdp, offer.id);
                        self.send(Request::Answer(answer)).await;
                        self.described_now(PeerRole::Subscriber).await;
                    }
                    Err(e) => self.emit(SfuEvent::Error(e.into())),
                }
            }
            Response::Answer(answer) => {
                match self.publisher.accept_answer(&answer.sdp).await {
                    Ok(()) => self.described_now(PeerRole::Publisher).await,
                    Err(e) => self.emit(SfuEvent::Error(e.into())),
                }
                if self.offers.answered() {
                    self.make_offer().await;
                }
            }
            Response::MediaSectionsRequirement(needed) if self.subscriber.is_none() => {
                tracing::debug!(
                    audios = needed.num_audios,
                    videos = needed.num_videos,
                    "the SFU has tracks to forward"
                );
                // Video is never played: its sections are not added, the SFU keeps it.
                if let Err(e) = self.publisher.add_receive_sections(needed.num_audios).await {
                    self.emit(SfuEvent::Error(e.into()));
                }
                self.offer().await;
            }
            Response::Trickle(trickle) => match wire::remote_candidate(&trickle) {
                Ok((role, candidate)) if self.described[self.connection(role) as usize] => {
                    self.add_candidate(role, candidate).await;
                }
                Ok(early) => self.early.push(early),
                Err(e) => self.emit(SfuEvent::Error(e)),
            },
            Response::TrackPublished(published) if published.cid == self.cid => {
                let sid = published.track.map(|t| t.sid).unwrap_or_default();
                self.emit(SfuEvent::TrackPublished { sid });
                self.offer().await;
            }
            Response::Update(update) => self.on_participants(update.participants),
            Response::Leave(leave) => {
                let reason = format!(
                    "the SFU asked us to leave ({})",
                    leave.reason().as_str_name()
                );
                self.end(reason).await;
            }
            Response::PongResp(pong) => self.rtt_ms = unix_ms() - pong.last_ping_timestamp,
            _ => {}
        }
    }

    /// Which connection a role's messages are about: with one connection, the publisher.
    fn connection(&self, role: PeerRole) -> PeerRole {
        match self.subscriber {
            Some(_) => role,
            None => PeerRole::Publisher,
        }
    }

    async fn described_now(&mut self, role: PeerRole) {
        let connection = self.connection(role);
        self.described[connection as usize] = true;
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.early)
            .into_iter()
            .partition(|(r, _)| self.connection(*r) == connection);
        self.early = later;
        for (role, candidate) in now {
            self.add_candidate(role, candidate).await;
        }
    }

    async fn add_candidate(&self, role: PeerRole, candidate: Option<Candidate>) {
        if let Err(e) = self.session(role).add_remote_candidate(candidate).await {
            self.emit(SfuEvent::Error(e.into()));
        }
    }

    /// `ParticipantUpdate` carries the full info of participants that changed
    /// (`RTCEngine.ts` → `Room.ts` `handleParticipantUpdates`): a new sid joined, state
    /// `DISCONNECTED` left.
    fn on_participants(&mut self, participants: Vec<proto::ParticipantInfo>) {
        for p in participants {
            if p.sid == self.own_sid {
                continue;
            }
            let gone = p.state() == proto::participant_info::State::Disconnected;
            if gone {
                if self.others.remove(&p.sid).is_some() {
                    self.emit(SfuEvent::ParticipantLeft {
                        identity: p.identity,
                    });
                }
            } else if let Entry::Vacant(slot) = self.others.entry(p.sid) {
                if let Some(crypto) = &self.crypto {
                    crypto.set_participant(slot.key(), &p.identity);
                }
                slot.insert(p.identity.clone());
                self.emit(SfuEvent::ParticipantJoined {
                    identity: p.identity,
                });
            }
        }
    }
}

/// The next event of a media session, or never without one.
async fn next_event(events: &mut Option<mpsc::Receiver<MediaEvent>>) -> Option<MediaEvent> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

/// The next response of the socket, or never once there is none.
async fn recv(socket: &mut Option<SignalSocket>) -> Option<Result<Response, SfuError>> {
    match socket {
        Some(socket) => socket.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_404_for_the_path_itself_falls_back_to_two_connections() {
        let refused = |status, reason: &str| SfuError::Refused {
            status,
            reason: reason.to_owned(),
        };
        assert!(lacks_v1(&refused(404, "404 page not found")));
        assert!(lacks_v1(&refused(404, "Not Found")));
        assert!(!lacks_v1(&refused(404, "requested room does not exist")));
        assert!(!lacks_v1(&refused(401, "invalid token")));
        let unreachable = SfuError::Connect {
            url: "ws://h".to_owned(),
            reason: "refused".to_owned(),
        };
        assert!(!lacks_v1(&unreachable));
    }
}
