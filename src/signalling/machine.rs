//! [`CallMachine`]: the per-room entry point. It parses and routes remote events to calls,
//! checks who may speak, rings invites at the end of a sync batch, resolves glare between our
//! call and theirs, maps commands to calls, and remembers ended call ids so that replayed invites
//! (Synapse serves cached sync responses with old `age`s) never ring again.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use matrix_sdk::ruma::UserId;

use super::call::{Call, Ctx, Direction, Peer, Phase, after};
use super::candidates::{PartyKey, RemoteBuffer};
use super::event::{self, Body, MAX_LIFETIME, ParseError, RemoteEvent};
use super::glare::{self, OutgoingStage, Resolution};
use super::{Command, CommandError, Config, Input, Outcome, Output, RingPolicy};

/// Live calls per room: two for glare, a few for a peer with several devices calling at once.
/// More is a flood.
const MAX_LIVE_CALLS: usize = 8;
/// Ended call ids remembered, oldest forgotten first.
const MAX_ENDED: usize = 1024;
/// Call ids we heard of before their invite.
const MAX_ORPHANS: usize = 16;
/// Our own invites may ring for at most this long, whatever `--ring-timeout` says.
const MAX_OWN_LIFETIME: Duration = Duration::from_secs(3600);

/// Events for a call whose invite has not arrived (yet): their candidates, and who ended it.
#[derive(Debug)]
struct Orphan {
    first_seen: Instant,
    candidates: RemoteBuffer,
    ended_by: Vec<PartyKey>,
}

/// The signalling state machine of one room. See the [module docs](super).
pub struct CallMachine {
    ctx: Ctx,
    calls: BTreeMap<String, Call>,
    ended: VecDeque<String>,
    ended_set: HashSet<String>,
    orphans: BTreeMap<String, Orphan>,
    seq: u64,
}

impl CallMachine {
    pub fn new(mut cfg: Config) -> Self {
        cfg.invite_lifetime = cfg
            .invite_lifetime
            .clamp(Duration::from_secs(1), MAX_OWN_LIFETIME);
        CallMachine {
            ctx: Ctx {
                cfg,
                out: VecDeque::new(),
            },
            calls: BTreeMap::new(),
            ended: VecDeque::new(),
            ended_set: HashSet::new(),
            orphans: BTreeMap::new(),
            seq: 0,
        }
    }

    pub fn config(&self) -> &Config {
        &self.ctx.cfg
    }

    /// Feed one input. Only commands can fail; after any input, drain [`Self::poll_output`].
    pub fn handle_input(&mut self, input: Input<'_>) -> Result<(), CommandError> {
        let result = match input {
            Input::Remote {
                now,
                now_ms,
                sender,
                event_type,
                content,
                age,
                origin_server_ts,
            } => {
                let age = event::age(age, origin_server_ts, now_ms);
                self.on_remote(now, sender, event_type, content, age);
                Ok(())
            }
            Input::BatchEnd { now } => {
                self.on_batch_end(now);
                Ok(())
            }
            Input::PeerLeft { now } => {
                self.on_peer_left(now);
                Ok(())
            }
            Input::Command(now, command) => self.on_command(now, command),
            Input::Media(now, call_id, media) => {
                match self.calls.get_mut(&call_id) {
                    Some(call) => call.on_media(&mut self.ctx, now, media),
                    None => tracing::debug!(%call_id, "media input for an unknown call"),
                }
                Ok(())
            }
            Input::Timeout(now) => {
                for call in self.calls.values_mut() {
                    call.on_timeout(&mut self.ctx, now);
                }
                self.orphans
                    .retain(|_, o| now.saturating_duration_since(o.first_seen) < MAX_LIFETIME);
                Ok(())
            }
        };
        self.reap();
        result
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.ctx.out.pop_front()
    }

    /// When to send [`Input::Timeout`] next; `None` while nothing waits on the clock.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.calls.values().filter_map(Call::deadline).min()
    }

    /// Ids of calls not ended yet (including invites waiting for the end of the batch).
    pub fn live_calls(&self) -> impl Iterator<Item = &str> {
        self.calls
            .values()
            .filter(|c| c.is_live())
            .map(|c| c.id.as_str())
    }

    /// Mark a call id as ended, e.g. one remembered from an earlier run: its invite never rings.
    pub fn remember_ended(&mut self, call_id: &str) {
        if self.ended_set.insert(call_id.to_owned()) {
            self.ended.push_back(call_id.to_owned());
            if self.ended.len() > MAX_ENDED
                && let Some(old) = self.ended.pop_front()
            {
                self.ended_set.remove(&old);
            }
        }
    }

    /// Ended call ids, oldest first, for the engine to persist.
    pub fn ended_calls(&self) -> impl Iterator<Item = &str> {
        self.ended.iter().map(String::as_str)
    }

    /// Move ended calls out of the map into the ended-id memory.
    fn reap(&mut self) {
        let done: Vec<String> = self
            .calls
            .values()
            .filter(|c| !c.is_live())
            .map(|c| c.id.clone())
            .collect();
        for id in done {
            self.calls.remove(&id);
            self.remember_ended(&id);
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    // ---- remote ------------------------------------------------------------------------------

    fn on_remote(
        &mut self,
        now: Instant,
        sender: &UserId,
        event_type: &str,
        content: &serde_json::Value,
        age: Duration,
    ) {
        let ev = match event::parse(event_type, content) {
            Ok(ev) => ev,
            Err(ParseError::NotACallEvent) => return,
            Err(e) => {
                return tracing::debug!(%sender, event_type, "ignoring malformed call event: {e}");
            }
        };
        let cfg = &self.ctx.cfg;
        if *sender == *cfg.own_user && ev.party_id.as_deref() == Some(cfg.own_party.as_str()) {
            return; // our own echo
        }
        if self.ended_set.contains(&ev.call_id) {
            return tracing::debug!(call_id = %ev.call_id, "event for an ended call");
        }
        if matches!(ev.body, Body::Invite { .. }) {
            return self.on_invite(now, sender, ev, age);
        }
        match self.calls.get_mut(&ev.call_id) {
            Some(call) => call.on_remote(&mut self.ctx, now, sender, ev, age),
            None => self.on_orphan(now, sender, ev),
        }
    }

    fn on_invite(&mut self, now: Instant, sender: &UserId, ev: RemoteEvent, age: Duration) {
        let RemoteEvent {
            call_id,
            party_id,
            version,
            body,
        } = ev;
        let Body::Invite {
            offer,
            lifetime,
            invitee,
        } = body
        else {
            return;
        };
        let cfg = &self.ctx.cfg;
        if *sender == *cfg.own_user {
            return self.on_own_invite(&call_id);
        }
        if *sender != *cfg.peer_user {
            return tracing::debug!(%sender, %call_id, "ignoring invite from a third user");
        }
        if invitee.as_ref().is_some_and(|u| *u != cfg.own_user) {
            return tracing::debug!(%call_id, "invite meant for another user");
        }
        if self.calls.contains_key(&call_id) {
            return tracing::debug!(%call_id, "duplicate invite");
        }
        if self.calls.values().filter(|c| c.is_live()).count() >= MAX_LIVE_CALLS {
            return tracing::debug!(%call_id, "too many calls: ignoring invite");
        }
        let caller = Peer {
            user: sender.to_owned(),
            party: party_id,
        };
        let expires_at = after(now, lifetime.saturating_sub(age));
        let seq = self.next_seq();
        let mut call = Call::incoming(
            call_id.clone(),
            seq,
            caller.clone(),
            version,
            offer,
            expires_at,
        );
        if let Some(orphan) = self.orphans.remove(&call_id) {
            // Hung up before we saw the invite (events of one call can straddle syncs in any
            // order when read back from history): it is over already.
            let own = self.ctx.cfg.own_user.as_str();
            if orphan
                .ended_by
                .iter()
                .any(|k| *k == caller.key() || k.0 == own)
            {
                call.phase = Phase::Ended;
            }
            call.remote_buffer().merge(orphan.candidates);
        }
        self.calls.insert(call_id, call);
    }

    /// An invite from our own user on another device (our echo was dropped before): in this
    /// two-member room it is our own call to the other member, never one to ring or answer here.
    /// Spec "Invitees": an invite without `invitee` (Element Web sends none) is "intended for any
    /// member of the room other than the sender"; js-sdk (`callEventHandler.ts`, "ignore invites
    /// you send") and Element Android ignore every invite from their own user. So does this one
    /// naming us as `invitee`: mxcall's calls are with the room's other member (`mxcall call`
    /// refuses to call yourself), and a `watch --answer` must not pick up its user's own calls.
    /// The id is remembered as handled: the rest of that call (the peer's answer, our other
    /// device's candidates and hangup) is dropped rather than kept as orphans.
    fn on_own_invite(&mut self, call_id: &str) {
        tracing::debug!(%call_id, "our own call from another device: not ringing");
        if !self.calls.contains_key(call_id) {
            self.orphans.remove(call_id);
            self.remember_ended(call_id);
        }
    }

    /// An event for a call we do not know (yet): keep what an invite arriving later needs.
    fn on_orphan(&mut self, now: Instant, sender: &UserId, ev: RemoteEvent) {
        let cfg = &self.ctx.cfg;
        if *sender != *cfg.peer_user && *sender != *cfg.own_user {
            return;
        }
        let key: PartyKey = (sender.to_string(), ev.party_id);
        if !self.orphans.contains_key(&ev.call_id) && self.orphans.len() >= MAX_ORPHANS {
            return tracing::debug!(call_id = %ev.call_id, "too many unknown calls");
        }
        let orphan = self.orphans.entry(ev.call_id).or_insert_with(|| Orphan {
            first_seen: now,
            candidates: RemoteBuffer::default(),
            ended_by: Vec::new(),
        });
        match ev.body {
            Body::Candidates {
                candidates,
                end_of_candidates,
            } => orphan.candidates.add(key, candidates, end_of_candidates),
            Body::Hangup { .. } | Body::Reject | Body::Answer { .. }
                if orphan.ended_by.len() < 8 =>
            {
                orphan.ended_by.push(key)
            }
            _ => {}
        }
    }

    /// The sync batch is processed: live invites ring now — or resolve glare with our call.
    fn on_batch_end(&mut self, now: Instant) {
        let mut pending: Vec<(u64, String)> = self
            .calls
            .values()
            .filter(|c| c.phase == Phase::Pending)
            .map(|c| (c.seq, c.id.clone()))
            .collect();
        pending.sort();
        for (_, id) in pending {
            let min_ring = self.ctx.cfg.min_ring_time;
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            if !call.ringable(now, min_ring) {
                tracing::debug!(call_id = %id, "stale invite: not ringing");
                call.end(&mut self.ctx, None, Outcome::NoAnswer);
                continue;
            }
            // Every pending invite is the peer's (`on_invite`): ours against theirs is glare.
            if let Some((ours, stage)) = self.outgoing_in_glare() {
                match glare::resolve(&ours, stage, &id) {
                    Resolution::TakeTheirs => self.replace(&ours, &id, now),
                    Resolution::KeepOurs => {
                        if let Some(theirs) = self.calls.get_mut(&id) {
                            theirs.end_glare_loser(&mut self.ctx);
                        }
                    }
                }
                continue;
            }
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            call.ring(&mut self.ctx);
            if self.ctx.cfg.ring == RingPolicy::AutoAnswer
                && !self.in_call(&id)
                && let Some(call) = self.calls.get_mut(&id)
            {
                call.answer(&mut self.ctx, now);
            }
        }
    }

    /// Our outgoing call that an incoming invite would glare with.
    fn outgoing_in_glare(&self) -> Option<(String, OutgoingStage)> {
        self.calls.values().find_map(|c| {
            let stage = match (c.dir, c.phase) {
                (Direction::Outgoing, Phase::Preparing) => OutgoingStage::Preparing,
                (Direction::Outgoing, Phase::InviteSent) => OutgoingStage::InviteSent,
                _ => return None,
            };
            Some((c.id.clone(), stage))
        })
    }

    /// Whether a call other than `except` is being set up or up.
    fn in_call(&self, except: &str) -> bool {
        self.calls.values().any(|c| {
            c.id != except
                && (matches!(c.phase, Phase::Connecting | Phase::Connected)
                    || (c.dir == Direction::Outgoing && c.is_live()))
        })
    }

    /// Glare lost by our call `ours`: it is replaced by `theirs`, which we answer for the user.
    fn replace(&mut self, ours: &str, theirs: &str, now: Instant) {
        if let Some(call) = self.calls.get_mut(ours) {
            call.end_replaced(&mut self.ctx, theirs);
        }
        if let Some(call) = self.calls.get_mut(theirs) {
            call.answer(&mut self.ctx, now);
        }
    }

    fn on_peer_left(&mut self, _now: Instant) {
        let peer = self.ctx.cfg.peer_user.clone();
        for call in self.calls.values_mut() {
            let with_peer = match call.dir {
                Direction::Outgoing => true,
                Direction::Incoming => call.opponent.as_ref().is_some_and(|p| p.user == peer),
            };
            if !with_peer || !call.is_live() {
                continue;
            }
            let outcome = match call.phase {
                Phase::Pending | Phase::Ringing => Outcome::NoAnswer,
                Phase::Preparing | Phase::InviteSent => Outcome::Declined,
                _ => Outcome::Completed,
            };
            call.end(
                &mut self.ctx,
                Some(("left_room", super::Party::Remote)),
                outcome,
            );
        }
    }

    // ---- commands ----------------------------------------------------------------------------

    fn on_command(&mut self, now: Instant, command: Command) -> Result<(), CommandError> {
        match command {
            Command::Place { call_id } => self.place(now, call_id),
            Command::Answer { call_id } => {
                let id = self.ringing_target(call_id)?;
                if self.in_call(&id) {
                    return Err(CommandError::Busy);
                }
                if let Some(call) = self.calls.get_mut(&id) {
                    call.answer(&mut self.ctx, now);
                }
                Ok(())
            }
            Command::Reject { call_id, reason } => {
                let id = self.ringing_target(call_id)?;
                if let Some(call) = self.calls.get_mut(&id) {
                    call.reject(&mut self.ctx, reason.as_deref());
                }
                Ok(())
            }
            Command::Hold { call_id, held } => {
                let id = self.connected_target(call_id)?;
                match self.calls.get_mut(&id) {
                    Some(call) => call.hold(&mut self.ctx, held),
                    None => Err(CommandError::NoSuchCall),
                }
            }
            Command::Mute { call_id, muted } => {
                let id = self.connected_target(call_id)?;
                if let Some(call) = self.calls.get_mut(&id) {
                    call.mute(&mut self.ctx, muted);
                }
                Ok(())
            }
            Command::Dtmf { call_id, digits } => {
                let id = self.connected_target(call_id)?;
                if let Some(call) = self.calls.get_mut(&id) {
                    call.dtmf(&mut self.ctx, digits);
                }
                Ok(())
            }
            Command::Hangup { call_id, reason } => {
                let id = match call_id {
                    Some(id) => id,
                    None => self.current_call().ok_or(CommandError::NoSuchCall)?,
                };
                let call = self
                    .calls
                    .get_mut(&id)
                    .filter(|c| c.is_live() && c.announced)
                    .ok_or(CommandError::NoSuchCall)?;
                if call.phase == Phase::Ringing {
                    // Hanging up a ringing call is declining it.
                    call.reject(&mut self.ctx, reason.as_deref());
                } else {
                    let reason = reason.unwrap_or_else(|| "user_hangup".to_owned());
                    call.hang_up_by_user(&mut self.ctx, &reason);
                }
                Ok(())
            }
        }
    }

    fn place(&mut self, now: Instant, call_id: String) -> Result<(), CommandError> {
        if !event::is_valid_id(&call_id)
            || self.calls.contains_key(&call_id)
            || self.ended_set.contains(&call_id)
        {
            return Err(CommandError::BadCallId);
        }
        if self.in_call(&call_id) {
            return Err(CommandError::Busy);
        }
        let seq = self.next_seq();
        let call = Call::outgoing(&mut self.ctx, call_id.clone(), seq, now);
        self.calls.insert(call_id.clone(), call);
        // Glare, "received while preparing": the peer already rings us — take their call.
        let peer = &self.ctx.cfg.peer_user;
        let ringing = self
            .calls
            .values()
            .filter(|c| {
                c.phase == Phase::Ringing && c.opponent.as_ref().is_some_and(|p| p.user == *peer)
            })
            .max_by_key(|c| c.seq)
            .map(|c| c.id.clone());
        if let Some(theirs) = ringing {
            self.replace(&call_id, &theirs, now);
        }
        Ok(())
    }

    /// The call an Answer/Reject means: the given one, or the most recent ringing one.
    fn ringing_target(&self, call_id: Option<String>) -> Result<String, CommandError> {
        match call_id {
            Some(id) => match self.calls.get(&id) {
                Some(c) if c.phase == Phase::Ringing => Ok(id),
                Some(c) if c.is_live() && c.announced => Err(CommandError::NotRinging),
                _ => Err(CommandError::NoSuchCall),
            },
            None => self
                .calls
                .values()
                .filter(|c| c.phase == Phase::Ringing)
                .max_by_key(|c| c.seq)
                .map(|c| c.id.clone())
                .ok_or(CommandError::NoSuchCall),
        }
    }

    /// The call a Hangup without id means: the one furthest along, the most recent on ties.
    /// The call a hold or mute is for: `call_id`, or the one in progress; it must be connected.
    fn connected_target(&self, call_id: Option<String>) -> Result<String, CommandError> {
        let id = match call_id {
            Some(id) => id,
            None => self.current_call().ok_or(CommandError::NoSuchCall)?,
        };
        let call = self
            .calls
            .get(&id)
            .filter(|c| c.is_live() && c.announced)
            .ok_or(CommandError::NoSuchCall)?;
        if !matches!(call.phase, Phase::Connecting | Phase::Connected) {
            return Err(CommandError::NotConnected);
        }
        Ok(id)
    }

    fn current_call(&self) -> Option<String> {
        let rank = |p: Phase| match p {
            Phase::Connected => 4,
            Phase::Connecting => 3,
            Phase::InviteSent | Phase::Preparing => 2,
            Phase::Ringing => 1,
            Phase::Pending | Phase::Ended => 0,
        };
        self.calls
            .values()
            .filter(|c| c.is_live() && c.announced && rank(c.phase) > 0)
            .max_by_key(|c| (rank(c.phase), c.seq))
            .map(|c| c.id.clone())
    }
}
