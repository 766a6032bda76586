//! The media engine: one WebRTC peer connection per call carrying one Opus audio track each way,
//! between an [`AudioSource`](crate::audio::AudioSource) and an
//! [`AudioSink`](crate::audio::AudioSink). It owns everything below the signalling; whoever
//! drives it (the call engine) moves SDP and ICE candidates between the peers and never sees a
//! webrtc-rs type.
//!
//! # Interface
//!
//! ```text
//! MediaSession::new(MediaConfig, source, sink) -> (MediaSession, Receiver<MediaEvent>)
//!   or send_only(MediaConfig, source) / receive_only(MediaConfig, sink): one direction, for an
//!   SFU's publisher and subscriber connections (`livekit`); track_id() names the sent track
//!   caller:  create_offer() -> SDP            callee: accept_offer(SDP) -> answer SDP
//!            accept_answer(SDP)
//!   both:    add_remote_candidate(Some(c)) ... add_remote_candidate(None)   // None = end of candidates
//!            events: LocalCandidate(c)..., GatheringComplete, Connection(Connected), FirstAudio,
//!                    InputEnded, Connection(Disconnected|Failed|Closed), Error(e)
//!            stream_id()  -> the msid stream id to announce in `sdp_stream_metadata`
//!            stats()      -> MediaStats (counters, jitter, RTT)
//!            ice_restart_offer() -> SDP with fresh ICE credentials (then accept_answer)
//!            accept_offer() again on an established session = renegotiation (m.call.negotiate)
//!            close().await
//! ```
//!
//! Candidates trickle: the offer/answer SDP is returned at once and local candidates follow as
//! [`MediaEvent::LocalCandidate`], the end marked by [`MediaEvent::GatheringComplete`]. Remote
//! candidates may be added as soon as the remote description is applied.
//!
//! # What goes on the wire
//!
//! Opus 48 kHz mono, 20 ms frames, in-band FEC on, DTX off (`a=rtpmap:111 opus/48000/2`,
//! `a=fmtp:111 minptime=10;useinbandfec=1`), DTLS-SRTP, one BUNDLEd audio m-line with `a=mid`
//! and `a=msid:<stream-id> <track-id>`, as Chromium expects.
//!
//! # Audio paths
//!
//! - Send: source → 20 ms frame → Opus → track, paced by a tokio interval ticker (not sleeps,
//!   which drift). Buffers are reused; the one per-frame allocation left is inside webrtc-rs
//!   (packetizer and SRTP), which takes the encoded frame as `Bytes` carved from a reused pool.
//! - Receive: RTP → [`jitter::JitterBuffer`] (reorders, adapts its depth) → Opus decode, FEC
//!   recovery of a lost packet from the next one, concealment otherwise → sink, on its own 20 ms
//!   ticker so the sink gets exactly one frame per 20 ms whatever the network does.
//!
//! Both tickers start when the connection first reaches `Connected`; from then on the sink gets
//! silence until the first packet, so a recording's timeline matches the call's.

pub mod codec;
mod driver_runtime;
pub mod dtmf;
pub(crate) mod error;
pub mod fec;
pub mod ice;
pub mod jitter;
mod loss_reports;
mod played_track;
mod player;
pub mod quality;
mod remote_sdp;
mod sent;
mod session;

use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

pub use error::MediaError;
pub(crate) use session::random_id;
pub use session::{MediaSession, SessionProbe};

/// A STUN or TURN server, as the homeserver's `/voip/turnServer` hands them out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port?transport=udp`, `turns:…`.
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub credential: Option<String>,
}

/// How to set up the peer connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    pub ice_servers: Vec<IceServer>,
    /// Local addresses to bind UDP sockets on (port chosen by the system). An unspecified
    /// address (`0.0.0.0`) stands for every non-loopback interface; tests bind `127.0.0.1`,
    /// which the wildcard leaves out.
    pub bind_addrs: Vec<IpAddr>,
    /// The msid stream id of the local audio (`a=msid:<stream> <track>`), which the signalling
    /// announces in `sdp_stream_metadata` before the session exists; `None`: a random one.
    pub stream_id: Option<String>,
    /// End-to-end encryption of every audio frame (MatrixRTC in an encrypted room): our frames
    /// are encrypted after the Opus encoder, received ones decrypted before the jitter buffer,
    /// and frames that do not decrypt are dropped (the jitter buffer conceals them). `None`:
    /// frames travel as encoded (DTLS-SRTP still protects each hop).
    pub frame_crypto: Option<std::sync::Arc<crate::e2ee::MediaCrypto>>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            ice_servers: Vec::new(),
            // Dual stack: host candidates on every interface's IPv4 and IPv6 addresses
            // (loopback and link-local ones excluded by the stack); IPv6 is left out on a host
            // that cannot open an IPv6 socket.
            bind_addrs: vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            ],
            stream_id: None,
            frame_crypto: None,
        }
    }
}

impl MediaConfig {
    /// Host candidates on 127.0.0.1 only, no ICE servers: two sessions in one process.
    pub fn loopback() -> Self {
        MediaConfig {
            ice_servers: Vec::new(),
            bind_addrs: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            stream_id: None,
            frame_crypto: None,
        }
    }
}

/// An ICE candidate as it travels in `m.call.candidates` (the W3C `RTCIceCandidateInit` shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Candidate {
    /// `candidate:…` attribute value; empty marks the end of candidates.
    pub candidate: String,
    #[serde(rename = "sdpMid")]
    pub sdp_mid: Option<String>,
    #[serde(rename = "sdpMLineIndex")]
    pub sdp_mline_index: Option<u16>,
}

/// State of the peer connection (the W3C `RTCPeerConnectionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConnState {
    New,
    Connecting,
    Connected,
    Disconnected,
    Failed,
    Closed,
}

/// What the session reports, in order, on the receiver `MediaSession::new` returns.
#[derive(Debug)]
#[non_exhaustive]
pub enum MediaEvent {
    /// A local candidate to send to the peer.
    LocalCandidate(Candidate),
    /// No more local candidates for now (until an ICE restart).
    GatheringComplete,
    Connection(ConnState),
    /// The first audio packet from the peer was decoded.
    FirstAudio,
    /// The source's input is over (end of a WAV file, stdin closed); silence is sent from now on.
    InputEnded,
    /// The peer put the call on hold (`true`: its description says it receives nothing, RFC
    /// 3264 §6.1; nothing is sent to it) or resumed it (`false`).
    PeerHold(bool),
    /// The peer sent a DTMF digit (RFC 4733 telephone-event), reported once at its end.
    Dtmf(dtmf::Dtmf),
    /// Something failed while the call runs (a device vanished, the output disk is full). The
    /// session goes on without the failed part; the caller decides whether to hang up.
    Error(MediaError),
}

/// Counters of one session, from its own send and receive paths.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MediaStats {
    /// RTP packets that went on the wire (the stack's `outbound-rtp` statistics).
    pub packets_sent: u64,
    /// Their payload bytes.
    pub bytes_sent: u64,
    pub packets_received: u64,
    pub bytes_received: u64,
    /// Packets never played: lost on the way or arrived after their turn.
    pub packets_lost: u64,
    /// Packets that arrived after their turn (included in `packets_lost`).
    pub packets_late: u64,
    pub packets_duplicate: u64,
    /// Lost packets rebuilt from the FEC data of the following packet.
    pub fec_recovered: u64,
    /// Frames filled by packet-loss concealment (losses without FEC, underruns).
    pub concealed_frames: u64,
    /// Frames handed to the sink.
    pub frames_played: u64,
    /// Packets of the peer's audio decoded (or rebuilt from FEC): 0 means nothing the peer
    /// said was heard.
    pub frames_decoded: u64,
    /// RFC 3550 interarrival jitter of the received stream, in milliseconds.
    pub jitter_ms: f64,
    /// Current target depth of the jitter buffer, in milliseconds.
    pub jitter_buffer_ms: u32,
    /// Round-trip time of the selected ICE candidate pair, once measured.
    pub rtt_ms: Option<f64>,
}
