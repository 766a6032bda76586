//! The MatrixRTC call signalling machine: a 1:1 call in one room as Element Call (its
//! "compatibility" mode: `org.matrix.msc3401.call.member` state events, application `m.call`,
//! scope `m.room`, `multi_sfu` LiveKit focus) and Element X speak it, free of I/O.
//!
//! This module owns the *rules* of such a call — how our membership is announced, kept alive and
//! withdrawn, when a ring notification may ring, when a ring is over, who may decline, when the
//! other side has joined or left — and nothing else. It sends no request, touches no LiveKit
//! and reads no clock. Like [`crate::signalling`] (and str0m), the engine feeds it [`Input`]s
//! through [`RtcCallMachine::handle_input`], drains [`RtcCallMachine::poll_output`] until it
//! returns `None`, and wakes it with [`Input::Timeout`] at [`RtcCallMachine::poll_timeout`].
//! Every input carries `now` (monotonic) and `now_ms` (Unix milliseconds, the wall clock that
//! membership expiry and ring lifetimes are measured in), so tests run whole calls on a virtual
//! clock.
//!
//! Files, by what they own:
//! - [`membership`]: our membership content and the strict parse and expiry of anyone's;
//! - [`notification`]: the ring notification (MSC4075) and whether one is still live;
//! - [`decline`]: the decline (MSC4310);
//! - `own_membership`: the scheduled actions that put our membership on the server and keep
//!   it there (matrix-js-sdk's `MembershipManager`: delayed leave, join, restart, expiry
//!   refresh, leave) with their retries;
//! - `retry`: which send failures are retried, after how long, how often;
//! - `roster`: the memberships of the room's call slot as they stand;
//! - `machine`: the call itself (ringing out, ringing in, in a call, ending).
//!
//! Sources (read in 2026; cited again at each rule): matrix-org/matrix-js-sdk
//! `src/matrixrtc/{MembershipManager,MembershipManagerActionScheduler,CallMembership,
//! MatrixRTCSession,types}.ts` and `membershipData/session.ts` (js-sdk 42, develop of
//! 2026-07-24); element-hq/element-call `src/state/CallViewModel/CallNotificationLifecycle.ts`,
//! `src/state/CallViewModel/localMember/LocalMember.ts` (`enterRTCSession`),
//! `src/UrlParams.ts` (DM intents), `src/config/ConfigOptions.ts` (develop of 2026-08-21);
//! element-hq/element-web `src/hooks/useIncomingCallToast.ts`; ruma
//! `crates/ruma-events/src/rtc/notification.rs` (Element X through matrix-rust-sdk);
//! MSC4075 (ring notification), MSC4310 (decline), MSC4140 (delayed events), MSC4143 and
//! MSC4195 (MatrixRTC, LiveKit transport).

pub mod decline;
pub mod keys;
pub mod membership;
pub mod notification;

mod machine;
mod own_membership;
mod retry;
mod roster;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use matrix_sdk::ruma::{OwnedUserId, UserId};

pub use crate::signalling::Outcome;
pub use machine::RtcCallMachine;

/// How long after our last keep-alive the homeserver publishes our leave (MSC4140 delayed
/// event `{}` on our membership's state key). js-sdk `MembershipManager.delayedLeaveEventDelayMs`
/// default `8_000`; Element Call's own config default (`delayed_leave_event_delay_ms`) is 10 000.
pub const DELAYED_LEAVE_DELAY: Duration = Duration::from_secs(8);

/// How often the delayed leave is restarted while we are joined. js-sdk
/// `MembershipManager.delayedLeaveEventRestartMs` default `5_000`.
pub const DELAYED_LEAVE_RESTART: Duration = Duration::from_secs(5);

/// How long a restart request may take before the engine should give up on it and report
/// [`SendError::LocalTimeout`] (retried at once). js-sdk
/// `delayedLeaveEventRestartLocalTimeoutMs` default `2000`. The machine itself never times
/// requests out: it waits for every result it asked for.
pub const DELAYED_LEAVE_RESTART_TIMEOUT: Duration = Duration::from_secs(2);

/// `expires` of a membership: how long after its creation (`created_ts`, else the event's
/// `origin_server_ts`) it counts as stale if never refreshed. js-sdk `CallMembership.ts`
/// `DEFAULT_EXPIRE_DURATION = 1000 * 60 * 60 * 4` (also the value assumed when a membership
/// has no `expires`).
pub const MEMBERSHIP_EXPIRY: Duration = Duration::from_secs(4 * 60 * 60);

/// How early before our membership would lapse we refresh it. js-sdk
/// `membershipEventExpiryHeadroomMs` default `5_000`.
pub const MEMBERSHIP_EXPIRY_HEADROOM: Duration = Duration::from_secs(5);

/// The refresh interval is at most this long, whatever `expires` is. js-sdk
/// `MembershipManager.ts` `MEMBERSHIP_STICKY_DURATION_MS = 60 * 60 * 1000`, used by
/// `computeNextExpiryActionTs` for state-event memberships too.
pub const MEMBERSHIP_REFRESH_CAP: Duration = Duration::from_secs(60 * 60);

/// Wait before retrying a request that failed on the network or with a 5xx. Element Call's
/// configured `network_error_retry_ms: 1000` (`ConfigOptions.ts` `DEFAULT_CONFIG`), not js-sdk's
/// bare default of 3 000: with an 8 s delayed leave restarted every 5 s, one failed restart
/// retried after 3 s reaches the server after the leave has fired (5 + 3 ≥ 8).
pub const NETWORK_RETRY: Duration = Duration::from_secs(1);

/// Retries per action for network errors, and for rate limits. js-sdk
/// `maximumNetworkErrorRetryCount` and `maximumRateLimitRetryCount`, both default `10`.
pub const MAX_RETRIES: u32 = 10;

/// Wait after `M_LIMIT_EXCEEDED` without `retry_after_ms`. js-sdk
/// `actionUpdateFromRateLimitError` `defaultMs = 5000`.
pub const RATE_LIMIT_RETRY: Duration = Duration::from_secs(5);

/// `lifetime` of our ring notification, and how long we ring before giving up. js-sdk
/// `MatrixRTCSession.sendCallNotify` `"lifetime": 30_000`; Element Call times the ring out after
/// the notification's `lifetime` (`CallNotificationLifecycle.ts`, `timer(lifetime)`).
pub const RING_LIFETIME: Duration = Duration::from_secs(30);

/// Incoming `lifetime`s are capped to this, and so is ours. js-sdk
/// `parseCallNotificationContent` caps at 90000; Element Web `MAX_RING_TIME_MS = 90 * 1000`
/// (MSC4075 recommends a cap of 2 minutes).
pub const MAX_RING_LIFETIME: Duration = Duration::from_secs(90);

/// A ring's lifetime counts from `sender_ts` unless that is further than this from
/// `origin_server_ts`. MSC4075 ("`|sender_ts - origin_server_ts| > 20000 ms`") and ruma's
/// `RtcNotificationEventContent::expiration_ts` (default 20 s, what Element X uses); Element
/// Web uses `>= 15000`.
pub const MAX_SENDER_TS_SKEW: Duration = Duration::from_secs(20);

/// An incoming ring rings only if at least this much of its lifetime is left (mxcall's rule,
/// the same as the legacy machine's: ringing for the last moment only produces a call nobody
/// can answer).
pub const MIN_RING_TIME: Duration = Duration::from_secs(3);

/// Timing of our membership: MSC4140 delayed leave, `expires` refresh, retries. Defaults are
/// js-sdk's `MembershipManager` defaults (see each constant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipTiming {
    /// [`DELAYED_LEAVE_DELAY`].
    pub delayed_leave_delay: Duration,
    /// [`DELAYED_LEAVE_RESTART`].
    pub delayed_leave_restart: Duration,
    /// [`MEMBERSHIP_EXPIRY`].
    pub membership_expiry: Duration,
    /// [`MEMBERSHIP_EXPIRY_HEADROOM`].
    pub expiry_headroom: Duration,
    /// [`NETWORK_RETRY`].
    pub network_retry: Duration,
    /// [`MAX_RETRIES`] for network and server errors.
    pub max_network_retries: u32,
    /// [`MAX_RETRIES`] for rate limits.
    pub max_rate_limit_retries: u32,
    /// [`RATE_LIMIT_RETRY`].
    pub rate_limit_retry: Duration,
}

impl Default for MembershipTiming {
    fn default() -> Self {
        Self {
            delayed_leave_delay: DELAYED_LEAVE_DELAY,
            delayed_leave_restart: DELAYED_LEAVE_RESTART,
            membership_expiry: MEMBERSHIP_EXPIRY,
            expiry_headroom: MEMBERSHIP_EXPIRY_HEADROOM,
            network_retry: NETWORK_RETRY,
            max_network_retries: MAX_RETRIES,
            max_rate_limit_retries: MAX_RETRIES,
            rate_limit_retry: RATE_LIMIT_RETRY,
        }
    }
}

/// Configuration of the machine for one room.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our Matrix user.
    pub own_user: OwnedUserId,
    /// Our device id (`device_id` of our membership, part of its state key).
    pub own_device: String,
    /// The room's other member: the only user whose memberships, rings and declines count
    /// (besides our own other devices).
    pub peer_user: OwnedUserId,
    /// The room id: the `livekit_alias` of our transport, as Element Call's compatibility mode
    /// writes it (`enterRTCSession`: `livekit_alias: rtcSession.room.roomId`).
    pub room_id: String,
    /// Our LiveKit service (`livekit_service_url` of our transport), from
    /// `/_matrix/client/unstable/org.matrix.msc4143/rtc/transports` or `.well-known`.
    pub livekit_service_url: String,
    /// `m.call.intent` of our membership and ring: `"audio"` (Element Call's
    /// `UserIntent.StartNewCallDMVoice`).
    pub call_intent: String,
    /// The state key of our membership: [`membership::state_key`] (`_@user:hs_DEVICE_m.call`).
    pub own_state_key: String,
    /// `lifetime` of our ring and how long we ring; clamped to 1 s ..= [`MAX_RING_LIFETIME`].
    pub ring_lifetime: Duration,
    /// [`MIN_RING_TIME`].
    pub min_ring_time: Duration,
    /// [`MAX_SENDER_TS_SKEW`].
    pub max_sender_ts_skew: Duration,
    /// Membership timing and retries.
    pub timing: MembershipTiming,
}

impl Config {
    /// A configuration with the defaults above, an audio intent and the state key js-sdk
    /// writes in rooms without owned state (`_` prefix: every room version but the MSC3757 /
    /// MSC3779 test versions).
    pub fn new(
        own_user: OwnedUserId,
        own_device: impl Into<String>,
        peer_user: OwnedUserId,
        room_id: impl Into<String>,
        livekit_service_url: impl Into<String>,
    ) -> Self {
        let own_device = own_device.into();
        Self {
            own_state_key: membership::state_key(&own_user, &own_device),
            own_user,
            own_device,
            peer_user,
            room_id: room_id.into(),
            livekit_service_url: livekit_service_url.into(),
            call_intent: "audio".to_owned(),
            ring_lifetime: RING_LIFETIME,
            min_ring_time: MIN_RING_TIME,
            max_sender_ts_skew: MAX_SENDER_TS_SKEW,
            timing: MembershipTiming::default(),
        }
    }
}

/// Everything that can happen to the machine. Each variant carries the monotonic time it
/// happened (`now`) and the wall clock at that moment (`now_ms`, Unix milliseconds).
#[derive(Debug, Clone)]
pub enum Input<'a> {
    /// A room event from sync (timeline or state section, already decrypted). Any type may be
    /// passed; only `org.matrix.msc3401.call.member` (a state event: `state_key` set),
    /// `org.matrix.msc4075.rtc.notification` and `org.matrix.msc4310.rtc.decline` count. The
    /// room's current state at start-up is passed the same way.
    Remote {
        now: Instant,
        now_ms: u64,
        sender: &'a UserId,
        event_type: &'a str,
        event_id: &'a str,
        state_key: Option<&'a str>,
        content: &'a serde_json::Value,
        /// The event's `origin_server_ts` (Unix ms).
        origin_server_ts: u64,
    },
    /// The sync response that carried the previous `Remote` inputs is processed. `Remote`
    /// inputs are only recorded; rings ring, sessions are announced and peers counted as joined
    /// or gone when the machine next judges the room — at this input (or any other but
    /// `Remote`) — so that a later event of the same batch (a leave after a join) wins. The
    /// engine hands a batch over whole, then `BatchEnd`.
    BatchEnd { now: Instant, now_ms: u64 },
    /// The other member left the room (or was kicked/banned): their memberships no longer
    /// count (js-sdk `isValidMembership`: members not in the room are ignored).
    PeerLeftRoom { now: Instant, now_ms: u64 },
    /// A command from the user.
    Command {
        now: Instant,
        now_ms: u64,
        command: Command,
    },
    /// The result of the request `id` from [`Output::Send`]. Every request gets exactly one.
    SendResult {
        now: Instant,
        now_ms: u64,
        id: RequestId,
        result: Result<Response, SendError>,
    },
    /// The media side (LiveKit, WebRTC) cannot go on: the call ends as
    /// [`Outcome::MediaFailed`] and we leave.
    MediaFailed {
        now: Instant,
        now_ms: u64,
        reason: String,
    },
    /// The deadline from [`RtcCallMachine::poll_timeout`] (or any later time) has come.
    Timeout { now: Instant, now_ms: u64 },
}

/// A user's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Call the other member: join the room's session and ring them — or, when their
    /// membership is already there (an active session, [`Event::SessionActive`]), join it
    /// without ringing. While a ring is incoming, the same as [`Command::Answer`].
    Call,
    /// Answer the incoming ring: join (no notification is sent).
    Answer,
    /// Decline the incoming ring: an `org.matrix.msc4310.rtc.decline` relating to it.
    Decline,
    /// End the call: leave (our membership becomes `{}`); while a ring is incoming, decline it.
    Hangup,
}

/// A command that does not fit the current state. Remote events never produce errors
/// (bad ones are logged at debug level and ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no call in progress")]
    NoCall,
    #[error("nothing is ringing")]
    NotRinging,
    #[error("a call is already in progress")]
    Busy,
    #[error("the other member has left the room")]
    PeerNotInRoom,
}

/// Identifies one request for [`Input::SendResult`]; unique for the machine's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// What the engine must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Carry out `request` (without retrying it: the machine retries) and report with
    /// [`Input::SendResult`] under `id`.
    Send { id: RequestId, request: Request },
    /// Tell the user / the media side.
    Event(Event),
}

/// A request to the homeserver. Paths are the Client-Server API's; `{room}` is the room.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// MSC4140: `PUT /_matrix/client/v3/rooms/{room}/state/org.matrix.msc3401.call.member/
    /// {state_key}?org.matrix.msc4140.delay={delay ms}` with body `{}` → [`Response::DelayId`].
    SendDelayedLeave { state_key: String, delay: Duration },
    /// MSC4140: `POST /_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delay_id}/
    /// restart` (body `{}`) → [`Response::Empty`].
    RestartDelayed { delay_id: String },
    /// MSC4140: `POST …/delayed_events/{delay_id}/cancel` → [`Response::Empty`].
    CancelDelayed { delay_id: String },
    /// MSC4140: `POST …/delayed_events/{delay_id}/send`: publish the delayed leave now (how
    /// js-sdk leaves) → [`Response::Empty`].
    SendDelayedNow { delay_id: String },
    /// `PUT /_matrix/client/v3/rooms/{room}/state/org.matrix.msc3401.call.member/{state_key}`
    /// with `content` (our membership, or `{}` to leave) → [`Response::EventId`].
    SendMembership {
        state_key: String,
        content: serde_json::Value,
    },
    /// `PUT /_matrix/client/v3/rooms/{room}/send/org.matrix.msc4075.rtc.notification/{txn}`
    /// → [`Response::EventId`] (the ring's event id, which declines relate to).
    SendNotification { content: serde_json::Value },
    /// `PUT /_matrix/client/v3/rooms/{room}/send/org.matrix.msc4310.rtc.decline/{txn}`
    /// → [`Response::EventId`].
    SendDecline { content: serde_json::Value },
}

impl Request {
    /// The event type sent, for the requests that send an event.
    pub fn event_type(&self) -> Option<&'static str> {
        match self {
            Request::SendDelayedLeave { .. } | Request::SendMembership { .. } => {
                Some(membership::EVENT_TYPE)
            }
            Request::SendNotification { .. } => Some(notification::EVENT_TYPE),
            Request::SendDecline { .. } => Some(decline::EVENT_TYPE),
            _ => None,
        }
    }
}

/// A successful answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `{"event_id": …}` of a sent event.
    EventId(String),
    /// `{"delay_id": …}` of a scheduled delayed event.
    DelayId(String),
    /// An answer with nothing the machine needs (`{}`).
    Empty,
}

/// Why a request failed, as the engine classifies the homeserver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// `429` / `M_LIMIT_EXCEEDED`, with `retry_after_ms` if given: retried after that (or
    /// [`RATE_LIMIT_RETRY`]), at most [`MAX_RETRIES`] times per action.
    RateLimited { retry_after: Option<Duration> },
    /// `M_NOT_FOUND`: the delayed event is gone (sent, cancelled, or lost by the server).
    NotFound,
    /// The server has no delayed events: `M_UNRECOGNIZED` (or `/versions` lacks
    /// `org.matrix.msc4140`). We go on without a delayed leave, with a warning.
    Unsupported,
    /// `M_UNKNOWN` with `org.matrix.msc4140.errcode: M_MAX_DELAY_EXCEEDED`: retried at once
    /// with `org.matrix.msc4140.max_delay` as the delay.
    MaxDelayExceeded { max_delay: Option<Duration> },
    /// No connection, or a 5xx: retried after [`NETWORK_RETRY`], at most [`MAX_RETRIES`] times.
    Transient(String),
    /// The engine gave up waiting ([`DELAYED_LEAVE_RESTART_TIMEOUT`]): retried at once, counted
    /// like `Transient` (js-sdk `AbortError`).
    LocalTimeout,
    /// Anything else (`M_FORBIDDEN`, a 4xx, a bad answer): not retried.
    Other(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::RateLimited { .. } => f.write_str("rate limited"),
            SendError::NotFound => f.write_str("not found"),
            SendError::Unsupported => f.write_str("delayed events are not supported"),
            SendError::MaxDelayExceeded { .. } => f.write_str("delay too long for the server"),
            SendError::Transient(e) => write!(f, "{e}"),
            SendError::LocalTimeout => f.write_str("timed out"),
            SendError::Other(e) => write!(f, "{e}"),
        }
    }
}

/// A LiveKit transport from a membership's `foci_preferred` (MSC4195:
/// `{type: "livekit", livekit_service_url, livekit_alias}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivekitTransport {
    pub livekit_service_url: String,
    /// The LiveKit room alias (Element Call compatibility mode: the Matrix room id).
    pub livekit_alias: Option<String>,
}

/// A device of the other member in the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: OwnedUserId,
    pub device_id: String,
    /// The membership's state key.
    pub state_key: String,
    /// The membership event's id.
    pub event_id: String,
    /// The identity on the SFU for `/sfu/get` tokens: `membershipID`, else
    /// `@user:hs:DEVICE` (js-sdk `CallMembership.memberId`).
    pub member_id: String,
    /// `focus_active.focus_selection` (`multi_sfu`: the member publishes to
    /// `transports[0]`; `oldest_membership`: to the oldest member's).
    pub focus_selection: Option<String>,
    /// The LiveKit entries of `foci_preferred`, in order.
    pub transports: Vec<LivekitTransport>,
    /// `m.call.intent`, if given.
    pub intent: Option<String>,
}

/// What the user (and the media side) must know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The other member is in the room's session and nobody rang: `Command::Call` joins it.
    SessionActive { member: Member },
    /// A live ring from the other member: answer ([`Command::Answer`]) or decline.
    Ringing {
        notification_id: String,
        caller: OwnedUserId,
        intent: Option<String>,
    },
    /// Our membership is on the server (`event_id` of the membership event).
    Joined { event_id: Option<String> },
    /// Our ring notification is on the server.
    RingSent { notification_id: String },
    /// A device of the other member is in the call (we are joined): start (or update) media
    /// with it. Emitted again for the same device if its `member_id`, focus selection or
    /// transports change (not for a mere `expires` refresh).
    PeerJoined { member: Member },
    /// That device is gone (`{}`, expired, or the member left the room).
    PeerLeft { device_id: String },
    /// Something the user should know that does not end the call (no delayed events on this
    /// server, our membership vanished and is being re-sent, …).
    Warning(String),
    /// The call is over; media stops. Leave requests may still follow ([`Event::Left`]).
    Ended { outcome: Outcome },
    /// Our membership is withdrawn (or we gave up trying); nothing more will be sent for the
    /// call.
    Left,
}

/// Where the machine is, for the engine and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No call; rings and sessions are watched.
    Idle,
    /// An incoming ring waits for an answer.
    Ringing,
    /// Joining or joined (ringing out, or in a call).
    InCall,
    /// The call ended; leave (or decline) requests are still under way.
    Ending,
}

/// Why remote content was refused. Never an error of the machine: bad content is ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("content is not an object")]
    NotAnObject,
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{0}` has the wrong type")]
    WrongType(&'static str),
    #[error("`{0}` has a bad value")]
    BadValue(&'static str),
}

/// Deadlines further away than this are treated as this far (a remote `expires` of 2^53 ms must
/// neither overflow an `Instant` nor fire at once).
const FAR_FUTURE: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// `now + d`, with `d` capped at ten years: a deadline must never panic.
pub(crate) fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(FAR_FUTURE)).unwrap_or(now)
}
