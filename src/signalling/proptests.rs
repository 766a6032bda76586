//! Property test: random sequences of remote events (well-formed and malformed, from random
//! senders, parties and call ids), commands, media reports, sync batch ends and clock jumps.
//! Checked after every input: no panic; every event we send carries call_id, our party_id and
//! version "1"; a call's terminal event (Ended or Replaced) comes once and nothing follows it;
//! no deadline is left in the past. Checked at the end: once media goes away and the clock
//! passes the longest lifetime plus the ICE and setup timeouts, every call is over and every
//! call the user heard of got its terminal event.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::tests::harness::{ALICE, ALICE_DEV, BOB, EVE, WALL0, alice_config, user};
use super::{
    CallEvent, CallMachine, Command, IceCandidate, Input, MediaAction, MediaInput, Output,
};

const CALL_IDS: [&str; 5] = ["a", "b", "c", "dd", "a b"];
const PARTIES: [Option<&str>; 5] = [
    None,
    Some(ALICE_DEV),
    Some("BOBDEV"),
    Some("TABLET"),
    Some(""),
];
const SENDERS: [&str; 3] = [ALICE, BOB, EVE];
const TYPES: [&str; 9] = [
    "m.call.invite",
    "m.call.answer",
    "m.call.candidates",
    "m.call.select_answer",
    "m.call.reject",
    "m.call.hangup",
    "m.call.negotiate",
    "m.call.sdp_stream_metadata_changed",
    "m.room.message",
];
const KEYS: [&str; 16] = [
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
];

#[derive(Debug, Clone)]
enum Op {
    /// `retarget`: aim the event at a live call (picked at run time), e.g. our own outgoing one.
    Remote {
        sender: usize,
        ty: usize,
        content: Value,
        age: u64,
        /// Whether the server sent `unsigned.age`; without it the age comes from
        /// `origin_server_ts`, here `age` before the wall clock.
        unsigned: bool,
        retarget: Option<usize>,
    },
    BatchEnd,
    PeerLeft,
    Command(Command),
    Media(bool, usize, MediaInput),
    /// A well-behaved media engine answers one of the media actions so far, so that calls get
    /// far (offers, answers, ICE connected) between the random noise.
    Engine(usize),
    Timeout,
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0..CALL_IDS.len()).prop_map(|i| Value::from(CALL_IDS[i])),
        "[a-z0-9 \\n]{0,8}".prop_map(Value::from),
        Just(json!("offer")),
        Just(json!("answer")),
        Just(json!(0)),
        Just(json!("1")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((0..KEYS.len(), inner), 0..6).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (KEYS[k].to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// Contents that mostly pass validation, so the machine's rules get exercised.
fn well_formed(ty: usize) -> impl Strategy<Value = Value> {
    let lifetime = prop_oneof![3 => Just(60_000u64), 3 => Just(90_000u64), 1 => 0u64..200_000];
    (0..CALL_IDS.len(), 0..PARTIES.len(), any::<bool>(), lifetime, 0..3usize, 0..4usize).prop_map(
        move |(c, p, v0, lifetime, sdp_kind, reason)| {
            let mut o = Map::new();
            o.insert("call_id".into(), json!(CALL_IDS[c]));
            if v0 {
                o.insert("version".into(), json!(0));
            } else {
                o.insert("version".into(), json!("1"));
                if let Some(p) = PARTIES[p] {
                    o.insert("party_id".into(), json!(p));
                }
            }
            let kind = ["offer", "answer", "bogus"][sdp_kind];
            let desc = json!({ "type": kind, "sdp": "v=0" });
            match TYPES[ty] {
                "m.call.invite" => {
                    o.insert("lifetime".into(), json!(lifetime));
                    o.insert("offer".into(), json!({ "type": "offer", "sdp": "v=0" }));
                }
                "m.call.answer" => {
                    o.insert("answer".into(), json!({ "type": "answer", "sdp": "v=0" }));
                }
                "m.call.candidates" => {
                    let list = match reason {
                        0 => json!([{ "candidate": "" }]),
                        1 => json!([{ "candidate": "candidate:1 1 udp 1 192.0.2.1 1 typ host", "sdpMid": "" , "sdpMLineIndex": 0 }]),
                        _ => json!([{ "candidate": "candidate:2 1 udp 1 192.0.2.2 2 typ host", "sdpMid": "0" }, { "candidate": "" }]),
                    };
                    o.insert("candidates".into(), list);
                }
                "m.call.select_answer" => {
                    o.insert("selected_party_id".into(), json!(PARTIES[p].unwrap_or(ALICE_DEV)));
                }
                "m.call.hangup" => {
                    let r = ["user_hangup", "ice_failed", "replaced", "whatever"][reason];
                    o.insert("reason".into(), json!(r));
                }
                "m.call.negotiate" => {
                    o.insert("lifetime".into(), json!(lifetime));
                    o.insert("description".into(), desc);
                }
                _ => {}
            }
            Value::Object(o)
        },
    )
}

fn remote() -> impl Strategy<Value = Op> {
    // Mostly the peer, mostly valid, mostly fresh: the rules need live calls to be exercised.
    let sender = prop_oneof![1 => Just(0usize), 3 => Just(1usize), 1 => Just(2usize)];
    let malformed = prop::bool::weighted(0.25);
    let age = prop_oneof![4 => 0u64..3_000, 1 => 0u64..150_000];
    let unsigned = prop::bool::weighted(0.8);
    let retarget = prop::option::weighted(0.5, 0usize..8);
    (sender, 0..TYPES.len(), malformed, age, unsigned, retarget).prop_flat_map(
        |(sender, ty, malformed, age, unsigned, retarget)| {
            let content = if malformed {
                any_json().boxed()
            } else {
                well_formed(ty).boxed()
            };
            content.prop_map(move |content| Op::Remote {
                sender,
                ty,
                content,
                age,
                unsigned,
                retarget,
            })
        },
    )
}

fn call_id() -> impl Strategy<Value = Option<String>> {
    prop::option::of((0..CALL_IDS.len()).prop_map(|i| CALL_IDS[i].to_owned()))
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        prop_oneof![Just("z"), Just("a"), Just("zz"), Just("0")].prop_map(|c| Command::Place {
            call_id: c.to_owned()
        }),
        call_id().prop_map(|call_id| Command::Answer { call_id }),
        Just(Command::Answer { call_id: None }),
        (call_id(), prop::option::of(Just("user_busy".to_owned())))
            .prop_map(|(call_id, reason)| Command::Hangup { call_id, reason }),
        (call_id(), prop::option::of(Just("user_busy".to_owned())))
            .prop_map(|(call_id, reason)| Command::Reject { call_id, reason }),
        (call_id(), any::<bool>()).prop_map(|(call_id, held)| Command::Hold { call_id, held }),
        (call_id(), any::<bool>()).prop_map(|(call_id, muted)| Command::Mute { call_id, muted }),
        call_id().prop_map(|call_id| Command::Dtmf {
            call_id,
            digits: "1#".to_owned()
        }),
    ]
}

fn media() -> impl Strategy<Value = Op> {
    let input = prop_oneof![
        Just(MediaInput::LocalOffer("v=0 local".into())),
        Just(MediaInput::LocalAnswer("v=0 local".into())),
        Just(MediaInput::LocalCandidate(IceCandidate {
            candidate: "candidate:3 1 udp 1 192.0.2.3 3 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        })),
        Just(MediaInput::GatheringComplete),
        Just(MediaInput::IceConnected),
        Just(MediaInput::IceDisconnected),
        Just(MediaInput::IceFailed),
        Just(MediaInput::Failed("gone".into())),
    ];
    // Mostly for a live call (picked at run time), sometimes for any id.
    (any::<bool>(), 0..CALL_IDS.len() + 4, input).prop_map(|(live, c, i)| Op::Media(live, c, i))
}

fn op() -> impl Strategy<Value = (u64, Op)> {
    let dt = prop_oneof![8 => 0u64..300, 4 => 0u64..5_000, 1 => 0u64..120_000];
    let op = prop_oneof![
        8 => remote(),
        4 => Just(Op::BatchEnd),
        1 => Just(Op::PeerLeft),
        3 => command().prop_map(Op::Command),
        8 => media(),
        8 => (0usize..8).prop_map(Op::Engine),
        3 => Just(Op::Timeout),
    ];
    (dt, op)
}

fn media_call_id(i: usize) -> String {
    CALL_IDS
        .get(i)
        .copied()
        .unwrap_or(["z", "a", "zz", "0"][i % 4])
        .to_owned()
}

/// Follows the outputs and checks the per-input invariants.
#[derive(Default)]
struct Observer {
    announced: HashSet<String>,
    terminal: HashMap<String, usize>,
    batch: usize,
    reactions: Vec<(String, MediaInput)>,
}

impl Observer {
    fn drain(&mut self, m: &mut CallMachine) -> Result<(), TestCaseError> {
        self.batch += 1;
        let mut ended_now = HashSet::new();
        while let Some(o) = m.poll_output() {
            let id = match &o {
                Output::Send {
                    call_id, content, ..
                } => {
                    prop_assert_eq!(&content["call_id"], &json!(call_id));
                    prop_assert_eq!(&content["party_id"], &json!(ALICE_DEV));
                    prop_assert_eq!(&content["version"], &json!("1"));
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
                    self.reactions
                        .extend(reaction.map(|r| (call_id.clone(), r)));
                    call_id.clone()
                }
                Output::Event(e) => {
                    let id = event_call_id(e).to_owned();
                    match e {
                        CallEvent::Ended { .. } | CallEvent::Replaced { .. } => {
                            prop_assert!(
                                self.terminal.insert(id.clone(), self.batch).is_none(),
                                "two terminal events for {}",
                                id
                            );
                            ended_now.insert(id.clone());
                        }
                        _ => {
                            self.announced.insert(id.clone());
                        }
                    }
                    id
                }
            };
            if let Some(b) = self.terminal.get(&id) {
                prop_assert!(
                    *b == self.batch,
                    "output for {} after its terminal event: {:?}",
                    id,
                    o
                );
            }
        }
        Ok(())
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

fn run(ops: Vec<(u64, Op)>) -> Result<(), TestCaseError> {
    let mut m = CallMachine::new(alice_config());
    let mut obs = Observer::default();
    let start = Instant::now();
    let mut now = start;
    for (dt, op) in ops {
        now += Duration::from_millis(dt);
        let result = match op {
            Op::Remote {
                sender,
                ty,
                mut content,
                age,
                unsigned,
                retarget,
            } => {
                let live: Vec<&str> = m.live_calls().collect();
                if let (Some(i), false, Some(obj)) =
                    (retarget, live.is_empty(), content.as_object_mut())
                {
                    obj.insert("call_id".into(), json!(live[i % live.len()]));
                }
                let sender = user(SENDERS[sender]);
                let now_ms = WALL0 + now.duration_since(start).as_millis() as u64;
                m.handle_input(Input::Remote {
                    now,
                    now_ms,
                    sender: &sender,
                    event_type: TYPES[ty],
                    content: &content,
                    age: unsigned.then(|| Duration::from_millis(age)),
                    origin_server_ts: now_ms - age,
                })
            }
            Op::BatchEnd => m.handle_input(Input::BatchEnd { now }),
            Op::PeerLeft => m.handle_input(Input::PeerLeft { now }),
            Op::Command(c) => {
                let place = matches!(&c, Command::Place { .. });
                let r = m.handle_input(Input::Command(now, c.clone()));
                if place
                    && r.is_ok()
                    && let Command::Place { call_id } = c
                {
                    obs.announced.insert(call_id);
                }
                let _ = r; // refused commands are fine
                Ok(())
            }
            Op::Media(live_pick, i, input) => {
                let live: Vec<&str> = m.live_calls().collect();
                let id = match live.len() {
                    n if n > 0 && live_pick => live[i % n].to_owned(),
                    _ => media_call_id(i),
                };
                m.handle_input(Input::Media(now, id, input))
            }
            Op::Engine(i) if !obs.reactions.is_empty() => {
                let (id, input) = obs.reactions.remove(i % obs.reactions.len());
                m.handle_input(Input::Media(now, id, input))
            }
            Op::Engine(_) => Ok(()),
            Op::Timeout => {
                let r = m.handle_input(Input::Timeout(now));
                prop_assert!(
                    m.poll_timeout().is_none_or(|t| t > now),
                    "deadline left in the past"
                );
                r
            }
        };
        prop_assert!(result.is_ok(), "non-command input failed: {:?}", result);
        obs.drain(&mut m)?;
    }
    // Media goes away, and the clock passes every lifetime (incoming ones are capped at 10 min,
    // ours are 90 s) plus the ICE give-up (30 s) and the media setup timeout (10 s).
    let live: Vec<String> = m.live_calls().map(str::to_owned).collect();
    for id in live {
        m.handle_input(Input::Media(now, id, MediaInput::IceDisconnected))
            .ok();
        obs.drain(&mut m)?;
    }
    let end = now + Duration::from_secs(10 * 60 + 1);
    let mut steps = 0;
    while let Some(t) = m.poll_timeout().filter(|t| *t <= end) {
        steps += 1;
        prop_assert!(steps < 10_000, "timers do not converge");
        m.handle_input(Input::Timeout(t)).ok();
        obs.drain(&mut m)?;
    }
    // No final `Timeout(end)`: the engine wakes the machine only at `poll_timeout`, so every
    // call must have ended through its own deadlines.
    prop_assert_eq!(
        m.live_calls().count(),
        0,
        "calls still live after every deadline"
    );
    prop_assert_eq!(m.poll_timeout(), None);
    for id in &obs.announced {
        prop_assert!(obs.terminal.contains_key(id), "call {} never ended", id);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_never_panic_and_every_call_ends(ops in prop::collection::vec(op(), 0..80)) {
        run(ops)?;
    }
}
