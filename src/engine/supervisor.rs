//! The process policy, free of I/O: which call this process is about, when it exits and with
//! which code — `--wait` and the wait for a callee to join, `--duration`, `--dtmf`'s delay,
//! Ctrl-C (hang up, then exit; a second one exits at once), a glare hand-over, and for MatrixRTC
//! the wait until our leave is on the server. Like the call machines it takes `now` with each
//! input, tells the engine what to do through [`Supervisor::poll_action`] and when to wake it
//! through [`Supervisor::poll_timeout`]; the engine owns the calls and carries the actions out.
//! Exit codes are `crate::exit`'s.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::exit;

/// How long the hangup of an interrupted call may take before the process exits anyway.
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(3);

/// How long a MatrixRTC call's end may wait for our leave to reach the server before the
/// process exits anyway.
pub const LEAVE_GRACE: Duration = Duration::from_secs(5);

/// What the process is for, as far as its end is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `call`: ends with the placed call (its outcome's code).
    Call,
    /// `answer`: ends with the answered call, or `no_answer` when `--wait` runs out.
    Answer,
    /// `watch`: runs until interrupted; `--once` ends with the first call's end (its code
    /// when this process answered it, else 0).
    Watch { once: bool, answering: bool },
    /// `hangup` without a running process: ends when the decline is on the server.
    Decline,
}

/// Plans of the run that start when the process's call connects.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plans {
    /// `--duration`: hang up this long after `connected`.
    pub duration: Option<Duration>,
    /// `--dtmf`: send the digits this long after `connected` (legacy calls only).
    pub dtmf_delay: Option<Duration>,
}

/// What happened, as the engine tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Nothing happened by `deadline` means nobody answered: `answer --wait`, or `call @user`
    /// waiting for the user to join the new room.
    WaitUntil(Instant),
    /// This process placed `call_id` or is answering it: it is the call the process is about,
    /// and the wait is over.
    Current(String),
    /// The call connected (`dtmf`: its protocol carries DTMF).
    Connected {
        call_id: String,
        dtmf: bool,
        now: Instant,
    },
    /// Glare: `call_id` continues as `by`.
    Replaced {
        call_id: String,
        by: String,
    },
    /// A call ended with `code` (its outcome's). `owes_leave`: a MatrixRTC call whose leave is
    /// not on the server yet (the process must not exit before it is, or [`LEAVE_GRACE`]).
    Ended {
        call_id: String,
        code: u8,
        owes_leave: bool,
        now: Instant,
    },
    /// Our MatrixRTC leave is on the server.
    Left,
    /// Ctrl-C or SIGTERM; `any_live`: some call rings or runs.
    Interrupt {
        any_live: bool,
        now: Instant,
    },
    /// The run is over with this code (a decline is on the server, a command failed).
    Finish(u8),
    Timeout(Instant),
}

/// What the engine must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Hang up the call the process is about (`--duration` is up).
    HangupCurrent,
    /// Send `--dtmf`'s digits into the call the process is about.
    SendDtmf,
    /// Hang up every call that rings or runs (interrupted).
    HangupAll,
    /// The wait ran out: report `no_answer` (the process exits with [`exit::NO_ANSWER`]).
    NoAnswer,
    /// `call` or `answer` interrupted while no call rang or ran (the callee had not joined, no
    /// call had come): report `cancelled` (the process exits with [`exit::INTERRUPTED`]).
    Cancelled,
}

#[derive(Debug)]
pub struct Supervisor {
    role: Role,
    plans: Plans,
    current: Option<String>,
    exit: Option<u8>,
    wait_deadline: Option<Instant>,
    duration_deadline: Option<Instant>,
    dtmf_deadline: Option<Instant>,
    interrupted_at: Option<Instant>,
    /// The process's call ended with this code; the exit waits for our MatrixRTC leave.
    exit_after_leave: Option<(u8, Instant)>,
    actions: VecDeque<Action>,
}

impl Supervisor {
    pub fn new(role: Role, plans: Plans) -> Self {
        Self {
            role,
            plans,
            current: None,
            exit: None,
            wait_deadline: None,
            duration_deadline: None,
            dtmf_deadline: None,
            interrupted_at: None,
            exit_after_leave: None,
            actions: VecDeque::new(),
        }
    }

    /// The call this process is about (placed, or being answered; follows glare).
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    pub fn is_current(&self, call_id: &str) -> bool {
        self.current.as_deref() == Some(call_id)
    }

    /// The code to exit with, once the process is done.
    pub fn exit(&self) -> Option<u8> {
        self.exit
    }

    pub fn handle_input(&mut self, input: Input) {
        match input {
            Input::WaitUntil(deadline) => self.wait_deadline = Some(deadline),
            Input::Current(call_id) => {
                self.current = Some(call_id);
                self.wait_deadline = None;
            }
            Input::Connected { call_id, dtmf, now } => {
                if self.is_current(&call_id) {
                    if let Some(d) = self.plans.duration {
                        self.duration_deadline.get_or_insert(now + d);
                    }
                    if let (true, Some(d)) = (dtmf, self.plans.dtmf_delay) {
                        self.dtmf_deadline.get_or_insert(now + d);
                    }
                }
            }
            Input::Replaced { call_id, by } => {
                if self.is_current(&call_id) {
                    self.current = Some(by);
                }
            }
            Input::Ended {
                call_id,
                code,
                owes_leave,
                now,
            } => self.on_ended(&call_id, code, owes_leave, now),
            Input::Left => {
                if let Some((code, _)) = self.exit_after_leave.take() {
                    self.finish(code);
                }
            }
            Input::Interrupt { any_live, now } => {
                if !any_live
                    && self.interrupted_at.is_none()
                    && self.exit.is_none()
                    && matches!(self.role, Role::Call | Role::Answer)
                {
                    self.actions.push_back(Action::Cancelled);
                }
                if self.interrupted_at.is_some() || !any_live {
                    // A second Ctrl-C stops waiting for the hangup to go out.
                    self.finish(exit::INTERRUPTED);
                } else {
                    self.interrupted_at = Some(now);
                    self.actions.push_back(Action::HangupAll);
                }
            }
            Input::Finish(code) => self.finish(code),
            Input::Timeout(now) => self.on_timeout(now),
        }
    }

    fn on_ended(&mut self, call_id: &str, code: u8, owes_leave: bool, now: Instant) {
        let is_current = self.is_current(call_id);
        let code = match self.role {
            // Done once the decline is on the server (`Input::Finish`).
            Role::Decline => return,
            // Another call (one that rang while ours ran) does not end the process.
            Role::Call | Role::Answer if !is_current => return,
            Role::Call | Role::Answer => Some(code),
            Role::Watch { once, answering } => {
                if is_current {
                    self.current = None;
                }
                once.then_some(if answering { code } else { exit::OK })
            }
        };
        self.duration_deadline = None;
        self.dtmf_deadline = None;
        if let Some(code) = code {
            if owes_leave && self.exit.is_none() {
                self.exit_after_leave = Some((code, now + LEAVE_GRACE));
            } else {
                self.finish(code);
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        let due = |t: &mut Option<Instant>| {
            let fired = t.is_some_and(|t| now >= t);
            if fired {
                *t = None;
            }
            fired
        };
        if self
            .interrupted_at
            .is_some_and(|t| now >= t + INTERRUPT_GRACE)
        {
            self.finish(exit::INTERRUPTED);
        }
        if let Some((code, at)) = self.exit_after_leave
            && now >= at
        {
            tracing::warn!("our MatrixRTC leave did not reach the server in time");
            self.exit_after_leave = None;
            self.finish(code);
        }
        if due(&mut self.dtmf_deadline) {
            self.actions.push_back(Action::SendDtmf);
        }
        if due(&mut self.duration_deadline) {
            self.actions.push_back(Action::HangupCurrent);
        }
        if due(&mut self.wait_deadline) {
            self.actions.push_back(Action::NoAnswer);
            self.finish(exit::NO_ANSWER);
        }
    }

    /// The first code decides: a later one (the end of a call being torn down) does not
    /// replace it.
    fn finish(&mut self, code: u8) {
        self.exit.get_or_insert(code);
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.wait_deadline,
            self.duration_deadline,
            self.dtmf_deadline,
            self.interrupted_at.map(|t| t + INTERRUPT_GRACE),
            self.exit_after_leave.map(|(_, at)| at),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

#[cfg(test)]
mod tests;
