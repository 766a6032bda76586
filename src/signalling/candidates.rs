//! ICE candidates in both directions: batching ours (spec "ICE Candidate Batching") and holding
//! the peer's until they can be used.
//!
//! Ours: every `m.call.candidates` is a room event, rate-limited by homeservers, so candidates are
//! sent in few batches — what arrives before the invite/answer goes out right after it as the
//! first batch, then one batch per 2 s (caller: the callee takes a while to answer anyway) or
//! 500 ms (callee), and everything at once with the end-of-candidates marker when gathering ends.
//!
//! Theirs: candidates may arrive before the invite or answer they belong to (event order across
//! syncs, or several callee devices answering), so they are kept per (user, party) until the
//! machine knows which party it talks to and the peer connection exists.

use std::time::{Duration, Instant};

use super::IceCandidate;

/// Batching delay after our invite.
pub(super) const CALLER_BATCH_DELAY: Duration = Duration::from_secs(2);
/// Batching delay after our answer.
pub(super) const CALLEE_BATCH_DELAY: Duration = Duration::from_millis(500);

/// Our candidates waiting to be sent.
#[derive(Debug, Default)]
pub(super) struct LocalBatcher {
    queue: Vec<IceCandidate>,
    /// Gathering finished and the end-of-candidates marker is not sent yet.
    end_owed: bool,
    /// `None` until our invite/answer is sent: nothing may be sent before it.
    delay: Option<Duration>,
    due: Option<Instant>,
}

/// One `m.call.candidates` worth of ours.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Batch {
    pub candidates: Vec<IceCandidate>,
    pub end: bool,
}

impl LocalBatcher {
    pub fn push(&mut self, now: Instant, candidate: IceCandidate) {
        // A local misbehaving gatherer must not grow memory without bound either.
        if self.queue.len() >= 512 {
            tracing::debug!("dropping local candidate: queue full");
            return;
        }
        self.queue.push(candidate);
        if let Some(delay) = self.delay
            && self.due.is_none()
        {
            self.due = Some(now + delay);
        }
    }

    pub fn gathering_complete(&mut self, now: Instant) {
        self.end_owed = true;
        if self.delay.is_some() {
            self.due = Some(now);
        }
    }

    /// Our invite/answer went out: from now on batches flow, the first one at once.
    pub fn open(&mut self, now: Instant, delay: Duration) {
        self.delay = Some(delay);
        if !self.queue.is_empty() || self.end_owed {
            self.due = Some(now);
        }
    }

    /// An ICE restart gathers afresh and will end with a new marker.
    pub fn restart(&mut self) {
        self.end_owed = false;
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.due
    }

    /// The batch due at `now`, if any.
    pub fn take_due(&mut self, now: Instant) -> Option<Batch> {
        if self.due.is_none_or(|due| due > now) {
            return None;
        }
        self.due = None;
        let batch = Batch {
            candidates: std::mem::take(&mut self.queue),
            end: self.end_owed,
        };
        self.end_owed = false;
        (!batch.candidates.is_empty() || batch.end).then_some(batch)
    }

    pub fn gathering_done(&self) -> bool {
        self.end_owed
    }
}

/// Who sent remote candidates: (user, party). Version 0 and party-less senders have `None`.
pub(super) type PartyKey = (String, Option<String>);

/// The peer's candidates held until they can be handed to the media engine.
#[derive(Debug, Default, Clone)]
pub(super) struct RemoteBuffer {
    parties: Vec<(PartyKey, Vec<IceCandidate>, bool)>,
    total: usize,
}

/// Bounds on what a peer can make us hold before the invite/answer: a handful of devices, and
/// more candidates than any real gathering produces.
const MAX_PARTIES: usize = 8;
const MAX_HELD: usize = 1024;

impl RemoteBuffer {
    pub fn add(&mut self, from: PartyKey, candidates: Vec<IceCandidate>, end: bool) {
        if self.total + candidates.len() > MAX_HELD {
            tracing::debug!("dropping remote candidates: buffer full");
            return;
        }
        self.total += candidates.len();
        if let Some((_, held, ended)) = self.parties.iter_mut().find(|(k, ..)| *k == from) {
            held.extend(candidates);
            *ended |= end;
        } else if self.parties.len() < MAX_PARTIES {
            self.parties.push((from, candidates, end));
        } else {
            tracing::debug!("dropping remote candidates: too many parties");
        }
    }

    /// Everything `from` sent so far, and whether it ended; the others' are dropped, since the
    /// machine takes only one party's candidates per call.
    pub fn take(&mut self, from: &PartyKey) -> Option<(Vec<IceCandidate>, bool)> {
        let found = self.parties.iter().position(|(k, ..)| k == from);
        let out = found
            .map(|i| self.parties.swap_remove(i))
            .map(|(_, c, e)| (c, e));
        self.parties.clear();
        self.total = 0;
        out.filter(|(c, e)| !c.is_empty() || *e)
    }

    pub fn merge(&mut self, other: RemoteBuffer) {
        for (from, candidates, end) in other.parties {
            self.add(from, candidates, end);
        }
    }
}
