//! Our membership on the server, as matrix-js-sdk's `MembershipManager` keeps it: a small queue
//! of timed actions and one loop that runs the next due action (one request at a time) and
//! schedules what follows from its result. Every rule of joining, staying joined and leaving is
//! here:
//!
//! ```text
//! join ─▶ SendDelayedEvent ─(delay_id)─▶ SendJoinEvent ─▶ RestartDelayedEvent (now, then every 5 s)
//!                                                     └─▶ UpdateExpiry (before `expires` lapses)
//! leave ─▶ (everything above dropped) SendScheduledDelayedLeaveEvent ─(not found)─▶ SendLeaveEvent
//! ```
//!
//! Source: js-sdk `src/matrixrtc/MembershipManager.ts` (`membershipLoopHandler` and its
//! handlers) and `MembershipManagerActionScheduler.ts` (`startWithJoin`, `initiateJoin`,
//! `initiateLeave`: an update arriving while a request is in flight replaces the queue once the
//! request has returned, "the wakeupUpdate always wins"). Where mxcall differs, the handler
//! says so.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::machine::Sink;
use super::membership;
use super::retry::{Counters, Retry};
use super::{Config, Request, RequestId, Response, SendError, after};

/// js-sdk `MembershipActionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Action {
    SendDelayedEvent,
    SendJoinEvent,
    RestartDelayedEvent,
    UpdateExpiry,
    SendScheduledDelayedLeaveEvent,
    SendLeaveEvent,
}

#[derive(Debug, Clone, Copy)]
struct Scheduled {
    at: Instant,
    action: Action,
}

/// Which request an action has in flight (`SendDelayedEvent` cancels an old delayed event
/// first when it still knows one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    DelayedLeave,
    Cancel,
    Join,
    Restart,
    Expiry,
    SendNow,
    Leave,
    /// Cancelling a delayed leave nobody needs any more.
    Tidy,
}

/// js-sdk `ActionUpdate`.
enum Update {
    Replace(Vec<Scheduled>),
    Insert(Scheduled),
    Nothing,
}

/// What the machine must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Notice {
    /// Our membership event is on the server.
    Joined {
        event_id: Option<String>,
    },
    Warning(String),
    /// The loop stopped on an error it cannot handle (js-sdk: the scheduler throws and the
    /// session reports `MembershipManagerError`).
    Fatal(String),
    /// A leave is complete (or given up): nothing more runs.
    Left,
}

/// The membership loop. See the [module docs](self).
#[derive(Debug, Default)]
pub(super) struct OwnMembership {
    actions: Vec<Scheduled>,
    in_flight: Option<(RequestId, Sent)>,
    /// js-sdk `wakeup`: a join or leave asked for while a request was in flight.
    wakeup: Option<Vec<Scheduled>>,
    leaving: bool,
    delay_id: Option<String>,
    has_member_event: bool,
    start: Option<Instant>,
    iterations: u32,
    counters: HashMap<Action, Counters>,
    /// `org.matrix.msc4140.max_delay` from an `M_MAX_DELAY_EXCEEDED` answer.
    delay_override: Option<Duration>,
    /// The server has no delayed events (remembered for the machine's life; js-sdk learns it
    /// from `/versions` before every delayed-event call).
    delayed_unsupported: bool,
    /// The id of our latest membership event.
    event_id: Option<String>,
    /// `createdTs()` of our membership as seen in the room, once its echo has arrived.
    created_ts: Option<u64>,
    echo_seen: bool,
    notices: Vec<Notice>,
}

impl OwnMembership {
    /// Actions queued or a request in flight (js-sdk `scheduler.running`).
    pub fn running(&self) -> bool {
        !self.actions.is_empty() || self.in_flight.is_some()
    }

    /// Our membership is (as far as we know) on the server.
    pub fn has_member_event(&self) -> bool {
        self.has_member_event
    }

    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    /// The echo of our current membership has come back through sync.
    pub fn echo_seen(&self) -> bool {
        self.echo_seen
    }

    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Start joining (js-sdk `MembershipManager.join` → `startWithJoin`: the state is reset
    /// and the first action is `SendDelayedEvent`). Ignored while the loop runs.
    pub fn join(&mut self, now: Instant) {
        if self.running() {
            return tracing::debug!("membership loop already running: join ignored");
        }
        *self = OwnMembership {
            delay_override: self.delay_override,
            delayed_unsupported: self.delayed_unsupported,
            actions: vec![Scheduled {
                at: now,
                action: Action::SendDelayedEvent,
            }],
            ..OwnMembership::default()
        };
    }

    /// Leave (js-sdk `leave` → `initiateLeave`): everything queued is replaced by
    /// `SendScheduledDelayedLeaveEvent`. Ignored when nothing runs or a leave is under way.
    pub fn leave(&mut self, now: Instant) {
        if !self.running() || self.leaving {
            return;
        }
        self.leaving = true;
        self.wake(vec![Scheduled {
            at: now,
            action: Action::SendScheduledDelayedLeaveEvent,
        }]);
    }

    /// After a fatal error the loop has stopped; if our membership may still be on the server,
    /// withdraw it anyway. mxcall's rule: js-sdk stops and leaves cleaning up to the delayed
    /// leave or expiry, but a command-line tool about to exit should not leave a member behind.
    pub fn leave_after_fatal(&mut self, now: Instant) {
        if self.running() || (!self.has_member_event && self.delay_id.is_none()) {
            return;
        }
        self.leaving = true;
        self.actions = vec![Scheduled {
            at: now,
            action: Action::SendScheduledDelayedLeaveEvent,
        }];
    }

    /// Our membership is seen in the room: `event_id` and its creation time (js-sdk
    /// `onRTCSessionMemberUpdate` sets `ownMembership`, whose `createdTs()` goes into refreshes).
    pub fn on_echo(&mut self, event_id: &str, created_ms: u64) {
        if self.event_id.as_deref() == Some(event_id) {
            self.echo_seen = true;
            self.created_ts = Some(created_ms);
        }
    }

    /// Our membership is gone from the room while we are joined (replaced by `{}`, expired —
    /// e.g. the server published our delayed leave after restarts failed). js-sdk
    /// `onRTCSessionMemberUpdate`: "Missing own membership: force re-join" unless a
    /// `SendDelayedEvent`/`SendJoinEvent` is already queued. mxcall acts only once the echo of
    /// our current membership has been seen, so an older state arriving late is not mistaken
    /// for a removal. Returns whether a re-join started.
    pub fn on_missing(&mut self, now: Instant) -> bool {
        if self.leaving || !self.running() || !self.echo_seen {
            return false;
        }
        self.has_member_event = false;
        self.echo_seen = false;
        self.created_ts = None;
        let sending = |a: Action| matches!(a, Action::SendDelayedEvent | Action::SendJoinEvent);
        let in_flight = matches!(
            self.in_flight,
            Some((_, Sent::DelayedLeave | Sent::Cancel | Sent::Join))
        );
        if in_flight || self.actions.iter().any(|s| sending(s.action)) {
            return false;
        }
        self.wake(vec![Scheduled {
            at: now,
            action: Action::SendDelayedEvent,
        }]);
        true
    }

    /// When the next action is due; `None` while a request is in flight (its result drives the
    /// loop) or nothing is queued.
    pub fn deadline(&self) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        self.actions.iter().map(|s| s.at).min()
    }

    /// Run every due action that needs no answer, and start the first one that does.
    pub fn poll(&mut self, now: Instant, cfg: &Config, sink: &mut Sink) {
        // Each pass either sends (and stops) or removes an action; immediate updates insert at
        // most one new action, and none of the chains they form is longer than three.
        for _ in 0..16 {
            if self.in_flight.is_some() {
                break;
            }
            self.actions.sort_by_key(|s| s.at);
            let Some(first) = self.actions.first().copied() else {
                break;
            };
            if first.at > now {
                break;
            }
            match self.start(first.action, now, cfg) {
                Ok((request, sent)) => {
                    let id = sink.send(request);
                    self.in_flight = Some((id, sent));
                }
                Err(update) => {
                    self.actions.remove(0);
                    self.apply(update);
                }
            }
        }
        self.check_left();
    }

    /// The result of a request; `false` if it was not ours.
    pub fn on_result(
        &mut self,
        now: Instant,
        id: RequestId,
        result: Result<Response, SendError>,
        cfg: &Config,
        sink: &mut Sink,
    ) -> bool {
        let Some((sent_id, sent)) = self.in_flight else {
            return false;
        };
        if sent_id != id {
            return false;
        }
        self.in_flight = None;
        let action = self.actions.first().map(|s| s.action);
        let outcome = match action {
            Some(action) => self.handle_result(action, sent, result, now, cfg),
            None => Ok(Update::Nothing),
        };
        if !self.actions.is_empty() {
            self.actions.remove(0);
        }
        match (outcome, self.wakeup.take()) {
            (Ok(_), Some(wakeup)) => self.actions = wakeup,
            (Ok(update), None) => self.apply(update),
            (Err(e), Some(wakeup)) => {
                // mxcall: a join or leave asked for meanwhile still happens (js-sdk's loop
                // would stop on the error and drop it).
                self.notices.push(Notice::Warning(e));
                self.actions = wakeup;
            }
            (Err(e), None) => {
                self.actions.clear();
                self.notices.push(Notice::Fatal(e));
            }
        }
        self.poll(now, cfg, sink);
        true
    }

    fn wake(&mut self, actions: Vec<Scheduled>) {
        if self.in_flight.is_some() {
            self.wakeup = Some(actions);
        } else {
            self.actions = actions;
        }
    }

    fn apply(&mut self, update: Update) {
        match update {
            Update::Replace(a) => self.actions = a,
            Update::Insert(s) => self.actions.push(s),
            Update::Nothing => {}
        }
    }

    fn check_left(&mut self) {
        if self.leaving && !self.running() {
            self.leaving = false;
            self.notices.push(Notice::Left);
        }
    }

    fn delay(&self, cfg: &Config) -> Duration {
        self.delay_override
            .unwrap_or(cfg.timing.delayed_leave_delay)
    }

    /// js-sdk `computeNextExpiryActionTs`: `startTime + min(expiry, 60 min) × iteration −
    /// headroom`.
    fn next_expiry_at(&self, now: Instant, cfg: &Config) -> Instant {
        let t = &cfg.timing;
        let step = t.membership_expiry.min(super::MEMBERSHIP_REFRESH_CAP);
        let offset = step
            .saturating_mul(self.iterations)
            .saturating_sub(t.expiry_headroom);
        let start = self.start.unwrap_or(now);
        after(start, offset)
    }

    fn counters(&mut self, action: Action) -> &mut Counters {
        self.counters.entry(action).or_default()
    }

    /// js-sdk `resetRateLimitCounter`.
    fn reset(&mut self, action: Action) {
        self.counters.insert(action, Counters::default());
    }

    fn own_content(&self, cfg: &Config, iteration: u32) -> serde_json::Value {
        let expires = cfg.timing.membership_expiry.saturating_mul(iteration);
        membership::content(cfg, expires, self.created_ts)
    }

    /// Start `action`: a request to send, or (`Err`) an update that needs none.
    fn start(
        &mut self,
        action: Action,
        now: Instant,
        cfg: &Config,
    ) -> Result<(Request, Sent), Update> {
        let key = || cfg.own_state_key.clone();
        let at = |action| Scheduled { at: now, action };
        match action {
            Action::SendDelayedEvent => match &self.delay_id {
                // js-sdk `cancelKnownDelayIdBeforeSendDelayedEvent`: after our membership was
                // removed, an old delayed leave could remove the new one.
                Some(delay_id) => Ok((
                    Request::CancelDelayed {
                        delay_id: delay_id.clone(),
                    },
                    Sent::Cancel,
                )),
                None if self.delayed_unsupported => Err(self.without_delayed_leave(now)),
                None => Ok((
                    Request::SendDelayedLeave {
                        state_key: key(),
                        delay: self.delay(cfg),
                    },
                    Sent::DelayedLeave,
                )),
            },
            Action::SendJoinEvent => Ok((
                Request::SendMembership {
                    state_key: key(),
                    content: self.own_content(cfg, 1),
                },
                Sent::Join,
            )),
            Action::RestartDelayedEvent => match &self.delay_id {
                Some(delay_id) => Ok((
                    Request::RestartDelayed {
                        delay_id: delay_id.clone(),
                    },
                    Sent::Restart,
                )),
                // The delay id was dropped (not found): send a new delayed leave.
                None => Err(Update::Insert(at(Action::SendDelayedEvent))),
            },
            Action::UpdateExpiry => Ok((
                Request::SendMembership {
                    state_key: key(),
                    content: self.own_content(cfg, self.iterations.saturating_add(1)),
                },
                Sent::Expiry,
            )),
            Action::SendScheduledDelayedLeaveEvent => {
                if !self.has_member_event {
                    // mxcall: a delayed leave scheduled for a membership never sent is
                    // cancelled, so that it cannot remove the membership of a next call
                    // (js-sdk forgets it and lets it fire).
                    return match &self.delay_id {
                        Some(delay_id) => Ok((
                            Request::CancelDelayed {
                                delay_id: delay_id.clone(),
                            },
                            Sent::Tidy,
                        )),
                        None => Err(Update::Replace(Vec::new())),
                    };
                }
                match &self.delay_id {
                    Some(delay_id) => Ok((
                        Request::SendDelayedNow {
                            delay_id: delay_id.clone(),
                        },
                        Sent::SendNow,
                    )),
                    None => Err(Update::Insert(at(Action::SendLeaveEvent))),
                }
            }
            Action::SendLeaveEvent => {
                if !self.has_member_event {
                    return Err(Update::Replace(Vec::new()));
                }
                Ok((
                    Request::SendMembership {
                        state_key: key(),
                        content: membership::left(),
                    },
                    Sent::Leave,
                ))
            }
        }
    }

    /// `sendOrResendDelayedLeaveEvent` when the server has no delayed events: joining goes on
    /// without; while joined there is nothing more to do.
    fn without_delayed_leave(&self, now: Instant) -> Update {
        if self.has_member_event {
            Update::Nothing
        } else {
            Update::Insert(Scheduled {
                at: now,
                action: Action::SendJoinEvent,
            })
        }
    }

    fn handle_result(
        &mut self,
        action: Action,
        sent: Sent,
        result: Result<Response, SendError>,
        now: Instant,
        cfg: &Config,
    ) -> Result<Update, String> {
        let at = |action| Scheduled { at: now, action };
        let at_after = |d: Duration, action| Scheduled {
            at: after(now, d),
            action,
        };
        let t = &cfg.timing;
        match sent {
            Sent::Cancel => match result {
                Ok(_) => {
                    self.delay_id = None;
                    self.reset(action);
                    Ok(Update::Replace(vec![at(Action::SendDelayedEvent)]))
                }
                Err(e) => match self.counters(action).on_error(&e, t) {
                    Retry::After(d) => Ok(Update::Insert(at_after(d, action))),
                    Retry::Exhausted(m) => Err(format!("cannot cancel our old delayed leave: {m}")),
                    Retry::NotRetryable => match e {
                        SendError::NotFound => {
                            self.delay_id = None;
                            Ok(Update::Replace(vec![at(Action::SendDelayedEvent)]))
                        }
                        SendError::Unsupported => {
                            self.delayed_unsupported = true;
                            Ok(Update::Replace(vec![at(Action::SendJoinEvent)]))
                        }
                        e => Err(format!("cannot cancel our old delayed leave: {e}")),
                    },
                },
            },
            Sent::DelayedLeave => {
                let e = match result {
                    Ok(Response::DelayId(id)) => {
                        self.reset(action);
                        self.delay_id = Some(id);
                        return Ok(Update::Insert(if self.has_member_event {
                            // The old delayed leave was lost while we were joined.
                            at_after(t.delayed_leave_restart, Action::RestartDelayedEvent)
                        } else {
                            at(Action::SendJoinEvent)
                        }));
                    }
                    Ok(other) => SendError::Other(format!("no delay_id in the answer ({other:?})")),
                    Err(e) => e,
                };
                // js-sdk `manageMaxDelayExceededSituation`: retry at once with the server's
                // maximum (mxcall: only if that is shorter, so it cannot loop).
                if let SendError::MaxDelayExceeded {
                    max_delay: Some(max),
                } = &e
                    && *max < self.delay(cfg)
                    && !max.is_zero()
                {
                    self.delay_override = Some(*max);
                    return Ok(Update::Insert(at(action)));
                }
                match self.counters(action).on_error(&e, t) {
                    Retry::After(d) => Ok(Update::Insert(at_after(d, action))),
                    Retry::Exhausted(m) => Err(format!("cannot schedule our delayed leave: {m}")),
                    Retry::NotRetryable if self.has_member_event => match e {
                        SendError::Unsupported => {
                            self.delayed_unsupported = true;
                            Ok(Update::Nothing)
                        }
                        e => Err(format!("cannot schedule our delayed leave: {e}")),
                    },
                    Retry::NotRetryable => {
                        // Joining: go on without a delayed leave.
                        let warning = match e {
                            SendError::Unsupported => {
                                self.delayed_unsupported = true;
                                "the homeserver has no delayed events (MSC4140): if mxcall is \
                                 killed, its call membership stays until it expires"
                                    .to_owned()
                            }
                            e => format!(
                                "not using a delayed leave ({e}): if mxcall is killed, its call \
                                 membership stays until it expires"
                            ),
                        };
                        self.notices.push(Notice::Warning(warning));
                        Ok(Update::Insert(at(Action::SendJoinEvent)))
                    }
                }
            }
            Sent::Join => match result {
                Ok(r) => {
                    self.start = Some(now);
                    self.iterations = 1;
                    self.has_member_event = true;
                    self.reset(action);
                    self.event_id = match r {
                        Response::EventId(id) => Some(id),
                        _ => None,
                    };
                    self.echo_seen = false;
                    self.notices.push(Notice::Joined {
                        event_id: self.event_id.clone(),
                    });
                    // Restart at once: it also tells whether sending the state event cancelled
                    // the delayed leave (servers without element-hq/synapse#17810 do).
                    let mut next: Vec<Scheduled> = self
                        .actions
                        .iter()
                        .skip(1)
                        .filter(|s| {
                            !matches!(s.action, Action::UpdateExpiry | Action::SendJoinEvent)
                        })
                        .copied()
                        .collect();
                    next.push(at(Action::RestartDelayedEvent));
                    next.push(Scheduled {
                        at: self.next_expiry_at(now, cfg),
                        action: Action::UpdateExpiry,
                    });
                    Ok(Update::Replace(next))
                }
                Err(e) => match self.counters(action).on_error(&e, t) {
                    Retry::After(d) => Ok(Update::Insert(at_after(d, action))),
                    Retry::Exhausted(m) => Err(format!("cannot send our membership: {m}")),
                    Retry::NotRetryable => Err(format!("cannot send our membership: {e}")),
                },
            },
            Sent::Restart => match result {
                Ok(_) => {
                    self.reset(action);
                    Ok(Update::Insert(at_after(
                        t.delayed_leave_restart,
                        Action::RestartDelayedEvent,
                    )))
                }
                Err(SendError::NotFound) => {
                    self.delay_id = None;
                    Ok(Update::Insert(at(Action::SendDelayedEvent)))
                }
                Err(SendError::Unsupported) => {
                    self.delayed_unsupported = true;
                    Ok(Update::Nothing)
                }
                Err(e) => match self.counters(action).on_error(&e, t) {
                    Retry::After(d) => Ok(Update::Insert(at_after(d, action))),
                    Retry::Exhausted(m) => Err(format!("cannot restart our delayed leave: {m}")),
                    Retry::NotRetryable => Err(format!("cannot restart our delayed leave: {e}")),
                },
            },
            Sent::Expiry => match result {
                Ok(r) => {
                    self.reset(action);
                    self.iterations = self.iterations.saturating_add(1);
                    if let Response::EventId(id) = r {
                        self.event_id = Some(id);
                    }
                    Ok(Update::Insert(Scheduled {
                        at: self.next_expiry_at(now, cfg),
                        action: Action::UpdateExpiry,
                    }))
                }
                Err(e) => match self.counters(action).on_error(&e, t) {
                    Retry::After(d) => Ok(Update::Insert(at_after(d, action))),
                    Retry::Exhausted(m) => Err(format!("cannot refresh our membership: {m}")),
                    Retry::NotRetryable => Err(format!("cannot refresh our membership: {e}")),
                },
            },
            Sent::SendNow => match result {
                Ok(_) => {
                    self.has_member_event = false;
                    self.delay_id = None;
                    self.reset(action);
                    Ok(Update::Replace(Vec::new()))
                }
                Err(e) => {
                    // js-sdk `sendScheduledDelayedLeaveEventOrFallbackToSendLeaveEvent`: every
                    // failure falls back to sending `{}` ourselves (retries count against
                    // `SendLeaveEvent`). mxcall: also when delayed events turn out unsupported,
                    // where js-sdk would stop with the membership still up.
                    if e == SendError::NotFound {
                        self.delay_id = None;
                    }
                    let leave = Action::SendLeaveEvent;
                    match self.counters(leave).on_error(&e, t) {
                        Retry::After(d) => Ok(Update::Insert(at_after(d, leave))),
                        Retry::Exhausted(m) => Err(format!("cannot leave the call: {m}")),
                        Retry::NotRetryable => Ok(Update::Insert(at(leave))),
                    }
                }
            },
            Sent::Tidy => {
                if let Err(e) = result {
                    tracing::debug!("cannot cancel an unused delayed leave: {e}");
                }
                self.delay_id = None;
                Ok(Update::Replace(Vec::new()))
            }
            Sent::Leave => match result {
                Ok(_) => {
                    self.reset(action);
                    self.has_member_event = false;
                    Ok(Update::Replace(Vec::new()))
                }
                Err(e) => match self.counters(action).on_error(&e, t) {
                    Retry::After(d) => Ok(Update::Insert(at_after(d, action))),
                    Retry::Exhausted(m) => Err(format!("cannot leave the call: {m}")),
                    Retry::NotRetryable => Err(format!("cannot leave the call: {e}")),
                },
            },
        }
    }
}
