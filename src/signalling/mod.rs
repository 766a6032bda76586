//! The call signalling machine: Matrix 1:1 VoIP (`m.call.*`, spec v1.7+ "version 1", and the
//! older integer version 0) for one room, free of I/O.
//!
//! This module owns the *rules* of a call — who may answer, when an invite may ring, when to give
//! up, how glare resolves, how local ICE candidates are batched — and nothing else. It does not
//! send events, touch WebRTC or read the clock. In the style of str0m, the engine feeds it
//! [`Input`]s through [`CallMachine::handle_input`], then drains [`CallMachine::poll_output`]
//! until it returns `None`, and wakes it with [`Input::Timeout`] at [`CallMachine::poll_timeout`].
//! Every input carries its own `now`, so tests run whole calls on a virtual clock in microseconds.
//!
//! One machine serves one room. It holds several calls keyed by `call_id` because glare (two
//! crossing invites) briefly needs two, and because stale or foreign invites must be remembered to
//! be ignored.

mod call;
mod candidates;
mod content;
mod event;
mod glare;
mod machine;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use matrix_sdk::ruma::OwnedUserId;

/// How old an event was when the server handed it over: `unsigned.age`, else the wall clock minus
/// `origin_server_ts` (see the rule and its skew tolerance in `event`).
pub use event::age as event_age;
pub use machine::CallMachine;

/// Default `lifetime` of our invites, and how long the caller rings before giving up. The spec
/// recommends at least 90 s (js-sdk uses 60 s).
pub const DEFAULT_INVITE_LIFETIME: Duration = Duration::from_secs(90);

/// An incoming invite rings only if at least this much of its lifetime is left: ringing for the
/// last second of an invite only produces a call that cannot be answered (js-sdk uses 3 s).
pub const DEFAULT_MIN_RING_TIME: Duration = Duration::from_secs(3);

/// Configuration of the machine for one room.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our Matrix user.
    pub own_user: OwnedUserId,
    /// Our `party_id` for every call (mxcall: one per process, the device id and a suffix);
    /// tells our own echo from our other devices and our other processes.
    pub own_party: String,
    /// The room's other member: the only user we call and the only one whose invites ring (an
    /// invite from our own user here is our own call to them, see `CallMachine`'s invite rules).
    pub peer_user: OwnedUserId,
    /// `lifetime` of our invites and how long we ring before hanging up with `invite_timeout`.
    pub invite_lifetime: Duration,
    /// Minimum remaining lifetime for an incoming invite to ring.
    pub min_ring_time: Duration,
    /// What to do with a live incoming invite once the sync batch is processed.
    pub ring: RingPolicy,
    /// Id of our local media stream (`a=msid:<stream> <track>` in our SDP); announced in
    /// `sdp_stream_metadata` with purpose `m.usermedia`, without which js-sdk drops our audio.
    pub stream_id: String,
}

impl Config {
    /// A configuration with the default lifetime, ring time and policy.
    pub fn new(
        own_user: OwnedUserId,
        own_party: impl Into<String>,
        peer_user: OwnedUserId,
    ) -> Self {
        let own_party = own_party.into();
        Self {
            stream_id: format!("mxcall-{own_party}"),
            own_user,
            own_party,
            peer_user,
            invite_lifetime: DEFAULT_INVITE_LIFETIME,
            min_ring_time: DEFAULT_MIN_RING_TIME,
            ring: RingPolicy::Ring,
        }
    }
}

/// What the machine does with a live incoming invite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingPolicy {
    /// Emit [`CallEvent::Ringing`] and wait for [`Command::Answer`] or [`Command::Reject`].
    Ring,
    /// Emit [`CallEvent::Ringing`] and answer at once, unless another call is already up
    /// (`mxcall answer`, `watch --answer`).
    AutoAnswer,
}

/// Everything that can happen to the machine. Each variant carries the time it happened.
#[derive(Debug, Clone)]
pub enum Input<'a> {
    /// A room event received from sync (already decrypted). Any event type may be passed;
    /// non-call types are ignored.
    Remote {
        now: Instant,
        /// The local wall clock at `now` (Unix ms), read by the engine: the age of an event
        /// without `unsigned.age` counts from its `origin_server_ts` (see `event::age`).
        now_ms: u64,
        sender: &'a matrix_sdk::ruma::UserId,
        event_type: &'a str,
        content: &'a serde_json::Value,
        /// `unsigned.age` at receipt, if the server sent one.
        age: Option<Duration>,
        /// The event's `origin_server_ts` (Unix ms; 0 when missing).
        origin_server_ts: u64,
    },
    /// The sync response that carried the previous `Remote` inputs is fully processed: only now
    /// may an invite ring, so that a hangup later in the same batch cancels it.
    BatchEnd { now: Instant },
    /// The other member left the room: a hangup of every call with them.
    PeerLeft { now: Instant },
    /// A command from the user.
    Command(Instant, Command),
    /// Something the media engine reports for the call `call_id`.
    Media(Instant, String, MediaInput),
    /// The deadline from [`CallMachine::poll_timeout`] (or any later time) has come.
    Timeout(Instant),
}

/// A user's command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Place a call with this new `call_id` (the engine makes it, e.g. `ruma::VoipId::new()`; the
    /// machine needs no randomness, and glare tests need to choose the ids).
    Place { call_id: String },
    /// Answer a ringing call (`None`: the most recent one).
    Answer { call_id: Option<String> },
    /// End a call (`None`: the one in progress). Hanging up a ringing call declines it.
    Hangup {
        call_id: Option<String>,
        reason: Option<String>,
    },
    /// Decline a ringing call (`m.call.reject`; to a version-0 caller a hangup with `reason`).
    Reject {
        call_id: Option<String>,
        reason: Option<String>,
    },
    /// Put the connected call on hold (`true`) or resume it: an `m.call.negotiate` offer saying
    /// `sendonly` / `sendrecv` (RFC 3264 §6.1, as js-sdk's `setRemoteOnHold`), nothing sent to
    /// the peer while held. Needs a version-1 peer.
    Hold { call_id: Option<String>, held: bool },
    /// Mute (`true`) or unmute our microphone: `m.call.sdp_stream_metadata_changed` with
    /// `audio_muted` (MSC3077, as js-sdk's `setMicrophoneMuted`) and silence on the wire.
    Mute {
        call_id: Option<String>,
        muted: bool,
    },
    /// Send DTMF digits on the connected call (RFC 4733 telephone-events in its media; no
    /// Matrix event carries them). `digits` as checked by `media::dtmf::parse_digits`.
    Dtmf {
        call_id: Option<String>,
        digits: String,
    },
}

/// Reports from the media engine about one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaInput {
    /// Our offer SDP (after [`MediaAction::CreateOffer`] or [`MediaAction::IceRestart`]).
    LocalOffer(String),
    /// Our answer SDP (after [`MediaAction::AcceptOffer`]).
    LocalAnswer(String),
    /// A newly gathered local candidate.
    LocalCandidate(IceCandidate),
    /// ICE gathering is complete (end of candidates).
    GatheringComplete,
    IceConnected,
    IceDisconnected,
    IceFailed,
    /// The media engine cannot go on with this call (no device, SDP refused, …).
    Failed(String),
}

/// An ICE candidate as carried in `m.call.candidates` (and as WebRTC's `RTCIceCandidateInit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceCandidate {
    pub candidate: String,
    pub sdp_mid: Option<String>,
    pub sdp_mline_index: Option<u16>,
}

/// What the engine must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this event to the room (complete content; version "1", our party_id).
    Send {
        call_id: String,
        event_type: &'static str,
        content: serde_json::Value,
    },
    /// Act on the peer connection of `call_id`.
    Media {
        call_id: String,
        action: MediaAction,
    },
    /// Tell the user.
    Event(CallEvent),
}

/// Work for the media engine, per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaAction {
    /// Create a peer connection with the local audio source and produce an offer
    /// ([`MediaInput::LocalOffer`]).
    CreateOffer,
    /// Set this remote offer and produce an answer ([`MediaInput::LocalAnswer`]). Creates the
    /// peer connection if the call has none; during renegotiation a local offer in flight is
    /// rolled back (we are the polite side).
    AcceptOffer(String),
    /// Set this remote answer.
    AcceptAnswer(String),
    /// Add remote candidates; `end_of_candidates` when the peer said it has no more.
    AddRemoteCandidates {
        candidates: Vec<IceCandidate>,
        end_of_candidates: bool,
    },
    /// Restart ICE and produce a new offer ([`MediaInput::LocalOffer`]).
    IceRestart,
    /// Produce an offer that puts the call on hold (`sendonly`, our audio silenced) or resumes
    /// it (`sendrecv`) ([`MediaInput::LocalOffer`]).
    HoldOffer(bool),
    /// Send silence (`true`) or the source again.
    SetMuted(bool),
    /// Send these DTMF digits as telephone-events.
    SendDtmf(String),
    /// Close the peer connection of this call.
    Close,
}

/// What the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    InviteSent {
        call_id: String,
    },
    Ringing {
        call_id: String,
        caller: OwnedUserId,
    },
    Connecting {
        call_id: String,
    },
    Connected {
        call_id: String,
    },
    /// Glare: `call_id` is gone and `by` carries on in its place. The engine moves the local audio
    /// source to `by`; for the user it is the same call. This is `call_id`'s last event.
    Replaced {
        call_id: String,
        by: String,
    },
    /// The call was hung up. `reason` is the wire reason (unknown ones included), or `rejected`
    /// for an `m.call.reject`, `left_room` when the peer left, `answered_elsewhere` when another
    /// device took the call.
    Hangup {
        call_id: String,
        reason: String,
        by: Party,
    },
    /// The other side muted (`true`) or unmuted its microphone (`m.call.sdp_stream_metadata_changed`).
    RemoteMuted {
        call_id: String,
        muted: bool,
    },
    /// The call is over; the last event for `call_id`.
    Ended {
        call_id: String,
        outcome: Outcome,
    },
}

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Local,
    Remote,
}

/// How a call ended; maps 1:1 onto mxcall's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Hung up normally after connecting (by either side).
    Completed,
    /// We hung up before the call connected (Ctrl-C, SIGTERM, `mxcall hangup` while it rang or
    /// was being set up): the user gave up on it, so it did not succeed.
    Cancelled,
    /// Declined: rejected, busy, or the callee left.
    Declined,
    /// Nobody answered in time, or the caller gave up before we answered.
    NoAnswer,
    /// ICE failed and restarts did not recover it.
    MediaFailed,
    /// Another device answered (not selected), or the call was replaced.
    AnsweredElsewhere,
    /// Anything else: media or signalling setup failed.
    Error,
}

impl Outcome {
    /// The process's exit code when this is the end of the call it is about (`crate::exit`).
    pub fn exit_code(self) -> u8 {
        use crate::exit;
        match self {
            Outcome::Completed => exit::OK,
            Outcome::Cancelled => exit::INTERRUPTED,
            Outcome::Error => exit::OTHER,
            Outcome::Declined => exit::DECLINED,
            Outcome::NoAnswer => exit::NO_ANSWER,
            Outcome::MediaFailed => exit::MEDIA,
            Outcome::AnsweredElsewhere => exit::ELSEWHERE,
        }
    }

    /// Name for `--json` events.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Cancelled => "cancelled",
            Outcome::Declined => "declined",
            Outcome::NoAnswer => "no_answer",
            Outcome::MediaFailed => "media_failed",
            Outcome::AnsweredElsewhere => "answered_elsewhere",
            Outcome::Error => "error",
        }
    }
}

/// A command that does not fit the current state; remote events never produce errors (bad ones
/// are logged at debug level and ignored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no such call")]
    NoSuchCall,
    #[error("the call is not ringing")]
    NotRinging,
    #[error("a call is already in progress")]
    Busy,
    #[error("invalid or already used call id")]
    BadCallId,
    #[error("the call is not connected")]
    NotConnected,
    #[error("the other side speaks VoIP version 0, which cannot renegotiate")]
    VersionZero,
}
