//! Machines wired together through an emulated room (every event reaches every device, the
//! sender's own included, after a sync latency) and a fake media engine that "connects" a call
//! once the caller applies an answer. Whole calls between mxcall instances, in microseconds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use matrix_sdk::ruma::OwnedUserId;
use serde_json::Value;

use super::harness::*;
use crate::signalling::{
    CallEvent, CallMachine, Command, Config, Input, MediaAction, MediaInput, Outcome, Output,
};

#[derive(Clone, Copy, PartialEq)]
enum OnRing {
    Answer,
    Reject,
    Ignore,
}

/// Per call: local description set, remote description set.
type FakePc = (bool, bool);

struct Device {
    m: CallMachine,
    user: OwnedUserId,
    on_ring: OnRing,
    pcs: BTreeMap<String, FakePc>,
    events: Vec<CallEvent>,
}

enum Due {
    Media(usize, String, MediaInput),
    Command(usize, Command),
}

struct Room {
    t0: Instant,
    now: Instant,
    latency: Duration,
    devices: Vec<Device>,
    /// (deliver at, sender device, type, content)
    wire: Vec<(Instant, usize, &'static str, Value)>,
    due: Vec<(Instant, Due)>,
}

impl Room {
    fn new(latency_ms: u64) -> Self {
        let t0 = Instant::now();
        Room {
            t0,
            now: t0,
            latency: Duration::from_millis(latency_ms),
            devices: Vec::new(),
            wire: Vec::new(),
            due: Vec::new(),
        }
    }

    fn add(&mut self, own: &str, party: &str, peer: &str, on_ring: OnRing) -> usize {
        let cfg = Config::new(user(own), party, user(peer));
        self.devices.push(Device {
            m: CallMachine::new(cfg),
            user: user(own),
            on_ring,
            pcs: BTreeMap::new(),
            events: Vec::new(),
        });
        self.devices.len() - 1
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn command_at(&mut self, ms: u64, dev: usize, c: Command) {
        let at = self.at(ms);
        self.due.push((at, Due::Command(dev, c)));
    }

    fn input(&mut self, dev: usize, input: Input<'_>) {
        let _ = self.devices[dev].m.handle_input(input);
        self.drain(dev);
    }

    fn drain(&mut self, dev: usize) {
        let now = self.now;
        while let Some(o) = self.devices[dev].m.poll_output() {
            match o {
                Output::Send {
                    event_type,
                    content,
                    ..
                } => self
                    .wire
                    .push((now + self.latency, dev, event_type, content)),
                Output::Media { call_id, action } => self.fake_media(dev, call_id, action),
                Output::Event(e) => {
                    if let CallEvent::Ringing { call_id, .. } = &e {
                        let call_id = Some(call_id.clone());
                        let c = match self.devices[dev].on_ring {
                            OnRing::Answer => Some(Command::Answer { call_id }),
                            OnRing::Reject => Some(Command::Reject {
                                call_id,
                                reason: None,
                            }),
                            OnRing::Ignore => None,
                        };
                        // The user takes a moment.
                        if let Some(c) = c {
                            self.due
                                .push((now + Duration::from_millis(300), Due::Command(dev, c)));
                        }
                    }
                    self.devices[dev].events.push(e);
                }
            }
        }
    }

    fn fake_media(&mut self, dev: usize, call_id: String, action: MediaAction) {
        let at = self.now + Duration::from_millis(20);
        let pcs = &mut self.devices[dev].pcs;
        let pc = pcs.entry(call_id.clone()).or_default();
        let reply = match action {
            MediaAction::SetMuted(_) | MediaAction::SendDtmf(_) => None,
            MediaAction::CreateOffer | MediaAction::IceRestart | MediaAction::HoldOffer(_) => {
                pc.0 = true;
                Some(MediaInput::LocalOffer(format!("offer {call_id}")))
            }
            MediaAction::AcceptOffer(_) => {
                (pc.0, pc.1) = (true, true);
                Some(MediaInput::LocalAnswer(format!(
                    "answer {call_id} from {dev}"
                )))
            }
            MediaAction::AcceptAnswer(sdp) => {
                // The caller applies one device's answer: those two connect.
                pc.1 = true;
                let from = sdp.rsplit(' ').next().and_then(|n| n.parse::<usize>().ok());
                for d in [Some(dev), from].into_iter().flatten() {
                    let connected = MediaInput::IceConnected;
                    self.due.push((
                        at + Duration::from_millis(100),
                        Due::Media(d, call_id.clone(), connected),
                    ));
                }
                None
            }
            MediaAction::AddRemoteCandidates { .. } => None,
            MediaAction::Close => {
                pcs.remove(&call_id);
                None
            }
        };
        if let Some(reply) = reply {
            let gathered = MediaInput::LocalCandidate(cand(1));
            self.due.push((at, Due::Media(dev, call_id.clone(), reply)));
            self.due.push((
                at + Duration::from_millis(50),
                Due::Media(dev, call_id.clone(), gathered),
            ));
            let done = at + Duration::from_millis(400);
            self.due.push((
                done,
                Due::Media(dev, call_id, MediaInput::GatheringComplete),
            ));
        }
    }

    fn run_until(&mut self, ms: u64) {
        let end = self.at(ms);
        while self.now < end {
            self.now += Duration::from_millis(10);
            let now = self.now;
            // One sync batch per device per tick: everything that arrived.
            let (arrived, rest): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|w| w.0 <= now);
            self.wire = rest;
            for dev in 0..self.devices.len() {
                for (_, _from, ty, content) in &arrived {
                    let sender = self.devices[*_from].user.clone();
                    let now_ms = WALL0 + now.duration_since(self.t0).as_millis() as u64;
                    let input = Input::Remote {
                        now,
                        now_ms,
                        sender: &sender,
                        event_type: ty,
                        content,
                        age: Some(self.latency),
                        origin_server_ts: now_ms - self.latency.as_millis() as u64,
                    };
                    self.input(dev, input);
                }
                self.input(dev, Input::BatchEnd { now });
            }
            let (due, rest): (Vec<_>, Vec<_>) = self.due.drain(..).partition(|d| d.0 <= now);
            self.due = rest;
            for (_, d) in due {
                match d {
                    Due::Media(dev, id, m) => self.input(dev, Input::Media(now, id, m)),
                    Due::Command(dev, c) => self.input(dev, Input::Command(now, c)),
                }
            }
            for dev in 0..self.devices.len() {
                self.input(dev, Input::Timeout(now));
            }
        }
    }

    fn outcomes(&self, dev: usize) -> Vec<(String, Outcome)> {
        self.devices[dev]
            .events
            .iter()
            .filter_map(|e| match e {
                CallEvent::Ended { call_id, outcome } => Some((call_id.clone(), *outcome)),
                _ => None,
            })
            .collect()
    }

    fn connected(&self, dev: usize) -> Vec<String> {
        self.devices[dev]
            .events
            .iter()
            .filter_map(|e| match e {
                CallEvent::Connected { call_id } => Some(call_id.clone()),
                _ => None,
            })
            .collect()
    }
}

fn alice_and_bob(latency_ms: u64, bob_on_ring: OnRing) -> (Room, usize, usize) {
    let mut room = Room::new(latency_ms);
    let a = room.add(ALICE, ALICE_DEV, BOB, OnRing::Ignore);
    let b = room.add(BOB, BOB_DEV, ALICE, bob_on_ring);
    (room, a, b)
}

#[test]
fn alice_calls_bob_he_answers_she_hangs_up() {
    let (mut room, a, b) = alice_and_bob(80, OnRing::Answer);
    room.command_at(
        0,
        a,
        Command::Place {
            call_id: "call-1".into(),
        },
    );
    room.command_at(
        3000,
        a,
        Command::Hangup {
            call_id: None,
            reason: None,
        },
    );
    room.run_until(4000);
    assert_eq!(room.connected(a), ["call-1"]);
    assert_eq!(room.connected(b), ["call-1"]);
    assert_eq!(room.outcomes(a), [("call-1".into(), Outcome::Completed)]);
    assert_eq!(room.outcomes(b), [("call-1".into(), Outcome::Completed)]);
    assert!(room.devices[b].events.contains(&CallEvent::Hangup {
        call_id: "call-1".into(),
        reason: "user_hangup".into(),
        by: crate::signalling::Party::Remote,
    }));
}

#[test]
fn bob_declines() {
    let (mut room, a, b) = alice_and_bob(80, OnRing::Reject);
    room.command_at(
        0,
        a,
        Command::Place {
            call_id: "call-1".into(),
        },
    );
    room.run_until(2000);
    assert_eq!(room.outcomes(a), [("call-1".into(), Outcome::Declined)]);
    assert_eq!(room.outcomes(b), [("call-1".into(), Outcome::Declined)]);
}

#[test]
fn nobody_answers() {
    let (mut room, a, b) = alice_and_bob(80, OnRing::Ignore);
    room.command_at(
        0,
        a,
        Command::Place {
            call_id: "call-1".into(),
        },
    );
    room.run_until(95_000);
    assert_eq!(room.outcomes(a), [("call-1".into(), Outcome::NoAnswer)]);
    assert_eq!(room.outcomes(b), [("call-1".into(), Outcome::NoAnswer)]);
}

#[test]
fn glare_leaves_exactly_one_call_on_both_sides() {
    // (latency ms, Alice's delay ms, Bob's delay ms): crossing after both invites were sent, and
    // Bob's invite reaching Alice while she still prepares hers.
    for (latency, a_at, b_at) in [
        (80, 0, 0),
        (400, 0, 0),
        (80, 0, 150),
        (80, 150, 0),
        (500, 0, 400),
    ] {
        let (mut room, a, b) = alice_and_bob(latency, OnRing::Ignore);
        room.command_at(
            a_at,
            a,
            Command::Place {
                call_id: "call-alice".into(),
            },
        );
        room.command_at(
            b_at,
            b,
            Command::Place {
                call_id: "call-bob".into(),
            },
        );
        room.command_at(
            5000,
            a,
            Command::Hangup {
                call_id: None,
                reason: None,
            },
        );
        room.run_until(7000);
        let what = format!("latency {latency}, alice at {a_at}, bob at {b_at}");
        let (ca, cb) = (room.connected(a), room.connected(b));
        assert_eq!(ca.len(), 1, "{what}: {:?}", room.devices[a].events);
        assert_eq!(ca, cb, "{what}");
        assert_eq!(
            room.outcomes(a),
            [(ca[0].clone(), Outcome::Completed)],
            "{what}"
        );
        assert_eq!(
            room.outcomes(b),
            [(ca[0].clone(), Outcome::Completed)],
            "{what}"
        );
        // The loser was replaced, not ended, on the side that placed it.
        let replaced = |dev: usize| {
            room.devices[dev]
                .events
                .iter()
                .any(|e| matches!(e, CallEvent::Replaced { .. }))
        };
        assert!(replaced(a) || replaced(b), "{what}");
    }
}

#[test]
fn two_devices_answer_one_wins_the_other_ends_answered_elsewhere() {
    let mut room = Room::new(80);
    let a = room.add(ALICE, ALICE_DEV, BOB, OnRing::Ignore);
    let b1 = room.add(BOB, "BOBLAPTOP", ALICE, OnRing::Answer);
    let b2 = room.add(BOB, "BOBPHONE", ALICE, OnRing::Answer);
    room.command_at(
        0,
        a,
        Command::Place {
            call_id: "call-1".into(),
        },
    );
    room.command_at(
        4000,
        a,
        Command::Hangup {
            call_id: None,
            reason: None,
        },
    );
    room.run_until(5000);
    assert_eq!(room.connected(a), ["call-1"]);
    let mut bobs = [room.outcomes(b1), room.outcomes(b2)];
    bobs.sort_by_key(|o| o.first().map(|(_, o)| o.exit_code()));
    assert_eq!(
        bobs,
        [
            vec![("call-1".to_owned(), Outcome::Completed)],
            vec![("call-1".to_owned(), Outcome::AnsweredElsewhere)]
        ]
    );
}
