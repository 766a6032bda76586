//! One call's state and its transitions: who the opponent is, what has been sent, which timers
//! run. The [`super::machine`] routes inputs here; everything that involves *two* calls (glare,
//! which call a command means) stays there. Reactions to the peer are in `remote`, to the media
//! engine and the clock in `media`.

mod media;
mod remote;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use matrix_sdk::ruma::OwnedUserId;

use super::candidates::{LocalBatcher, PartyKey, RemoteBuffer};
use super::content::{self, Ids};
use super::event::Version;
use super::glare::REPLACED;
use super::{CallEvent, Config, MediaAction, Outcome, Output, Party};

/// Candidates gathered within this time after our offer/answer go out in its SDP (spec: "a
/// delay of around 200ms is suggested"); an offer/answer is sent at once when gathering ends.
pub(super) const DESCRIPTION_DELAY: Duration = Duration::from_millis(200);
/// Disconnected ICE gets a restart after this long (js-sdk `ICE_RECONNECTING_TIMEOUT`).
pub(super) const ICE_RESTART_DELAY: Duration = Duration::from_secs(2);
/// A restart that has not reconnected ICE within this long is tried again (js-sdk restarts on
/// every `failed`; webrtc-rs does not always report one after a restart made while the network
/// was down).
pub(super) const ICE_RESTART_RETRY: Duration = Duration::from_secs(5);
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
    /// What the opponent last said of its microphone (`sdp_stream_metadata`).
    remote_muted: bool,
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
            remote_muted: false,
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

    /// The user ends the call: [`Outcome::Completed`] once it has connected, else
    /// [`Outcome::Cancelled`] (they gave up on it while it was being set up).
    pub fn hang_up_by_user(&mut self, ctx: &mut Ctx, reason: &str) {
        let outcome = if self.ever_connected {
            Outcome::Completed
        } else {
            Outcome::Cancelled
        };
        self.hang_up(ctx, reason, outcome);
    }

    /// Hold or resume (see [`Command::Hold`](super::Command::Hold)): the media engine makes the
    /// offer, which goes out as `m.call.negotiate` like any renegotiation.
    pub fn hold(&mut self, ctx: &mut Ctx, held: bool) -> Result<(), super::CommandError> {
        if self.opponent_v0 {
            return Err(super::CommandError::VersionZero);
        }
        ctx.media(&self.id, MediaAction::HoldOffer(held));
        Ok(())
    }

    /// Mute or unmute (see [`Command::Mute`](super::Command::Mute)); a version-0 peer knows no
    /// stream metadata and just gets silence.
    pub fn mute(&mut self, ctx: &mut Ctx, muted: bool) {
        ctx.media(&self.id, MediaAction::SetMuted(muted));
        if !self.opponent_v0 {
            let content =
                content::stream_metadata_changed(self.ids(&ctx.cfg), &ctx.cfg.stream_id, muted);
            ctx.send(&self.id, content::STREAM_METADATA_CHANGED, content);
        }
    }

    /// DTMF digits (see [`Command::Dtmf`](super::Command::Dtmf)): media only, any version.
    pub fn dtmf(&mut self, ctx: &mut Ctx, digits: String) {
        ctx.media(&self.id, MediaAction::SendDtmf(digits));
    }

    /// Decline a ringing call: `m.call.reject` in version 1 (a ringing js-sdk caller ignores a
    /// hangup from a callee that has not answered), a hangup to a version-0 caller.
    pub fn reject(&mut self, ctx: &mut Ctx, reason: Option<&str>) {
        self.send_reject(ctx, reason);
        self.end(ctx, Some(("rejected", Party::Local)), Outcome::Declined);
    }

    /// Our media could not be set up. An incoming call we have not answered yet is ended for the
    /// caller as a decline would (`m.call.reject`; a v0 caller gets the hangup with
    /// `user_media_failed`), so it stops ringing instead of waiting for its timeout; otherwise
    /// a hangup. Either way the call ends `MediaFailed` here (exit 7).
    pub fn media_failed(&mut self, ctx: &mut Ctx) {
        const REASON: &str = "user_media_failed";
        if self.dir == Direction::Incoming && !self.sent_description {
            self.send_reject(ctx, Some(REASON));
            self.end(ctx, Some((REASON, Party::Local)), Outcome::MediaFailed);
        } else {
            self.hang_up(ctx, REASON, Outcome::MediaFailed);
        }
    }

    /// `m.call.reject`, or the hangup a version-0 caller understands.
    fn send_reject(&mut self, ctx: &mut Ctx, reason: Option<&str>) {
        if self.opponent_v0 {
            let reason = reason.filter(|r| *r != "user_hangup");
            let content = content::hangup(self.ids(&ctx.cfg), reason);
            ctx.send(&self.id, content::HANGUP, content);
        } else {
            let content = content::reject(self.ids(&ctx.cfg));
            ctx.send(&self.id, content::REJECT, content);
        }
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
}
