//! A virtual clock and a driver around one [`CallMachine`]: inputs at millisecond offsets from a
//! fixed base `Instant` (and, for the wall clock, from [`WALL0`]), outputs collected for
//! assertions, remote contents built as raw JSON the way peers send them.

use std::time::{Duration, Instant};

use matrix_sdk::ruma::{OwnedUserId, UserId};
use serde_json::{Value, json};

use crate::signalling::{
    CallEvent, CallMachine, Command, CommandError, Config, IceCandidate, Input, MediaAction,
    MediaInput, Outcome, Output,
};

pub const ALICE: &str = "@alice:example.org";
pub const ALICE_DEV: &str = "ALICEDEV";
pub const BOB: &str = "@bob:example.org";
pub const BOB_DEV: &str = "BOBDEV";
pub const EVE: &str = "@eve:example.org";

/// The wall clock (Unix ms) at the virtual clock's 0.
pub const WALL0: u64 = 1_800_000_000_000;

pub fn user(s: &str) -> OwnedUserId {
    UserId::parse(s).expect("test user id")
}

/// Alice's configuration: she talks to Bob.
pub fn alice_config() -> Config {
    let mut cfg = Config::new(user(ALICE), ALICE_DEV, user(BOB));
    cfg.stream_id = "alice-stream".to_owned();
    cfg
}

pub struct H {
    pub m: CallMachine,
    pub t0: Instant,
    pub out: Vec<Output>,
}

impl H {
    pub fn new(cfg: Config) -> Self {
        H {
            m: CallMachine::new(cfg),
            t0: Instant::now(),
            out: Vec::new(),
        }
    }

    pub fn alice() -> Self {
        H::new(alice_config())
    }

    pub fn alice_with(f: impl FnOnce(&mut Config)) -> Self {
        let mut cfg = alice_config();
        f(&mut cfg);
        H::new(cfg)
    }

    pub fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// The wall clock (Unix ms) at the same moment as [`Self::at`].
    pub fn wall(&self, ms: u64) -> u64 {
        WALL0 + ms
    }

    fn drain(&mut self) -> Vec<Output> {
        let mut got = Vec::new();
        while let Some(o) = self.m.poll_output() {
            got.push(o);
        }
        self.out.extend(got.clone());
        got
    }

    /// A remote event received at `ms` with `unsigned.age` `age_ms` (and an `origin_server_ts`
    /// that agrees with it).
    pub fn remote_aged(
        &mut self,
        ms: u64,
        sender: &str,
        ty: &str,
        content: Value,
        age_ms: u64,
    ) -> Vec<Output> {
        let ts = self.wall(ms).saturating_sub(age_ms);
        self.remote_full(ms, sender, ty, content, Some(age_ms), ts)
    }

    /// A remote event received at `ms` without `unsigned.age` (some servers omit it), sent at
    /// `origin_server_ts` (Unix ms, by the sending server's clock).
    pub fn remote_stamped(
        &mut self,
        ms: u64,
        sender: &str,
        ty: &str,
        content: Value,
        origin_server_ts: u64,
    ) -> Vec<Output> {
        self.remote_full(ms, sender, ty, content, None, origin_server_ts)
    }

    /// A remote event received at `ms`, with `unsigned.age` `age_ms` if the server sent one
    /// and `origin_server_ts` as given, independently.
    pub fn remote_full(
        &mut self,
        ms: u64,
        sender: &str,
        ty: &str,
        content: Value,
        age_ms: Option<u64>,
        origin_server_ts: u64,
    ) -> Vec<Output> {
        let sender = user(sender);
        let input = Input::Remote {
            now: self.at(ms),
            now_ms: self.wall(ms),
            sender: &sender,
            event_type: ty,
            content: &content,
            age: age_ms.map(Duration::from_millis),
            origin_server_ts,
        };
        assert_eq!(self.m.handle_input(input), Ok(()));
        self.drain()
    }

    pub fn remote(&mut self, ms: u64, sender: &str, ty: &str, content: Value) -> Vec<Output> {
        self.remote_aged(ms, sender, ty, content, 0)
    }

    /// A remote event delivered in a sync batch of its own.
    pub fn synced(&mut self, ms: u64, sender: &str, ty: &str, content: Value) -> Vec<Output> {
        let mut out = self.remote(ms, sender, ty, content);
        out.extend(self.batch_end(ms));
        out
    }

    pub fn batch_end(&mut self, ms: u64) -> Vec<Output> {
        let now = self.at(ms);
        assert_eq!(self.m.handle_input(Input::BatchEnd { now }), Ok(()));
        self.drain()
    }

    pub fn try_cmd(&mut self, ms: u64, c: Command) -> Result<Vec<Output>, CommandError> {
        let now = self.at(ms);
        self.m.handle_input(Input::Command(now, c))?;
        Ok(self.drain())
    }

    pub fn cmd(&mut self, ms: u64, c: Command) -> Vec<Output> {
        match self.try_cmd(ms, c.clone()) {
            Ok(out) => out,
            Err(e) => panic!("{c:?} failed: {e}"),
        }
    }

    pub fn media(&mut self, ms: u64, call_id: &str, m: MediaInput) -> Vec<Output> {
        let now = self.at(ms);
        assert_eq!(
            self.m
                .handle_input(Input::Media(now, call_id.to_owned(), m)),
            Ok(())
        );
        self.drain()
    }

    /// Advance the clock to `ms`, firing every deadline on the way, as an engine would.
    pub fn run_until(&mut self, ms: u64) -> Vec<Output> {
        let end = self.at(ms);
        let mut got = Vec::new();
        while let Some(t) = self.m.poll_timeout().filter(|t| *t <= end) {
            assert_eq!(self.m.handle_input(Input::Timeout(t)), Ok(()));
            got.extend(self.drain());
        }
        assert_eq!(self.m.handle_input(Input::Timeout(end)), Ok(()));
        got.extend(self.drain());
        got
    }

    /// Place `call_id`, deliver the offer and let the 200 ms window pass: the invite is out.
    pub fn place_and_send(&mut self, ms: u64, call_id: &str) -> Vec<Output> {
        let mut out = self.cmd(
            ms,
            Command::Place {
                call_id: call_id.to_owned(),
            },
        );
        out.extend(self.media(
            ms,
            call_id,
            MediaInput::LocalOffer(format!("offer-{call_id}")),
        ));
        out.extend(self.run_until(ms + 200));
        out
    }

    /// Bob's invite synced and rung at `ms`.
    pub fn ring_from_bob(&mut self, ms: u64, call_id: &str) -> Vec<Output> {
        self.synced(
            ms,
            BOB,
            "m.call.invite",
            invite(call_id, Some(BOB_DEV), 60000),
        )
    }

    /// Ring and answer Bob's call, deliver our answer and let it go out.
    pub fn answer_bob(&mut self, ms: u64, call_id: &str) -> Vec<Output> {
        let mut out = self.ring_from_bob(ms, call_id);
        out.extend(self.cmd(ms, Command::Answer { call_id: None }));
        out.extend(self.media(ms, call_id, MediaInput::LocalAnswer("answer-sdp".into())));
        out.extend(self.run_until(ms + 200));
        out
    }
}

pub fn cand(n: u32) -> IceCandidate {
    IceCandidate {
        candidate: format!("candidate:{n} 1 udp 2122260223 192.0.2.{n} 5000{n} typ host"),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
    }
}

// ---- what came out -------------------------------------------------------------------------

pub fn sends(out: &[Output]) -> Vec<(&'static str, Value)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                event_type,
                content,
                ..
            } => Some((*event_type, content.clone())),
            _ => None,
        })
        .collect()
}

pub fn send_types(out: &[Output]) -> Vec<&'static str> {
    sends(out).into_iter().map(|(t, _)| t).collect()
}

pub fn events(out: &[Output]) -> Vec<CallEvent> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

pub fn actions(out: &[Output]) -> Vec<(String, MediaAction)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Media { call_id, action } => Some((call_id.clone(), action.clone())),
            _ => None,
        })
        .collect()
}

pub fn outcome(out: &[Output]) -> Option<Outcome> {
    events(out).into_iter().find_map(|e| match e {
        CallEvent::Ended { outcome, .. } => Some(outcome),
        _ => None,
    })
}

pub fn rang(out: &[Output]) -> bool {
    events(out)
        .iter()
        .any(|e| matches!(e, CallEvent::Ringing { .. }))
}

// ---- remote contents, as peers send them ---------------------------------------------------

fn base(call_id: &str, party: Option<&str>) -> Value {
    match party {
        Some(p) => json!({ "call_id": call_id, "party_id": p, "version": "1" }),
        None => json!({ "call_id": call_id, "version": 0 }),
    }
}

fn with(mut v: Value, extra: Value) -> Value {
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    v
}

/// An invite; `party: None` makes it version 0.
pub fn invite(call_id: &str, party: Option<&str>, lifetime: u64) -> Value {
    with(
        base(call_id, party),
        json!({ "lifetime": lifetime, "offer": { "type": "offer", "sdp": "v=0 remote offer" } }),
    )
}

pub fn answer(call_id: &str, party: Option<&str>) -> Value {
    with(
        base(call_id, party),
        json!({ "answer": { "type": "answer", "sdp": "v=0 remote answer" } }),
    )
}

pub fn candidates(call_id: &str, party: Option<&str>, list: Value) -> Value {
    with(base(call_id, party), json!({ "candidates": list }))
}

pub fn remote_cands(call_id: &str, party: Option<&str>) -> Value {
    candidates(
        call_id,
        party,
        json!([{ "candidate": "candidate:9 1 udp 1 198.51.100.9 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0 }]),
    )
}

pub fn hangup(call_id: &str, party: Option<&str>, reason: Option<&str>) -> Value {
    match reason {
        Some(r) => with(base(call_id, party), json!({ "reason": r })),
        None => base(call_id, party),
    }
}

pub fn reject(call_id: &str, party: &str) -> Value {
    base(call_id, Some(party))
}

pub fn select_answer(call_id: &str, party: &str, selected: &str) -> Value {
    with(
        base(call_id, Some(party)),
        json!({ "selected_party_id": selected }),
    )
}

pub fn negotiate(call_id: &str, party: &str, kind: &str, lifetime: u64) -> Value {
    with(
        base(call_id, Some(party)),
        json!({ "lifetime": lifetime, "description": { "type": kind, "sdp": format!("v=0 {kind}") } }),
    )
}
