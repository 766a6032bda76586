//! [`RtcCallMachine`]: one room's MatrixRTC 1:1 call. It routes remote events (memberships into
//! the roster, rings, declines), rings at the end of a sync batch, runs our membership loop,
//! sends the ring and the decline with retries, and decides when the call is answered, declined,
//! unanswered or over.
//!
//! The call's rules, with their sources:
//! - Calling: join, then ring once our membership is on the server (js-sdk `MatrixRTCSession`
//!   sends the notification when its own membership appears and it is the first member; if
//!   the other member is already there, no ring: "it is no longer our responsibility").
//! - The ring is answered when a membership of the callee appears, declined by an
//!   `org.matrix.msc4310.rtc.decline` from the callee relating to it, and times out after its
//!   `lifetime` (Element Call `CallNotificationLifecycle.ts`: `accept$`, `decline$`,
//!   `timeout$`; a timeout or decline leaves the call, `autoLeave$`).
//! - In the call, when every device of the other member is gone the call ends and we leave
//!   (Element Call DM intents set `autoLeaveWhenOthersLeft`: `allOthersLeft$`).
//! - An incoming ring rings only if it is a `ring` from the other member, meant for us, still
//!   live (MSC4075 lifetime from `sender_ts`/`origin_server_ts`), and the caller's membership
//!   is valid (MSC4075: the sender's membership must connect them to the session); it stops
//!   when its lifetime ends, the caller's membership goes, another device of ours joins or
//!   declines (Element Web `useIncomingCallToast`; MSC4075 "Active notifications SHOULD be
//!   cancelled if any of these conditions stop being valid").

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use matrix_sdk::ruma::{OwnedUserId, UserId};

use super::own_membership::{Notice, OwnMembership};
use super::retry::{Counters, Retry};
use super::roster::Roster;
use super::{
    Command, CommandError, Config, Event, Input, MAX_RING_LIFETIME, Member, Outcome, Output, Phase,
    Request, RequestId, Response, SendError, after, decline, membership, notification,
};

/// Rings waiting for the caller's membership (or the end of the batch).
const MAX_PENDING_RINGS: usize = 8;
/// Notification ids that rang (or were refused) and must never ring again.
const MAX_HANDLED: usize = 1024;
/// Declines remembered for rings whose event id is not known yet.
const MAX_DECLINES: usize = 32;

/// The machine's output queue and request ids.
#[derive(Debug, Default)]
pub(super) struct Sink {
    out: VecDeque<Output>,
    next_id: u64,
}

impl Sink {
    pub fn send(&mut self, request: Request) -> RequestId {
        self.next_id += 1;
        let id = RequestId(self.next_id);
        self.out.push_back(Output::Send { id, request });
        id
    }

    pub fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }
}

/// The fields of [`Input::Remote`] that matter.
struct RemoteEvent<'a> {
    sender: &'a UserId,
    event_type: &'a str,
    event_id: &'a str,
    state_key: Option<&'a str>,
    content: &'a serde_json::Value,
    origin_server_ts: u64,
}

/// A ring that arrived and may ring at the end of the batch.
#[derive(Debug, Clone)]
struct PendingRing {
    notification_id: String,
    caller: OwnedUserId,
    membership_event_id: String,
    expires_at: Instant,
    intent: Option<String>,
}

/// The ring that is ringing.
#[derive(Debug, Clone)]
struct IncomingRing {
    notification_id: String,
    membership_event_id: String,
    expires_at: Instant,
}

/// Our ring, when calling.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ring {
    /// Waiting for our membership to be on the server.
    Waiting,
    /// The notification is being sent; we ring until `deadline`.
    Sending { deadline: Instant },
    /// On the server as `notification_id`.
    Sent {
        notification_id: String,
        deadline: Instant,
    },
    /// The callee joined (or was already there: no ring needed).
    Answered,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    /// We placed the call.
    Caller(Ring),
    /// We answered a ring.
    Callee,
    /// We joined a session that was already active.
    Joiner,
}

#[derive(Debug)]
struct Call {
    role: Role,
    /// Our membership is on the server.
    joined: bool,
    /// The other member's devices announced with `PeerJoined`, by state key.
    peers: BTreeMap<String, Member>,
    /// Whether any device of the other member has been in the call.
    peer_seen: bool,
}

#[derive(Debug)]
enum State {
    Idle,
    Ringing(IncomingRing),
    InCall(Call),
    Ending,
}

/// What a notification or decline send is for.
#[derive(Debug, Clone)]
enum OutKind {
    Ring { membership_event_id: String },
    Decline { content: serde_json::Value },
}

/// A notification or decline being sent, with its own retries (the membership loop's rules:
/// rate limits and network errors retried, anything else given up).
#[derive(Debug)]
struct Outgoing {
    kind: OutKind,
    in_flight: Option<RequestId>,
    retry_at: Option<Instant>,
    counters: Counters,
    /// The call it was for is over: drop it when its result comes.
    abandoned: bool,
}

/// The MatrixRTC call machine of one room. See the [module docs](super).
pub struct RtcCallMachine {
    cfg: Config,
    sink: Sink,
    now: Option<Instant>,
    roster: Roster,
    own: OwnMembership,
    peer_in_room: bool,
    state: State,
    /// The call started joining: `Left` is owed when its membership loop is done.
    owe_left: bool,
    pending: Vec<PendingRing>,
    handled: VecDeque<String>,
    handled_set: HashSet<String>,
    /// (sender, notification id) of declines seen.
    declines: VecDeque<(OwnedUserId, String)>,
    /// `SessionActive` was emitted for the session as it stands.
    session_announced: bool,
    outbox: Vec<Outgoing>,
}

impl RtcCallMachine {
    /// A machine for one room; `ring_lifetime` is clamped to 1 s ..= [`MAX_RING_LIFETIME`].
    pub fn new(mut cfg: Config) -> Self {
        cfg.ring_lifetime = cfg
            .ring_lifetime
            .clamp(Duration::from_secs(1), MAX_RING_LIFETIME);
        RtcCallMachine {
            cfg,
            sink: Sink::default(),
            now: None,
            roster: Roster::default(),
            own: OwnMembership::default(),
            peer_in_room: true,
            state: State::Idle,
            owe_left: false,
            pending: Vec::new(),
            handled: VecDeque::new(),
            handled_set: HashSet::new(),
            declines: VecDeque::new(),
            session_announced: false,
            outbox: Vec::new(),
        }
    }

    /// The configuration in use (after clamping).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Feed one input. Only commands can fail; after any input, drain [`Self::poll_output`].
    pub fn handle_input(&mut self, input: Input<'_>) -> Result<(), CommandError> {
        let (now, now_ms) = match &input {
            Input::Remote { now, now_ms, .. }
            | Input::BatchEnd { now, now_ms }
            | Input::PeerLeftRoom { now, now_ms }
            | Input::Command { now, now_ms, .. }
            | Input::SendResult { now, now_ms, .. }
            | Input::MediaFailed { now, now_ms, .. }
            | Input::Timeout { now, now_ms } => (*now, *now_ms),
        };
        // A clock that went backwards (it cannot, but inputs are the engine's) is held.
        let now = self.now.map_or(now, |last| last.max(now));
        self.now = Some(now);
        let mut result = Ok(());
        match input {
            // Only recorded: the batch is judged as a whole at `BatchEnd`.
            Input::Remote {
                sender,
                event_type,
                event_id,
                state_key,
                content,
                origin_server_ts,
                ..
            } => {
                let event = RemoteEvent {
                    sender,
                    event_type,
                    event_id,
                    state_key,
                    content,
                    origin_server_ts,
                };
                self.on_remote(now, now_ms, event);
                return Ok(());
            }
            Input::BatchEnd { .. } | Input::Timeout { .. } => {}
            Input::PeerLeftRoom { .. } => self.peer_in_room = false,
            Input::Command { command, .. } => result = self.on_command(now, command),
            Input::SendResult { id, result: r, .. } => self.on_send_result(now, id, r),
            Input::MediaFailed { reason, .. } => {
                if matches!(self.state, State::InCall(_)) {
                    tracing::debug!("media failed: {reason}");
                    self.end(now, Outcome::MediaFailed);
                }
            }
        }
        self.step(now, now_ms);
        result
    }

    /// The next thing to do; drain until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.sink.out.pop_front()
    }

    /// When to send [`Input::Timeout`] next; `None` while nothing waits on the clock.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let now = self.now?;
        let call = match &self.state {
            State::Ringing(r) => Some(r.expires_at),
            State::InCall(Call {
                role: Role::Caller(Ring::Sending { deadline } | Ring::Sent { deadline, .. }),
                ..
            }) => Some(*deadline),
            _ => None,
        };
        [
            self.own.deadline(),
            self.outbox.iter().filter_map(|o| o.retry_at).min(),
            call,
            self.roster.next_expiry(now),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Where the call is.
    pub fn phase(&self) -> Phase {
        match self.state {
            State::Idle => Phase::Idle,
            State::Ringing(_) => Phase::Ringing,
            State::InCall(_) => Phase::InCall,
            State::Ending => Phase::Ending,
        }
    }

    /// A valid membership of the other member is in the room's session as the machine last
    /// judged it (at its latest input): [`Command::Call`] would join it without ringing.
    pub fn session_active(&self) -> bool {
        self.now
            .is_some_and(|now| self.peer_members(now).next().is_some())
    }

    /// No call, and nothing left to send: the process may exit.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle) && !self.own.running() && self.outbox.is_empty()
    }

    /// Mark a ring as handled (e.g. one declined by an earlier run): it never rings.
    pub fn remember_handled(&mut self, notification_id: &str) {
        if self.handled_set.insert(notification_id.to_owned()) {
            self.handled.push_back(notification_id.to_owned());
            if self.handled.len() > MAX_HANDLED
                && let Some(old) = self.handled.pop_front()
            {
                self.handled_set.remove(&old);
            }
        }
    }

    /// Rings that rang or were refused, oldest first, for the engine to persist.
    pub fn handled_rings(&self) -> impl Iterator<Item = &str> {
        self.handled.iter().map(String::as_str)
    }

    // ---- remote ------------------------------------------------------------------------------

    fn on_remote(&mut self, now: Instant, now_ms: u64, ev: RemoteEvent<'_>) {
        let RemoteEvent {
            sender,
            event_type,
            event_id,
            state_key,
            content,
            origin_server_ts,
        } = ev;
        let from_peer = *sender == *self.cfg.peer_user;
        let from_own = *sender == *self.cfg.own_user;
        if !from_peer && !from_own {
            if matches!(
                event_type,
                membership::EVENT_TYPE | notification::EVENT_TYPE | decline::EVENT_TYPE
            ) {
                tracing::debug!(%sender, event_type, "ignoring a third user's call event");
            }
            return;
        }
        match (event_type, state_key) {
            (membership::EVENT_TYPE, Some(key)) => self.roster.apply(
                now,
                now_ms,
                sender,
                key,
                event_id,
                content,
                origin_server_ts,
            ),
            (notification::EVENT_TYPE, None) if from_peer => {
                self.on_notification(now, now_ms, sender, event_id, content, origin_server_ts)
            }
            (decline::EVENT_TYPE, None) => match decline::parse(content) {
                Ok(target) => {
                    self.declines.push_back((sender.to_owned(), target));
                    if self.declines.len() > MAX_DECLINES {
                        self.declines.pop_front();
                    }
                }
                Err(e) => tracing::debug!(%sender, "ignoring malformed decline: {e}"),
            },
            _ => {}
        }
    }

    fn on_notification(
        &mut self,
        now: Instant,
        now_ms: u64,
        sender: &UserId,
        event_id: &str,
        content: &serde_json::Value,
        origin_server_ts: u64,
    ) {
        let n = match notification::parse(content) {
            Ok(n) => n,
            Err(e) => return tracing::debug!(%sender, "ignoring malformed notification: {e}"),
        };
        if !n.is_ring() || !n.targets(&self.cfg.own_user) || event_id.is_empty() {
            return tracing::debug!(%sender, event_id, "notification not ringing us");
        }
        if self.handled_set.contains(event_id)
            || self.pending.iter().any(|p| p.notification_id == event_id)
        {
            return;
        }
        let expires_ms = n.expires_at_ms(origin_server_ts, self.cfg.max_sender_ts_skew);
        if expires_ms <= now_ms {
            tracing::debug!(event_id, "stale ring: not ringing");
            return self.remember_handled(event_id);
        }
        if self.pending.len() >= MAX_PENDING_RINGS {
            self.pending.remove(0);
        }
        self.pending.push(PendingRing {
            notification_id: event_id.to_owned(),
            caller: sender.to_owned(),
            membership_event_id: n.membership_event_id,
            expires_at: after(now, Duration::from_millis(expires_ms - now_ms)),
            intent: n.intent,
        });
    }

    // ---- commands ----------------------------------------------------------------------------

    fn on_command(&mut self, now: Instant, command: Command) -> Result<(), CommandError> {
        match (command, &self.state) {
            (Command::Call, State::Idle) => {
                if !self.peer_in_room {
                    return Err(CommandError::PeerNotInRoom);
                }
                let active = self.peer_members(now).next().is_some();
                let role = if active {
                    Role::Joiner
                } else {
                    Role::Caller(Ring::Waiting)
                };
                self.start_call(now, role);
                Ok(())
            }
            (Command::Call | Command::Answer, State::Ringing(_)) => {
                self.start_call(now, Role::Callee);
                Ok(())
            }
            (Command::Call, State::InCall(_) | State::Ending) => Err(CommandError::Busy),
            (Command::Decline | Command::Hangup, State::Ringing(r)) => {
                // Element Web `useIncomingCallToast.onDecline` → js-sdk `sendRtcDecline`.
                let content = decline::content(&r.notification_id.clone());
                self.queue(OutKind::Decline { content });
                self.finish(Outcome::Declined);
                Ok(())
            }
            (Command::Answer | Command::Decline, _) => Err(CommandError::NotRinging),
            (Command::Hangup, State::InCall(call)) => {
                // Before the other member joined, hanging up gives the call up.
                let outcome = if call.peer_seen {
                    Outcome::Completed
                } else {
                    Outcome::Cancelled
                };
                self.end(now, outcome);
                Ok(())
            }
            (Command::Hangup, State::Idle | State::Ending) => Err(CommandError::NoCall),
        }
    }

    fn start_call(&mut self, now: Instant, role: Role) {
        self.state = State::InCall(Call {
            role,
            joined: false,
            peers: BTreeMap::new(),
            peer_seen: false,
        });
        self.owe_left = true;
        // Rings still pending are about this very session now.
        for p in std::mem::take(&mut self.pending) {
            self.remember_handled(&p.notification_id);
        }
        self.own.join(now);
    }

    /// End the call we are in (or joining): `Ended`, then leave.
    fn end(&mut self, now: Instant, outcome: Outcome) {
        if !matches!(self.state, State::InCall(_)) {
            return;
        }
        self.finish(outcome);
        self.own.leave(now);
    }

    /// The call is over for the user; what is still being sent finishes in `Ending`.
    fn finish(&mut self, outcome: Outcome) {
        for o in &mut self.outbox {
            if matches!(o.kind, OutKind::Ring { .. }) {
                o.abandoned = true;
            }
        }
        self.outbox
            .retain(|o| !(o.abandoned && o.in_flight.is_none()));
        self.sink.event(Event::Ended { outcome });
        self.state = State::Ending;
    }

    // ---- sends -------------------------------------------------------------------------------

    fn queue(&mut self, kind: OutKind) {
        self.outbox.push(Outgoing {
            kind,
            in_flight: None,
            retry_at: None,
            counters: Counters::default(),
            abandoned: false,
        });
    }

    /// Send what is due in the outbox. Our ring is built at each attempt: `sender_ts` is the
    /// moment it is sent, and `lifetime` what is left of our ringing, so that the callee stops
    /// ringing when we stop waiting.
    fn send_outbox(&mut self, now: Instant, now_ms: u64) {
        let deadline = match &self.state {
            State::InCall(Call {
                role: Role::Caller(Ring::Sending { deadline }),
                ..
            }) => Some(*deadline),
            _ => None,
        };
        for o in &mut self.outbox {
            if o.in_flight.is_some() || o.retry_at.is_some_and(|t| t > now) {
                continue;
            }
            let request = match &o.kind {
                OutKind::Decline { content } => Request::SendDecline {
                    content: content.clone(),
                },
                OutKind::Ring {
                    membership_event_id,
                } => {
                    let Some(deadline) = deadline.filter(|_| !o.abandoned) else {
                        o.abandoned = true;
                        continue;
                    };
                    Request::SendNotification {
                        content: notification::ring_content(
                            &self.cfg.peer_user,
                            membership_event_id,
                            now_ms,
                            deadline.saturating_duration_since(now),
                            &self.cfg.call_intent,
                        ),
                    }
                }
            };
            o.retry_at = None;
            o.in_flight = Some(self.sink.send(request));
        }
        self.outbox
            .retain(|o| !(o.abandoned && o.in_flight.is_none()));
    }

    fn on_send_result(&mut self, now: Instant, id: RequestId, result: Result<Response, SendError>) {
        if self
            .own
            .on_result(now, id, result.clone(), &self.cfg, &mut self.sink)
        {
            return;
        }
        let Some(pos) = self.outbox.iter().position(|o| o.in_flight == Some(id)) else {
            return tracing::debug!(?id, "result for an unknown request");
        };
        let mut o = self.outbox.remove(pos);
        o.in_flight = None;
        let is_ring = matches!(o.kind, OutKind::Ring { .. });
        let error = match result {
            Ok(Response::EventId(event_id)) if is_ring => {
                if !o.abandoned
                    && let State::InCall(Call {
                        role: Role::Caller(ring @ Ring::Sending { .. }),
                        ..
                    }) = &mut self.state
                    && let Ring::Sending { deadline } = *ring
                {
                    *ring = Ring::Sent {
                        notification_id: event_id.clone(),
                        deadline,
                    };
                    self.sink.event(Event::RingSent {
                        notification_id: event_id,
                    });
                }
                return;
            }
            Ok(_) if !is_ring => return,
            Ok(other) => SendError::Other(format!("no event_id in the answer ({other:?})")),
            Err(e) => e,
        };
        if o.abandoned {
            return;
        }
        match o.counters.on_error(&error, &self.cfg.timing) {
            Retry::After(d) => {
                o.retry_at = Some(after(now, d));
                self.outbox.push(o);
            }
            Retry::Exhausted(m) => self.give_up(now, is_ring, m),
            Retry::NotRetryable => self.give_up(now, is_ring, error.to_string()),
        }
    }

    fn give_up(&mut self, now: Instant, is_ring: bool, why: String) {
        if is_ring {
            self.sink
                .event(Event::Warning(format!("cannot send the ring: {why}")));
            self.end(now, Outcome::Error);
        } else {
            self.sink
                .event(Event::Warning(format!("cannot send the decline: {why}")));
        }
    }

    // ---- the call's rules --------------------------------------------------------------------

    /// After every input but `Remote`: run the membership loop and the outbox, judge the call,
    /// until nothing changes.
    fn step(&mut self, now: Instant, now_ms: u64) {
        for _ in 0..8 {
            self.evaluate(now);
            self.own.poll(now, &self.cfg, &mut self.sink);
            self.send_outbox(now, now_ms);
            let notices = self.own.take_notices();
            if notices.is_empty() {
                break;
            }
            for n in notices {
                self.on_notice(now, n);
            }
        }
        if matches!(self.state, State::Ending) && !self.own.running() && self.outbox.is_empty() {
            if std::mem::take(&mut self.owe_left) {
                self.sink.event(Event::Left);
            }
            self.state = State::Idle;
            // The session we just left (if the other member stays) is not news.
            let active = self.peer_members(now).next().is_some();
            self.session_announced = active;
        }
    }

    fn on_notice(&mut self, now: Instant, notice: Notice) {
        match notice {
            Notice::Joined { event_id } => {
                if let State::InCall(call) = &mut self.state
                    && !call.joined
                {
                    call.joined = true;
                    self.sink.event(Event::Joined { event_id });
                }
            }
            Notice::Warning(w) => self.sink.event(Event::Warning(w)),
            Notice::Fatal(e) => {
                self.sink.event(Event::Warning(e));
                self.end(now, Outcome::Error);
                self.own.leave_after_fatal(now);
            }
            Notice::Left => {}
        }
    }

    /// The other member's valid memberships (none once they left the room).
    fn peer_members(&self, now: Instant) -> impl Iterator<Item = (&str, &super::roster::Entry)> {
        let in_room = self.peer_in_room;
        self.roster
            .valid(&self.cfg.peer_user, now)
            .filter(move |_| in_room)
    }

    /// Another device of ours is in the session (MSC4075: no ring for a user already
    /// connected; Element Web dismisses the ring when another of our devices joins).
    fn own_other_device_joined(&self, now: Instant) -> bool {
        self.roster
            .valid(&self.cfg.own_user, now)
            .any(|(k, _)| k != self.cfg.own_state_key)
    }

    /// The caller's membership that a ring relates to is valid: the state key it was seen
    /// under holds a valid membership of the caller (a refresh keeps it valid); if that event
    /// was never seen, any valid membership of the caller (Element X and Element Web check that
    /// the session is active).
    fn ring_backed(&self, caller: &UserId, membership_event_id: &str, now: Instant) -> bool {
        if *caller != *self.cfg.peer_user || !self.peer_in_room {
            return false;
        }
        match self.roster.key_of_event(membership_event_id) {
            Some(key) => self
                .roster
                .get(key)
                .is_some_and(|e| e.sender == *caller && e.is_valid(now)),
            None => self.peer_members(now).next().is_some(),
        }
    }

    fn declined_by(&self, user: &UserId, notification_id: &str) -> bool {
        self.declines
            .iter()
            .any(|(u, id)| **u == *user && id == notification_id)
    }

    fn evaluate(&mut self, now: Instant) {
        // Rings that can no longer ring are forgotten (and never ring later): stale ones, and
        // any that arrive while we are in the session or already ringing (MSC4075: no ring
        // for a user already connected, nor while an earlier one is presented).
        let min_ring = self.cfg.min_ring_time;
        let busy = matches!(self.state, State::InCall(_) | State::Ringing(_));
        let stale: Vec<String> = self
            .pending
            .iter()
            .filter(|p| busy || after(now, min_ring) >= p.expires_at)
            .map(|p| p.notification_id.clone())
            .collect();
        for id in stale {
            tracing::debug!(notification_id = %id, "ring dropped: stale, or we are busy");
            self.pending.retain(|p| p.notification_id != id);
            self.remember_handled(&id);
        }
        match &self.state {
            State::Idle => self.evaluate_idle(now),
            State::Ringing(r) => {
                let outcome = if now >= r.expires_at {
                    Some(Outcome::NoAnswer)
                } else if !self.ring_backed(&self.cfg.peer_user, &r.membership_event_id, now) {
                    // The caller hung up (their membership is gone) or left the room.
                    Some(Outcome::NoAnswer)
                } else if self.own_other_device_joined(now) {
                    Some(Outcome::AnsweredElsewhere)
                } else if self.declined_by(&self.cfg.own_user, &r.notification_id) {
                    Some(Outcome::Declined)
                } else {
                    None
                };
                if let Some(outcome) = outcome {
                    self.finish(outcome);
                }
            }
            State::InCall(_) => self.evaluate_call(now),
            State::Ending => {}
        }
    }

    fn evaluate_idle(&mut self, now: Instant) {
        let session = self.peer_members(now).next().and_then(|(k, e)| e.member(k));
        // The newest ring that may ring: live, backed by the caller's membership, not answered
        // or declined by another device of ours.
        let ring = self
            .pending
            .iter()
            .rev()
            .find(|p| self.ring_backed(&p.caller, &p.membership_event_id, now))
            .cloned();
        if let Some(p) = ring {
            self.pending
                .retain(|q| q.notification_id != p.notification_id);
            self.remember_handled(&p.notification_id);
            if self.own_other_device_joined(now)
                || self.declined_by(&self.cfg.own_user, &p.notification_id)
            {
                tracing::debug!(notification_id = %p.notification_id, "ring handled elsewhere");
                return self.announce_session(session);
            }
            self.session_announced = true;
            self.sink.event(Event::Ringing {
                notification_id: p.notification_id.clone(),
                caller: p.caller.clone(),
                intent: p.intent.clone(),
            });
            self.state = State::Ringing(IncomingRing {
                notification_id: p.notification_id,
                membership_event_id: p.membership_event_id,
                expires_at: p.expires_at,
            });
            return;
        }
        self.announce_session(session);
    }

    /// `SessionActive` once per appearance of the other member's session.
    fn announce_session(&mut self, session: Option<Member>) {
        match session {
            Some(member) if !self.session_announced => {
                self.session_announced = true;
                self.sink.event(Event::SessionActive { member });
            }
            Some(_) => {}
            None => self.session_announced = false,
        }
    }

    fn evaluate_call(&mut self, now: Instant) {
        // Our own membership: note its echo; if it vanished after that, join again.
        if let Some(event_id) = self.own.event_id()
            && let Some(entry) = self.roster.get(&self.cfg.own_state_key)
        {
            let valid = entry.is_valid(now);
            if valid && entry.event_id == event_id {
                let created = entry.created_ms;
                let event_id = event_id.to_owned();
                self.own.on_echo(&event_id, created);
            } else if !valid
                && self.own.echo_seen()
                && self.own.has_member_event()
                && self.own.on_missing(now)
            {
                self.sink.event(Event::Warning(
                    "our call membership was removed from the room: sending it again".into(),
                ));
            }
        }
        let peers: BTreeMap<String, Member> = self
            .peer_members(now)
            .filter_map(|(k, e)| Some((k.to_owned(), e.member(k)?)))
            .collect();
        let peer_in_room = self.peer_in_room;
        // The ring relates to our membership event: its id from the send's answer, else from
        // its echo. Never to an empty id (an echo without one): no client could parse that
        // ring; it waits for a real id instead (found by the `rtc_machine` fuzz target).
        let own_event_id = self
            .own
            .event_id()
            .map(str::to_owned)
            .or_else(|| {
                self.roster
                    .get(&self.cfg.own_state_key)
                    .filter(|e| e.is_valid(now) && self.own.has_member_event())
                    .map(|e| e.event_id.clone())
            })
            .filter(|id| !id.is_empty());
        let ring_lifetime = self.cfg.ring_lifetime;
        let peer_declines: Vec<String> = self
            .declines
            .iter()
            .filter(|(u, _)| *u == self.cfg.peer_user)
            .map(|(_, id)| id.clone())
            .collect();
        let State::InCall(call) = &mut self.state else {
            return;
        };
        let mut outcome = None;
        let mut start_ring = None;
        match &mut call.role {
            Role::Caller(ring) => match ring {
                _ if !peers.is_empty() => *ring = Ring::Answered,
                Ring::Waiting => {
                    if !peer_in_room {
                        outcome = Some(Outcome::Declined);
                    } else if call.joined
                        && let Some(id) = own_event_id
                    {
                        let deadline = after(now, ring_lifetime);
                        *ring = Ring::Sending { deadline };
                        start_ring = Some(id);
                    }
                }
                Ring::Sending { deadline } => {
                    if !peer_in_room {
                        outcome = Some(Outcome::Declined);
                    } else if now >= *deadline {
                        outcome = Some(Outcome::NoAnswer);
                    }
                }
                Ring::Sent {
                    notification_id,
                    deadline,
                } => {
                    if !peer_in_room || peer_declines.contains(notification_id) {
                        outcome = Some(Outcome::Declined);
                    } else if now >= *deadline {
                        outcome = Some(Outcome::NoAnswer);
                    }
                }
                Ring::Answered => {
                    if !call.peer_seen && peers.is_empty() {
                        // They joined and left again before we were in.
                        outcome = Some(Outcome::NoAnswer);
                    }
                }
            },
            Role::Callee | Role::Joiner => {
                if !call.peer_seen && peers.is_empty() {
                    // The caller gave up (or the session ended) before we were in.
                    outcome = Some(Outcome::NoAnswer);
                }
            }
        }
        if outcome.is_none() && call.joined {
            for (key, member) in &peers {
                // New, or now reachable elsewhere (a refresh alone changes only the event id).
                let news = call.peers.get(key).is_none_or(|old| {
                    (&old.member_id, &old.focus_selection, &old.transports)
                        != (
                            &member.member_id,
                            &member.focus_selection,
                            &member.transports,
                        )
                });
                call.peers.insert(key.clone(), member.clone());
                if news {
                    call.peer_seen = true;
                    self.sink.event(Event::PeerJoined {
                        member: member.clone(),
                    });
                }
            }
            let gone: Vec<String> = call
                .peers
                .keys()
                .filter(|k| !peers.contains_key(*k))
                .cloned()
                .collect();
            for key in gone {
                if let Some(m) = call.peers.remove(&key) {
                    self.sink.event(Event::PeerLeft {
                        device_id: m.device_id,
                    });
                }
            }
            if call.peer_seen && call.peers.is_empty() {
                outcome = Some(Outcome::Completed);
            }
        }
        if let Some(membership_event_id) = start_ring {
            self.queue(OutKind::Ring {
                membership_event_id,
            });
        }
        if let Some(outcome) = outcome {
            self.end(now, outcome);
        }
    }
}
