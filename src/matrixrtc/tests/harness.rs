//! A virtual clock, a fake homeserver and two machines wired to it.
//!
//! The server keeps the room's state and timeline and MSC4140 delayed events (with their
//! timers); every request a machine sends reaches it `latency` ms later, is applied then, and
//! its result goes straight back; every change reaches both machines' syncs `sync_delay` ms
//! later as one batch followed by `BatchEnd`. Faults can be injected per side and request kind.
//! A side can be killed: it gets no more inputs, and its delayed leave fires on the server.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use matrix_sdk::ruma::{OwnedUserId, UserId};
use serde_json::{Value, json};

use crate::matrixrtc::{
    Command, CommandError, Config, Event, Input, Outcome, Output, Phase, Request, RequestId,
    Response, RtcCallMachine, SendError, decline, membership, notification,
};

pub const ALICE: &str = "@alice:example.org";
pub const ALICE_DEV: &str = "ALICEDEV";
pub const BOB: &str = "@bob:example.org";
pub const BOB_DEV: &str = "BOBDEV";
pub const EVE: &str = "@eve:example.org";
pub const ROOM: &str = "!room:example.org";
pub const SFU: &str = "https://sfu.example.org";
pub const BOB_SFU: &str = "https://sfu.bob.example";
/// Unix ms at virtual time 0.
pub const BASE_MS: u64 = 1_800_000_000_000;

pub fn user(s: &str) -> OwnedUserId {
    UserId::parse(s).expect("test user id")
}

pub fn alice_config() -> Config {
    Config::new(user(ALICE), ALICE_DEV, user(BOB), ROOM, SFU)
}

pub fn bob_config() -> Config {
    Config::new(user(BOB), BOB_DEV, user(ALICE), ROOM, BOB_SFU)
}

/// Which kind of request a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    DelayedLeave,
    Restart,
    Cancel,
    SendNow,
    Join,
    Leave,
    Notification,
    Decline,
}

pub fn kind(r: &Request) -> Kind {
    match r {
        Request::SendDelayedLeave { .. } => Kind::DelayedLeave,
        Request::RestartDelayed { .. } => Kind::Restart,
        Request::CancelDelayed { .. } => Kind::Cancel,
        Request::SendDelayedNow { .. } => Kind::SendNow,
        Request::SendMembership { content, .. } if content == &json!({}) => Kind::Leave,
        Request::SendMembership { .. } => Kind::Join,
        Request::SendNotification { .. } => Kind::Notification,
        Request::SendDecline { .. } => Kind::Decline,
    }
}

/// A room event as the server stores it.
#[derive(Debug, Clone)]
pub struct Ev {
    pub sender: String,
    pub ty: String,
    pub event_id: String,
    pub state_key: Option<String>,
    pub content: Value,
    pub ts: u64,
}

struct Delayed {
    sender: String,
    state_key: String,
    delay: u64,
    fire_at: u64,
    generation: u64,
}

/// The fake homeserver.
pub struct Server {
    pub timeline: Vec<Ev>,
    pub state: BTreeMap<(String, String), Ev>,
    delayed: BTreeMap<String, Delayed>,
    next: u64,
    /// MSC4140 available (else `Unsupported` for every delayed-event request).
    pub delayed_events: bool,
    /// `max_event_delay_duration` in ms.
    pub max_delay: Option<u64>,
}

impl Server {
    fn new() -> Self {
        Server {
            timeline: Vec::new(),
            state: BTreeMap::new(),
            delayed: BTreeMap::new(),
            next: 0,
            delayed_events: true,
            max_delay: None,
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    /// Append an event (state if `state_key`) at Unix ms `ts`; returns its id.
    pub fn push(
        &mut self,
        sender: &str,
        ty: &str,
        state_key: Option<&str>,
        content: Value,
        ts: u64,
    ) -> String {
        let event_id = self.id("$ev");
        let ev = Ev {
            sender: sender.to_owned(),
            ty: ty.to_owned(),
            event_id: event_id.clone(),
            state_key: state_key.map(str::to_owned),
            content,
            ts,
        };
        if let Some(k) = state_key {
            self.state.insert((ty.to_owned(), k.to_owned()), ev.clone());
        }
        self.timeline.push(ev);
        event_id
    }

    pub fn member_content(&self, state_key: &str) -> Option<&Value> {
        self.state
            .get(&(membership::EVENT_TYPE.to_owned(), state_key.to_owned()))
            .map(|e| &e.content)
    }

    pub fn events_of(&self, ty: &str) -> Vec<&Ev> {
        self.timeline.iter().filter(|e| e.ty == ty).collect()
    }

    /// The server forgets every delayed event (a restart of a server that kept them in memory).
    pub fn lose_delayed_events(&mut self) {
        self.delayed.clear();
    }

    pub fn delayed_count(&self) -> usize {
        self.delayed.len()
    }
}

#[derive(Debug, Clone)]
enum Job {
    Request {
        side: usize,
        id: RequestId,
        request: Request,
    },
    Sync {
        side: usize,
    },
    Fire {
        delay_id: String,
        generation: u64,
    },
}

/// One machine and what it did.
pub struct Side {
    pub m: RtcCallMachine,
    pub user: String,
    pub alive: bool,
    /// Every output, in order, with the virtual ms it came out at.
    pub log: Vec<(u64, Output)>,
    cursor: usize,
    /// Injected failures: the next request of that kind fails so.
    pub faults: VecDeque<(Kind, SendError)>,
}

impl Side {
    pub fn events(&self) -> Vec<Event> {
        self.log
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Event(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn requests(&self) -> Vec<(u64, Request)> {
        self.log
            .iter()
            .filter_map(|(t, o)| match o {
                Output::Send { request, .. } => Some((*t, request.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn kinds(&self) -> Vec<Kind> {
        self.requests().iter().map(|(_, r)| kind(r)).collect()
    }

    pub fn outcome(&self) -> Option<Outcome> {
        self.events().into_iter().find_map(|e| match e {
            Event::Ended { outcome } => Some(outcome),
            _ => None,
        })
    }

    pub fn rang(&self) -> bool {
        self.events()
            .iter()
            .any(|e| matches!(e, Event::Ringing { .. }))
    }

    pub fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events().iter().filter(|e| f(e)).count()
    }

    /// When (virtual ms) the first event matching `f` came out.
    pub fn when(&self, f: impl Fn(&Event) -> bool) -> Option<u64> {
        self.log.iter().find_map(|(t, o)| match o {
            Output::Event(e) if f(e) => Some(*t),
            _ => None,
        })
    }
}

/// Two machines (Alice = 0, Bob = 1) and the server, on a virtual clock.
pub struct World {
    pub t0: Instant,
    /// Virtual time, ms since `t0`.
    pub now: u64,
    pub server: Server,
    pub sides: Vec<Side>,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    jobs: Vec<Option<Job>>,
    /// Request → applied + answered, ms.
    pub latency: u64,
    /// Server change → seen in both syncs, ms.
    pub sync_delay: u64,
}

pub const A: usize = 0;
pub const B: usize = 1;

impl World {
    pub fn new() -> Self {
        World::with(alice_config(), bob_config())
    }

    pub fn with(a: Config, b: Config) -> Self {
        let side = |cfg: Config| Side {
            user: cfg.own_user.to_string(),
            m: RtcCallMachine::new(cfg),
            alive: true,
            log: Vec::new(),
            cursor: 0,
            faults: VecDeque::new(),
        };
        World {
            t0: Instant::now(),
            now: 0,
            server: Server::new(),
            sides: vec![side(a), side(b)],
            queue: BinaryHeap::new(),
            jobs: Vec::new(),
            latency: 50,
            sync_delay: 150,
        }
    }

    pub fn instant(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    pub fn now_ms(&self) -> u64 {
        BASE_MS + self.now
    }

    fn schedule(&mut self, at: u64, job: Job) {
        let seq = self.jobs.len() as u64;
        self.jobs.push(Some(job));
        self.queue.push(Reverse((at, seq, seq as usize)));
    }

    fn changed(&mut self) {
        let at = self.now + self.sync_delay;
        for side in 0..self.sides.len() {
            self.schedule(at, Job::Sync { side });
        }
    }

    /// Feed `input` to a side and collect what comes out.
    fn feed(&mut self, side: usize, input: Input<'_>) -> Result<(), CommandError> {
        let r = self.sides[side].m.handle_input(input);
        self.collect(side);
        r
    }

    fn collect(&mut self, side: usize) {
        while let Some(o) = self.sides[side].m.poll_output() {
            if let Output::Send { id, request } = &o {
                let job = Job::Request {
                    side,
                    id: *id,
                    request: request.clone(),
                };
                self.schedule(self.now + self.latency, job);
            }
            let now = self.now;
            self.sides[side].log.push((now, o));
        }
    }

    /// A command at the current time.
    pub fn try_cmd(&mut self, side: usize, c: Command) -> Result<(), CommandError> {
        let (now, now_ms) = (self.instant(self.now), self.now_ms());
        self.feed(
            side,
            Input::Command {
                now,
                now_ms,
                command: c,
            },
        )
    }

    pub fn cmd(&mut self, side: usize, c: Command) {
        if let Err(e) = self.try_cmd(side, c) {
            panic!("{c:?} failed: {e}");
        }
    }

    /// Run everything up to virtual time `end` ms.
    pub fn run_until(&mut self, end: u64) {
        for _ in 0..1_000_000 {
            let job_at = self.queue.peek().map(|Reverse((t, _, _))| *t);
            let (machine_at, machine) = self.next_machine_deadline();
            let next = match (job_at, machine_at) {
                (Some(j), Some(m)) => j.min(m),
                (j, m) => match j.or(m) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            if job_at == Some(next) {
                let Reverse((_, _, idx)) = self.queue.pop().expect("job");
                if let Some(job) = self.jobs[idx].take() {
                    self.run_job(job);
                }
            } else if let Some(side) = machine {
                let (now, now_ms) = (self.instant(self.now), self.now_ms());
                self.feed(side, Input::Timeout { now, now_ms })
                    .expect("timeout");
            }
        }
        self.now = self.now.max(end);
    }

    /// Advance by `ms`.
    pub fn run_for(&mut self, ms: u64) {
        let end = self.now + ms;
        self.run_until(end);
    }

    fn next_machine_deadline(&self) -> (Option<u64>, Option<usize>) {
        let mut best: (Option<u64>, Option<usize>) = (None, None);
        for (i, s) in self.sides.iter().enumerate() {
            if !s.alive {
                continue;
            }
            if let Some(t) = s.m.poll_timeout() {
                let d = t.saturating_duration_since(self.t0);
                // Round up: the machine must be woken at or after its deadline.
                let ms = d.as_millis() as u64 + u64::from(d.subsec_nanos() % 1_000_000 != 0);
                let ms = ms.max(self.now);
                if best.0.is_none_or(|b| ms < b) {
                    best = (Some(ms), Some(i));
                }
            }
        }
        best
    }

    fn run_job(&mut self, job: Job) {
        match job {
            Job::Sync { side } => self.sync(side),
            Job::Fire {
                delay_id,
                generation,
            } => {
                let fire = self
                    .server
                    .delayed
                    .get(&delay_id)
                    .is_some_and(|d| d.generation == generation);
                if fire && let Some(d) = self.server.delayed.remove(&delay_id) {
                    let ts = self.now_ms();
                    self.server.push(
                        &d.sender,
                        membership::EVENT_TYPE,
                        Some(&d.state_key),
                        json!({}),
                        ts,
                    );
                    self.changed();
                }
            }
            Job::Request { side, id, request } => {
                if !self.sides[side].alive {
                    return;
                }
                let k = kind(&request);
                let fault = self.sides[side]
                    .faults
                    .iter()
                    .position(|(fk, _)| *fk == k)
                    .and_then(|i| self.sides[side].faults.remove(i));
                let result = match fault {
                    Some((_, e)) => Err(e),
                    None => self.apply(side, request),
                };
                let (now, now_ms) = (self.instant(self.now), self.now_ms());
                self.feed(
                    side,
                    Input::SendResult {
                        now,
                        now_ms,
                        id,
                        result,
                    },
                )
                .expect("send result");
            }
        }
    }

    /// The server carries out a request.
    fn apply(&mut self, side: usize, request: Request) -> Result<Response, SendError> {
        let sender = self.sides[side].user.clone();
        let ts = self.now_ms();
        let delayed_op = matches!(
            request,
            Request::SendDelayedLeave { .. }
                | Request::RestartDelayed { .. }
                | Request::CancelDelayed { .. }
                | Request::SendDelayedNow { .. }
        );
        if delayed_op && !self.server.delayed_events {
            return Err(SendError::Unsupported);
        }
        match request {
            Request::SendDelayedLeave { state_key, delay } => {
                let delay = delay.as_millis() as u64;
                if let Some(max) = self.server.max_delay
                    && delay > max
                {
                    return Err(SendError::MaxDelayExceeded {
                        max_delay: Some(Duration::from_millis(max)),
                    });
                }
                let delay_id = self.server.id("syd_");
                let fire_at = self.now + delay;
                self.server.delayed.insert(
                    delay_id.clone(),
                    Delayed {
                        sender,
                        state_key,
                        delay,
                        fire_at,
                        generation: 0,
                    },
                );
                self.schedule(
                    fire_at,
                    Job::Fire {
                        delay_id: delay_id.clone(),
                        generation: 0,
                    },
                );
                Ok(Response::DelayId(delay_id))
            }
            Request::RestartDelayed { delay_id } => {
                let now = self.now;
                let Some(d) = self.server.delayed.get_mut(&delay_id) else {
                    return Err(SendError::NotFound);
                };
                d.generation += 1;
                d.fire_at = now + d.delay;
                let job = Job::Fire {
                    delay_id,
                    generation: d.generation,
                };
                let at = d.fire_at;
                self.schedule(at, job);
                Ok(Response::Empty)
            }
            Request::CancelDelayed { delay_id } => match self.server.delayed.remove(&delay_id) {
                Some(_) => Ok(Response::Empty),
                None => Err(SendError::NotFound),
            },
            Request::SendDelayedNow { delay_id } => match self.server.delayed.remove(&delay_id) {
                Some(d) => {
                    self.server.push(
                        &d.sender,
                        membership::EVENT_TYPE,
                        Some(&d.state_key),
                        json!({}),
                        ts,
                    );
                    self.changed();
                    Ok(Response::Empty)
                }
                None => Err(SendError::NotFound),
            },
            Request::SendMembership { state_key, content } => {
                let id = self.server.push(
                    &sender,
                    membership::EVENT_TYPE,
                    Some(&state_key),
                    content,
                    ts,
                );
                self.changed();
                Ok(Response::EventId(id))
            }
            Request::SendNotification { content } => {
                let id = self
                    .server
                    .push(&sender, notification::EVENT_TYPE, None, content, ts);
                self.changed();
                Ok(Response::EventId(id))
            }
            Request::SendDecline { content } => {
                let id = self
                    .server
                    .push(&sender, decline::EVENT_TYPE, None, content, ts);
                self.changed();
                Ok(Response::EventId(id))
            }
        }
    }

    /// Deliver a side's new timeline events as one batch.
    fn sync(&mut self, side: usize) {
        if !self.sides[side].alive {
            return;
        }
        let from = self.sides[side].cursor;
        let events: Vec<Ev> = self.server.timeline[from..].to_vec();
        if events.is_empty() {
            return;
        }
        self.sides[side].cursor = self.server.timeline.len();
        let (now, now_ms) = (self.instant(self.now), self.now_ms());
        for ev in &events {
            let sender = user(&ev.sender);
            self.feed(
                side,
                Input::Remote {
                    now,
                    now_ms,
                    sender: &sender,
                    event_type: &ev.ty,
                    event_id: &ev.event_id,
                    state_key: ev.state_key.as_deref(),
                    content: &ev.content,
                    origin_server_ts: ev.ts,
                },
            )
            .expect("remote");
        }
        self.feed(side, Input::BatchEnd { now, now_ms })
            .expect("batch end");
    }

    /// An event written to the room by someone outside the machines (a js peer, a third user),
    /// at the current time; both syncs see it.
    pub fn inject(
        &mut self,
        sender: &str,
        ty: &str,
        state_key: Option<&str>,
        content: Value,
    ) -> String {
        let ts = self.now_ms();
        let id = self.server.push(sender, ty, state_key, content, ts);
        self.changed();
        id
    }

    /// As `inject`, with an `origin_server_ts` of the caller's choosing.
    pub fn inject_at(
        &mut self,
        sender: &str,
        ty: &str,
        state_key: Option<&str>,
        content: Value,
        ts: u64,
    ) -> String {
        let id = self.server.push(sender, ty, state_key, content, ts);
        self.changed();
        id
    }

    /// The process of a side is killed: no more inputs, its requests are lost.
    pub fn kill(&mut self, side: usize) {
        self.sides[side].alive = false;
    }

    /// The other member left the room, as `side` sees it.
    pub fn peer_left_room(&mut self, side: usize) {
        let (now, now_ms) = (self.instant(self.now), self.now_ms());
        self.feed(side, Input::PeerLeftRoom { now, now_ms })
            .expect("peer left");
    }

    pub fn media_failed(&mut self, side: usize) {
        let (now, now_ms) = (self.instant(self.now), self.now_ms());
        self.feed(
            side,
            Input::MediaFailed {
                now,
                now_ms,
                reason: "ice failed".into(),
            },
        )
        .expect("media failed");
    }

    pub fn phase(&self, side: usize) -> Phase {
        self.sides[side].m.phase()
    }

    /// Alice calls, Bob rings and answers; both are in the call when this returns.
    pub fn connected_call(&mut self) {
        self.cmd(A, Command::Call);
        self.run_for(2_000);
        assert!(self.sides[B].rang(), "bob did not ring");
        self.cmd(B, Command::Answer);
        self.run_for(2_000);
        assert!(peer_joined(&self.sides[A]), "alice has no peer");
        assert!(peer_joined(&self.sides[B]), "bob has no peer");
    }
}

pub fn peer_joined(s: &Side) -> bool {
    s.events()
        .iter()
        .any(|e| matches!(e, Event::PeerJoined { .. }))
}

// ---- contents as other clients write them ----------------------------------------------------

/// A membership as Element Call (js-sdk) writes it.
pub fn ec_membership(device: &str, sender: &str, sfu: &str) -> Value {
    json!({
        "application": "m.call",
        "call_id": "",
        "scope": "m.room",
        "device_id": device,
        "membershipID": format!("{sender}:{device}"),
        "expires": 14_400_000,
        "m.call.intent": "audio",
        "focus_active": { "type": "livekit", "focus_selection": "multi_sfu" },
        "foci_preferred": [{ "livekit_alias": ROOM, "type": "livekit", "livekit_service_url": sfu }],
    })
}

pub fn key(user_id: &str, device: &str) -> String {
    format!("_{user_id}_{device}_m.call")
}

/// A ring as js-sdk sends it.
pub fn ring(membership_event_id: &str, sender_ts: u64, lifetime: u64) -> Value {
    json!({
        "m.mentions": { "user_ids": [], "room": true },
        "notification_type": "ring",
        "m.relates_to": { "event_id": membership_event_id, "rel_type": "m.reference" },
        "sender_ts": sender_ts,
        "lifetime": lifetime,
        "m.call.intent": "audio",
    })
}

/// Bob's Element Call joins the room's session (no ring); returns the event id.
pub fn bob_joins(w: &mut World) -> String {
    w.inject(
        BOB,
        membership::EVENT_TYPE,
        Some(&key(BOB, BOB_DEV)),
        ec_membership(BOB_DEV, BOB, BOB_SFU),
    )
}

/// Bob's Element Call joins and rings now; returns (membership id, notification id).
pub fn bob_rings(w: &mut World) -> (String, String) {
    let m = bob_joins(w);
    let now_ms = w.now_ms();
    let n = w.inject(
        BOB,
        notification::EVENT_TYPE,
        None,
        ring(&m, now_ms, 30_000),
    );
    (m, n)
}

impl World {
    /// Alice's machine alone: Bob is played by injected events (Element Call / Element X).
    pub fn solo() -> Self {
        let mut w = World::new();
        w.kill(B);
        w
    }
}
