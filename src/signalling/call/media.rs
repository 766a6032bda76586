//! How a call reacts to its media engine and to the clock: holding our offer/answer for early
//! candidates (which then go in its SDP), batching candidates, ICE restarts and giving up, the
//! invite lifetime.

use std::time::{Duration, Instant};

use super::{
    Call, Ctx, DESCRIPTION_DELAY, Direction, ICE_GIVE_UP, ICE_RESTART_DELAY, ICE_RESTART_RETRY,
    NEGOTIATE_LIFETIME, Phase, after,
};
use crate::signalling::candidates::{self, Batch, CALLEE_BATCH_DELAY, CALLER_BATCH_DELAY};
use crate::signalling::content;
use crate::signalling::event::SdpKind;
use crate::signalling::{CallEvent, MediaAction, MediaInput, Outcome, Party};

impl Call {
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
                        self.ice_restart(ctx, now);
                    }
                }
            }
            MediaInput::Failed(why) => {
                tracing::debug!(call_id = %self.id, "media failed: {why}");
                self.media_failed(ctx);
            }
            other => {
                tracing::debug!(call_id = %self.id, phase = ?self.phase, "ignoring media input {other:?}")
            }
        }
    }

    /// Keep our invite/answer for [`DESCRIPTION_DELAY`] so early candidates go out in its SDP.
    fn hold_description(&mut self, now: Instant, sdp: String) {
        self.local_sdp = Some(sdp);
        let delay = if self.local.gathering_done() {
            Duration::ZERO
        } else {
            DESCRIPTION_DELAY
        };
        self.send_at = Some(after(now, delay));
    }

    /// Restarts ICE, and again every [`ICE_RESTART_RETRY`] until ICE connects or the call gives
    /// up: a restart made while the network was down fails for good even when the network
    /// comes back (its checks have run out), and the stack may never say so.
    fn ice_restart(&mut self, ctx: &mut Ctx, now: Instant) {
        self.restart_at = Some(after(now, ICE_RESTART_RETRY));
        self.making_offer = true;
        self.local.restart();
        ctx.media(&self.id, MediaAction::IceRestart);
    }

    fn send_description(&mut self, ctx: &mut Ctx, now: Instant) {
        self.send_at = None;
        let Some(sdp) = self.local_sdp.take() else {
            return;
        };
        let (gathered, ended) = self.local.take_for_description();
        let (sdp, left) = candidates::with_candidates(&sdp, gathered, ended);
        self.local
            .put_back(left, ended && !sdp.contains("a=end-of-candidates"));
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
            // The media engine never produced our offer/answer: as a caller nothing went out
            // yet; as a callee the caller is told (`media_failed`).
            return self.media_failed(ctx);
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
            self.ice_restart(ctx, now);
        }
    }
}
