//! Adaptive jitter buffer: owns the reordering of received RTP audio packets and the decision,
//! once per 20 ms playout tick, of what the decoder gets — a packet, a FEC recovery from the next
//! packet, or a concealment request.
//!
//! It does no I/O and never reads the clock: arrival instants are passed in by the caller and
//! every [`JitterBuffer::pop`] is one tick of the caller's playout clock, so the tests drive it
//! with a virtual clock.
//!
//! How it adapts:
//! - **Starts small**: playout begins as soon as `target` (initially `min_frames`, 1) frames are
//!   buffered.
//! - **Grows**: an underrun (nothing buffered at a tick) stalls playout for a tick instead of
//!   skipping, which adds one frame of delay exactly when the network needed it; and `target`
//!   follows the measured arrival spread, so a missing head packet is waited for (not declared
//!   lost) while fewer than `target` frames are buffered.
//! - **Shrinks back**: when the buffer has held at least two frames more than `target` for
//!   `shrink_after` ticks in a row, one frame is dropped; `target` falls once the jittery
//!   arrivals leave the measurement window.
//!
//! Concealment is bounded: a missing packet is concealed while it may still come, but once
//! playout pauses to re-buffer (the sender hung up, paused, or the network is down) the ticks
//! are silence. Opus concealment only extrapolates the last frames; run for longer it turns
//! into a buzz of the last pitch and noise, which is not what the other side said.
//!
//! Payloads are copied into fixed slots, so steady-state operation allocates nothing.

use std::time::Instant;

/// Number of packet slots; also the furthest a packet may run ahead of the playout point
/// before the buffer treats the stream as restarted.
pub const SLOTS: usize = 64;
/// Largest payload accepted (an Opus packet is at most 1275 bytes per frame).
pub const MAX_PAYLOAD: usize = 1500;
/// Consecutive underrun ticks after which playout pauses and re-buffers to `target`.
const REBUFFER_AFTER: u32 = 5;

/// Tuning of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy)]
pub struct JitterConfig {
    /// The smallest target depth, in frames (the starting depth).
    pub min_frames: usize,
    /// The largest target depth; a backlog beyond it is dropped at once.
    pub max_frames: usize,
    /// Duration of one frame (one packet, one tick), in milliseconds.
    pub frame_ms: f64,
    /// RTP clock rate of the payload.
    pub clock_rate: u32,
    /// How many recent arrivals the jitter measurement looks at (100 = 2 s of 20 ms packets).
    pub window: usize,
    /// Ticks with a backlog of `target + 2` or more before one frame is dropped.
    pub shrink_after: u32,
    /// Arrival spread (ms) tolerated without raising the target above `min_frames`.
    pub spread_slack_ms: f64,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            min_frames: 1,
            max_frames: 12,
            frame_ms: 20.0,
            clock_rate: 48_000,
            window: 100,
            shrink_after: 25,
            spread_slack_ms: 3.0,
        }
    }
}

/// What the decoder is to do for one playout tick.
#[derive(Debug, PartialEq, Eq)]
pub enum Playout<'a> {
    /// Nothing received yet, or playout paused for lack of packets: play silence, not
    /// concealment.
    Idle,
    /// Decode this packet.
    Packet(&'a [u8]),
    /// The packet for this tick is lost; decode the FEC data carried by this (next) packet.
    Fec(&'a [u8]),
    /// Nothing to decode: ask the decoder for packet-loss concealment.
    Conceal,
}

impl Playout<'_> {
    /// The same decision with its packet copied into `buf` (at least [`MAX_PAYLOAD`] long), for
    /// a caller that decodes after releasing the lock the receiver needs.
    pub fn copied_into(self, buf: &mut [u8]) -> Playout<'_> {
        let mut copy = |p: &[u8]| {
            buf[..p.len()].copy_from_slice(p);
            p.len()
        };
        match self {
            Playout::Idle => Playout::Idle,
            Playout::Conceal => Playout::Conceal,
            Playout::Packet(p) => {
                let n = copy(p);
                Playout::Packet(&buf[..n])
            }
            Playout::Fec(p) => {
                let n = copy(p);
                Playout::Fec(&buf[..n])
            }
        }
    }
}

/// What happened to a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Accepted,
    /// Already buffered.
    Duplicate,
    /// Its tick has passed (or it was already played).
    Late,
    /// Ran too far ahead of the playout point: the buffer was flushed and restarted with it.
    Reset,
    /// Larger than [`MAX_PAYLOAD`]; dropped.
    TooLarge,
}

/// Counters and current state, for `MediaStats` and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    pub received: u64,
    pub duplicates: u64,
    pub late: u64,
    /// Packets never played: declared lost at their tick (recovered by FEC or concealed).
    pub lost: u64,
    pub fec_recovered: u64,
    /// Ticks answered with `Conceal` (losses, late packets, the first underrun ticks).
    pub concealed: u64,
    pub underruns: u64,
    /// Frames dropped to shrink the delay or to cut an overflowing backlog.
    pub dropped: u64,
    /// Restarts at a packet too far ahead of the playout point (`PushOutcome::Reset`).
    pub resets: u64,
    /// Restarts for a new stream ([`JitterBuffer::restart`]).
    pub restarts: u64,
    pub target_frames: usize,
    pub depth_frames: usize,
    /// RFC 3550 interarrival jitter, in milliseconds.
    pub jitter_ms: f64,
}

struct Slot {
    seq: u64,
    filled: bool,
    len: usize,
    data: [u8; MAX_PAYLOAD],
}

/// See the module documentation.
pub struct JitterBuffer {
    cfg: JitterConfig,
    slots: Box<[Slot]>,
    /// Next extended sequence number to play; `None` until the first packet (or after a reset).
    next: Option<u64>,
    highest: Option<u64>,
    last_played: Option<u64>,
    playing: bool,
    has_played: bool,
    underrun_run: u32,
    over_run: u32,
    target: usize,
    /// Set when playout paused for lack of packets: the next arrival starts a fresh timing
    /// baseline, since a sender pause (hold, mute without DTX timestamps) is not jitter.
    rebase_timing: bool,
    // jitter measurement
    epoch: Option<Instant>,
    last_seq_ext: Option<u64>,
    ts_ext_last: Option<i64>,
    ts_base: i64,
    last_transit: Option<f64>,
    transits: Box<[f64]>,
    transit_count: usize,
    transit_idx: usize,
    stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(cfg: JitterConfig) -> Self {
        let cfg = JitterConfig {
            min_frames: cfg.min_frames.max(1),
            max_frames: cfg.max_frames.clamp(cfg.min_frames.max(1), SLOTS / 2),
            window: cfg.window.max(1),
            ..cfg
        };
        let slots = (0..SLOTS)
            .map(|_| Slot {
                seq: 0,
                filled: false,
                len: 0,
                data: [0; MAX_PAYLOAD],
            })
            .collect();
        JitterBuffer {
            cfg,
            slots,
            next: None,
            highest: None,
            last_played: None,
            playing: false,
            has_played: false,
            underrun_run: 0,
            over_run: 0,
            target: cfg.min_frames.max(1),
            rebase_timing: false,
            epoch: None,
            last_seq_ext: None,
            ts_ext_last: None,
            ts_base: 0,
            last_transit: None,
            transits: vec![0.0; cfg.window.max(1)].into_boxed_slice(),
            transit_count: 0,
            transit_idx: 0,
            stats: JitterStats::default(),
        }
    }

    /// Current target depth in frames.
    pub fn target_frames(&self) -> usize {
        self.target
    }

    /// Frames between the playout point and the newest packet (holes included).
    pub fn depth_frames(&self) -> usize {
        self.span()
    }

    pub fn stats(&self) -> JitterStats {
        JitterStats {
            target_frames: self.target,
            depth_frames: self.span(),
            ..self.stats
        }
    }

    /// Another stream replaces the one buffered (a new remote track, with its own SSRC,
    /// sequence numbers and timestamps: RFC 3550 §8.2): what is buffered is dropped (counted
    /// as `dropped`), sequence and timing start again from the next packet, and playout waits
    /// for `target` frames as at the start. The counters go on.
    pub fn restart(&mut self) {
        let buffered = self.slots.iter().filter(|s| s.filled).count() as u64;
        self.stats.dropped += buffered;
        self.forget_position();
        self.stats.restarts += 1;
        self.last_seq_ext = None;
        self.rebase_timing = false;
        self.forget_timing();
    }

    /// Takes in one received packet. `seq` and `timestamp` are the RTP header fields.
    pub fn push(&mut self, seq: u16, timestamp: u32, payload: &[u8], now: Instant) -> PushOutcome {
        if payload.len() > MAX_PAYLOAD {
            return PushOutcome::TooLarge;
        }
        let ext = self.unwrap_seq(seq);
        let idx = (ext % SLOTS as u64) as usize;
        if self.slots[idx].filled && self.slots[idx].seq == ext {
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        if self.last_played.is_some_and(|lp| ext <= lp) {
            // Played already, or skipped over: either way its tick is gone.
            self.measure(timestamp, now);
            self.stats.late += 1;
            return PushOutcome::Late;
        }
        let mut outcome = PushOutcome::Accepted;
        match self.next {
            Some(next) if ext < next => {
                if self.has_played {
                    self.measure(timestamp, now);
                    self.stats.late += 1;
                    return PushOutcome::Late;
                }
                // Reordered before playout started: it becomes the new start.
                if next - ext >= SLOTS as u64
                    || self.highest.is_some_and(|h| h - ext >= SLOTS as u64)
                {
                    self.reset();
                    outcome = PushOutcome::Reset;
                    self.next = Some(ext);
                } else {
                    self.next = Some(ext);
                }
            }
            Some(next) if ext - next >= SLOTS as u64 => {
                self.reset();
                outcome = PushOutcome::Reset;
                self.next = Some(ext);
            }
            Some(_) => {}
            None => self.next = Some(ext),
        }
        if outcome == PushOutcome::Reset || std::mem::take(&mut self.rebase_timing) {
            self.forget_timing();
        }
        self.measure(timestamp, now);
        let slot = &mut self.slots[idx];
        slot.seq = ext;
        slot.filled = true;
        slot.len = payload.len();
        slot.data[..payload.len()].copy_from_slice(payload);
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        self.stats.received += 1;
        outcome
    }

    /// One playout tick: what to decode now.
    pub fn pop(&mut self) -> Playout<'_> {
        let Some(mut next) = self.next else {
            return Playout::Idle;
        };
        // An overflowing backlog (a burst after a stall, a sender clock running fast) is cut
        // at once rather than played out late.
        while self.span() > self.cfg.max_frames {
            self.discard(next);
            self.stats.dropped += 1;
            next += 1;
            self.next = Some(next);
        }
        let span = self.span();

        if !self.playing {
            if span < self.target {
                // Not started yet, or paused after an outage: the decoder has nothing recent
                // to extrapolate from.
                return Playout::Idle;
            }
            // Resume at the first packet actually present: after an outage the head may be
            // long gone.
            while !self.present(next) {
                next += 1;
                self.stats.lost += 1;
            }
            self.next = Some(next);
            self.playing = true;
            self.underrun_run = 0;
            self.over_run = 0;
        }

        if self.present(next) {
            self.underrun_run = 0;
            if span >= self.target + 2 {
                self.over_run += 1;
            } else {
                self.over_run = 0;
            }
            if self.over_run >= self.cfg.shrink_after && self.present(next + 1) {
                self.discard(next);
                self.stats.dropped += 1;
                self.over_run = 0;
                next += 1;
            }
            return self.take(next);
        }

        if span == 0 {
            // Nothing at all: the packet is late, or the sender paused. Hold the playout
            // point (this is how the delay grows), and re-buffer after a longer gap.
            self.stats.underruns += 1;
            self.stats.concealed += 1;
            self.underrun_run += 1;
            if self.underrun_run >= REBUFFER_AFTER {
                self.playing = false;
                self.rebase_timing = true;
            }
            return Playout::Conceal;
        }

        if span < self.target {
            // Later packets are here but the head is not: within our patience it may still
            // arrive (reordering).
            self.stats.concealed += 1;
            return Playout::Conceal;
        }

        // Declared lost.
        self.stats.lost += 1;
        self.last_played = Some(next);
        self.next = Some(next + 1);
        self.has_played = true;
        let fec_idx = ((next + 1) % SLOTS as u64) as usize;
        let slot = &self.slots[fec_idx];
        if slot.filled && slot.seq == next + 1 {
            self.stats.fec_recovered += 1;
            Playout::Fec(&slot.data[..slot.len])
        } else {
            self.stats.concealed += 1;
            Playout::Conceal
        }
    }

    fn take(&mut self, seq: u64) -> Playout<'_> {
        self.last_played = Some(seq);
        self.next = Some(seq + 1);
        self.has_played = true;
        let slot = &mut self.slots[(seq % SLOTS as u64) as usize];
        slot.filled = false;
        Playout::Packet(&slot.data[..slot.len])
    }

    fn discard(&mut self, seq: u64) {
        let slot = &mut self.slots[(seq % SLOTS as u64) as usize];
        if slot.filled && slot.seq == seq {
            slot.filled = false;
        }
        self.last_played = Some(seq);
    }

    fn present(&self, seq: u64) -> bool {
        let slot = &self.slots[(seq % SLOTS as u64) as usize];
        slot.filled && slot.seq == seq
    }

    fn span(&self) -> usize {
        match (self.next, self.highest) {
            (Some(n), Some(h)) if h >= n => (h - n + 1) as usize,
            _ => 0,
        }
    }

    fn reset(&mut self) {
        self.forget_position();
        self.stats.resets += 1;
    }

    /// Empties the slots and forgets the playout point, as before the first packet.
    fn forget_position(&mut self) {
        for slot in self.slots.iter_mut() {
            slot.filled = false;
        }
        self.next = None;
        self.highest = None;
        self.last_played = None;
        self.playing = false;
        self.has_played = false;
        self.underrun_run = 0;
        self.over_run = 0;
        self.target = self.cfg.min_frames;
    }

    /// Drops the arrival-timing baseline: timing before a restart or a pause says nothing about
    /// the stream that follows.
    fn forget_timing(&mut self) {
        self.ts_ext_last = None;
        self.last_transit = None;
        self.transit_count = 0;
        self.epoch = None;
    }

    /// Extends a 16-bit sequence number to the 64-bit value nearest the last one seen.
    fn unwrap_seq(&mut self, seq: u16) -> u64 {
        let ext = match self.last_seq_ext {
            None => (1u64 << 32) + seq as u64,
            Some(last) => {
                let delta = seq.wrapping_sub(last as u16) as i16 as i64;
                (last as i64 + delta) as u64
            }
        };
        if self.last_seq_ext.is_none_or(|l| ext > l) {
            self.last_seq_ext = Some(ext);
        }
        ext
    }

    /// Updates the RFC 3550 jitter estimate and the window of transit times the target is
    /// derived from.
    fn measure(&mut self, timestamp: u32, now: Instant) {
        let ts = match self.ts_ext_last {
            None => {
                self.ts_base = timestamp as i64;
                timestamp as i64
            }
            Some(last) => last + timestamp.wrapping_sub(last as u32) as i32 as i64,
        };
        if self.ts_ext_last.is_none_or(|l| ts > l) {
            self.ts_ext_last = Some(ts);
        }
        let epoch = *self.epoch.get_or_insert(now);
        let arrival_ms = now.saturating_duration_since(epoch).as_secs_f64() * 1000.0;
        let media_ms = (ts - self.ts_base) as f64 * 1000.0 / self.cfg.clock_rate as f64;
        let transit = arrival_ms - media_ms;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            self.stats.jitter_ms += (d - self.stats.jitter_ms) / 16.0;
        }
        self.last_transit = Some(transit);

        self.transits[self.transit_idx] = transit;
        self.transit_idx = (self.transit_idx + 1) % self.transits.len();
        self.transit_count = (self.transit_count + 1).min(self.transits.len());
        let window = &self.transits[..self.transit_count];
        let (lo, hi) = window
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        let spread = (hi - lo - self.cfg.spread_slack_ms).max(0.0);
        let extra = (spread / self.cfg.frame_ms).ceil() as usize;
        self.target = (self.cfg.min_frames + extra).min(self.cfg.max_frames);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A virtual clock and a sender: packet `k` is due at `k * 20 ms`; the payload carries `k`.
    struct Harness {
        t0: Instant,
        jb: JitterBuffer,
    }

    impl Harness {
        fn new() -> Self {
            Harness {
                t0: Instant::now(),
                jb: JitterBuffer::new(JitterConfig::default()),
            }
        }
        fn at(&self, ms: f64) -> Instant {
            self.t0 + Duration::from_secs_f64(ms / 1000.0)
        }
        fn push(&mut self, k: u32, arrival_ms: f64) -> PushOutcome {
            let seq = (k as u16).wrapping_add(65_530); // exercise wrap-around
            let ts = k.wrapping_mul(960).wrapping_add(4_294_000_000);
            let payload = k.to_be_bytes();
            let now = self.at(arrival_ms);
            self.jb.push(seq, ts, &payload, now)
        }
        fn pop(&mut self) -> Out {
            match self.jb.pop() {
                Playout::Idle => Out::Idle,
                Playout::Conceal => Out::Conceal,
                Playout::Packet(p) => Out::Packet(u32::from_be_bytes(p.try_into().unwrap())),
                Playout::Fec(p) => Out::Fec(u32::from_be_bytes(p.try_into().unwrap())),
            }
        }
    }

    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    enum Out {
        Idle,
        Packet(u32),
        Fec(u32),
        Conceal,
    }

    /// Runs a schedule of (packet, arrival ms) against ticks every 20 ms starting at
    /// `tick_phase_ms`, returning what each tick played.
    fn run(h: &mut Harness, mut arrivals: Vec<(u32, f64)>, ticks: usize, phase: f64) -> Vec<Out> {
        arrivals.sort_by(|a, b| a.1.total_cmp(&b.1));
        let mut it = arrivals.into_iter().peekable();
        let mut out = Vec::new();
        for tick in 0..ticks {
            let t = phase + tick as f64 * 20.0;
            while let Some(&(k, a)) = it.peek() {
                if a > t {
                    break;
                }
                h.push(k, a);
                it.next();
            }
            out.push(h.pop());
        }
        out
    }

    fn packets(out: &[Out]) -> Vec<u32> {
        out.iter()
            .filter_map(|o| {
                if let Out::Packet(k) = o {
                    Some(*k)
                } else {
                    None
                }
            })
            .collect()
    }

    #[test]
    fn a_new_stream_with_lower_sequence_numbers_plays_after_restart() {
        let mut h = Harness::new();
        let t0 = h.t0;
        for k in 0..10u32 {
            h.jb.push(30_000 + k as u16, k * 960, &k.to_be_bytes(), t0);
        }
        for _ in 0..5 {
            assert!(matches!(h.jb.pop(), Playout::Packet(_)));
        }
        // Without a restart, a new track numbered below the old one is late forever.
        let mut late = JitterBuffer::new(JitterConfig::default());
        late.push(30_000, 0, &[1], t0);
        assert!(matches!(late.pop(), Playout::Packet(_)));
        assert_eq!(late.push(100, 5, &[2], t0), PushOutcome::Late);
        h.jb.restart();
        assert_eq!(h.jb.pop(), Playout::Idle);
        assert_eq!(
            h.jb.push(100, 5, &100u32.to_be_bytes(), t0),
            PushOutcome::Accepted
        );
        assert_eq!(h.pop(), Out::Packet(100));
        let s = h.jb.stats();
        assert_eq!((s.restarts, s.resets, s.dropped, s.late), (1, 0, 5, 0));
    }

    #[test]
    fn idle_before_the_first_packet() {
        let mut h = Harness::new();
        assert_eq!(h.pop(), Out::Idle);
        assert_eq!(h.pop(), Out::Idle);
    }

    #[test]
    fn steady_stream_plays_in_order_with_one_frame_of_delay() {
        let mut h = Harness::new();
        let arrivals = (0..100).map(|k| (k, k as f64 * 20.0 + 1.0)).collect();
        let out = run(&mut h, arrivals, 100, 5.0);
        assert_eq!(packets(&out), (0..100).collect::<Vec<_>>());
        let s = h.jb.stats();
        assert_eq!((s.lost, s.concealed, s.late, s.dropped), (0, 0, 0, 0));
        assert_eq!(s.target_frames, 1);
        assert!(s.jitter_ms < 0.01, "{}", s.jitter_ms);
    }

    #[test]
    fn reordered_packets_are_played_in_sequence() {
        let mut h = Harness::new();
        // Pairs swapped: 1 before 0, 3 before 2, ... all within the same 20 ms.
        let arrivals = (0..60u32)
            .map(|k| {
                let base = (k / 2 * 2) as f64 * 20.0 + 1.0;
                (k, if k % 2 == 1 { base } else { base + 2.0 })
            })
            .collect();
        let out = run(&mut h, arrivals, 62, 10.0);
        assert_eq!(packets(&out), (0..60).collect::<Vec<_>>());
        assert_eq!(h.jb.stats().lost, 0);
    }

    #[test]
    fn duplicates_are_dropped_and_played_once() {
        let mut h = Harness::new();
        assert_eq!(h.push(0, 0.0), PushOutcome::Accepted);
        assert_eq!(h.push(0, 1.0), PushOutcome::Duplicate);
        assert_eq!(h.push(1, 20.0), PushOutcome::Accepted);
        assert_eq!(h.push(1, 21.0), PushOutcome::Duplicate);
        assert_eq!(h.pop(), Out::Packet(0));
        assert_eq!(h.pop(), Out::Packet(1));
        assert_eq!(
            h.push(1, 45.0),
            PushOutcome::Late,
            "a replay after playout is late"
        );
        assert_eq!(h.jb.stats().duplicates, 2);
    }

    #[test]
    fn a_lost_packet_is_recovered_from_the_next_one_by_fec() {
        let mut h = Harness::new();
        let arrivals = (0..20)
            .filter(|&k| k != 5)
            .map(|k| (k, k as f64 * 20.0))
            .collect();
        // Ticks 30 ms after each packet's due time: packet k+1 is already here at tick k.
        let out = run(&mut h, arrivals, 20, 30.0);
        assert_eq!(
            &out[..8],
            &[
                Out::Packet(0),
                Out::Packet(1),
                Out::Packet(2),
                Out::Packet(3),
                Out::Packet(4),
                Out::Fec(6),
                Out::Packet(6),
                Out::Packet(7),
            ]
        );
        let s = h.jb.stats();
        assert_eq!((s.lost, s.fec_recovered), (1, 1));
    }

    #[test]
    fn two_lost_packets_give_concealment_then_fec() {
        let mut h = Harness::new();
        let arrivals = (0..20)
            .filter(|&k| k != 5 && k != 6)
            .map(|k| (k, k as f64 * 20.0))
            .collect();
        let out = run(&mut h, arrivals, 12, 50.0);
        let i = out.iter().position(|o| *o == Out::Packet(4)).unwrap();
        assert_eq!(
            &out[i + 1..i + 4],
            &[Out::Conceal, Out::Fec(7), Out::Packet(7)]
        );
        let s = h.jb.stats();
        assert_eq!((s.lost, s.fec_recovered), (2, 1));
    }

    #[test]
    fn a_late_packet_is_counted_and_not_played() {
        let mut h = Harness::new();
        // Packet 5 arrives 50 ms late, after 6 and 7.
        let arrivals = (0..20)
            .map(|k| (k, k as f64 * 20.0 + if k == 5 { 50.0 } else { 0.0 }))
            .collect();
        let out = run(&mut h, arrivals, 20, 25.0);
        assert!(out.contains(&Out::Fec(6)), "{out:?}");
        let played = packets(&out);
        assert!(!played.contains(&5));
        assert_eq!(h.jb.stats().late, 1);
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        // The harness maps packet k to seq 65530 + k: packets 0..20 cross 65535 -> 0.
        let mut h = Harness::new();
        let arrivals = (0..20).map(|k| (k, k as f64 * 20.0)).collect();
        let out = run(&mut h, arrivals, 20, 10.0);
        assert_eq!(packets(&out), (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn grows_with_jitter_and_shrinks_back() {
        let mut h = Harness::new();
        // 4 s of heavy jitter (0..70 ms extra delay, in order: a delay spike holds back the
        // packets behind it), then 8 s of a clean stream.
        let mut arrivals = Vec::new();
        let mut last = 0.0f64;
        let mut rng = 0x2545F4914F6CDD1Du64;
        for k in 0..600u32 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let extra = if k < 200 { (rng % 70) as f64 } else { 0.0 };
            let a = (k as f64 * 20.0 + extra).max(last);
            last = a;
            arrivals.push((k, a));
        }
        let out = run(&mut h, arrivals[..200].to_vec(), 200, 3.0);
        let jittery = h.jb.stats();
        assert!(
            jittery.target_frames >= 3,
            "target {}",
            jittery.target_frames
        );
        assert!(jittery.underruns > 0);
        let played = packets(&out).len();
        assert!(
            played > 150,
            "played only {played} of 200 frames under jitter"
        );

        let out2 = {
            let mut it = arrivals[200..].iter().copied().peekable();
            let mut out = Vec::new();
            let mut max_depth_late = 0;
            for tick in 200..600 {
                let t = 3.0 + tick as f64 * 20.0;
                while let Some(&(k, a)) = it.peek() {
                    if a > t {
                        break;
                    }
                    h.push(k, a);
                    it.next();
                }
                out.push(h.pop());
                if tick > 500 {
                    max_depth_late = max_depth_late.max(h.jb.depth_frames());
                }
            }
            assert!(
                max_depth_late <= 2,
                "delay did not shrink: depth {max_depth_late}"
            );
            out
        };
        let clean = h.jb.stats();
        assert_eq!(clean.target_frames, 1);
        assert!(clean.dropped > 0, "shrinking drops frames");
        let tail = &out2[out2.len() - 50..];
        assert!(tail.iter().all(|o| matches!(o, Out::Packet(_))), "{tail:?}");
    }

    #[test]
    fn a_burst_beyond_max_depth_is_cut() {
        let mut h = Harness::new();
        for k in 0..40 {
            h.push(k, 0.0);
        }
        assert!(matches!(h.pop(), Out::Packet(k) if k >= 28));
        assert!(h.jb.depth_frames() <= JitterConfig::default().max_frames);
        assert!(h.jb.stats().dropped >= 27);
    }

    #[test]
    fn a_jump_far_ahead_restarts_the_stream() {
        let mut h = Harness::new();
        for k in 0..5 {
            h.push(k, k as f64 * 20.0);
            h.pop();
        }
        assert_eq!(h.push(1000, 120.0), PushOutcome::Reset);
        assert_eq!(h.pop(), Out::Packet(1000));
        assert_eq!(h.jb.stats().resets, 1);
    }

    #[test]
    fn a_paused_sender_is_rebuffered_not_dropped() {
        let mut h = Harness::new();
        let mut arrivals: Vec<(u32, f64)> = (0..10).map(|k| (k, k as f64 * 20.0)).collect();
        // One second of silence from the sender, then the sequence continues.
        arrivals.extend((10..30).map(|k| (k, k as f64 * 20.0 + 1000.0)));
        let out = run(&mut h, arrivals, 90, 5.0);
        assert_eq!(packets(&out), (0..30).collect::<Vec<_>>());
        assert_eq!(h.jb.stats().late, 0);
    }

    #[test]
    fn a_sender_that_stops_is_concealed_briefly_then_silent() {
        let mut h = Harness::new();
        let arrivals = (0..10).map(|k| (k, k as f64 * 20.0)).collect();
        let out = run(&mut h, arrivals, 60, 5.0);
        assert_eq!(packets(&out), (0..10).collect::<Vec<_>>());
        let after = &out[out
            .iter()
            .rposition(|o| matches!(o, Out::Packet(_)))
            .unwrap()
            + 1..];
        let concealed = after.iter().take_while(|&&o| o == Out::Conceal).count();
        assert_eq!(concealed, REBUFFER_AFTER as usize, "{after:?}");
        assert!(
            after[concealed..].iter().all(|&o| o == Out::Idle),
            "after the re-buffer pause only silence: {after:?}"
        );
        assert_eq!(h.jb.stats().concealed, REBUFFER_AFTER as u64);
    }

    #[test]
    fn oversize_payloads_are_refused() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let big = vec![0u8; MAX_PAYLOAD + 1];
        assert_eq!(jb.push(1, 0, &big, Instant::now()), PushOutcome::TooLarge);
        assert_eq!(jb.pop(), Playout::Idle);
    }
}

/// Property tests (issue 15): arbitrary RTP sequence/timestamp streams and arrival times.
#[cfg(test)]
mod proptests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// A packet `delta` sequence numbers after the last one sent (negative: reordered or
        /// repeated), `ts_jump` frames of timestamp, arriving `after_ms` later.
        Push {
            delta: i32,
            ts_jump: i64,
            len: usize,
            after_ms: u64,
        },
        Pop,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (-70i32..70, -3i64..6, 0usize..1600, 0u64..120).prop_map(
                |(delta, ts_jump, len, after_ms)| Op::Push { delta, ts_jump, len, after_ms }
            ),
            1 => (any::<u16>(), any::<u32>()).prop_map(|(d, t)| Op::Push {
                delta: d as i32,
                ts_jump: t as i64,
                len: 80,
                after_ms: 0,
            }),
            4 => Just(Op::Pop),
        ]
    }

    /// A stream as a sender makes it: consecutive numbers and 20 ms timestamps, some lost,
    /// some reordered by up to `reorder` places, arrivals jittered by up to 60 ms.
    fn plausible_stream() -> impl Strategy<Value = Vec<(u16, bool, u64)>> {
        prop::collection::vec((any::<bool>(), 0u16..4, 0u64..60), 50..400).prop_map(|v| {
            let start = 65_000u16; // wraps during the stream
            v.into_iter()
                .enumerate()
                .map(|(i, (keep, shift, jitter))| {
                    let seq = start.wrapping_add(i as u16).wrapping_add(shift);
                    (seq, keep || i % 3 != 0, jitter)
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Whatever arrives, nothing panics, the depth stays within the slots, and the
        /// counters add up.
        #[test]
        fn arbitrary_streams_never_panic_and_stay_bounded(ops in prop::collection::vec(op(), 0..300)) {
            let mut jb = JitterBuffer::new(JitterConfig::default());
            let t0 = Instant::now();
            let mut now = t0;
            let (mut seq, mut ts) = (0u16, 0u32);
            let payload = [7u8; 1600];
            let (mut pushes, mut too_large) = (0u64, 0u64);
            for op in ops {
                match op {
                    Op::Push { delta, ts_jump, len, after_ms } => {
                        seq = seq.wrapping_add(delta as u16);
                        ts = ts.wrapping_add((ts_jump * 960) as u32);
                        now += Duration::from_millis(after_ms);
                        let outcome = jb.push(seq, ts, &payload[..len], now);
                        prop_assert_eq!(outcome == PushOutcome::TooLarge, len > MAX_PAYLOAD);
                        pushes += 1;
                        too_large += u64::from(outcome == PushOutcome::TooLarge);
                    }
                    Op::Pop => {
                        if let Playout::Packet(p) | Playout::Fec(p) = jb.pop() {
                            prop_assert!(p.len() <= MAX_PAYLOAD);
                        }
                    }
                }
                prop_assert!(jb.depth_frames() <= SLOTS);
                prop_assert!(jb.target_frames() <= JitterConfig::default().max_frames);
                let s = jb.stats();
                prop_assert!(s.fec_recovered <= s.lost);
                // Every packet is counted once: taken, a duplicate, late, or too large.
                prop_assert_eq!(s.received + s.duplicates + s.late + too_large, pushes);
            }
        }

        /// A sender's stream with loss, reordering and jitter: packets play in sequence order,
        /// each at most once, and every packet is accounted for (played, lost, late or still
        /// buffered).
        #[test]
        fn a_plausible_stream_plays_in_order_once(stream in plausible_stream()) {
            let mut jb = JitterBuffer::new(JitterConfig::default());
            let t0 = Instant::now();
            let mut played: Vec<u16> = Vec::new();
            let mut pushed = std::collections::HashSet::new();
            for (i, &(seq, keep, jitter)) in stream.iter().enumerate() {
                if keep {
                    let now = t0 + Duration::from_millis(i as u64 * 20 + jitter);
                    let payload = seq.to_be_bytes();
                    jb.push(seq, (seq as u32).wrapping_mul(960), &payload, now);
                    pushed.insert(seq);
                }
                if let Playout::Packet(p) = jb.pop() {
                    played.push(u16::from_be_bytes([p[0], p[1]]));
                }
            }
            for _ in 0..SLOTS {
                if let Playout::Packet(p) = jb.pop() {
                    played.push(u16::from_be_bytes([p[0], p[1]]));
                }
            }
            // In order (modulo 2^16, steps well under half the space), never twice.
            for w in played.windows(2) {
                let step = w[1].wrapping_sub(w[0]);
                prop_assert!(step != 0 && step < 1000, "{:?} then {:?}", w[0], w[1]);
            }
            let unique: std::collections::HashSet<_> = played.iter().collect();
            prop_assert_eq!(unique.len(), played.len());
            prop_assert!(played.iter().all(|s| pushed.contains(s)));
        }
    }
}
