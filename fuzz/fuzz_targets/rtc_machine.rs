//! The MatrixRTC call machine (src/matrixrtc) fed arbitrary sequences of inputs on a virtual
//! clock: memberships, rings and declines (valid-ish and hostile, under any state key, with any
//! timestamps) from the other member, from our own user and from strangers; sync batch ends;
//! the other member leaving the room; user commands; send results (successes and every kind of
//! failure, in any order); media failures; timeouts and clock jumps. The ring lifetime and
//! timing limits of the configuration are fuzzed too.
//!
//! A twin machine gets the same inputs but the strangers' events. Checked after every input:
//! no panic; only commands fail; the twin said exactly the same (a third user's events count
//! for nothing); every membership we send is under our state key and parses back as ours, every
//! ring we send parses, rings the other member and lasts no longer than our ring lifetime,
//! every decline parses; request ids are unique; only the other member rings us or is reported
//! joined; `Ringing` comes only outside a call and `Ended` only in one; after a timeout no
//! deadline is in the past. Checked at the end: after hanging up and letting every request
//! succeed, the machine is idle and every call that started has ended.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../src/signalling/mod.rs"]
mod signalling;

/// `crate::exit`: the exit codes `signalling::Outcome` maps to.
#[allow(dead_code)]
#[path = "../../src/exit.rs"]
mod exit;

#[allow(dead_code, unused_imports)]
#[path = "../../src/matrixrtc/mod.rs"]
mod matrixrtc;

mod common;

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use matrix_sdk::ruma::{OwnedUserId, UserId};
use serde_json::{Value, json};

use common::Gen;
use matrixrtc::{
    Command, Config, Event, Input, Output, Phase, Request, RequestId, Response, RtcCallMachine,
    SendError, decline, membership, notification,
};

const ALICE: &str = "@alice:example.org";
const ALICE_DEV: &str = "ALICEDEV";
const BOB: &str = "@bob:example.org";
const BOB_DEV: &str = "BOBDEV";
const EVE: &str = "@eve:example.org";
const ROOM: &str = "!room:example.org";
const SFU: &str = "https://sfu.example.org";
/// Unix ms at virtual time 0.
const BASE_MS: u64 = 1_800_000_000_000;

const SENDERS: [&str; 9] = [
    BOB,
    BOB,
    BOB,
    BOB,
    ALICE,
    ALICE,
    EVE,
    "@bob:example.org.evil",
    "@Bob:example.org",
];
const TYPES: [&str; 5] = [
    membership::EVENT_TYPE,
    notification::EVENT_TYPE,
    decline::EVENT_TYPE,
    "m.room.message",
    "org.matrix.msc4075.call.notify",
];
const KEYS: [&str; 17] = [
    "application",
    "call_id",
    "device_id",
    "focus_active",
    "foci_preferred",
    "expires",
    "created_ts",
    "notification_type",
    "sender_ts",
    "lifetime",
    "m.relates_to",
    "m.mentions",
    "type",
    "event_id",
    "rel_type",
    "user_ids",
    "room",
];
const STRINGS: [&str; 12] = [
    "m.call",
    "",
    "m.room",
    "livekit",
    "ring",
    "m.reference",
    "$e1",
    "$e2",
    "$r1",
    ALICE,
    BOB,
    BOB_DEV,
];

fn user(s: &str) -> OwnedUserId {
    UserId::parse(s).expect("user id")
}

fn key(user: &str, device: &str) -> String {
    format!("_{user}_{device}_m.call")
}

fuzz_target!(|data: &[u8]| {
    let mut g = Gen::new(data);
    let mut run = Run::new(config(&mut g));
    let mut steps = 0;
    while !g.done() && steps < 256 {
        steps += 1;
        run.step(&mut g);
    }
    run.settle();
});

fn config(g: &mut Gen) -> Config {
    let mut cfg = Config::new(user(ALICE), ALICE_DEV, user(BOB), ROOM, SFU);
    let b = g.byte();
    if b & 1 == 1 {
        cfg.ring_lifetime = Duration::from_millis(g.ms());
    }
    if b & 2 == 2 {
        cfg.min_ring_time = Duration::from_millis(g.ms() % 200_000);
    }
    if b & 4 == 4 {
        cfg.max_sender_ts_skew = Duration::from_millis(g.ms());
    }
    cfg
}

struct Run {
    m: RtcCallMachine,
    /// The same inputs but the strangers' events.
    twin: RtcCallMachine,
    t0: Instant,
    now_ms: u64,
    outstanding: VecDeque<(RequestId, Request)>,
    ids: HashSet<RequestId>,
    /// Event ids injected so far (memberships and rings relate to them).
    events: Vec<String>,
    next_id: u64,
    /// A call has started (ringing in, or a call command accepted) and not ended.
    live: bool,
    started: usize,
    ended: usize,
}

impl Run {
    fn new(cfg: Config) -> Self {
        Run {
            m: RtcCallMachine::new(cfg.clone()),
            twin: RtcCallMachine::new(cfg),
            t0: Instant::now(),
            now_ms: 0,
            outstanding: VecDeque::new(),
            ids: HashSet::new(),
            events: Vec::new(),
            next_id: 0,
            live: false,
            started: 0,
            ended: 0,
        }
    }

    /// (monotonic, wall clock) now.
    fn at(&self) -> (Instant, u64) {
        (
            self.t0 + Duration::from_millis(self.now_ms),
            BASE_MS + self.now_ms,
        )
    }

    fn step(&mut self, g: &mut Gen) {
        let (now, now_ms) = self.at();
        match g.byte() % 20 {
            0..=5 => self.remote(g),
            6..=8 => self.input(Input::BatchEnd { now, now_ms }, false),
            9 => self.input(Input::PeerLeftRoom { now, now_ms }, false),
            10 | 11 => {
                let command = g.pick(&[
                    Command::Call,
                    Command::Call,
                    Command::Answer,
                    Command::Decline,
                    Command::Hangup,
                ]);
                self.input(
                    Input::Command {
                        now,
                        now_ms,
                        command,
                    },
                    false,
                );
            }
            12..=14 => {
                let i = g.below(4);
                let error = (g.byte() % 4 == 0).then(|| send_error(g));
                let mismatch = g.byte() % 32 == 0;
                let id = (g.byte() % 4 == 0)
                    .then(|| g.string(&["$r", "x"]))
                    .filter(|s| !s.is_empty());
                self.answer(i, error, mismatch, id);
            }
            15 => self.input(
                Input::MediaFailed {
                    now,
                    now_ms,
                    reason: "gone".into(),
                },
                false,
            ),
            16 | 17 => {
                if g.bool()
                    && let Some(t) = self.m.poll_timeout()
                {
                    let ms = t.saturating_duration_since(self.t0).as_millis() as u64;
                    self.now_ms = self.now_ms.max(ms);
                }
                self.timeout();
            }
            _ => {
                self.now_ms += match g.byte() % 4 {
                    0 => u64::from(g.byte()),
                    1 => u64::from(g.u16()),
                    2 => u64::from(g.u16()) * 100,
                    _ => g.ms() % 20_000_000,
                };
            }
        }
    }

    fn timeout(&mut self) {
        let (now, now_ms) = self.at();
        self.input(Input::Timeout { now, now_ms }, false);
        assert!(
            self.m.poll_timeout().is_none_or(|t| t > now),
            "deadline left in the past"
        );
    }

    /// Feed both machines (the twin not a stranger's event), check and compare the outputs.
    fn input(&mut self, input: Input<'_>, stranger: bool) {
        let is_command = matches!(input, Input::Command { .. });
        let starts = matches!(
            input,
            Input::Command {
                command: Command::Call | Command::Answer,
                ..
            }
        );
        let was_live = self.live;
        let r = self.m.handle_input(input.clone());
        assert!(r.is_ok() || is_command, "non-command input failed: {r:?}");
        if !stranger {
            assert_eq!(
                self.twin.handle_input(input),
                r,
                "a stranger's event changed a result"
            );
        }
        if starts && r.is_ok() && !was_live {
            self.live = true;
            self.started += 1;
        }
        let mut outputs = Vec::new();
        while let Some(o) = self.m.poll_output() {
            self.check(&o);
            outputs.push(o);
        }
        let mut twin = Vec::new();
        while let Some(o) = self.twin.poll_output() {
            twin.push(o);
        }
        assert_eq!(outputs, twin, "a stranger's event changed the outputs");
        if !stranger {
            // (A stranger's event moves only `m`'s clock, which `poll_timeout` looks at.)
            assert_eq!(self.m.poll_timeout(), self.twin.poll_timeout());
            assert_eq!(self.m.phase(), self.twin.phase());
        }
    }

    fn check(&mut self, o: &Output) {
        match o {
            Output::Send { id, request } => {
                assert!(self.ids.insert(*id), "request id {id:?} used twice");
                match request {
                    Request::SendMembership { state_key, content } => {
                        assert_eq!(state_key, &key(ALICE, ALICE_DEV));
                        if content != &json!({}) {
                            let m = membership::parse(&user(ALICE), state_key, content)
                                .unwrap_or_else(|e| panic!("our membership: {e}: {content}"));
                            assert_eq!(m.device_id, ALICE_DEV);
                        }
                    }
                    Request::SendDelayedLeave { state_key, .. } => {
                        assert_eq!(state_key, &key(ALICE, ALICE_DEV));
                    }
                    Request::SendNotification { content } => {
                        let n = notification::parse(content)
                            .unwrap_or_else(|e| panic!("our ring: {e}: {content}"));
                        assert!(n.is_ring() && n.targets(&user(BOB)), "{content}");
                        assert!(n.lifetime <= self.m.config().ring_lifetime, "{content}");
                    }
                    Request::SendDecline { content } => {
                        decline::parse(content)
                            .unwrap_or_else(|e| panic!("our decline: {e}: {content}"));
                    }
                    _ => {}
                }
                self.outstanding.push_back((*id, request.clone()));
            }
            Output::Event(Event::Ringing { caller, .. }) => {
                assert_eq!(caller.as_str(), BOB, "rung by {caller}");
                assert!(!self.live, "rings during a call");
                self.live = true;
                self.started += 1;
            }
            Output::Event(Event::Ended { .. }) => {
                assert!(self.live, "Ended without a call");
                self.live = false;
                self.ended += 1;
            }
            Output::Event(Event::PeerJoined { member } | Event::SessionActive { member }) => {
                assert_eq!(member.user.as_str(), BOB, "{member:?}");
            }
            Output::Event(_) => {}
        }
    }

    /// Answer the `i`-th outstanding request: `None` succeeds (with the answer its request
    /// gets, or, `mismatch`, another kind; the event id `id` or a fresh one).
    fn answer(&mut self, i: usize, error: Option<SendError>, mismatch: bool, id: Option<String>) {
        if self.outstanding.is_empty() {
            return;
        }
        let Some((rid, request)) = self.outstanding.remove(i % self.outstanding.len()) else {
            return;
        };
        self.next_id += 1;
        let fresh = id.unwrap_or_else(|| format!("$r{}", self.next_id));
        let result = match error {
            Some(e) => Err(e),
            // An answer of the wrong kind, which the machine tolerates (the transport never
            // sends one). A join answered so, after an echo of it without an event id, once
            // made the machine ring relating to "" (fuzz/regressions/rtc_machine/).
            None if mismatch => Ok(Response::Empty),
            None => Ok(match request {
                Request::SendDelayedLeave { .. } => Response::DelayId(format!("syd_{fresh}")),
                Request::SendMembership { .. }
                | Request::SendNotification { .. }
                | Request::SendDecline { .. } => Response::EventId(fresh),
                _ => Response::Empty,
            }),
        };
        let (now, now_ms) = self.at();
        self.input(
            Input::SendResult {
                now,
                now_ms,
                id: rid,
                result,
            },
            false,
        );
    }

    fn remote(&mut self, g: &mut Gen) {
        let sender_s = match g.byte() % 16 {
            0 => format!("@{}:example.org", g.raw_string(8)),
            _ => g.pick(&SENDERS).to_owned(),
        };
        let sender = UserId::parse(&sender_s).unwrap_or_else(|_| user(EVE));
        let device = match sender.as_str() {
            ALICE => g.pick(&[ALICE_DEV, ALICE_DEV, "PHONE"]),
            BOB => g.pick(&[BOB_DEV, BOB_DEV, "TABLET"]),
            _ => "EVEDEV",
        };
        let ty = g.below(TYPES.len());
        let state_key = match g.byte() % 8 {
            0 => Some(key(sender.as_str(), "OTHER")),
            1 => Some(key(g.pick(&[ALICE, BOB, EVE]), device)),
            2 => None,
            3 => Some(g.string(&[""])),
            _ => Some(key(sender.as_str(), device)),
        };
        let (_, now_ms) = self.at();
        let pick_event = |g: &mut Gen, events: &Vec<String>| {
            events
                .iter()
                .rev()
                .nth(g.below(8) % events.len().max(1))
                .cloned()
                .unwrap_or_else(|| "$none".to_owned())
        };
        let mut ts = now_ms;
        let mut content = match g.byte() % 8 {
            0 | 1 | 2 => {
                let mut c = ec_membership(device, sender.as_str());
                match g.byte() % 4 {
                    0 => c["expires"] = json!(g.ms()),
                    1 => c["created_ts"] = json!(now_ms.saturating_sub(g.ms())),
                    _ => {}
                }
                ts = match g.byte() % 4 {
                    0 => now_ms.saturating_sub(g.ms()),
                    1 => g.ms(),
                    _ => now_ms,
                };
                c
            }
            3 => json!({}),
            4 | 5 => {
                let skew = match g.byte() % 4 {
                    0 => g.ms() as i64,
                    _ => i64::from(g.u16() as i16) * 2,
                };
                let lifetime = match g.byte() % 4 {
                    0 => g.ms(),
                    _ => 30_000,
                };
                let related = pick_event(g, &self.events);
                ring(&related, now_ms.saturating_add_signed(skew), lifetime)
            }
            6 => decline::content(&pick_event(g, &self.events)),
            _ => g.json(&KEYS, &STRINGS, 3),
        };
        g.mutations(&mut content, 2, &KEYS, &STRINGS);
        // Mostly the type that fits the content.
        let event_type = match (g.byte() % 8, &content) {
            (0, _) => TYPES[ty],
            (_, c) if c.get("application").is_some() || c == &json!({}) => membership::EVENT_TYPE,
            (_, c) if c.get("notification_type").is_some() => notification::EVENT_TYPE,
            (_, c) if c.get("m.relates_to").is_some() => decline::EVENT_TYPE,
            _ => TYPES[ty],
        };
        self.next_id += 1;
        let event_id = match g.byte() % 16 {
            0 => String::new(),
            1 => pick_event(g, &self.events),
            _ => format!("$e{}", self.next_id),
        };
        self.events.push(event_id.clone());
        let stranger = sender.as_str() != ALICE && sender.as_str() != BOB;
        let (now, now_ms) = self.at();
        self.input(
            Input::Remote {
                now,
                now_ms,
                sender: &sender,
                event_type,
                event_id: &event_id,
                state_key: state_key.as_deref(),
                content: &content,
                origin_server_ts: ts,
            },
            stranger,
        );
    }

    /// Hang up whatever is going on, let every request succeed, and follow the deadlines.
    fn settle(mut self) {
        for step in 0..20_000 {
            assert!(step < 19_999, "the machine does not settle");
            if self.m.is_idle() {
                break;
            }
            let (now, now_ms) = self.at();
            if matches!(self.m.phase(), Phase::Ringing | Phase::InCall) {
                self.input(
                    Input::Command {
                        now,
                        now_ms,
                        command: Command::Hangup,
                    },
                    false,
                );
                continue;
            }
            if !self.outstanding.is_empty() {
                self.answer(0, None, false, None);
                continue;
            }
            match self.m.poll_timeout() {
                Some(t) => {
                    let ms = t.saturating_duration_since(self.t0).as_millis() as u64 + 1;
                    self.now_ms = self.now_ms.max(ms);
                    self.timeout();
                }
                None => panic!("not idle, yet nothing to wait for: {:?}", self.m.phase()),
            }
        }
        assert!(self.m.is_idle());
        assert!(!self.live, "a call never ended");
        assert_eq!(self.started, self.ended);
    }
}

fn send_error(g: &mut Gen) -> SendError {
    match g.byte() % 9 {
        0 => SendError::RateLimited {
            retry_after: Some(Duration::from_millis(g.ms())),
        },
        1 => SendError::RateLimited { retry_after: None },
        2 => SendError::NotFound,
        3 => SendError::Unsupported,
        4 => SendError::MaxDelayExceeded {
            max_delay: Some(Duration::from_millis(g.ms())),
        },
        5 => SendError::MaxDelayExceeded { max_delay: None },
        6 => SendError::Transient("502".into()),
        7 => SendError::LocalTimeout,
        _ => SendError::Other("M_FORBIDDEN".into()),
    }
}

/// A membership as Element Call writes it.
fn ec_membership(device: &str, sender: &str) -> Value {
    json!({
        "application": "m.call",
        "call_id": "",
        "scope": "m.room",
        "device_id": device,
        "membershipID": format!("{sender}:{device}"),
        "expires": 14_400_000,
        "m.call.intent": "audio",
        "focus_active": { "type": "livekit", "focus_selection": "multi_sfu" },
        "foci_preferred": [{
            "livekit_alias": ROOM,
            "type": "livekit",
            "livekit_service_url": "https://sfu.bob.example"
        }],
    })
}

/// A ring as js-sdk sends it.
fn ring(membership_event_id: &str, sender_ts: u64, lifetime: u64) -> Value {
    json!({
        "m.mentions": { "user_ids": [], "room": true },
        "notification_type": "ring",
        "m.relates_to": { "event_id": membership_event_id, "rel_type": "m.reference" },
        "sender_ts": sender_ts,
        "lifetime": lifetime,
        "m.call.intent": "audio",
    })
}
