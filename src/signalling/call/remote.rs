//! How a call reacts to the peer's events: who may answer, decline, hang up, send candidates or
//! renegotiate, and what each does. Anything from anyone else is ignored and logged.

use std::time::{Duration, Instant};

use matrix_sdk::ruma::UserId;

use super::{Call, Ctx, Direction, ICE_GIVE_UP, Peer, Phase, after};
use crate::signalling::content;
use crate::signalling::event::{Body, RemoteEvent, SdpKind, Version};
use crate::signalling::{CallEvent, IceCandidate, MediaAction, Outcome, Party};

impl Call {
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
            (
                _,
                Body::StreamMetadataChanged {
                    audio_muted: Some(muted),
                },
            ) if from_opponent
                && matches!(self.phase, Phase::Connecting | Phase::Connected)
                && muted != self.remote_muted =>
            {
                self.remote_muted = muted;
                ctx.event(CallEvent::RemoteMuted {
                    call_id: self.id.clone(),
                    muted,
                });
            }
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
        Body::StreamMetadataChanged { .. } => "sdp_stream_metadata_changed",
    }
}
