//! The engine's user side: call events turned into JSON lines, progress and the final summary;
//! requests from `mxcall hangup`; `watch --exec`.

use std::time::{Duration, Instant};

use matrix_sdk::ruma::OwnedRoomId;
use serde_json::json;

use super::control::{Incoming, Reply, Request};
use super::report::{call_ref, legacy_call};
use super::{Call, Engine, Mode, stats, supervisor};
use crate::error::exit;
use crate::events::{By, CallRef, E2eeFrames, EndedMedia, Event};
use crate::media::{self, SessionProbe};
use crate::signalling::{self, CallEvent, Command, Input, Party, RingPolicy};

impl Engine {
    /// Says on stderr (JSON mode too) why a ringing call is not answered when this process
    /// answers calls but not this caller's (`callers`).
    pub(super) fn note_unanswered_caller(&self, caller: &matrix_sdk::ruma::UserId) {
        let auto = matches!(
            self.mode,
            Mode::Answer { .. } | Mode::Watch { answer: true, .. }
        );
        if auto && !self.callers.may_answer(caller) {
            self.reporter.note(&format!(
                "not answering: {caller} is not an allowed caller (--from {caller} or `mxcall allow {caller}`)"
            ));
        }
    }

    pub(super) fn on_control(&mut self, incoming: Incoming) {
        let (room_id, call_id, reason) = match incoming.request {
            Request::Hangup {
                room_id,
                call_id,
                reason,
            } => (room_id, call_id, reason),
            Request::Hold { room_id, held } => {
                let reply = self.on_call_control(
                    room_id,
                    |call_id| Command::Hold {
                        call_id: Some(call_id),
                        held,
                    },
                    |_| None,
                );
                if let Some(call_id) = reply.call_id.as_deref().filter(|_| reply.ok) {
                    self.report_local(
                        call_id,
                        if held {
                            |call, by| Event::Held { call, by }
                        } else {
                            |call, by| Event::Resumed { call, by }
                        },
                    );
                }
                let _ = incoming.reply.send(reply);
                return;
            }
            Request::Mute { room_id, muted } => {
                let reply = self.on_call_control(
                    room_id,
                    |call_id| Command::Mute {
                        call_id: Some(call_id),
                        muted,
                    },
                    |_| None,
                );
                if let Some(call_id) = reply.call_id.as_deref().filter(|_| reply.ok) {
                    self.report_local(
                        call_id,
                        if muted {
                            |call, by| Event::Muted { call, by }
                        } else {
                            |call, by| Event::Unmuted { call, by }
                        },
                    );
                }
                let _ = incoming.reply.send(reply);
                return;
            }
            Request::Dtmf { room_id, digits } => {
                let reply = match media::dtmf::parse_digits(&digits) {
                    Ok(digits) => self.on_call_control(
                        room_id,
                        |call_id| Command::Dtmf {
                            call_id: Some(call_id),
                            digits: digits.clone(),
                        },
                        SessionProbe::dtmf_refusal,
                    ),
                    Err(e) => Reply {
                        ok: false,
                        call_id: None,
                        error: Some(e),
                    },
                };
                let _ = incoming.reply.send(reply);
                return;
            }
        };
        let now = Instant::now();
        let mut reply = Reply {
            ok: false,
            call_id: None,
            error: Some("no matching call in this process".into()),
        };
        for (id, room) in self.rooms.iter_mut() {
            if room_id.as_deref().is_some_and(|r| r != id.as_str()) {
                continue;
            }
            let live: Vec<String> = room.machine.live_calls().map(str::to_owned).collect();
            let target = match &call_id {
                Some(c) => live.iter().find(|l| *l == c).cloned(),
                None => live.last().cloned(),
            };
            let Some(target) = target else { continue };
            let command = Command::Hangup {
                call_id: Some(target.clone()),
                reason: reason.clone(),
            };
            match room.machine.handle_input(Input::Command(now, command)) {
                Ok(()) => {
                    reply = Reply {
                        ok: true,
                        call_id: Some(target),
                        error: None,
                    };
                    break;
                }
                Err(e) => reply.error = Some(e.to_string()),
            }
        }
        if !reply.ok
            && let Some(result) = self.rtc_hangup(room_id.as_deref(), call_id.as_deref())
        {
            reply = match result {
                Ok(call_id) => Reply {
                    ok: true,
                    call_id: Some(call_id),
                    error: None,
                },
                Err(e) => Reply {
                    ok: false,
                    call_id: None,
                    error: Some(e),
                },
            };
        }
        let _ = incoming.reply.send(reply);
    }

    /// A hold, mute or DTMF request: the command for the connected legacy call of `room_id` (or
    /// of any room), through its machine, unless its media session `refuse`s it.
    fn on_call_control(
        &mut self,
        room_id: Option<String>,
        command: impl Fn(String) -> Command,
        refuse: impl Fn(&SessionProbe) -> Option<&'static str>,
    ) -> Reply {
        let now = Instant::now();
        let mut reply = Reply {
            ok: false,
            call_id: None,
            error: Some("no connected legacy call in this process".into()),
        };
        for (id, room) in self.rooms.iter_mut() {
            if room_id.as_deref().is_some_and(|r| r != id.as_str()) {
                continue;
            }
            let Some(call_id) = room.machine.live_calls().last().map(str::to_owned) else {
                continue;
            };
            let probe = self
                .calls
                .get(&call_id)
                .and_then(|c| c.media.as_ref())
                .and_then(|m| m.probe.as_ref());
            if let Some(why) = probe.and_then(&refuse) {
                reply.error = Some(why.to_owned());
                continue;
            }
            match room
                .machine
                .handle_input(Input::Command(now, command(call_id.clone())))
            {
                Ok(()) => {
                    return Reply {
                        ok: true,
                        call_id: Some(call_id),
                        error: None,
                    };
                }
                Err(e) => reply.error = Some(e.to_string()),
            }
        }
        reply
    }

    /// A digit the peer sent: a `dtmf` event and a line; `--hangup-on-dtmf` ends the call.
    pub(super) fn on_dtmf(&mut self, call_id: &str, d: media::dtmf::Dtmf) {
        let Some(room_id) = self.calls.get(call_id).map(|c| c.room_id.clone()) else {
            return;
        };
        self.reporter.event(
            Event::Dtmf {
                call: legacy_call(room_id.as_str(), call_id),
                digit: d.digit.to_string(),
                duration_ms: u64::from(d.duration_ms),
            },
            Some(format!("DTMF {} received ({} ms)", d.digit, d.duration_ms)),
        );
        if self
            .opts
            .hangup_on_dtmf
            .as_deref()
            .is_some_and(|ends| ends.contains(d.digit))
            && self.sup.is_current(call_id)
        {
            self.hangup_current(None);
        }
    }

    /// `--dtmf`: the digits go to the current call once `--dtmf-delay` has passed.
    pub(super) fn send_planned_dtmf(&mut self) {
        let (Some(call_id), Some(digits)) = (
            self.sup.current().map(str::to_owned),
            self.opts.dtmf.clone(),
        ) else {
            return;
        };
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        if let Some(room) = self.rooms.get_mut(&call.room_id)
            && let Err(e) = room.machine.handle_input(Input::Command(
                Instant::now(),
                Command::Dtmf {
                    call_id: Some(call_id),
                    digits,
                },
            ))
        {
            self.reporter.note(&format!("mxcall: DTMF not sent: {e}"));
        }
    }

    /// `held`/`resumed`/`muted`/`unmuted` done by us, as JSON and a line.
    fn report_local(&mut self, call_id: &str, what: fn(CallRef, By) -> Event) {
        let Some(room_id) = self.calls.get(call_id).map(|c| c.room_id.clone()) else {
            return;
        };
        let event = what(legacy_call(room_id.as_str(), call_id), By::Local);
        let line = format!("call {}", event.name());
        self.reporter.event(event, Some(line));
    }

    /// `Mode::Decline`: the newest ringing call that matches is declined through its machine
    /// (which knows whether the caller speaks version 0 or 1: hangup or reject).
    fn decline(
        &mut self,
        room_id: &OwnedRoomId,
        call_id: String,
        caller: matrix_sdk::ruma::OwnedUserId,
    ) {
        let Mode::Decline {
            call_id: wanted, ..
        } = &self.mode
        else {
            return;
        };
        if wanted.as_ref().is_none_or(|w| *w == call_id) {
            // Calls ring in the order they happened: the last one chosen is the newest.
            self.declined = Some((room_id.clone(), call_id, caller));
        }
    }

    /// After the batch: sends the decline of the chosen call.
    pub(super) fn send_decline(&mut self) {
        let Mode::Decline { reason, .. } = &self.mode else {
            return;
        };
        let Some((room_id, call_id, _)) = &self.declined else {
            return;
        };
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        let command = Command::Hangup {
            call_id: Some(call_id.clone()),
            reason: reason.clone(),
        };
        if let Err(e) = room
            .machine
            .handle_input(Input::Command(Instant::now(), command))
        {
            self.reporter.note(&format!("mxcall: cannot decline: {e}"));
            self.finish(exit::OTHER);
        }
    }

    /// `Mode::Decline`: the process is done when the decline reached the homeserver.
    pub(super) fn on_decline_sent(&mut self, report: super::SendReport) {
        let Some((room_id, call_id, caller)) = self.declined.clone() else {
            return;
        };
        match report {
            super::SendReport::Sent { event_type, .. }
                if event_type == "m.call.reject" || event_type == "m.call.hangup" =>
            {
                let action = if event_type == "m.call.reject" {
                    "reject"
                } else {
                    "hangup"
                };
                self.out.result(
                    &format!("declined call {call_id} from {caller} in {room_id}"),
                    &json!({"call_id": call_id, "room_id": room_id, "caller": caller, "action": action}),
                );
                self.finish(exit::OK);
            }
            super::SendReport::Sent { .. } => {}
            super::SendReport::Failed { event_type, cause } => {
                self.reporter
                    .note(&format!("mxcall: could not send {event_type}: {cause}"));
                self.finish(exit::OTHER);
            }
        }
    }

    pub(super) fn hangup_current(&mut self, reason: Option<String>) {
        if self.rtc_hangup_current() {
            return;
        }
        let Some(call_id) = self.sup.current().map(str::to_owned) else {
            return;
        };
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        if let Some(room) = self.rooms.get_mut(&call.room_id) {
            let _ = room.machine.handle_input(Input::Command(
                Instant::now(),
                Command::Hangup {
                    call_id: Some(call_id),
                    reason,
                },
            ));
        }
    }

    pub(super) fn on_call_event(&mut self, room_id: &OwnedRoomId, event: CallEvent) {
        let peer = self
            .rooms
            .get(room_id)
            .map(|r| r.peer.to_string())
            .unwrap_or_default();
        match event {
            CallEvent::InviteSent { call_id } => {
                self.reporter.event(
                    Event::InviteSent {
                        call: legacy_call(room_id.as_str(), &call_id),
                        callee: peer.clone(),
                        notification_id: None,
                    },
                    None,
                );
                self.reporter.start_spinner(format!("ringing {peer}…"));
            }
            CallEvent::Ringing { call_id, caller } if matches!(self.mode, Mode::Decline { .. }) => {
                self.decline(room_id, call_id, caller);
            }
            CallEvent::Ringing { call_id, caller } => {
                let policy = self.rooms.get(room_id).map(|r| r.machine.config().ring);
                let answering =
                    policy == Some(RingPolicy::AutoAnswer) && self.sup.current().is_none();
                self.reporter.stop_spinner();
                self.reporter.event(
                    Event::Ringing {
                        call: legacy_call(room_id.as_str(), &call_id),
                        caller: caller.to_string(),
                        answering,
                        intent: None,
                    },
                    Some(format!(
                        "incoming call from {caller} in {room_id}{}",
                        if answering { "; answering" } else { "" }
                    )),
                );
                self.note_unanswered_caller(&caller);
                if answering {
                    self.set_current(call_id.clone());
                }
                if let Mode::Watch {
                    exec: Some(cmd), ..
                } = &self.mode
                {
                    spawn_exec(
                        cmd,
                        &self.profile_name,
                        room_id.as_str(),
                        &call_id,
                        caller.as_str(),
                    );
                }
            }
            CallEvent::Connecting { call_id } => {
                self.reporter.stop_spinner();
                self.reporter.event(
                    Event::Connecting {
                        call: legacy_call(room_id.as_str(), &call_id),
                        device_id: None,
                    },
                    Some(format!("connecting to {peer}…")),
                );
            }
            CallEvent::Connected { call_id } => {
                let now = Instant::now();
                if let Some(call) = self.calls.get_mut(&call_id) {
                    call.connected_at.get_or_insert(now);
                }
                self.reporter.event(
                    Event::Connected {
                        call: legacy_call(room_id.as_str(), &call_id),
                        // DTLS-SRTP, as the call's `ended` says.
                        encrypted: true,
                    },
                    Some(format!("connected with {peer}")),
                );
                self.sup.handle_input(supervisor::Input::Connected {
                    call_id,
                    dtmf: true,
                    now,
                });
                self.stats.start(now, self.opts.stats_interval);
            }
            CallEvent::Replaced { call_id, by } => {
                tracing::info!(%call_id, %by, "glare: the call continues as {by}");
                self.sup
                    .handle_input(supervisor::Input::Replaced { call_id, by });
            }
            CallEvent::Hangup {
                call_id,
                reason,
                by,
            } => {
                let by_json = match by {
                    Party::Local => By::Local,
                    Party::Remote => By::Remote,
                };
                if let Some(call) = self.calls.get_mut(&call_id) {
                    call.hangup = Some((reason.clone(), by));
                }
                self.reporter.event(
                    Event::Hangup {
                        call: legacy_call(room_id.as_str(), &call_id),
                        reason: reason.clone(),
                        by: by_json,
                    },
                    Some(format!(
                        "hung up by {} ({reason})",
                        if by == Party::Local {
                            "us"
                        } else {
                            peer.as_str()
                        }
                    )),
                );
            }
            CallEvent::RemoteMuted { call_id, muted } => {
                let call = legacy_call(room_id.as_str(), &call_id);
                let (event, line) = if muted {
                    (
                        Event::RemoteMuted { call },
                        format!("{peer} muted their microphone"),
                    )
                } else {
                    (
                        Event::RemoteUnmuted { call },
                        format!("{peer} unmuted their microphone"),
                    )
                };
                self.reporter.event(event, Some(line));
            }
            CallEvent::Ended { call_id, outcome } => {
                self.on_ended(room_id, call_id, outcome, &peer)
            }
        }
    }

    /// A legacy call ended: its media task is told to close, and the `ended` event waits for
    /// its final counters ([`finish_ended`](Self::finish_ended), from the task's last news).
    pub(super) fn on_ended(
        &mut self,
        room_id: &OwnedRoomId,
        call_id: String,
        outcome: signalling::Outcome,
        peer: &str,
    ) {
        self.ended.add(&call_id);
        let now = Instant::now();
        let call = self
            .calls
            .entry(call_id.clone())
            .or_insert_with(|| Call::new(room_id.clone()));
        call.ended = Some(PendingEnd {
            outcome,
            peer: peer.to_owned(),
            duration: call.connected_at.map(|t| now - t).unwrap_or_default(),
        });
        match &call.media {
            Some(media) => media.close_soon(),
            None => self.finish_ended(call_id),
        }
    }

    /// Reports a legacy call's end (see [`on_ended`](Self::on_ended)) once its media is closed.
    pub(super) fn finish_ended(&mut self, call_id: String) {
        let Some(call) = self.calls.remove(&call_id) else {
            return;
        };
        let Some(end) = call.ended else {
            return;
        };
        self.report_end(
            &call.room_id,
            &call_id,
            super::report::LEGACY,
            end.outcome,
            end.duration,
            call.stats,
            call.hangup,
            &end.peer,
            MediaE2ee::PeerToPeer,
            false,
        );
    }

    /// The end of a call of either protocol: the `ended` event, the summary line, and whether
    /// (and with which code) the process ends.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn report_end(
        &mut self,
        room_id: &OwnedRoomId,
        call_id: &str,
        protocol: &'static str,
        outcome: signalling::Outcome,
        duration: Duration,
        stats: Option<crate::media::MediaStats>,
        hangup: Option<(String, Party)>,
        peer: &str,
        e2ee: MediaE2ee,
        owes_leave: bool,
    ) {
        let is_current = self.sup.is_current(call_id);
        let code = outcome.exit_code();
        let (encrypted, frames) = match e2ee {
            MediaE2ee::PeerToPeer => (true, None),
            MediaE2ee::Frames(frames) => (frames.is_some(), frames),
        };
        // A call that never connected has no media to describe: no stats, MOS, encryption.
        let connected = !duration.is_zero();
        let media = stats.as_ref().filter(|_| connected);
        // A connected call in which nothing the peer sent was decoded is not a clean success,
        // whatever its outcome: `remote_audio: false` and a line in the summary.
        let remote_audio = media.map(|s| s.frames_decoded > 0);
        self.reporter.event(
            Event::Ended {
                call: Some(call_ref(room_id.as_str(), call_id, protocol)),
                outcome: outcome.as_str(),
                duration_ms: duration.as_millis() as u64,
                exit_code: code,
                media: Some(EndedMedia {
                    mos: media.map(stats::mos),
                    stats: media.cloned(),
                    remote_audio,
                    encrypted: connected.then_some(encrypted),
                    e2ee: frames.map(|f| E2eeFrames {
                        frames_encrypted: f.frames_encrypted,
                        frames_decrypted: f.frames_decrypted,
                        decrypt_failures: f.decrypt_failures(),
                        frames_without_key: f.frames_without_key,
                        frames_failed: f.frames_failed,
                    }),
                }),
            },
            None,
        );
        // The supervisor decides what the end means for the process (its exit, its code).
        self.sup.handle_input(supervisor::Input::Ended {
            call_id: call_id.to_owned(),
            code,
            owes_leave,
            now: Instant::now(),
        });
        if !is_current && !matches!(self.mode, Mode::Watch { .. }) {
            return;
        }
        let how = match &hangup {
            Some((reason, Party::Remote)) => format!("hung up by {peer} ({reason})"),
            Some((reason, Party::Local)) => format!("hung up by us ({reason})"),
            None => String::new(),
        };
        let words = outcome.as_str().replace('_', " ");
        let undecrypted = match frames {
            Some(f) if f.decrypt_failures() > 0 => {
                format!(", {} frames did not decrypt", f.decrypt_failures())
            }
            _ => String::new(),
        };
        let silent = if remote_audio == Some(false) {
            format!("; no audio from {peer} was heard")
        } else {
            String::new()
        };
        let line = super::report::end_summary(
            peer,
            &words,
            duration,
            &how,
            stats.as_ref(),
            &format!("{undecrypted}{silent}"),
        );
        if matches!(self.mode, Mode::Decline { .. }) {
            // Done once the reject (or v0 hangup) is on the server: see `on_decline_sent`.
            return;
        }
        self.reporter.summary(&line);
    }
}

/// How a call's media was end-to-end encrypted, for the `ended` event.
/// A legacy call that ended, waiting for its media's final counters before `ended` is reported.
pub(super) struct PendingEnd {
    outcome: signalling::Outcome,
    /// The other member, for the summary line.
    peer: String,
    /// Connected time, counted to the end of the call (not to the media's close).
    duration: Duration,
}

pub(super) enum MediaE2ee {
    /// A legacy call: DTLS-SRTP between the two parties themselves (their fingerprints travel
    /// in the call's Matrix events), so end-to-end.
    PeerToPeer,
    /// A MatrixRTC call through an SFU: frame encryption with the counters of the call, or
    /// `None` when the room is unencrypted (media encrypted per hop only, as Element Call there).
    Frames(Option<crate::e2ee::CryptoStats>),
}

/// `watch --exec CMD`: runs CMD through the shell for an incoming call, not waiting for it.
/// MXCALL_HOME is inherited, and MXCALL_PROFILE names this profile.
pub(super) fn spawn_exec(cmd: &str, profile: &str, room_id: &str, call_id: &str, caller: &str) {
    let child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .env("MXCALL_ROOM_ID", room_id)
        .env("MXCALL_CALL_ID", call_id)
        .env("MXCALL_CALLER", caller)
        // So that `mxcall hangup` in CMD acts on this profile's call.
        .env("MXCALL_PROFILE", profile)
        .stdin(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(mut child) => {
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
        }
        Err(e) => tracing::warn!("cannot run --exec command: {e}"),
    }
}
