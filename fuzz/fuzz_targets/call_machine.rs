//! The call signalling machine (src/signalling) fed arbitrary sequences of inputs on a virtual
//! clock: remote events from the peer, from our own user (our echo and our other devices) and
//! from strangers, valid-ish and hostile, with any age and timestamp; sync batch ends; the peer
//! leaving; user commands; media reports, arbitrary or those a well-behaved engine would give;
//! timeouts and clock jumps. The configuration (ring policy, invite lifetime, minimum ring time,
//! ended ids remembered from an earlier run) is fuzzed too. Outputs are drained after every
//! input, as the engine does.
//!
//! A twin machine gets the same inputs but the strangers' events and our own echo. Checked after
//! every input: no panic; only commands fail; the twin said and holds exactly the same (so a
//! stranger's event or our echo counts for nothing, then or later); every event we send is an
//! `m.call.*` type whose content carries its call_id, our party_id and version "1"; every output is
//! for a call we placed or the peer invited (nothing for a call a stranger or our other device
//! started); only the peer rings; an event from a stranger, or our own echo, changes nothing and
//! outputs nothing; a call's terminal event (Ended or Replaced) comes once, nothing for the call
//! follows it and the call is no longer live; after a timeout no deadline is in the past; at most
//! 1024 ended ids are remembered. Checked at the end: once media goes away and the clock runs
//! through every deadline (the longest lifetime plus the ICE and setup timeouts), every call is
//! over, nothing waits on the clock, and every call the user heard of got its terminal event.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../src/signalling/mod.rs"]
mod signalling;

/// `crate::exit`: the exit codes `signalling::Outcome` maps to.
#[allow(dead_code)]
#[path = "../../src/exit.rs"]
mod exit;

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use matrix_sdk::ruma::{OwnedUserId, UserId};
use serde_json::{Map, Value, json};

use common::Gen;
use signalling::{
    CallEvent, CallMachine, Command, Config, IceCandidate, Input, MediaAction, MediaInput, Output,
    RingPolicy,
};

const ALICE: &str = "@alice:example.org";
const ALICE_DEV: &str = "ALICEDEV";
const BOB: &str = "@bob:example.org";
const EVE: &str = "@eve:example.org";
/// Wall clock (Unix ms) at the virtual clock's start.
const WALL0: u64 = 1_800_000_000_000;

/// Mostly the peer; ourselves; strangers, some made to look like the peer or like us.
const SENDERS: [&str; 9] = [
    BOB,
    BOB,
    BOB,
    ALICE,
    ALICE,
    EVE,
    "@bob:example.org.evil",
    "@bob:evil.example",
    "@BOB:example.org",
];
const CALL_IDS: [&str; 8] = ["a", "b", "c", "dd", "z", "0", "a b", ""];
const PARTIES: [Option<&str>; 7] = [
    None,
    Some(ALICE_DEV),
    Some("BOBDEV"),
    Some("BOBDEV"),
    Some("TABLET"),
    Some(""),
    Some("a b"),
];
const CALL_TYPES: [&str; 8] = [
    "m.call.invite",
    "m.call.answer",
    "m.call.candidates",
    "m.call.select_answer",
    "m.call.reject",
    "m.call.hangup",
    "m.call.negotiate",
    "m.call.sdp_stream_metadata_changed",
];
const OTHER_TYPES: [&str; 3] = ["m.room.message", "m.call.unknown", "m.call.member"];
const KEYS: [&str; 20] = [
    "call_id",
    "party_id",
    "version",
    "lifetime",
    "offer",
    "answer",
    "candidates",
    "sdp",
    "type",
    "reason",
    "selected_party_id",
    "description",
    "invitee",
    "candidate",
    "sdpMid",
    "sdpMLineIndex",
    "sdp_stream_metadata",
    "purpose",
    "audio_muted",
    "",
];
const STRINGS: [&str; 16] = [
    "a",
    "b",
    "dd",
    "z",
    "ALICEDEV",
    "BOBDEV",
    "offer",
    "answer",
    "1",
    "v=0",
    "m.usermedia",
    "user_hangup",
    "ice_failed",
    "replaced",
    ALICE,
    BOB,
];

fn user(s: &str) -> OwnedUserId {
    UserId::parse(s).expect("user id")
}

fuzz_target!(|data: &[u8]| {
    let mut g = Gen::new(data);
    let mut run = Run::new(config(&mut g), &mut g);
    let mut steps = 0;
    while !g.done() && steps < 256 {
        steps += 1;
        run.step(&mut g);
    }
    run.finish();
});

fn config(g: &mut Gen) -> Config {
    let mut cfg = Config::new(user(ALICE), ALICE_DEV, user(BOB));
    cfg.stream_id = "alice-stream".to_owned();
    let b = g.byte();
    if b & 1 == 1 {
        cfg.ring = RingPolicy::AutoAnswer;
    }
    cfg.invite_lifetime = match (b >> 1) & 3 {
        2 => Duration::from_millis(g.ms()),
        3 => Duration::MAX,
        _ => cfg.invite_lifetime,
    };
    cfg.min_ring_time = match (b >> 3) & 3 {
        2 => Duration::from_millis(g.ms()),
        3 => Duration::ZERO,
        _ => cfg.min_ring_time,
    };
    cfg
}

/// The machine, the virtual clock, and what the outputs said so far.
struct Run {
    m: CallMachine,
    /// The same inputs but the strangers' events and our own echo.
    twin: CallMachine,
    t0: Instant,
    now: Instant,
    /// Calls the user heard of (placed, or any non-terminal event).
    announced: HashSet<String>,
    /// Calls whose terminal event came, and in which drain.
    terminal: HashMap<String, usize>,
    drains: usize,
    /// What a well-behaved media engine would answer to the actions so far.
    reactions: Vec<(String, MediaInput)>,
    /// Call ids we placed or the peer sent an invite for: the only ones outputs may be about.
    known: HashSet<String>,
}

impl Run {
    fn new(cfg: Config, g: &mut Gen) -> Self {
        let mut m = CallMachine::new(cfg.clone());
        let mut twin = CallMachine::new(cfg);
        // Ended calls remembered from an earlier run.
        if g.byte() % 4 == 0 {
            for _ in 0..g.below(4) {
                let id = g.pick(&CALL_IDS);
                m.remember_ended(id);
                twin.remember_ended(id);
            }
        }
        let t0 = Instant::now();
        Run {
            m,
            twin,
            t0,
            now: t0,
            announced: HashSet::new(),
            terminal: HashMap::new(),
            drains: 0,
            reactions: Vec::new(),
            known: HashSet::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        WALL0 + self.now.duration_since(self.t0).as_millis() as u64
    }

    fn live(&self) -> Vec<String> {
        self.m.live_calls().map(str::to_owned).collect()
    }

    /// A call id: of a live call, from the pool, or anything.
    fn call_id(&self, g: &mut Gen) -> String {
        let live = self.live();
        match g.byte() % 4 {
            0 | 1 if !live.is_empty() => live[g.below(live.len())].clone(),
            3 => g.string(&CALL_IDS),
            _ => g.pick(&CALL_IDS).to_owned(),
        }
    }

    fn opt_call_id(&self, g: &mut Gen) -> Option<String> {
        g.bool().then(|| self.call_id(g))
    }

    fn step(&mut self, g: &mut Gen) {
        let now = self.now;
        match g.byte() % 20 {
            0..=5 => self.remote(g),
            6 | 7 => self.input(Input::BatchEnd { now }),
            8 => self.input(Input::PeerLeft { now }),
            9 | 10 => self.command(g),
            11 | 12 => {
                let call_id = self.call_id(g);
                let media = media_input(g);
                self.input(Input::Media(now, call_id, media));
            }
            13..=15 => {
                if !self.reactions.is_empty() {
                    let (id, media) = self.reactions.remove(g.below(self.reactions.len()));
                    self.input(Input::Media(now, id, media));
                }
            }
            16 | 17 => {
                // To the next deadline (as the engine wakes the machine), or now.
                if g.bool()
                    && let Some(t) = self.m.poll_timeout()
                {
                    self.now = self.now.max(t);
                }
                self.timeout();
            }
            _ => {
                let ms = match g.byte() % 4 {
                    0 => u64::from(g.byte()),
                    1 => u64::from(g.u16()),
                    2 => u64::from(g.u16()) * 100,
                    _ => g.ms() % 7_200_000,
                };
                self.now += Duration::from_millis(ms);
            }
        }
    }

    fn timeout(&mut self) {
        let now = self.now;
        self.input(Input::Timeout(now));
        assert!(
            self.m.poll_timeout().is_none_or(|t| t > now),
            "deadline left in the past"
        );
    }

    fn remote(&mut self, g: &mut Gen) {
        let sender = match g.byte() % 16 {
            // Any user id the fuzzer can spell.
            0 => UserId::parse(format!("@{}:example.org", g.raw_string(12))).unwrap_or(user(EVE)),
            _ => user(g.pick(&SENDERS)),
        };
        let event_type = if g.byte() % 16 == 0 {
            g.pick(&OTHER_TYPES)
        } else {
            g.pick(&CALL_TYPES)
        };
        let mut content = if g.byte() % 4 == 0 {
            g.json(&KEYS, &STRINGS, 3)
        } else {
            let mut c = well_formed(g, event_type);
            g.mutations(&mut c, 3, &KEYS, &STRINGS);
            c
        };
        // Aimed at a live call (our own outgoing one, say).
        let live = self.live();
        if g.bool()
            && !live.is_empty()
            && let Some(o) = content.as_object_mut()
        {
            o.insert("call_id".into(), json!(live[g.below(live.len())]));
        }
        let now_ms = self.now_ms();
        let age_ms = match g.byte() % 4 {
            0 => g.ms(),
            _ => u64::from(g.u16()) % 5_000,
        };
        let (age, origin_server_ts) = match g.byte() % 8 {
            // No `unsigned.age`: the age comes from `origin_server_ts`, maybe skewed.
            0 => (None, now_ms.saturating_sub(age_ms)),
            1 => (None, g.ms()),
            2 => (Some(Duration::from_millis(age_ms)), g.ms()),
            _ => (
                Some(Duration::from_millis(age_ms)),
                now_ms.saturating_sub(age_ms),
            ),
        };

        let stranger = sender.as_str() != BOB && sender.as_str() != ALICE;
        let echo = sender.as_str() == ALICE
            && content.get("party_id") == Some(&json!(ALICE_DEV))
            && content.get("version").and_then(Value::as_u64) != Some(0);
        if sender == BOB
            && event_type == "m.call.invite"
            && let Some(id) = content.get("call_id").and_then(Value::as_str)
        {
            self.known.insert(id.to_owned());
        }
        let live_before = self.live();
        let ended_before = self.m.ended_calls().count();
        let now = self.now;
        let input = Input::Remote {
            now,
            now_ms,
            sender: &sender,
            event_type,
            content: &content,
            age,
            origin_server_ts,
        };
        let outputs = self.feed(input, stranger || echo);
        if stranger || echo {
            assert_eq!(
                outputs, 0,
                "{sender} ({echo}) {event_type} {content} had effects"
            );
            assert_eq!(self.live(), live_before, "{sender} {event_type} {content}");
            assert_eq!(self.m.ended_calls().count(), ended_before);
        }
    }

    fn command(&mut self, g: &mut Gen) {
        let reason = |g: &mut Gen| match g.byte() % 3 {
            0 => None,
            1 => Some("user_busy".to_owned()),
            _ => Some(g.string(&STRINGS)),
        };
        let command = match g.byte() % 8 {
            0 | 1 => Command::Place {
                call_id: match g.byte() % 4 {
                    0 => g.string(&CALL_IDS),
                    _ => g.pick(&["z", "a", "zz", "0", "b"]).to_owned(),
                },
            },
            2 => Command::Answer {
                call_id: self.opt_call_id(g),
            },
            3 => Command::Hangup {
                call_id: self.opt_call_id(g),
                reason: reason(g),
            },
            4 => Command::Reject {
                call_id: self.opt_call_id(g),
                reason: reason(g),
            },
            5 => Command::Hold {
                call_id: self.opt_call_id(g),
                held: g.bool(),
            },
            6 => Command::Mute {
                call_id: self.opt_call_id(g),
                muted: g.bool(),
            },
            _ => Command::Dtmf {
                call_id: self.opt_call_id(g),
                digits: g.string(&["1#", "*0", ""]),
            },
        };
        let placed = match &command {
            Command::Place { call_id } => Some(call_id.clone()),
            _ => None,
        };
        let now = self.now;
        // Refused commands are fine; accepted places are calls of ours.
        let result = self.m.handle_input(Input::Command(now, command.clone()));
        assert_eq!(self.twin.handle_input(Input::Command(now, command)), result);
        if let (Ok(()), Some(id)) = (&result, placed) {
            self.known.insert(id.clone());
            self.announced.insert(id);
        }
        let outputs = self.drain();
        self.compare(outputs);
    }

    fn input(&mut self, input: Input<'_>) {
        self.feed(input, false);
    }

    /// Feed one non-command input (it must not fail) to the machine, and to its twin unless
    /// `skip_twin`; drain both, compare, and count the outputs.
    fn feed(&mut self, input: Input<'_>, skip_twin: bool) -> usize {
        let result = self.m.handle_input(input.clone());
        assert_eq!(result, Ok(()), "a non-command input failed");
        if !skip_twin {
            assert_eq!(self.twin.handle_input(input), Ok(()));
        }
        let outputs = self.drain();
        let n = outputs.len();
        self.compare(outputs);
        n
    }

    /// The twin (never told of strangers' events nor our own echo) must have said and must
    /// hold exactly the same.
    fn compare(&mut self, outputs: Vec<Output>) {
        let mut twin = Vec::new();
        while let Some(o) = self.twin.poll_output() {
            twin.push(o);
        }
        assert_eq!(
            outputs, twin,
            "a stranger's event or our echo changed the outputs"
        );
        assert_eq!(self.m.poll_timeout(), self.twin.poll_timeout());
        assert!(self.m.live_calls().eq(self.twin.live_calls()));
        assert!(self.m.ended_calls().eq(self.twin.ended_calls()));
    }

    /// Drain the outputs, checking each.
    fn drain(&mut self) -> Vec<Output> {
        self.drains += 1;
        let mut outputs = Vec::new();
        while let Some(o) = self.m.poll_output() {
            let id = match &o {
                Output::Send {
                    call_id,
                    event_type,
                    content,
                } => {
                    assert!(CALL_TYPES.contains(event_type), "sent {event_type}");
                    assert!(content.is_object(), "{content}");
                    assert_eq!(content["call_id"], json!(call_id), "{content}");
                    assert_eq!(content["party_id"], json!(ALICE_DEV), "{content}");
                    assert_eq!(content["version"], json!("1"), "{content}");
                    call_id.clone()
                }
                Output::Media { call_id, action } => {
                    let reaction = match action {
                        MediaAction::CreateOffer
                        | MediaAction::IceRestart
                        | MediaAction::HoldOffer(_) => {
                            Some(MediaInput::LocalOffer("v=0 offer".into()))
                        }
                        MediaAction::AcceptOffer(_) => {
                            Some(MediaInput::LocalAnswer("v=0 answer".into()))
                        }
                        MediaAction::AcceptAnswer(_) => Some(MediaInput::IceConnected),
                        MediaAction::AddRemoteCandidates { .. }
                        | MediaAction::Close
                        | MediaAction::SetMuted(_)
                        | MediaAction::SendDtmf(_) => None,
                    };
                    if let Some(r) = reaction
                        && self.reactions.len() < 64
                    {
                        self.reactions.push((call_id.clone(), r));
                    }
                    call_id.clone()
                }
                Output::Event(e) => {
                    let id = event_call_id(e).to_owned();
                    match e {
                        CallEvent::Ended { .. } | CallEvent::Replaced { .. } => {
                            let first = self.terminal.insert(id.clone(), self.drains);
                            assert!(first.is_none(), "two terminal events for {id}");
                        }
                        CallEvent::Ringing { caller, .. } => {
                            assert_eq!(caller.as_str(), BOB, "a ring from {caller}");
                            self.announced.insert(id.clone());
                        }
                        _ => {
                            self.announced.insert(id.clone());
                        }
                    }
                    id
                }
            };
            assert!(
                self.known.contains(&id),
                "output for a call nobody may start: {o:?}"
            );
            if let Some(d) = self.terminal.get(&id) {
                assert_eq!(
                    *d, self.drains,
                    "output for {id} after its terminal event: {o:?}"
                );
            }
            outputs.push(o);
        }
        let live: HashSet<String> = self.live().into_iter().collect();
        for id in self.terminal.keys() {
            assert!(!live.contains(id), "{id} live after its terminal event");
        }
        assert!(self.m.ended_calls().count() <= 1024);
        outputs
    }

    /// Media goes away, and the clock runs through every deadline: every call must end on its
    /// own timers (the engine wakes the machine only at `poll_timeout`).
    fn finish(mut self) {
        for id in self.live() {
            let now = self.now;
            self.input(Input::Media(now, id, MediaInput::IceDisconnected));
        }
        // Incoming lifetimes are capped at 10 minutes, ours at the configured lifetime; then
        // ICE gives up after 30 s and media setup after 10 s.
        let longest = self
            .m
            .config()
            .invite_lifetime
            .max(Duration::from_secs(600));
        let end = self.now + longest + Duration::from_secs(60);
        let mut steps = 0;
        while let Some(t) = self.m.poll_timeout().filter(|t| *t <= end) {
            steps += 1;
            assert!(steps < 10_000, "timers do not converge");
            self.now = self.now.max(t);
            self.timeout();
        }
        assert_eq!(
            self.live(),
            Vec::<String>::new(),
            "calls live after every deadline"
        );
        assert_eq!(self.m.poll_timeout(), None);
        for id in &self.announced {
            assert!(self.terminal.contains_key(id), "call {id} never ended");
        }
    }
}

fn event_call_id(e: &CallEvent) -> &str {
    match e {
        CallEvent::InviteSent { call_id }
        | CallEvent::Ringing { call_id, .. }
        | CallEvent::Connecting { call_id }
        | CallEvent::Connected { call_id }
        | CallEvent::Replaced { call_id, .. }
        | CallEvent::Hangup { call_id, .. }
        | CallEvent::RemoteMuted { call_id, .. }
        | CallEvent::Ended { call_id, .. } => call_id,
    }
}

fn sdp(g: &mut Gen) -> String {
    match g.byte() % 8 {
        0 => g.string(&["", " ", "v=0"]),
        1 => "v".repeat(g.pick(&[64 * 1024 - 1, 64 * 1024])),
        _ => "v=0 remote".to_owned(),
    }
}

fn media_input(g: &mut Gen) -> MediaInput {
    match g.byte() % 10 {
        0 => MediaInput::LocalOffer(sdp(g)),
        1 => MediaInput::LocalAnswer(sdp(g)),
        2 | 3 => MediaInput::LocalCandidate(IceCandidate {
            candidate: match g.byte() % 4 {
                0 => g.string(&[""]),
                _ => "candidate:3 1 udp 1 192.0.2.3 3 typ host".to_owned(),
            },
            sdp_mid: g.bool().then(|| g.string(&["0", ""])),
            sdp_mline_index: g.bool().then(|| g.u16()),
        }),
        4 => MediaInput::GatheringComplete,
        5 => MediaInput::IceConnected,
        6 => MediaInput::IceDisconnected,
        7 => MediaInput::IceFailed,
        _ => MediaInput::Failed(g.string(&["gone"])),
    }
}

/// A content of `event_type` that mostly passes validation, so the machine's rules get
/// exercised: ids from small pools (so events meet calls), version 0 or 1, lifetimes around
/// the ring thresholds, descriptions of either kind.
fn well_formed(g: &mut Gen, event_type: &str) -> Value {
    let mut o = Map::new();
    o.insert("call_id".into(), json!(g.pick(&CALL_IDS)));
    if g.byte() % 4 == 0 {
        o.insert("version".into(), json!(0));
    } else {
        let version = [json!("1"), json!("1"), json!(1), Value::Null][g.below(4)].clone();
        o.insert("version".into(), version);
        if let Some(p) = g.pick(&PARTIES) {
            o.insert("party_id".into(), json!(p));
        }
    }
    let lifetime = match g.byte() % 4 {
        0 => g.ms(),
        1 => 90_000,
        _ => 60_000,
    };
    let kind = g.pick(&["offer", "answer", "offer", "bogus"]);
    match event_type {
        "m.call.invite" => {
            o.insert("lifetime".into(), json!(lifetime));
            o.insert("offer".into(), json!({ "type": "offer", "sdp": sdp(g) }));
            match g.byte() % 4 {
                0 => {
                    o.insert("invitee".into(), json!(g.pick(&[ALICE, BOB, EVE])));
                }
                1 => {
                    o.insert("invitee".into(), json!(ALICE));
                }
                _ => {}
            }
        }
        "m.call.answer" => {
            o.insert("answer".into(), json!({ "type": "answer", "sdp": sdp(g) }));
        }
        "m.call.candidates" => {
            let list = match g.byte() % 4 {
                0 => json!([{ "candidate": "" }]),
                1 => json!([{
                    "candidate": "candidate:1 1 udp 1 192.0.2.1 1 typ host",
                    "sdpMid": "",
                    "sdpMLineIndex": 0
                }]),
                2 => json!([]),
                _ => json!([
                    { "candidate": "candidate:2 1 udp 1 192.0.2.2 2 typ host", "sdpMid": "0" },
                    { "candidate": "" }
                ]),
            };
            o.insert("candidates".into(), list);
        }
        "m.call.select_answer" => {
            let p = g.pick(&PARTIES).unwrap_or(ALICE_DEV);
            o.insert("selected_party_id".into(), json!(p));
        }
        "m.call.hangup" => {
            let r = g.pick(&[
                "user_hangup",
                "ice_failed",
                "replaced",
                "invite_timeout",
                "user_busy",
                "answered_elsewhere",
                "unknown_error",
                "whatever",
            ]);
            if g.byte() % 4 != 0 {
                o.insert("reason".into(), json!(r));
            }
        }
        "m.call.negotiate" => {
            o.insert("lifetime".into(), json!(lifetime));
            o.insert("description".into(), json!({ "type": kind, "sdp": sdp(g) }));
        }
        "m.call.sdp_stream_metadata_changed" => {
            let muted = g.bool();
            o.insert(
                "sdp_stream_metadata".into(),
                json!({ "s": { "purpose": "m.usermedia", "audio_muted": muted } }),
            );
        }
        _ => {}
    }
    Value::Object(o)
}
