//! One call's state and its transitions: who the opponent is, what has been sent, which timers
//! run. The [`super::machine`] routes inputs here; everything that involves *two* calls (glare,
//! which call a command means) stays there.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use matrix_sdk::ruma::{OwnedUserId, UserId};

use super::candidates::{
    Batch, CALLEE_BATCH_DELAY, CALLER_BATCH_DELAY, LocalBatcher, PartyKey, RemoteBuffer,
};
use super::content::{self, Ids};
use super::event::{Body, RemoteEvent, SdpKind, Version};
use super::glare::REPLACED;
use super::{CallEvent, Config, IceCandidate, MediaAction, MediaInput, Outcome, Output, Party};

/// Candidates gathered within this time after our offer/answer go out right behind it as the
/// first batch (spec: "a delay of around 200ms is suggested").
pub(super) const DESCRIPTION_DELAY: Duration = Duration::from_millis(200);
/// Disconnected ICE gets a restart after this long (js-sdk `ICE_RECONNECTING_TIMEOUT`).
pub(super) const ICE_RESTART_DELAY: Duration = Duration::from_secs(2);
/// ICE that does not (re)connect within this long ends the call with `ice_failed` (js-sdk
/// `ICE_DISCONNECTED_TIMEOUT`); also bounds the first connection after the answer.
pub(super) const ICE_GIVE_UP: Duration = Duration::from_secs(30);
/// The media engine has this long to produce our offer or answer.
pub(super) const MEDIA_SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Lifetime of our `m.call.negotiate` offers.
pub(super) const NEGOTIATE_LIFETIME: Duration = Duration::from_secs(30);

/// `now + d`, saturating: lifetimes are clamped far below overflow, so this never saturates in
/// practice, but a deadline must never panic.
pub(super) fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

/// The machine's output queue plus the configuration every call needs.
pub(super) struct Ctx {
    pub cfg: Config,
    pub out: VecDeque<Output>,
}

impl Ctx {
    fn send(&mut self, call_id: &str, event_type: &'static str, content: serde_json::Value) {
        self.out.push_back(Output::Send {
            call_id: call_id.to_owned(),
            event_type,
            content,
        });
    }
    fn media(&mut self, call_id: &str, action: MediaAction) {
        self.out.push_back(Output::Media {
            call_id: call_id.to_owned(),
            action,
        });
    }
    fn event(&mut self, event: CallEvent) {
        self.out.push_back(Output::Event(event));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Outgoing,
    Incoming,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Incoming invite received; the sync batch is not processed yet.
    Pending,
    /// Incoming invite announced to the user.
    Ringing,
    /// Outgoing: waiting for our offer (and its 200 ms of candidates).
    Preparing,
    /// Outgoing: invite sent, no answer yet.
    InviteSent,
    /// Answer given or taken; ICE not connected yet.
    Connecting,
    Connected,
    Ended,
}

/// A call participant: (user, party). Version-0 participants have no party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Peer {
    pub user: OwnedUserId,
    pub party: Option<String>,
}

impl Peer {
    pub fn key(&self) -> PartyKey {
        (self.user.to_string(), self.party.clone())
    }
}

#[derive(Debug)]
pub(super) struct Call {
    pub id: String,
    pub dir: Direction,
    pub phase: Phase,
    /// Creation order, for "the most recent call".
    pub seq: u64,
    /// Incoming: the caller. Outgoing: the party whose answer we took, once we took one.
    pub opponent: Option<Peer>,
    opponent_v0: bool,
    /// Incoming: the invite's offer, until we answer.
    remote_offer: Option<String>,
    /// Invite lifetime end: the caller gives up, the callee stops ringing.
    pub expires_at: Option<Instant>,
    /// Our invite/answer SDP, held for [`DESCRIPTION_DELAY`] to collect candidates.
    local_sdp: Option<String>,
    send_at: Option<Instant>,
    /// The media engine must deliver our offer/answer by then.
    setup_deadline: Option<Instant>,
    /// Our invite or answer is out: from now on ending the call needs a hangup on the wire.
    sent_description: bool,
    /// The engine holds a peer connection for this call.
    media_started: bool,
    local: LocalBatcher,
    remote: RemoteBuffer,
    restart_at: Option<Instant>,
    give_up_at: Option<Instant>,
    /// Perfect negotiation: our renegotiation offer is in flight.
    making_offer: bool,
    /// The engine is producing an answer to the peer's `m.call.negotiate` offer.
    answering_negotiation: bool,
    /// The user knows of this call; only then do Hangup/Ended events go out.
    pub announced: bool,
    ever_connected: bool,
}

impl Call {
    fn blank(id: String, dir: Direction, phase: Phase, seq: u64) -> Self {
        Call {
            id,
            dir,
            phase,
            seq,
            opponent: None,
            opponent_v0: false,
            remote_offer: None,
            expires_at: None,
            local_sdp: None,
            send_at: None,
            setup_deadline: None,
            sent_description: false,
            media_started: false,
            local: LocalBatcher::default(),
            remote: RemoteBuffer::default(),
            restart_at: None,
            give_up_at: None,
            making_offer: false,
            answering_negotiation: false,
            announced: false,
            ever_connected: false,
        }
    }

    /// A call we place; the engine is asked for an offer.
    pub fn outgoing(ctx: &mut Ctx, id: String, seq: u64, now: Instant) -> Self {
        let mut call = Call::blank(id, Direction::Outgoing, Phase::Preparing, seq);
        call.announced = true;
        call.media_started = true;
        call.setup_deadline = Some(after(now, MEDIA_SETUP_TIMEOUT));
        ctx.media(&call.id, MediaAction::CreateOffer);
        call
    }

    /// An invite received; it waits in `Pending` for the end of the sync batch.
    pub fn incoming(
        id: String,
        seq: u64,
        caller: Peer,
        version: Version,
        offer: String,
        expires_at: Instant,
    ) -> Self {
        let mut call = Call::blank(id, Direction::Incoming, Phase::Pending, seq);
        call.opponent = Some(caller);
        call.opponent_v0 = version == Version::V0;
        call.remote_offer = Some(offer);
        call.expires_at = Some(expires_at);
        call
    }

    pub fn is_live(&self) -> bool {
        self.phase != Phase::Ended
    }

    pub fn remote_buffer(&mut self) -> &mut RemoteBuffer {
        &mut self.remote
    }

    fn ids<'a>(&'a self, cfg: &'a Config) -> Ids<'a> {
        Ids {
            call_id: &self.id,
            party_id: &cfg.own_party,
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        if !self.is_live() {
            return None;
        }
        [
            self.send_at,
            self.local.deadline(),
            self.expires_at,
            self.setup_deadline,
            self.restart_at,
            self.give_up_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ---- ending ----------------------------------------------------------------------------

    /// End the call. Unannounced calls (invites that never rang) end without events.
    pub fn end(&mut self, ctx: &mut Ctx, hangup: Option<(&str, Party)>, outcome: Outcome) {
        if !self.is_live() {
            return;
        }
        self.phase = Phase::Ended;
        if self.media_started {
            ctx.media(&self.id, MediaAction::Close);
        }
        if self.announced {
            if let Some((reason, by)) = hangup {
                let (call_id, reason) = (self.id.clone(), reason.to_owned());
                ctx.event(CallEvent::Hangup {
                    call_id,
                    reason,
                    by,
                });
            }
            ctx.event(CallEvent::Ended {
                call_id: self.id.clone(),
                outcome,
            });
        }
    }

    /// Glare: this call gives way to `by`. The engine moves the audio source before closing.
    pub fn end_replaced(&mut self, ctx: &mut Ctx, by: &str) {
        if !self.is_live() {
            return;
        }
        ctx.event(CallEvent::Replaced {
            call_id: self.id.clone(),
            by: by.to_owned(),
        });
        if self.sent_description {
            self.send_hangup(ctx, REPLACED);
        }
        self.announced = false; // Replaced was its last event
        self.end(ctx, None, Outcome::AnsweredElsewhere);
    }

    /// Glare: their invite loses against ours; it never rang.
    pub fn end_glare_loser(&mut self, ctx: &mut Ctx) {
        self.send_hangup(ctx, REPLACED);
        self.end(ctx, None, Outcome::AnsweredElsewhere);
    }

    /// `m.call.hangup`. Version 0 knows no `user_hangup`: for it a missing reason means that.
    fn send_hangup(&self, ctx: &mut Ctx, reason: &str) {
        let reason = (!(self.opponent_v0 && reason == "user_hangup")).then_some(reason);
        let content = content::hangup(self.ids(&ctx.cfg), reason);
        ctx.send(&self.id, content::HANGUP, content);
    }

    /// The user (or our own timers) end the call.
    pub fn hang_up(&mut self, ctx: &mut Ctx, reason: &str, outcome: Outcome) {
        if self.sent_description {
            self.send_hangup(ctx, reason);
        }
        self.end(ctx, Some((reason, Party::Local)), outcome);
    }

    /// Decline a ringing call: `m.call.reject` in version 1 (a ringing js-sdk caller ignores a
    /// hangup from a callee that has not answered), a hangup to a version-0 caller.
    pub fn reject(&mut self, ctx: &mut Ctx, reason: Option<&str>) {
        if self.opponent_v0 {
            let reason = reason.filter(|r| *r != "user_hangup");
            let content = content::hangup(self.ids(&ctx.cfg), reason);
            ctx.send(&self.id, content::HANGUP, content);
        } else {
            let content = content::reject(self.ids(&ctx.cfg));
            ctx.send(&self.id, content::REJECT, content);
        }
        self.end(ctx, Some(("rejected", Party::Local)), Outcome::Declined);
    }

    // ---- incoming ----------------------------------------------------------------------------

    /// Whether this pending invite may still ring at `now`: `age + time since receipt` must leave
    /// at least `min_ring` of the lifetime.
    pub fn ringable(&self, now: Instant, min_ring: Duration) -> bool {
        self.expires_at
            .is_some_and(|exp| after(now, min_ring) < exp)
    }

    pub fn ring(&mut self, ctx: &mut Ctx) {
        self.phase = Phase::Ringing;
        self.announced = true;
        if let Some(caller) = &self.opponent {
            let (call_id, caller) = (self.id.clone(), caller.user.clone());
            ctx.event(CallEvent::Ringing { call_id, caller });
        }
    }

    /// Answer: hand the offer (and the caller's candidates so far) to the media engine.
    pub fn answer(&mut self, ctx: &mut Ctx, now: Instant) {
        let Some(offer) = self.remote_offer.take() else {
            return;
        };
        self.announced = true;
        self.phase = Phase::Connecting;
        self.expires_at = None;
        self.media_started = true;
        self.setup_deadline = Some(after(now, MEDIA_SETUP_TIMEOUT));
        self.give_up_at = Some(after(now, ICE_GIVE_UP));
        ctx.media(&self.id, MediaAction::AcceptOffer(offer));
        self.flush_remote_candidates(ctx);
        ctx.event(CallEvent::Connecting {
            call_id: self.id.clone(),
        });
    }

    fn flush_remote_candidates(&mut self, ctx: &mut Ctx) {
        let Some(key) = self.opponent.as_ref().map(Peer::key) else {
            return;
        };
        if let Some((candidates, end_of_candidates)) = self.remote.take(&key) {
            ctx.media(
                &self.id,
                MediaAction::AddRemoteCandidates {
                    candidates,
                    end_of_candidates,
                },
            );
        }
    }

    // ---- remote events -----------------------------------------------------------------------

    /// A call event for this call, already validated and known not to be our own echo.
    pub fn on_remote(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        sender: &UserId,
        ev: RemoteEvent,
        age: Duration,
    ) {
        if !self.is_live() {
            return;
        }
        let from = Peer {
            user: sender.to_owned(),
            party: ev.party_id,
        };
        let from_opponent = self.opponent.as_ref() == Some(&from);
        let from_peer_user = *sender == *ctx.cfg.peer_user;
        // Another device of ours (the echo of this one was filtered before).
        let from_own_device = *sender == *ctx.cfg.own_user && !from_opponent;
        let unanswered = matches!(self.phase, Phase::Pending | Phase::Ringing);
        match (self.dir, ev.body) {
            (_, Body::Invite { .. }) => tracing::debug!(call_id = %self.id, "duplicate invite"),
            (
                _,
                Body::Candidates {
                    candidates,
                    end_of_candidates,
                },
            ) => self.on_candidates(ctx, from, from_opponent, candidates, end_of_candidates),
            (Direction::Incoming, Body::Answer { .. }) if from_own_device && unanswered => self
                .end(
                    ctx,
                    Some(("answered_elsewhere", Party::Remote)),
                    Outcome::AnsweredElsewhere,
                ),
            (Direction::Outgoing, Body::Answer { sdp })
                if self.phase == Phase::InviteSent && from_peer_user =>
            {
                self.take_answer(ctx, now, from, ev.version, sdp)
            }
            (Direction::Incoming, Body::SelectAnswer { selected_party_id })
                if from_opponent && selected_party_id != ctx.cfg.own_party =>
            {
                // Another party was chosen: end without a word on the wire.
                self.end(
                    ctx,
                    Some(("answered_elsewhere", Party::Remote)),
                    Outcome::AnsweredElsewhere,
                )
            }
            (Direction::Outgoing, Body::Reject)
                if self.phase == Phase::InviteSent && from_peer_user =>
            {
                self.end(ctx, Some(("rejected", Party::Remote)), Outcome::Declined)
            }
            (Direction::Incoming, Body::Reject) if from_own_device && unanswered => {
                // Declined on another of our devices: stop ringing here too.
                self.end(ctx, Some(("rejected", Party::Remote)), Outcome::Declined)
            }
            (Direction::Outgoing, Body::Hangup { reason })
                if self.phase == Phase::InviteSent && from_peer_user =>
            {
                // How version 0 declines (and what a busy v1 callee may send).
                self.end(ctx, Some((&reason, Party::Remote)), Outcome::Declined)
            }
            (_, Body::Hangup { reason }) if from_opponent => {
                let outcome = self.remote_hangup_outcome(&reason);
                self.end(ctx, Some((&reason, Party::Remote)), outcome)
            }
            (
                _,
                Body::Negotiate {
                    kind,
                    sdp,
                    lifetime,
                },
            ) if from_opponent => self.on_negotiate(ctx, kind, sdp, lifetime, age),
            (_, body) => tracing::debug!(
                call_id = %self.id, sender = %sender, party = ?from.party, phase = ?self.phase,
                "ignoring call event: {}", body_name(&body)
            ),
        }
    }

    fn remote_hangup_outcome(&self, reason: &str) -> Outcome {
        match (self.phase, reason) {
            (Phase::Pending | Phase::Ringing, _) => Outcome::NoAnswer,
            (Phase::Preparing | Phase::InviteSent, _) => Outcome::Declined,
            (_, "ice_failed" | "ice_timeout") => Outcome::MediaFailed,
            (_, "invite_timeout") => Outcome::NoAnswer,
            (_, "user_busy") => Outcome::Declined,
            (_, "replaced" | "answered_elsewhere") => Outcome::AnsweredElsewhere,
            (_, "user_media_failed" | "unknown_error" | "signalling_timeout")
                if !self.ever_connected =>
            {
                Outcome::Error
            }
            _ => Outcome::Completed,
        }
    }

    fn on_candidates(
        &mut self,
        ctx: &mut Ctx,
        from: Peer,
        from_opponent: bool,
        candidates: Vec<IceCandidate>,
        end: bool,
    ) {
        let usable = from_opponent && self.media_started;
        let choosing = self.dir == Direction::Outgoing
            && self.opponent.is_none()
            && from.user == ctx.cfg.peer_user;
        if usable {
            if !candidates.is_empty() || end {
                let action = MediaAction::AddRemoteCandidates {
                    candidates,
                    end_of_candidates: end,
                };
                ctx.media(&self.id, action);
            }
        } else if from_opponent || choosing {
            // Before we answer (incoming) or pick an answer (outgoing, per answering party).
            self.remote.add(from.key(), candidates, end);
        } else {
            tracing::debug!(call_id = %self.id, sender = %from.user, "ignoring foreign candidates");
        }
    }

    /// The first answer wins (js-sdk and the spec): later ones are ignored by the phase check.
    fn take_answer(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        from: Peer,
        version: Version,
        sdp: String,
    ) {
        self.opponent_v0 = version == Version::V0;
        let party = from.party.clone();
        self.opponent = Some(from);
        self.phase = Phase::Connecting;
        self.expires_at = None;
        self.give_up_at = Some(after(now, ICE_GIVE_UP));
        ctx.media(&self.id, MediaAction::AcceptAnswer(sdp));
        self.flush_remote_candidates(ctx);
        // Tells the other answering devices they lost; version 0 has no party to select.
        if let Some(party) = party {
            let content = content::select_answer(self.ids(&ctx.cfg), &party);
            ctx.send(&self.id, content::SELECT_ANSWER, content);
        }
        ctx.event(CallEvent::Connecting {
            call_id: self.id.clone(),
        });
    }

    /// Perfect negotiation; the callee is the polite side (spec "Politeness").
    fn on_negotiate(
        &mut self,
        ctx: &mut Ctx,
        kind: SdpKind,
        sdp: String,
        lifetime: Duration,
        age: Duration,
    ) {
        let ready = matches!(self.phase, Phase::Connecting | Phase::Connected)
            && self.sent_description
            && !self.opponent_v0;
        if !ready || age >= lifetime {
            tracing::debug!(call_id = %self.id, "ignoring negotiate (not ready or expired)");
            return;
        }
        match kind {
            SdpKind::Offer => {
                let polite = self.dir == Direction::Incoming;
                if self.making_offer && !polite {
                    tracing::debug!(call_id = %self.id, "offer collision: impolite, ignoring theirs");
                    return;
                }
                self.making_offer = false;
                self.answering_negotiation = true;
                ctx.media(&self.id, MediaAction::AcceptOffer(sdp));
            }
            SdpKind::Answer if self.making_offer => {
                self.making_offer = false;
                ctx.media(&self.id, MediaAction::AcceptAnswer(sdp));
            }
            SdpKind::Answer => tracing::debug!(call_id = %self.id, "unexpected negotiate answer"),
        }
    }

    // ---- media -------------------------------------------------------------------------------

    pub fn on_media(&mut self, ctx: &mut Ctx, now: Instant, input: MediaInput) {
        if !self.is_live() || !self.media_started {
            return;
        }
        let in_ice = matches!(self.phase, Phase::Connecting | Phase::Connected);
        let wired =
            matches!(self.phase, Phase::Connecting | Phase::Connected) && self.sent_description;
        match input {
            MediaInput::LocalOffer(sdp)
                if self.phase == Phase::Preparing && self.local_sdp.is_none() =>
            {
                self.hold_description(now, sdp)
            }
            MediaInput::LocalOffer(sdp) if wired && !self.opponent_v0 => {
                self.making_offer = true;
                let content = content::negotiate(
                    self.ids(&ctx.cfg),
                    SdpKind::Offer,
                    &sdp,
                    NEGOTIATE_LIFETIME,
                    &ctx.cfg.stream_id,
                );
                ctx.send(&self.id, content::NEGOTIATE, content);
            }
            MediaInput::LocalAnswer(sdp)
                if self.dir == Direction::Incoming
                    && matches!(self.phase, Phase::Connecting | Phase::Connected)
                    && !self.sent_description
                    && self.local_sdp.is_none() =>
            {
                self.hold_description(now, sdp)
            }
            MediaInput::LocalAnswer(sdp) if wired && self.answering_negotiation => {
                self.answering_negotiation = false;
                let content = content::negotiate(
                    self.ids(&ctx.cfg),
                    SdpKind::Answer,
                    &sdp,
                    NEGOTIATE_LIFETIME,
                    &ctx.cfg.stream_id,
                );
                ctx.send(&self.id, content::NEGOTIATE, content);
            }
            MediaInput::LocalCandidate(c) => {
                self.local.push(now, c);
                self.flush_local(ctx, now);
            }
            MediaInput::GatheringComplete => {
                self.local.gathering_complete(now);
                // Everything is gathered: no reason to hold the invite/answer any longer.
                if self.local_sdp.is_some() {
                    self.send_at = Some(now);
                }
                self.on_timeout(ctx, now);
            }
            MediaInput::IceConnected
                if matches!(self.phase, Phase::Connecting | Phase::Connected) =>
            {
                self.restart_at = None;
                self.give_up_at = None;
                if self.phase == Phase::Connecting {
                    self.phase = Phase::Connected;
                    self.ever_connected = true;
                    ctx.event(CallEvent::Connected {
                        call_id: self.id.clone(),
                    });
                }
            }
            // ICE trouble always starts the give-up clock, so that no call can outlive its
            // media; a restart needs the offer/answer exchange done and a version-1 peer
            // (version 0 cannot renegotiate: all it can do is wait for ICE to come back).
            MediaInput::IceDisconnected if in_ice => {
                self.give_up_at.get_or_insert(after(now, ICE_GIVE_UP));
                if wired && !self.opponent_v0 {
                    self.restart_at.get_or_insert(after(now, ICE_RESTART_DELAY));
                }
            }
            MediaInput::IceFailed if in_ice => {
                if self.opponent_v0 {
                    self.hang_up(ctx, "ice_failed", Outcome::MediaFailed);
                } else {
                    self.give_up_at.get_or_insert(after(now, ICE_GIVE_UP));
                    if wired {
                        self.ice_restart(ctx);
                    }
                }
            }
            MediaInput::Failed(why) => {
                tracing::debug!(call_id = %self.id, "media failed: {why}");
                self.hang_up(ctx, "user_media_failed", Outcome::Error);
            }
            other => {
                tracing::debug!(call_id = %self.id, phase = ?self.phase, "ignoring media input {other:?}")
            }
        }
    }

    /// Keep our invite/answer for [`DESCRIPTION_DELAY`] so early candidates go right behind it.
    fn hold_description(&mut self, now: Instant, sdp: String) {
        self.local_sdp = Some(sdp);
        let delay = if self.local.gathering_done() {
            Duration::ZERO
        } else {
            DESCRIPTION_DELAY
        };
        self.send_at = Some(after(now, delay));
    }

    fn ice_restart(&mut self, ctx: &mut Ctx) {
        self.restart_at = None;
        self.making_offer = true;
        self.local.restart();
        ctx.media(&self.id, MediaAction::IceRestart);
    }

    fn send_description(&mut self, ctx: &mut Ctx, now: Instant) {
        self.send_at = None;
        let Some(sdp) = self.local_sdp.take() else {
            return;
        };
        self.setup_deadline = None;
        self.sent_description = true;
        match self.dir {
            Direction::Outgoing => {
                let cfg = &ctx.cfg;
                let content = content::invite(
                    self.ids(cfg),
                    cfg.invite_lifetime,
                    &sdp,
                    &cfg.peer_user,
                    &cfg.stream_id,
                );
                ctx.send(&self.id, content::INVITE, content);
                self.phase = Phase::InviteSent;
                self.expires_at = Some(after(now, ctx.cfg.invite_lifetime));
                self.local.open(now, CALLER_BATCH_DELAY);
                ctx.event(CallEvent::InviteSent {
                    call_id: self.id.clone(),
                });
            }
            Direction::Incoming => {
                let content = content::answer(self.ids(&ctx.cfg), &sdp, &ctx.cfg.stream_id);
                ctx.send(&self.id, content::ANSWER, content);
                self.local.open(now, CALLEE_BATCH_DELAY);
            }
        }
    }

    fn flush_local(&mut self, ctx: &mut Ctx, now: Instant) {
        if let Some(Batch { candidates, end }) = self.local.take_due(now) {
            let content = content::candidates(self.ids(&ctx.cfg), &candidates, end);
            ctx.send(&self.id, content::CANDIDATES, content);
        }
    }

    // ---- timers ------------------------------------------------------------------------------

    pub fn on_timeout(&mut self, ctx: &mut Ctx, now: Instant) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if !self.is_live() {
            return;
        }
        if due(self.send_at) {
            self.send_description(ctx, now);
        }
        self.flush_local(ctx, now);
        if due(self.setup_deadline) && !self.sent_description {
            // The media engine never produced our offer/answer; nothing went out yet.
            return self.end(
                ctx,
                Some(("user_media_failed", Party::Local)),
                Outcome::Error,
            );
        }
        if due(self.expires_at) {
            return match self.phase {
                Phase::InviteSent => self.hang_up(ctx, "invite_timeout", Outcome::NoAnswer),
                // The caller's invite expired: it gave up (or will), we stop ringing.
                _ => self.end(
                    ctx,
                    Some(("invite_timeout", Party::Remote)),
                    Outcome::NoAnswer,
                ),
            };
        }
        if due(self.give_up_at) {
            return self.hang_up(ctx, "ice_failed", Outcome::MediaFailed);
        }
        if due(self.restart_at) {
            self.ice_restart(ctx);
        }
    }
}

fn body_name(body: &Body) -> &'static str {
    match body {
        Body::Invite { .. } => "invite",
        Body::Answer { .. } => "answer",
        Body::Candidates { .. } => "candidates",
        Body::SelectAnswer { .. } => "select_answer",
        Body::Reject => "reject",
        Body::Hangup { .. } => "hangup",
        Body::Negotiate { .. } => "negotiate",
        Body::StreamMetadataChanged => "sdp_stream_metadata_changed",
    }
}
