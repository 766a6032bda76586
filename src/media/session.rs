//! [`MediaSession`]: the glue between webrtc-rs 0.21 and the engine's audio paths. The peer
//! connection's event handler turns webrtc events into [`MediaEvent`]s; three tasks carry the
//! audio (send ticker, receive loop, playout ticker), one reads the peer's reception reports
//! and one samples the RTT and decides FEC.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_TELEPHONE_EVENT,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::RTCSdpType;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceConnectionState, RTCIceGatheringState,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription, Registry,
    SettingEngineBuilder, StatsSelector, configure_rtcp_reports,
};

use super::codec::{MAX_PACKET, OpusEncoder};
use super::driver_runtime::DriverRuntime;
use super::dtmf::{self, DtmfReceiver, DtmfSender, Tick};
use super::ice::{has_relay, refuse_local_candidate, refuse_remote_candidate, usable_ice_servers};
use super::jitter::MAX_PAYLOAD;
use super::jitter::{JitterBuffer, JitterConfig};
use super::loss_reports;
use super::played_track::{Admission, PlayedTrack};
use super::player::{Filled, FramePlayer, MAX_PACKETS_PER_FRAME};
use super::remote_sdp::{self, Direction};
use super::{Candidate, ConnState, MediaConfig, MediaError, MediaEvent, MediaStats};
use crate::audio::{AudioSink, AudioSource, FRAME_SAMPLES, SourceStatus};
use webrtc::rtp_transceiver::RTCRtpTransceiverDirection;

const FRAME: Duration = Duration::from_millis(20);
/// One frame in RTP clock units (48 kHz).
const FRAME_TICKS: u32 = 960;
const OPUS_PAYLOAD_TYPE: u8 = 111;
/// RFC 4733 telephone-events at the Opus clock and at 8 kHz, with Chromium's payload types
/// (both are offered, as browsers do; either is accepted).
const TELEPHONE_EVENTS: [(u8, u32); 2] = [(110, 48_000), (126, 8_000)];
/// Chromium's own Opus parameters; `useinbandfec=1` tells the peer to send FEC as well.
const OPUS_FMTP: &str = "minptime=10;useinbandfec=1";
const EVENT_QUEUE: usize = 1024;
/// How long gathering may run before the end of candidates is declared anyway. webrtc-rs ends
/// it only when every STUN/TURN transaction has finished, which for an unreachable TURN server
/// is its ~40 s retransmission timeout: the peer would wait that long for the end-of-candidates
/// marker (spec: Matrix VoIP "ICE candidates"; RFC 8838 §8.2). A reachable TURN server
/// allocates within two round trips.
const GATHERING_LIMIT: Duration = Duration::from_secs(5);
/// How long the DTLS handshake may take after ICE connected before mxcall says it failed
/// (webrtc-rs keeps a failed handshake in `Connecting` without an event).
const DTLS_LIMIT: Duration = Duration::from_secs(8);

/// ICE connectivity-check pacing (RFC 8445 §14.2's Ta, default 50 ms; webrtc-rs's own is 200 ms).
/// It also paces more than checks: webrtc-rs runs its whole stack's timers on this tick while
/// ICE is checking. The DTLS client's first flight, which used to wait for the next tick after
/// ICE selected a pair (0–20 ms of every answered call's setup at 20 ms, 0–50 at 50), now leaves
/// at once (`driver_runtime`). The cost of a short tick: webrtc-rs checks *every* waiting pair
/// each tick, so a callee whose checks the caller cannot answer yet (it has no answer) sends one
/// per pair per 20 ms until it does — a few packets per pair per 100 ms of a homeserver round
/// trip. Once ICE is connected the agent ticks every 200 ms as before.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(20);
/// Unanswered checks before a candidate pair is given up: 100 × 20 ms = 2 s (webrtc-rs's
/// default was 7 × 200 ms = 1.4 s), room for a peer whose answer is still on its way.
const ICE_CHECK_ATTEMPTS: u16 = 100;
// Peer-reflexive pairs are nominated as soon as they work (webrtc-rs waits 1 s for them by
// default, to prefer a signalled candidate): the peer's checks usually arrive before its
// candidates do, which makes its host address peer-reflexive to us, and that wait was most of
// a LAN call's setup. RFC 8445 knows no such wait.

/// One call's peer connection and its audio. See the module documentation of `media`.
pub struct MediaSession {
    pc: Arc<dyn PeerConnection>,
    /// Whether the peer's mDNS (`.local`) candidates can be resolved.
    mdns: bool,
    /// Our DTLS role (`a=setup` value, "active" or "passive") once the first negotiation set it;
    /// answers to later offers keep it (RFC 5763 §5).
    dtls_role: Mutex<Option<String>>,
    shared: Arc<Shared>,
    stream_id: String,
    track_id: Option<String>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    playout: Mutex<Option<JoinHandle<()>>>,
}

/// State shared by the session handle, the webrtc event handler and the audio tasks.
struct Shared {
    events: mpsc::Sender<MediaEvent>,
    /// `a=mid` of our audio m-line, stamped on local candidates.
    mid: Mutex<Option<String>>,
    jitter: Mutex<JitterBuffer>,
    /// Becomes true at the first `Connected`; the audio tickers wait for it.
    connected: watch::Sender<bool>,
    shutdown: watch::Sender<bool>,
    /// Our stream's packets and payload bytes on the wire (`sent`).
    sent: super::sent::SentCounter,
    packets_received: AtomicU64,
    bytes_received: AtomicU64,
    frames_played: AtomicU64,
    /// Packets decoded (or rebuilt from FEC) from what the peer sent.
    frames_decoded: AtomicU64,
    /// Microseconds; `u64::MAX` until measured.
    rtt_us: AtomicU64,
    /// The loss the encoder should plan in-band FEC for (percent; `fec::FecPolicy`, fed the
    /// peer's reception reports by the stats loop).
    fec_percent: AtomicI32,
    /// The highest fraction lost (in 1/256) the peer reported on our audio since the stats loop
    /// last looked (`loss_reports`); −1: no report since.
    peer_loss_q8: AtomicI32,
    /// Numbers the remote audio tracks as they arrive (from 1).
    remote_tracks: AtomicU64,
    /// Which remote track is played (`played_track`); locked after `jitter`, never before.
    played_track: Mutex<PlayedTrack>,
    /// The peer receives our audio (RFC 3264 direction of the last negotiation): false while it
    /// holds the call (`a=inactive` / `a=sendonly` offers, or such answers), so nothing is sent.
    sending: AtomicBool,
    /// `set_muted`: silence goes out instead of the source.
    muted: AtomicBool,
    /// We hold the call (`hold_offer`): silence goes out, as js-sdk mutes while it holds.
    held: AtomicBool,
    /// Whether remote audio is played (false for a send-only session: nothing would drain the
    /// jitter buffer).
    plays: bool,
    /// Frame E2EE, if the call has it.
    crypto: Option<Arc<crate::e2ee::MediaCrypto>>,
    /// The current gathering (one per offer/answer with fresh credentials).
    gathering: Mutex<Gathering>,
    /// Bumped each time ICE connects; the DTLS watchdog checks it has not moved on.
    ice_connects: AtomicU64,
    /// The peer connection's runtime: told to run the driver's timers at once when ICE connects,
    /// so the DTLS client's first flight leaves then (`driver_runtime`).
    runtime: Arc<DriverRuntime>,
    /// Digits queued by `send_dtmf`, stepped by the send loop.
    dtmf: Mutex<DtmfSender>,
    /// The telephone-event payload types and clock rates of the last remote description.
    telephone_events: Mutex<Vec<(u8, u32)>>,
}

#[derive(Debug, Default)]
struct Gathering {
    generation: u64,
    /// The end of candidates has been reported for this generation.
    ended: bool,
}

impl Shared {
    fn emit(&self, event: MediaEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.events.try_send(event) {
            tracing::warn!(?event, "media event queue full; event dropped");
        }
    }
}

struct Handler {
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if lock(&self.shared.gathering).ended {
            tracing::debug!("a local candidate after the end of candidates; not sent");
            return;
        }
        match event.candidate.to_json() {
            Ok(init) if refuse_local_candidate(&init.candidate).is_some() => {
                tracing::debug!(candidate = %init.candidate, "an unusable local candidate; not sent");
            }
            Ok(init) => {
                let mid = self
                    .shared
                    .mid
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                self.shared.emit(MediaEvent::LocalCandidate(Candidate {
                    candidate: init.candidate,
                    sdp_mid: mid.or(init.sdp_mid),
                    sdp_mline_index: Some(0),
                }));
            }
            Err(e) => tracing::warn!("cannot serialise a local ICE candidate: {e}"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            end_gathering(&self.shared, None);
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        if !matches!(
            state,
            RTCIceConnectionState::Connected | RTCIceConnectionState::Completed
        ) || *self.shared.connected.borrow()
        {
            return;
        }
        self.shared.runtime.handle_timers_now();
        let attempt = self.shared.ice_connects.fetch_add(1, Ordering::AcqRel) + 1;
        let shared = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            tokio::time::sleep(DTLS_LIMIT).await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if !*shared.connected.borrow()
                && !*shared.shutdown.borrow()
                && shared.ice_connects.load(Ordering::Acquire) == attempt
            {
                shared.emit(MediaEvent::Error(MediaError::WebRtc {
                    step: "DTLS handshake",
                    reason: format!(
                        "ICE connected, but no DTLS session with the peer after {} s \
                         (its certificate does not match the SDP fingerprint, or DTLS is blocked)",
                        DTLS_LIMIT.as_secs()
                    ),
                }));
            }
        });
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let state = match state {
            RTCPeerConnectionState::New => ConnState::New,
            RTCPeerConnectionState::Connecting => ConnState::Connecting,
            RTCPeerConnectionState::Connected => ConnState::Connected,
            RTCPeerConnectionState::Disconnected => ConnState::Disconnected,
            RTCPeerConnectionState::Failed => ConnState::Failed,
            RTCPeerConnectionState::Closed => ConnState::Closed,
            _ => return,
        };
        tracing::debug!(?state, "peer connection state");
        if state == ConnState::Connected {
            self.shared.connected.send_replace(true);
        }
        self.shared.emit(MediaEvent::Connection(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if !self.shared.plays || track.kind().await != RtpCodecKind::Audio {
            return;
        }
        // Every remote audio track is read; one at a time is played (`played_track`).
        let generation = self.shared.remote_tracks.fetch_add(1, Ordering::AcqRel) + 1;
        if generation > 1 {
            tracing::debug!(generation, "another remote audio track");
        }
        tokio::spawn(receive_loop(track, self.shared.clone(), generation));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A local description was applied: webrtc-rs gathers afresh unless a gathering is running
/// (its driver's `IceGathering`), so a new generation starts, bounded by [`GATHERING_LIMIT`].
fn start_gathering(shared: &Arc<Shared>) {
    let generation = {
        let mut g = lock(&shared.gathering);
        if g.generation != 0 && !g.ended {
            return;
        }
        g.generation += 1;
        g.ended = false;
        g.generation
    };
    let shared = Arc::downgrade(shared);
    tokio::spawn(async move {
        tokio::time::sleep(GATHERING_LIMIT).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if end_gathering(&shared, Some(generation)) {
            tracing::info!(
                "ICE gathering still running after {} s (an unreachable STUN or TURN server?); \
                 end of candidates sent, later candidates dropped",
                GATHERING_LIMIT.as_secs()
            );
        }
    });
}

/// Reports the end of candidates once per gathering: when the stack finishes it (`None`), or
/// at [`GATHERING_LIMIT`] if `generation` is still the current one. True if this call ended it.
fn end_gathering(shared: &Shared, generation: Option<u64>) -> bool {
    {
        let mut g = lock(&shared.gathering);
        if g.ended || generation.is_some_and(|n| n != g.generation) {
            return false;
        }
        g.ended = true;
    }
    shared.emit(MediaEvent::GatheringComplete);
    true
}

impl MediaSession {
    /// Builds the peer connection with one send-receive audio track. Nothing is sent or played
    /// until the connection is up.
    pub async fn new(
        cfg: MediaConfig,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
    ) -> Result<(Self, mpsc::Receiver<MediaEvent>), MediaError> {
        Self::build(cfg, Some(source), Some(sink)).await
    }

    /// A session that only sends: one audio track fed by `source`, nothing played. For an SFU's
    /// publisher connection, which carries our track up and never brings audio down.
    pub async fn send_only(
        cfg: MediaConfig,
        source: Box<dyn AudioSource>,
    ) -> Result<(Self, mpsc::Receiver<MediaEvent>), MediaError> {
        Self::build(cfg, Some(source), None).await
    }

    /// A session that only receives: no local track; the remote audio tracks the peer offers
    /// are played into `sink` one at a time (`played_track`: no mixing). For an SFU's
    /// subscriber connection, where the server offers.
    pub async fn receive_only(
        cfg: MediaConfig,
        sink: Box<dyn AudioSink>,
    ) -> Result<(Self, mpsc::Receiver<MediaEvent>), MediaError> {
        Self::build(cfg, None, Some(sink)).await
    }

    /// A media engine with Opus and the default interceptors (NACK, RTCP reports, TWCC).
    fn media_engine() -> Result<(MediaEngine, Registry), MediaError> {
        let mut media = MediaEngine::default();
        media
            .register_codec(
                RTCRtpCodecParameters {
                    rtp_codec: opus_codec(),
                    payload_type: OPUS_PAYLOAD_TYPE,
                },
                RtpCodecKind::Audio,
            )
            .map_err(|e| MediaError::webrtc("registering Opus", e))?;
        for (payload_type, clock_rate) in TELEPHONE_EVENTS {
            media
                .register_codec(
                    RTCRtpCodecParameters {
                        rtp_codec: RTCRtpCodec {
                            mime_type: MIME_TYPE_TELEPHONE_EVENT.to_owned(),
                            clock_rate,
                            channels: 1,
                            sdp_fmtp_line: String::new(),
                            rtcp_feedback: vec![],
                        },
                        payload_type,
                    },
                    RtpCodecKind::Audio,
                )
                .map_err(|e| MediaError::webrtc("registering telephone-event", e))?;
        }
        // RTCP sender and receiver reports only (RTT, loss, jitter: the call's statistics). The
        // stack's other defaults are for video: NACK retransmission (which no browser offers
        // for Opus), transport-wide congestion-control feedback (every 100 ms, for a bandwidth
        // estimate an audio call at a fixed bitrate never reads) and simulcast header
        // extensions; each costs work per packet. The peer's reception reports then go on to
        // the application (`loss_reports`), which webrtc-rs does not do by itself.
        let registry = configure_rtcp_reports(Registry::new()).with(
            rtc::interceptor::Slot::from(loss_reports::SLOT),
            loss_reports::ReportTap::default(),
        );
        Ok((media, registry))
    }

    async fn build(
        cfg: MediaConfig,
        source: Option<Box<dyn AudioSource>>,
        sink: Option<Box<dyn AudioSink>>,
    ) -> Result<(Self, mpsc::Receiver<MediaEvent>), MediaError> {
        let encoder = source.is_some().then(OpusEncoder::new).transpose()?;
        let player = sink.is_some().then(FramePlayer::new).transpose()?;

        let (ice_servers, dropped) = usable_ice_servers(&cfg.ice_servers);
        for d in &dropped {
            tracing::warn!("ignoring ICE server '{}': {}", d.uri, d.reason);
        }
        if !has_relay(&ice_servers) {
            tracing::info!("no TURN relay available for this call; host and STUN candidates only");
        }

        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let shared = Arc::new(Shared {
            events: events_tx,
            mid: Mutex::new(None),
            jitter: Mutex::new(JitterBuffer::new(JitterConfig::default())),
            connected: watch::Sender::new(false),
            shutdown: watch::Sender::new(false),
            sent: Default::default(),
            packets_received: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            frames_played: AtomicU64::new(0),
            frames_decoded: AtomicU64::new(0),
            rtt_us: AtomicU64::new(u64::MAX),
            fec_percent: AtomicI32::new(super::fec::START_PERCENT),
            peer_loss_q8: AtomicI32::new(-1),
            remote_tracks: AtomicU64::new(0),
            played_track: Mutex::new(PlayedTrack::default()),
            sending: AtomicBool::new(true),
            muted: AtomicBool::new(false),
            held: AtomicBool::new(false),
            plays: sink.is_some(),
            crypto: cfg.frame_crypto.clone(),
            gathering: Mutex::new(Gathering::default()),
            ice_connects: AtomicU64::new(0),
            runtime: DriverRuntime::new(),
            dtmf: Mutex::new(DtmfSender::new()),
            telephone_events: Mutex::new(Vec::new()),
        });

        // A host without IPv6 (disabled in the kernel, a container without it) cannot bind an
        // IPv6 socket: its calls go on over IPv4 instead of failing to start.
        let v6_ok = || std::net::UdpSocket::bind((std::net::Ipv6Addr::UNSPECIFIED, 0)).is_ok();
        let addrs: Vec<String> = cfg
            .bind_addrs
            .iter()
            .filter(|ip| {
                let keep = ip.is_ipv4() || !ip.is_unspecified() || v6_ok();
                if !keep {
                    tracing::info!("no IPv6 on this host: IPv4 candidates only");
                }
                keep
            })
            .map(|ip| std::net::SocketAddr::new(*ip, 0).to_string())
            .collect();
        let handler = Arc::new(Handler {
            shared: shared.clone(),
        });
        let build_pc = |mdns: MulticastDnsMode| {
            let (handler, addrs, ice_servers) =
                (handler.clone(), addrs.clone(), ice_servers.clone());
            let runtime: Arc<dyn webrtc::runtime::Runtime> = shared.runtime.clone();
            async move {
                let (media, registry) = Self::media_engine()?;
                let pc = PeerConnectionBuilder::new()
                    .with_configuration(
                        RTCConfigurationBuilder::new()
                            .with_ice_servers(ice_servers)
                            .build(),
                    )
                    .with_setting_engine(
                        SettingEngineBuilder::new()
                            .with_multicast_dns_mode(mdns)
                            .with_ice_connection_attempts(
                                Some(ICE_CHECK_INTERVAL),
                                Some(ICE_CHECK_ATTEMPTS),
                            )
                            .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
                            .build(),
                    )
                    .with_media_engine(media)
                    .with_interceptor_registry(registry)
                    .with_handler(handler)
                    .with_runtime(runtime)
                    .with_udp_addrs(addrs)
                    .build()
                    .await
                    .map_err(|e| MediaError::webrtc("creating the peer connection", e))?;
                Ok::<_, MediaError>(pc)
            }
        };
        // mDNS (resolving the peer's `.local` candidates) needs a multicast socket, which a
        // host without a multicast route (a container, a namespace with only `lo`) cannot
        // open: then the call goes on without it.
        let (pc, mdns) = match build_pc(MulticastDnsMode::QueryOnly).await {
            Ok(pc) => (pc, true),
            Err(e) => {
                let pc = build_pc(MulticastDnsMode::Disabled).await?;
                tracing::info!("mDNS unavailable ({e}); the peer's .local candidates are skipped");
                (pc, false)
            }
        };
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);

        let stream_id = cfg.stream_id.clone().unwrap_or_else(|| random_id(16));
        let mut tasks = Vec::with_capacity(2);
        let mut track_id = None;
        if let (Some(source), Some(encoder)) = (source, encoder) {
            let id = random_id(16);
            let ssrc = random_u64() as u32;
            let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                stream_id.clone(),
                id.clone(),
                "audio".to_owned(),
                RtpCodecKind::Audio,
                // No codec: webrtc-rs would offer only that one; without, every registered
                // codec (Opus and the telephone-events) goes into the m-line.
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    ..Default::default()
                }],
            )));
            tasks.push(tokio::spawn(report_loop(
                Arc::clone(&track),
                ssrc,
                shared.clone(),
            )));
            let sender = pc
                .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
                .await
                .map_err(|e| MediaError::webrtc("adding the audio track", e))?;
            tasks.push(tokio::spawn(send_loop(
                SendPath {
                    source,
                    encoder,
                    track,
                    sender,
                    ssrc,
                    ts_base: random_u64() as u32,
                    rtp_ts_base: random_u64() as u32,
                    sequence: random_u64() as u16,
                },
                shared.clone(),
            )));
            track_id = Some(id);
        }
        let playout = match (sink, player) {
            (Some(sink), Some(player)) => {
                Some(tokio::spawn(playout_loop(sink, player, shared.clone())))
            }
            _ => None,
        };
        tasks.push(tokio::spawn(stats_loop(
            Arc::downgrade(&pc),
            shared.clone(),
        )));

        Ok((
            MediaSession {
                pc,
                mdns,
                dtls_role: Mutex::new(None),
                shared,
                stream_id,
                track_id,
                tasks: Mutex::new(tasks),
                playout: Mutex::new(playout),
            },
            events_rx,
        ))
    }

    /// The id of our audio track (`a=msid:<stream-id> <track-id>`), which an SFU matches with
    /// the track announced in its signalling; `None` for a receive-only session.
    pub fn track_id(&self) -> Option<&str> {
        self.track_id.as_deref()
    }

    /// The media stream id our track belongs to (`a=msid:<stream-id> <track-id>`), for the
    /// Matrix `sdp_stream_metadata`.
    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// Creates an offer and applies it locally; candidates follow as events.
    pub async fn create_offer(&self) -> Result<String, MediaError> {
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(|e| MediaError::webrtc("creating an offer", e))?;
        self.apply_local(offer, "applying the local offer").await
    }

    /// Adds `count` receive-only audio sections (`a=recvonly` m-lines) for the next offer: an
    /// SFU on a single peer connection forwards each further remote track in a section the
    /// client offered for it (LiveKit `MediaSectionsRequirement`, livekit-client
    /// `PCTransportManager.ts` `onMediaSectionsRequirement`). Their tracks are played like any
    /// other remote track (`played_track`: one at a time).
    pub async fn add_receive_sections(&self, count: u32) -> Result<(), MediaError> {
        for _ in 0..count {
            self.pc
                .add_transceiver_from_kind(
                    RtpCodecKind::Audio,
                    Some(rtc::rtp_transceiver::RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        streams: Vec::new(),
                        send_encodings: Vec::new(),
                    }),
                )
                .await
                .map_err(|e| MediaError::webrtc("adding a receive-only audio section", e))?;
        }
        Ok(())
    }

    /// Applies a remote offer (a new call, or a renegotiation of this one) and returns the answer.
    pub async fn accept_offer(&self, sdp: &str) -> Result<String, MediaError> {
        let remote_err = |e: webrtc::error::Error| MediaError::RemoteDescription {
            kind: "offer",
            reason: super::error::one_line(e),
        };
        let sdp = remote_sdp::prepare(sdp, self.mdns).map_err(|reason| {
            MediaError::RemoteDescription {
                kind: "offer",
                reason,
            }
        })?;
        // Hold and resume (RFC 3264 §6.1): the answer's direction follows each offer's. Our
        // transceiver goes back to sendrecv first (webrtc-rs narrows it to the offer and never
        // widens it again), and an `inactive` offer reaches webrtc-rs as `recvonly` (it would
        // stop the transceiver for good), its answer going out as `inactive`.
        // Only a session that sends has a direction to keep (an SFU subscriber has none).
        let offered = remote_sdp::audio_direction(&sdp);
        let sdp = if offered == Direction::Inactive && self.track_id.is_some() {
            remote_sdp::set_audio_direction(&sdp, Direction::RecvOnly)
        } else {
            sdp
        };
        if self.track_id.is_some() {
            for t in self.pc.get_transceivers().await {
                if let Err(e) = t.set_direction(RTCRtpTransceiverDirection::Sendrecv).await {
                    tracing::debug!("cannot reset the transceiver's direction: {e}");
                }
            }
        }
        // Glare in renegotiation (both sides restarting ICE at once, RFC 9429 §5.7): the
        // signalling machine passes the peer's offer on only when we are the polite side, and
        // our own offer in flight is rolled back before it is applied.
        if self
            .pc
            .pending_local_description()
            .await
            .is_some_and(|d| d.sdp_type == RTCSdpType::Offer)
        {
            tracing::debug!("rolling back our offer in flight for the peer's");
            let rollback = RTCSessionDescription::rollback(None).map_err(remote_err)?;
            self.pc
                .set_local_description(rollback)
                .await
                .map_err(|e| MediaError::webrtc("rolling back our offer", e))?;
        }
        let events = remote_sdp::telephone_events(&sdp);
        let desc = RTCSessionDescription::offer(sdp).map_err(remote_err)?;
        self.pc
            .set_remote_description(desc)
            .await
            .map_err(remote_err)?;
        *lock(&self.shared.telephone_events) = events;
        let answer = self
            .pc
            .create_answer(None)
            .await
            .map_err(|e| MediaError::webrtc("creating an answer", e))?;
        let answer = self
            .apply_local(answer, "applying the local answer")
            .await?;
        self.set_sending(offered);
        // webrtc-rs does not narrow its answer to a `sendonly` offer either: the answer says
        // what RFC 3264 §6.1 asks, and `set_sending` makes it true.
        let wanted = offered.answer();
        let answer = if self.track_id.is_some() && remote_sdp::audio_direction(&answer) != wanted {
            remote_sdp::set_audio_direction(&answer, wanted)
        } else {
            answer
        };
        Ok(self.keep_dtls_role(remote_sdp::dedupe_payload_types(&answer)))
    }

    /// Our answer with the DTLS role of the running association (the first negotiation's).
    fn keep_dtls_role(&self, answer: String) -> String {
        let mut role = lock(&self.dtls_role);
        match (role.as_deref(), remote_sdp::setup_role(&answer)) {
            (None, Some(ours)) => {
                *role = Some(ours.to_owned());
                answer
            }
            (Some(kept), Some(ours)) if kept != ours => {
                tracing::debug!(kept, ours, "keeping our DTLS role in the answer");
                remote_sdp::set_setup_role(&answer, kept)
            }
            _ => answer,
        }
    }

    /// Sends only while the peer's description says it receives.
    fn set_sending(&self, remote: Direction) {
        let sending = remote.receives();
        if self.shared.sending.swap(sending, Ordering::AcqRel) != sending {
            tracing::info!(
                "the peer {} our audio",
                if sending {
                    "receives"
                } else {
                    "holds the call: no longer sending"
                }
            );
            self.shared.emit(MediaEvent::PeerHold(!sending));
        }
    }

    /// Applies the remote answer to our offer.
    pub async fn accept_answer(&self, sdp: &str) -> Result<(), MediaError> {
        let remote_err = |e: webrtc::error::Error| MediaError::RemoteDescription {
            kind: "answer",
            reason: super::error::one_line(e),
        };
        let sdp = remote_sdp::prepare(sdp, self.mdns).map_err(|reason| {
            MediaError::RemoteDescription {
                kind: "answer",
                reason,
            }
        })?;
        let answered = remote_sdp::audio_direction(&sdp);
        {
            // We offered `actpass`: our role is the opposite of theirs.
            let mut role = lock(&self.dtls_role);
            if role.is_none() {
                *role = match remote_sdp::setup_role(&sdp) {
                    Some("active") => Some("passive".to_owned()),
                    Some("passive") => Some("active".to_owned()),
                    _ => None,
                };
            }
        }
        let events = remote_sdp::telephone_events(&sdp);
        let desc = RTCSessionDescription::answer(sdp).map_err(remote_err)?;
        self.pc
            .set_remote_description(desc)
            .await
            .map_err(remote_err)?;
        *lock(&self.shared.telephone_events) = events;
        self.set_sending(answered);
        Ok(())
    }

    /// Adds a remote candidate; `None` (or an empty candidate) marks the end of candidates.
    /// A candidate mxcall must not use (TCP; `.local` without multicast: see `media::ice`) is
    /// skipped with a debug line.
    pub async fn add_remote_candidate(
        &self,
        candidate: Option<Candidate>,
    ) -> Result<(), MediaError> {
        if let Some(c) = &candidate
            && let Some(why) = refuse_remote_candidate(&c.candidate, self.mdns)
        {
            tracing::debug!(candidate = c.candidate, why, "remote candidate skipped");
            return Ok(());
        }
        let init = match candidate {
            Some(c) => RTCIceCandidateInit {
                candidate: c.candidate,
                sdp_mid: c.sdp_mid,
                sdp_mline_index: c.sdp_mline_index,
                ..Default::default()
            },
            None => RTCIceCandidateInit::default(),
        };
        let text = init.candidate.clone();
        self.pc
            .add_ice_candidate(init)
            .await
            .map_err(|e| MediaError::Candidate {
                candidate: text,
                reason: super::error::one_line(e),
            })
    }

    /// An offer that puts the call on hold (`held`: `a=sendonly`, our audio silenced — RFC 3264
    /// §6.1 as js-sdk's `setRemoteOnHold`) or resumes it (`a=sendrecv`); send it like any offer
    /// and pass the answer to [`accept_answer`](Self::accept_answer).
    pub async fn hold_offer(&self, held: bool) -> Result<String, MediaError> {
        self.shared.held.store(held, Ordering::Release);
        let offer = self.create_offer().await?;
        Ok(if held {
            remote_sdp::set_audio_direction(&offer, Direction::SendOnly)
        } else {
            offer
        })
    }

    /// Queues DTMF digits (checked by [`dtmf::parse_digits`]) to be sent as RFC 4733
    /// telephone-events, behind any still being sent: 100 ms each, 80 ms apart, `,` a 2 s pause.
    /// Refused, with the reason in one line, when the peer did not negotiate telephone-event or
    /// this session sends no audio.
    pub fn send_dtmf(&self, digits: &str) -> Result<(), String> {
        if let Some(why) = self.dtmf_refusal() {
            return Err(why.to_owned());
        }
        lock(&self.shared.dtmf).queue(digits);
        Ok(())
    }

    /// Why [`send_dtmf`](Self::send_dtmf) would be refused, if it would.
    pub fn dtmf_refusal(&self) -> Option<&'static str> {
        self.probe().dtmf_refusal()
    }

    /// Sends silence instead of the source (`true`), or the source again.
    pub fn set_muted(&self, muted: bool) {
        self.shared.muted.store(muted, Ordering::Release);
    }

    /// An offer with fresh ICE credentials, applied locally; new candidates follow as events.
    /// Send it like any offer and pass the answer to [`accept_answer`](Self::accept_answer).
    pub async fn ice_restart_offer(&self) -> Result<String, MediaError> {
        self.pc
            .restart_ice()
            .await
            .map_err(|e| MediaError::webrtc("restarting ICE", e))?;
        self.create_offer().await
    }

    /// A snapshot of the session's counters; what went on the wire is sampled once a second.
    pub fn stats(&self) -> MediaStats {
        stats_of(&self.shared)
    }

    /// A handle that reads [`stats`](Self::stats) and [`dtmf_refusal`](Self::dtmf_refusal)
    /// while a task owns the session (the engine's per-call media task, an SFU session's
    /// task); after the session closed it reads the last counters.
    pub fn probe(&self) -> SessionProbe {
        SessionProbe {
            shared: self.shared.clone(),
            sends_audio: self.track_id.is_some(),
        }
    }

    /// Stops the audio, finishes the sink (a WAV recording gets its final header), and closes
    /// the peer connection. Returns the call's final counters: sampled from the stack after
    /// the last frame was sent, so `packets_sent` is exactly what went on the wire.
    pub async fn close(self) -> MediaStats {
        self.shared.shutdown.send_replace(true);
        let playout = self
            .playout
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = playout {
            let _ = task.await;
        }
        // The send loop ends at the shutdown; only then is the stack's count final.
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
        sample_stats(self.pc.as_ref(), &self.shared).await;
        let stats = self.stats();
        if let Err(e) = self.pc.close().await {
            tracing::debug!("closing the peer connection: {e}");
        }
        stats
    }

    async fn apply_local(
        &self,
        desc: RTCSessionDescription,
        step: &'static str,
    ) -> Result<String, MediaError> {
        if let Some(mid) = first_audio_mid(&desc.sdp) {
            *self.shared.mid.lock().unwrap_or_else(|p| p.into_inner()) = Some(mid);
        }
        start_gathering(&self.shared);
        self.pc
            .set_local_description(desc)
            .await
            .map_err(|e| MediaError::webrtc(step, e))?;
        let local = self
            .pc
            .local_description()
            .await
            .ok_or(MediaError::Closed)?;
        Ok(local.sdp)
    }
}

/// Reads a session's state from elsewhere, without awaiting: see [`MediaSession::probe`].
#[derive(Clone)]
pub struct SessionProbe {
    shared: Arc<Shared>,
    sends_audio: bool,
}

impl SessionProbe {
    /// The session's counters now (see [`MediaSession::stats`]).
    pub fn stats(&self) -> MediaStats {
        stats_of(&self.shared)
    }

    /// Why DTMF digits would be refused now, if they would (RFC 4733: only when the peer's
    /// description negotiated telephone-event, and only on a session that sends audio).
    pub fn dtmf_refusal(&self) -> Option<&'static str> {
        if !self.sends_audio {
            Some("this call sends no audio")
        } else if dtmf_payload_type(&self.shared).is_none() {
            Some("the other side did not offer DTMF (RFC 4733 telephone-event) for this call")
        } else {
            None
        }
    }
}

fn stats_of(s: &Shared) -> MediaStats {
    let jb = s.jitter.lock().unwrap_or_else(|p| p.into_inner()).stats();
    let rtt = s.rtt_us.load(Ordering::Relaxed);
    let sent = s.sent.now();
    MediaStats {
        packets_sent: sent.0,
        bytes_sent: sent.1,
        packets_received: s.packets_received.load(Ordering::Relaxed),
        bytes_received: s.bytes_received.load(Ordering::Relaxed),
        packets_lost: jb.lost,
        packets_late: jb.late,
        packets_duplicate: jb.duplicates,
        fec_recovered: jb.fec_recovered,
        concealed_frames: jb.concealed,
        frames_played: s.frames_played.load(Ordering::Relaxed),
        frames_decoded: s.frames_decoded.load(Ordering::Relaxed),
        jitter_ms: jb.jitter_ms,
        jitter_buffer_ms: (jb.target_frames * 20) as u32,
        rtt_ms: (rtt != u64::MAX).then(|| rtt as f64 / 1000.0),
    }
}

impl Drop for MediaSession {
    fn drop(&mut self) {
        // Without close(): stop the tasks; the peer connection stops with its last handle.
        self.shared.shutdown.send_replace(true);
    }
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: OPUS_FMTP.to_owned(),
        rtcp_feedback: vec![],
    }
}

/// The `a=mid` of the first audio m-line of an SDP.
fn first_audio_mid(sdp: &str) -> Option<String> {
    let mut in_audio = false;
    for line in sdp.lines() {
        if line.starts_with("m=") {
            in_audio = line.starts_with("m=audio");
        } else if in_audio && let Some(mid) = line.strip_prefix("a=mid:") {
            return Some(mid.trim().to_owned());
        }
    }
    None
}

/// Waits until the connection is first up; false if the session shut down first.
async fn wait_connected(shared: &Shared) -> bool {
    let mut connected = shared.connected.subscribe();
    let mut shutdown = shared.shutdown.subscribe();
    tokio::select! {
        r = connected.wait_for(|c| *c) => r.is_ok(),
        _ = shutdown.wait_for(|s| *s) => false,
    }
}

struct SendPath {
    source: Box<dyn AudioSource>,
    encoder: OpusEncoder,
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn webrtc::rtp_transceiver::RtpSender>,
    ssrc: u32,
    /// Random start of the E2EE IV's timestamps and send counter.
    ts_base: u32,
    /// Random start of the RTP timestamps (RFC 3550 §5.1), advanced 960 per 20 ms tick.
    rtp_ts_base: u32,
    /// The next RTP sequence number (random start), shared by audio and DTMF packets.
    sequence: u16,
}

impl SendPath {
    /// One RTP packet of our stream, counted in `sent` when the stack takes it (what reaches
    /// the wire is the stack's to say: `media::sent`).
    async fn write(
        &mut self,
        sent: &super::sent::SentCounter,
        payload_type: u8,
        marker: bool,
        timestamp: u32,
        payload: bytes::Bytes,
    ) -> Result<(), webrtc::error::Error> {
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::Header {
                version: 2,
                marker,
                payload_type,
                sequence_number: self.sequence,
                timestamp,
                ssrc: self.ssrc,
                ..Default::default()
            },
            payload,
        };
        self.sequence = self.sequence.wrapping_add(1);
        let payload_bytes = packet.payload.len();
        self.track.write_rtp(packet).await?;
        sent.wrote(payload_bytes);
        Ok(())
    }
}

/// The payload types and clock rates our sender negotiated for `mime_type` (a browser may have
/// picked other numbers than ours).
async fn negotiated_codecs(
    sender: &dyn webrtc::rtp_transceiver::RtpSender,
    mime_type: &str,
) -> Vec<(u8, u32)> {
    match sender.get_parameters().await {
        Ok(p) => p
            .rtp_parameters
            .codecs
            .iter()
            .filter(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime_type))
            .map(|c| (c.payload_type, c.rtp_codec.clock_rate))
            .collect(),
        Err(_) => vec![],
    }
}

/// Source → Opus → RTP, one frame per tick; DTMF events in place of audio frames while a digit
/// sounds (`dtmf`).
async fn send_loop(mut path: SendPath, shared: Arc<Shared>) {
    if !wait_connected(&shared).await {
        return;
    }
    let payload_type = negotiated_codecs(path.sender.as_ref(), MIME_TYPE_OPUS)
        .await
        .first()
        .map_or(OPUS_PAYLOAD_TYPE, |c| c.0);
    let mut shutdown = shared.shutdown.subscribe();
    let mut pcm = [0i16; FRAME_SAMPLES];
    // Encoded frames are carved from this pool; once webrtc-rs drops the packets of earlier
    // frames, `resize` reclaims the same memory instead of allocating.
    let mut pool = BytesMut::with_capacity(64 * 1024);
    let mut input_ended = false;
    let mut write_errors = 0u64;
    let mut frames = 0u64;
    let mut ticks = 0u64;
    let mut fec_percent = 0;
    let mut ticker = frame_ticker();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
        let timestamp = dtmf::frame_timestamp(path.rtp_ts_base, ticks);
        ticks += 1;
        let status = path.source.read_frame(&mut pcm);
        if let Some(err) = path.source.take_error() {
            shared.emit(MediaEvent::Error(err));
        }
        if status == SourceStatus::Ended && !input_ended {
            input_ended = true;
            shared.emit(MediaEvent::InputEnded);
        }
        if !shared.sending.load(Ordering::Acquire) {
            // Held: the source keeps its pace, nothing goes on the wire.
            continue;
        }
        // While a digit sounds its event packets go out instead of the audio frame.
        let tick = dtmf_payload_type(&shared)
            .map(|(event_type, clock)| (event_type, lock(&shared.dtmf).tick(timestamp, clock)));
        if let Some((event_type, Tick::Events(packets))) = tick {
            for p in packets {
                let payload = bytes::Bytes::copy_from_slice(&p.payload);
                let result = path
                    .write(&shared.sent, event_type, p.marker, p.timestamp, payload)
                    .await;
                note_write(result, &mut write_errors);
            }
            continue;
        }
        if shared.muted.load(Ordering::Acquire) || shared.held.load(Ordering::Acquire) {
            pcm.fill(0);
        }
        let want_fec = shared.fec_percent.load(Ordering::Relaxed);
        if want_fec != fec_percent {
            fec_percent = want_fec;
            if let Err(e) = path.encoder.set_expected_loss(want_fec) {
                shared.emit(MediaEvent::Error(e));
            }
        }
        pool.resize(MAX_PACKET, 0);
        let len = match path.encoder.encode(&pcm, &mut pool) {
            Ok(n) => n,
            Err(e) => {
                pool.clear();
                shared.emit(MediaEvent::Error(e));
                continue;
            }
        };
        pool.truncate(len);
        let data = match &shared.crypto {
            // The IV needs a per-frame timestamp: the frame count in 48 kHz units from a
            // random start serves (the IV travels in the frame).
            Some(crypto) => {
                let ts = path
                    .ts_base
                    .wrapping_add((frames as u32).wrapping_mul(FRAME_TICKS));
                let sealed = crypto.encrypt(path.ssrc, path.ts_base.into(), ts, &pool);
                pool.clear();
                match sealed {
                    Some(frame) => bytes::Bytes::from(frame),
                    None => continue,
                }
            }
            None => pool.split().freeze(),
        };
        frames = frames.wrapping_add(1);
        let result = path
            .write(&shared.sent, payload_type, false, timestamp, data)
            .await;
        note_write(result, &mut write_errors);
    }
}

/// A frame loop's 20 ms ticker on the process's frame clock: its first tick at once, the next
/// ones at the clock's instants `frame_epoch() + k × FRAME` (missed ones in a burst, as a sink and
/// the wire expect every frame). Every frame loop of the process shares the instants — a
/// session's send and playout loops, and both sessions of a MatrixRTC call on an older SFU's
/// two connections (publisher and subscriber) — so one wake-up of the runtime serves them all, not one each at unrelated
/// moments every 20 ms.
fn frame_ticker() -> tokio::time::Interval {
    let start = last_tick(frame_epoch(), tokio::time::Instant::now(), FRAME);
    let mut ticker = tokio::time::interval_at(start, FRAME);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    ticker
}

/// The process's frame clock: the instant the first frame loop asked for it.
fn frame_epoch() -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    tokio::time::Instant::from_std(*EPOCH.get_or_init(std::time::Instant::now))
}

/// The latest instant `epoch + k × period` (k ≥ 0) not after `now`; `epoch` itself when `now`
/// is before it. `period` must not be zero.
fn last_tick(
    epoch: tokio::time::Instant,
    now: tokio::time::Instant,
    period: Duration,
) -> tokio::time::Instant {
    if now <= epoch {
        return epoch;
    }
    let periods = (now - epoch).as_nanos() / period.as_nanos();
    epoch + period * u32::try_from(periods).unwrap_or(u32::MAX)
}

/// Counts a failed RTP write; the first one is logged (the connection is probably down).
fn note_write(result: Result<(), webrtc::error::Error>, write_errors: &mut u64) {
    if let Err(e) = result {
        *write_errors += 1;
        if *write_errors == 1 {
            tracing::debug!("sending audio failed (connection down?): {e}");
        }
    }
}

/// The telephone-event payload type to send DTMF with, and its clock rate: the peer's, at
/// 48 kHz if it offers that (the audio's own clock), else its first.
fn dtmf_payload_type(shared: &Shared) -> Option<(u8, u32)> {
    let types = lock(&shared.telephone_events);
    types
        .iter()
        .find(|t| t.1 == 48_000)
        .or(types.first())
        .copied()
}

/// RTP packets of a remote track → jitter buffer, while it is the played one
/// (`played_track`; `generation` numbers the track).
async fn receive_loop(track: Arc<dyn TrackRemote>, shared: Arc<Shared>, generation: u64) {
    let mut shutdown = shared.shutdown.subscribe();
    let stream_id = track.stream_id().await;
    let mut undecryptable = 0u64;
    let mut dtmf = DtmfReceiver::new();
    // Telephone-events take sequence numbers of the stream (RFC 4733 §2.5.1.2) and a sender
    // sends them in place of audio: the jitter buffer sees audio numbered without them.
    let mut event_packets = 0u16;
    loop {
        let event = tokio::select! {
            e = track.poll() => e,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        match event {
            Some(TrackRemoteEvent::OnRtpPacket(packet)) => {
                if packet.payload.is_empty() {
                    continue;
                }
                shared.packets_received.fetch_add(1, Ordering::Relaxed);
                shared
                    .bytes_received
                    .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
                let event_clock = lock(&shared.telephone_events)
                    .iter()
                    .find(|t| t.0 == packet.header.payload_type)
                    .map(|t| t.1);
                let digit = match event_clock {
                    Some(clock_rate) => {
                        event_packets = event_packets.wrapping_add(1);
                        dtmf.on_event(packet.header.timestamp, &packet.payload, clock_rate)
                    }
                    None => dtmf.on_audio(),
                };
                if let Some(d) = digit {
                    shared.emit(MediaEvent::Dtmf(d));
                }
                if event_clock.is_some() {
                    continue;
                }
                let plain;
                let payload: &[u8] = match &shared.crypto {
                    Some(crypto) => match crypto.decrypt(&stream_id, &packet.payload) {
                        Ok(p) => {
                            plain = p;
                            &plain
                        }
                        // Never to the decoder: the jitter buffer sees a gap and conceals it.
                        Err(why) => {
                            undecryptable += 1;
                            if undecryptable == 1 {
                                tracing::debug!(
                                    stream_id,
                                    ?why,
                                    "a received frame does not decrypt; dropped"
                                );
                            }
                            continue;
                        }
                    },
                    None => &packet.payload,
                };
                // Only audio we can play holds the speaker (`played_track`): a participant whose
                // frames do not decrypt never keeps the other member from being heard. Decided
                // under the jitter buffer's lock, so a take-over's restart is never followed by
                // a packet of the old stream.
                let now = Instant::now();
                let mut jb = lock(&shared.jitter);
                match lock(&shared.played_track).admit(generation, now) {
                    Admission::Play => {}
                    Admission::TakeOver => {
                        jb.restart();
                        tracing::debug!(generation, "another remote audio track is played");
                    }
                    Admission::Ignore => continue,
                }
                jb.push(
                    packet.header.sequence_number.wrapping_sub(event_packets),
                    packet.header.timestamp,
                    payload,
                    now,
                );
            }
            Some(TrackRemoteEvent::OnEnded) | None => break,
            Some(_) => {}
        }
    }
}

/// Jitter buffer → Opus decoder → sink, one 20 ms frame per tick whatever the packets' duration
/// (`player`); finishes the sink at the end.
async fn playout_loop(mut sink: Box<dyn AudioSink>, mut player: FramePlayer, shared: Arc<Shared>) {
    if wait_connected(&shared).await {
        let mut shutdown = shared.shutdown.subscribe();
        let mut pcm = [0i16; FRAME_SAMPLES];
        let mut packet = [0u8; MAX_PAYLOAD];
        let mut heard = false;
        let mut sink_ok = true;
        let mut ticker = frame_ticker();
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
            let mut pulls = 0;
            while player.wants_packet() && pulls < MAX_PACKETS_PER_FRAME {
                pulls += 1;
                // Copy the packet out so the decoder runs without the lock the receiver needs.
                let pull = lock(&shared.jitter).pop().copied_into(&mut packet);
                match player.fill(pull) {
                    Filled::Silence => break,
                    Filled::Decoded | Filled::Recovered => {
                        shared.frames_decoded.fetch_add(1, Ordering::Relaxed);
                        if !heard {
                            heard = true;
                            shared.emit(MediaEvent::FirstAudio);
                        }
                    }
                    _ => {}
                }
            }
            player.take_frame(&mut pcm);
            if sink_ok {
                if let Err(e) = sink.write_frame(&pcm) {
                    sink_ok = false;
                    shared.emit(MediaEvent::Error(e));
                }
                shared.frames_played.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // A device sink may wait briefly for its queue to play out.
    let finished = tokio::task::spawn_blocking(move || sink.finish()).await;
    if let Ok(Err(e)) = finished {
        shared.emit(MediaEvent::Error(e));
    }
}

/// Reads the peer's reception reports on our audio (`loss_reports`) until the session shuts
/// down, keeping the worst fraction lost for the stats loop.
async fn report_loop(track: Arc<TrackLocalStaticRTP>, ssrc: u32, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let event = tokio::select! {
            e = track.poll() => e,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match event {
            Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                if let Some(f) = loss_reports::fraction_lost(&packets, ssrc) {
                    let q8 = (f * 256.0).round() as i32;
                    shared.peer_loss_q8.fetch_max(q8, Ordering::Relaxed);
                }
            }
            Some(_) => {}
            None => return,
        }
    }
}

/// Samples the stack's statistics once a second.
async fn stats_loop(pc: std::sync::Weak<dyn PeerConnection>, shared: Arc<Shared>) {
    if !wait_connected(&shared).await {
        return;
    }
    let mut shutdown = shared.shutdown.subscribe();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut fec = super::fec::FecPolicy::new(Instant::now());
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
        let Some(pc) = pc.upgrade() else { break };
        sample_stats(pc.as_ref(), &shared).await;
        let q8 = shared.peer_loss_q8.swap(-1, Ordering::Relaxed);
        let peer_loss = (q8 >= 0).then(|| f64::from(q8) / 256.0);
        if let Some(percent) = fec.observe(Instant::now(), peer_loss) {
            tracing::debug!(percent, "in-band FEC planned for this loss");
            shared.fec_percent.store(percent, Ordering::Relaxed);
        }
    }
}

/// Takes from the stack what only it knows: RTP packets and payload bytes that went on the wire
/// (W3C `outbound-rtp` `packetsSent`/`bytesSent`, counted after DTLS-SRTP is up) and the
/// selected candidate pair's round-trip time. (Not the peer's loss: webrtc-rs 0.21 never fills
/// `remote-inbound-rtp` from inbound reports; `report_loop` reads them.)
async fn sample_stats(pc: &dyn PeerConnection, shared: &Shared) {
    let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
    let rtt = report
        .candidate_pairs()
        .filter(|p| p.nominated && p.current_round_trip_time > 0.0)
        .map(|p| p.current_round_trip_time)
        .next();
    if let Some(rtt) = rtt {
        shared.rtt_us.store((rtt * 1e6) as u64, Ordering::Relaxed);
    }
    let (packets, bytes) = report
        .outbound_rtp_streams()
        .map(|s| &s.sent_rtp_stream_stats)
        .fold((0, 0), |(p, b), s| (p + s.packets_sent, b + s.bytes_sent));
    shared.sent.sampled(packets, bytes);
}

/// A random u64 from the standard library's per-process random keys (ids need uniqueness,
/// not secrecy).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

/// `len` random ASCII letters and digits (unique, not secret: track, stream and party ids).
pub(crate) fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut bits = random_u64();
    for i in 0..len {
        if i % 10 == 9 {
            bits = random_u64();
        }
        out.push(ALPHABET[(bits % ALPHABET.len() as u64) as usize] as char);
        bits /= ALPHABET.len() as u64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_audio_mid() {
        let sdp =
            "v=0\r\nm=video 9 UDP 96\r\na=mid:v\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n";
        assert_eq!(first_audio_mid(sdp).as_deref(), Some("0"));
        assert_eq!(first_audio_mid("v=0\r\n"), None);
    }

    #[test]
    fn frame_loops_tick_on_the_same_instants() {
        let epoch = tokio::time::Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(last_tick(epoch, epoch, FRAME), epoch);
        assert_eq!(last_tick(epoch + ms(5), epoch, FRAME), epoch + ms(5));
        assert_eq!(last_tick(epoch, epoch + ms(19), FRAME), epoch);
        assert_eq!(last_tick(epoch, epoch + ms(20), FRAME), epoch + ms(20));
        // Loops started at different moments meet on the same grid.
        let send = last_tick(epoch, epoch + ms(137), FRAME);
        let playout = last_tick(epoch, epoch + ms(151), FRAME);
        assert_eq!(send, epoch + ms(120));
        assert_eq!(playout, epoch + ms(140));
        assert_eq!(playout - send, FRAME);
    }

    /// Two sessions started at different moments (a MatrixRTC call's publisher and subscriber)
    /// tick on the same instants, so one wake-up of the runtime serves both.
    #[tokio::test]
    async fn sessions_share_the_frame_clock() {
        let on_grid = |t: tokio::time::Instant, of: tokio::time::Instant| {
            let apart = if t >= of { t - of } else { of - t };
            apart.as_nanos() % FRAME.as_nanos() == 0
        };
        let mut publisher = frame_ticker();
        let first = publisher.tick().await;
        tokio::time::sleep(Duration::from_millis(7)).await;
        let mut subscriber = frame_ticker();
        let (a, b) = (publisher.tick().await, subscriber.tick().await);
        assert!(
            on_grid(a, first) && on_grid(b, first),
            "{first:?} {a:?} {b:?}"
        );
        assert!(on_grid(subscriber.tick().await, publisher.tick().await));
    }

    #[test]
    fn ids_are_alphanumeric_and_distinct() {
        let a = random_id(16);
        let b = random_id(16);
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
