//! Property test: random sequences of remote events (well-formed and malformed, from us, the
//! other member and a third user, under any state key), sync batch ends, commands, send results
//! (successes and every kind of failure, in any order), media failures, the other member leaving
//! the room, and clock jumps.
//!
//! Checked after every input: no panic; every membership we send parses back as ours under our
//! state key; `Ended` comes at most once per call; no deadline is left in the past after a
//! timeout. Checked at the end: after hanging up and letting every request succeed, the machine
//! is idle and every call that started has ended.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Value, json};

use super::tests::harness::{
    ALICE, ALICE_DEV, BOB, BOB_DEV, BOB_SFU, EVE, alice_config, ec_membership, key, ring, user,
};
use super::{
    Command, Event, Input, Output, Request, RequestId, Response, RtcCallMachine, SendError,
    decline, membership, notification,
};

const SENDERS: [&str; 3] = [ALICE, BOB, EVE];
const TYPES: [&str; 4] = [
    membership::EVENT_TYPE,
    notification::EVENT_TYPE,
    decline::EVENT_TYPE,
    "m.room.message",
];

#[derive(Debug, Clone)]
enum Content {
    Member {
        expires: Option<u64>,
        aged: u64,
    },
    Left,
    Ring {
        relate: usize,
        skew: i64,
        lifetime: u64,
    },
    Decline {
        relate: usize,
    },
    Garbage(Value),
}

#[derive(Debug, Clone)]
enum Op {
    Remote {
        sender: usize,
        ty: usize,
        /// 0: the sender's device key, 1: another device of the sender, 2: someone else's key,
        /// 3: no state key.
        key: usize,
        content: Content,
    },
    BatchEnd,
    PeerLeftRoom,
    Command(Command),
    /// Answer the `n`-th outstanding request: `None` succeeds.
    Result(usize, Option<SendError>),
    MediaFailed,
    Timeout,
}

fn garbage() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z.$@:]{0,6}".prop_map(Value::from),
        Just(json!("m.call")),
        Just(json!("")),
        Just(json!("ring")),
    ];
    leaf.prop_recursive(2, 16, 5, |inner| {
        let keys = prop_oneof![
            Just("application"),
            Just("call_id"),
            Just("device_id"),
            Just("focus_active"),
            Just("foci_preferred"),
            Just("expires"),
            Just("created_ts"),
            Just("notification_type"),
            Just("sender_ts"),
            Just("lifetime"),
            Just("m.relates_to"),
            Just("m.mentions"),
            Just("type"),
            Just("event_id"),
            Just("rel_type"),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        4 => (prop::option::of(prop_oneof![Just(14_400_000u64), 0u64..120_000]), prop_oneof![3 => Just(0u64), 1 => 0u64..20_000_000])
            .prop_map(|(expires, aged)| Content::Member { expires, aged }),
        2 => Just(Content::Left),
        4 => (0usize..8, prop_oneof![3 => -2_000i64..2_000, 1 => -100_000i64..100_000], prop_oneof![3 => Just(30_000u64), 1 => 0u64..200_000])
            .prop_map(|(relate, skew, lifetime)| Content::Ring { relate, skew, lifetime }),
        2 => (0usize..8).prop_map(|relate| Content::Decline { relate }),
        2 => garbage().prop_map(Content::Garbage),
    ]
}

fn remote() -> impl Strategy<Value = Op> {
    let sender = prop_oneof![1 => Just(0usize), 4 => Just(1usize), 1 => Just(2usize)];
    let key =
        prop_oneof![6 => Just(0usize), 1 => Just(1usize), 1 => Just(2usize), 2 => Just(3usize)];
    (sender, 0..TYPES.len(), key, content()).prop_map(|(sender, ty, key, content)| {
        // Mostly the type that fits the content.
        let ty = match &content {
            Content::Member { .. } | Content::Left if ty != 3 => 0,
            Content::Ring { .. } if ty != 3 => 1,
            Content::Decline { .. } if ty != 3 => 2,
            _ => ty,
        };
        Op::Remote {
            sender,
            ty,
            key,
            content,
        }
    })
}

fn send_error() -> impl Strategy<Value = SendError> {
    prop_oneof![
        (0u64..10_000).prop_map(|ms| SendError::RateLimited {
            retry_after: Some(Duration::from_millis(ms))
        }),
        Just(SendError::RateLimited { retry_after: None }),
        Just(SendError::NotFound),
        Just(SendError::Unsupported),
        (0u64..20_000).prop_map(|ms| SendError::MaxDelayExceeded {
            max_delay: Some(Duration::from_millis(ms))
        }),
        Just(SendError::MaxDelayExceeded { max_delay: None }),
        Just(SendError::Transient("502".into())),
        Just(SendError::LocalTimeout),
        Just(SendError::Other("M_FORBIDDEN".into())),
    ]
}

fn op() -> impl Strategy<Value = (u64, Op)> {
    let dt = prop_oneof![8 => 0u64..300, 4 => 0u64..6_000, 1 => 0u64..120_000];
    let command = prop_oneof![
        3 => Just(Command::Call),
        2 => Just(Command::Answer),
        1 => Just(Command::Decline),
        1 => Just(Command::Hangup),
    ];
    let result = (0usize..4, prop::option::weighted(0.25, send_error()));
    let op = prop_oneof![
        8 => remote(),
        5 => Just(Op::BatchEnd),
        1 => Just(Op::PeerLeftRoom),
        3 => command.prop_map(Op::Command),
        10 => result.prop_map(|(i, e)| Op::Result(i, e)),
        1 => Just(Op::MediaFailed),
        3 => Just(Op::Timeout),
    ];
    (dt, op)
}

/// The machine, the requests it is owed answers for, and what it said.
struct Run {
    m: RtcCallMachine,
    t0: Instant,
    now: u64,
    outstanding: VecDeque<(RequestId, Request)>,
    /// Event ids injected so far (memberships and rings relate to them).
    events: Vec<String>,
    next_id: u64,
    /// A call has started (ringing in, or a call command accepted) and not ended.
    live: bool,
    started: usize,
    ended: usize,
}

impl Run {
    fn at(&self) -> (Instant, u64) {
        (
            self.t0 + Duration::from_millis(self.now),
            super::tests::harness::BASE_MS + self.now,
        )
    }

    fn drain(&mut self) -> Result<(), TestCaseError> {
        while let Some(o) = self.m.poll_output() {
            match o {
                Output::Send { id, request } => {
                    if let Request::SendMembership { state_key, content } = &request {
                        prop_assert_eq!(state_key, &key(ALICE, ALICE_DEV));
                        if content != &json!({}) {
                            prop_assert!(
                                membership::parse(&user(ALICE), state_key, content).is_ok(),
                                "our membership does not parse: {}",
                                content
                            );
                        }
                    }
                    self.outstanding.push_back((id, request));
                }
                Output::Event(Event::Ringing { .. }) => {
                    prop_assert!(!self.live, "rings during a call");
                    self.live = true;
                    self.started += 1;
                }
                Output::Event(Event::Ended { .. }) => {
                    prop_assert!(self.live, "Ended without a call");
                    self.live = false;
                    self.ended += 1;
                }
                Output::Event(_) => {}
            }
        }
        Ok(())
    }

    fn input(&mut self, input: Input<'_>) -> Result<(), TestCaseError> {
        let is_command = matches!(input, Input::Command { .. });
        let starts = matches!(
            input,
            Input::Command {
                command: Command::Call | Command::Answer,
                ..
            }
        );
        let was_live = self.live;
        let r = self.m.handle_input(input);
        prop_assert!(r.is_ok() || is_command, "non-command input failed: {:?}", r);
        if starts && r.is_ok() && !was_live {
            self.live = true;
            self.started += 1;
        }
        self.drain()
    }

    fn answer(&mut self, i: usize, error: Option<SendError>) -> Result<(), TestCaseError> {
        if self.outstanding.is_empty() {
            return Ok(());
        }
        let i = i % self.outstanding.len();
        let Some((id, request)) = self.outstanding.remove(i) else {
            return Ok(());
        };
        self.next_id += 1;
        let result = match error {
            Some(e) => Err(e),
            None => Ok(match request {
                Request::SendDelayedLeave { .. } => {
                    Response::DelayId(format!("syd_{}", self.next_id))
                }
                Request::SendMembership { .. }
                | Request::SendNotification { .. }
                | Request::SendDecline { .. } => Response::EventId(format!("$r{}", self.next_id)),
                _ => Response::Empty,
            }),
        };
        let (now, now_ms) = self.at();
        self.input(Input::SendResult {
            now,
            now_ms,
            id,
            result,
        })
    }

    fn remote(
        &mut self,
        sender: usize,
        ty: usize,
        key_choice: usize,
        content: Content,
    ) -> Result<(), TestCaseError> {
        let sender_id = SENDERS[sender];
        let device = [ALICE_DEV, BOB_DEV, "EVEDEV"][sender];
        let state_key = match key_choice {
            0 => Some(key(sender_id, device)),
            1 => Some(key(sender_id, "OTHER")),
            2 => Some(key(SENDERS[(sender + 1) % 3], "X")),
            _ => None,
        };
        let (now, now_ms) = self.at();
        let pick = |i: usize, events: &Vec<String>| {
            events
                .iter()
                .rev()
                .nth(i % events.len().max(1))
                .cloned()
                .unwrap_or_else(|| "$none".to_owned())
        };
        let mut ts = now_ms;
        let value = match content {
            Content::Member { expires, aged } => {
                let mut c = ec_membership(device, sender_id, BOB_SFU);
                if let Some(e) = expires {
                    c["expires"] = json!(e);
                }
                ts = now_ms.saturating_sub(aged);
                c
            }
            Content::Left => json!({}),
            Content::Ring {
                relate,
                skew,
                lifetime,
            } => ring(
                &pick(relate, &self.events),
                now_ms.saturating_add_signed(skew),
                lifetime,
            ),
            Content::Decline { relate } => decline::content(&pick(relate, &self.events)),
            Content::Garbage(v) => v,
        };
        self.next_id += 1;
        let event_id = format!("$e{}", self.next_id);
        self.events.push(event_id.clone());
        let sender = user(sender_id);
        self.input(Input::Remote {
            now,
            now_ms,
            sender: &sender,
            event_type: TYPES[ty],
            event_id: &event_id,
            state_key: state_key.as_deref(),
            content: &value,
            origin_server_ts: ts,
        })
    }
}

fn run(ops: Vec<(u64, Op)>) -> Result<(), TestCaseError> {
    let mut r = Run {
        m: RtcCallMachine::new(alice_config()),
        t0: Instant::now(),
        now: 0,
        outstanding: VecDeque::new(),
        events: Vec::new(),
        next_id: 0,
        live: false,
        started: 0,
        ended: 0,
    };
    for (dt, op) in ops {
        r.now += dt;
        let (now, now_ms) = r.at();
        match op {
            Op::Remote {
                sender,
                ty,
                key,
                content,
            } => r.remote(sender, ty, key, content)?,
            Op::BatchEnd => r.input(Input::BatchEnd { now, now_ms })?,
            Op::PeerLeftRoom => r.input(Input::PeerLeftRoom { now, now_ms })?,
            Op::Command(command) => r.input(Input::Command {
                now,
                now_ms,
                command,
            })?,
            Op::Result(i, e) => r.answer(i, e)?,
            Op::MediaFailed => r.input(Input::MediaFailed {
                now,
                now_ms,
                reason: "gone".into(),
            })?,
            Op::Timeout => {
                r.input(Input::Timeout { now, now_ms })?;
                let (now, _) = r.at();
                prop_assert!(
                    r.m.poll_timeout().is_none_or(|t| t > now),
                    "deadline left in the past"
                );
            }
        }
    }
    // Hang up whatever is going on, let every request succeed, and follow the deadlines.
    for step in 0..20_000 {
        prop_assert!(step < 19_999, "the machine does not settle");
        if r.m.is_idle() {
            break;
        }
        let (now, now_ms) = r.at();
        if matches!(r.m.phase(), super::Phase::Ringing | super::Phase::InCall) {
            r.input(Input::Command {
                now,
                now_ms,
                command: Command::Hangup,
            })?;
            continue;
        }
        if !r.outstanding.is_empty() {
            r.answer(0, None)?;
            continue;
        }
        match r.m.poll_timeout() {
            Some(t) => {
                let ms = t.saturating_duration_since(r.t0).as_millis() as u64 + 1;
                r.now = r.now.max(ms);
                let (now, now_ms) = r.at();
                r.input(Input::Timeout { now, now_ms })?;
            }
            None => prop_assert!(
                false,
                "not idle, yet nothing to wait for: {:?}",
                r.m.phase()
            ),
        }
    }
    prop_assert!(r.m.is_idle());
    prop_assert!(!r.live, "a call never ended");
    prop_assert_eq!(r.started, r.ended);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_never_panic_and_every_call_ends(ops in prop::collection::vec(op(), 0..80)) {
        run(ops)?;
    }
}
