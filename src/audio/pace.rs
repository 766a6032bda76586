//! Timing policy for the rings between a device callback and the engine's 20 ms clock, kept
//! free of I/O and of the clock (`now` is passed in) so it can be tested on its own.
//!
//! - [`Pacer`] holds a device that runs faster than real time — ALSA's `null` and `file`
//!   plugins deliver and consume as fast as they are asked — to real time, so it neither spins a
//!   core nor runs through its input at many times real speed. A sound card keeps its own time
//!   and is never that far ahead, so it is never slowed down.
//! - [`Backlog`] tells which part of a ring's fill is latency to cut: only what stood unused
//!   through a whole window. A backlog that comes and goes — the other side catching up in a
//!   burst after the process was descheduled — is about to be consumed, and cutting it would
//!   turn one short stall into a dropout plus the silence of re-priming.

use std::time::{Duration, Instant};

/// How far ahead of real time a device may run before its callback is slowed, on top of twice
/// the callback's own length (a sound card's callback comes once its period is complete) and
/// of `1 / DRIFT` of the time since it started (a sound card's clock may run a little fast;
/// 0.2% is twenty times what crystals are specified to).
const SLACK: Duration = Duration::from_millis(20);
const DRIFT: u32 = 500;

/// A device that fell this far behind real time (the process was stopped, the device had an
/// xrun) is not allowed to make it all up at once: the lost time is forgotten.
const MAX_LAG: Duration = Duration::from_millis(500);

/// See the module documentation.
pub(crate) struct Pacer {
    rate: u64,
    start: Option<Instant>,
    samples: u64,
}

impl Pacer {
    pub(crate) fn new(rate: u32) -> Self {
        Pacer {
            rate: rate.max(1) as u64,
            start: None,
            samples: 0,
        }
    }

    /// Accounts for a callback that delivered or took `frames` frames at `now`; returns how
    /// long the callback should sleep to stay within reach of real time.
    pub(crate) fn pace(&mut self, frames: usize, now: Instant) -> Option<Duration> {
        let start = *self.start.get_or_insert(now);
        self.samples += frames as u64;
        let media = Duration::from_nanos(self.samples * 1_000_000_000 / self.rate);
        let chunk = Duration::from_nanos(frames as u64 * 1_000_000_000 / self.rate);
        let elapsed = now.saturating_duration_since(start);
        let allowed = elapsed + SLACK + 2 * chunk + elapsed / DRIFT;
        if media > allowed {
            return Some(media - allowed);
        }
        if elapsed > media + MAX_LAG {
            self.start = now.checked_sub(media).or(self.start);
        }
        None
    }
}

/// See the module documentation.
pub(crate) struct Backlog {
    /// What is left unused when the standing backlog is cut.
    keep: usize,
    /// A standing backlog above this is cut.
    limit: usize,
    /// Samples the consumer takes per window.
    window: usize,
    low: usize,
    taken: usize,
}

impl Backlog {
    pub(crate) fn new(keep: usize, limit: usize, window: usize) -> Self {
        Backlog {
            keep,
            limit: limit.max(keep),
            window: window.max(1),
            low: usize::MAX,
            taken: 0,
        }
    }

    /// Called before the consumer takes `take` samples from a ring holding `len`. Returns how
    /// many of the oldest samples to drop first: at the end of a window, the part of the
    /// smallest fill left after a take (what the window never needed) above `keep`, if that
    /// was over `limit`.
    pub(crate) fn check(&mut self, len: usize, take: usize) -> usize {
        self.low = self.low.min(len.saturating_sub(take));
        self.taken += take;
        if self.taken < self.window {
            return 0;
        }
        let low = std::mem::replace(&mut self.low, usize::MAX);
        self.taken = 0;
        if low > self.limit {
            (low - self.keep).min(len)
        } else {
            0
        }
    }

    /// Starts a new window (after the ring was emptied or trimmed by other means).
    pub(crate) fn restart(&mut self) {
        self.low = usize::MAX;
        self.taken = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_device_in_real_time_is_never_slowed() {
        let t0 = Instant::now();
        let mut p = Pacer::new(48_000);
        // 10 ms periods, each delivered when complete, with up to 4 ms of wake-up jitter.
        for k in 1..2_000u32 {
            let jitter = (k * 7 % 5) as u64;
            let now = t0 + 10 * MS * k + Duration::from_millis(jitter);
            assert_eq!(p.pace(480, now), None, "period {k}");
        }
        // Large periods too (2048 frames, 42.7 ms).
        let mut p = Pacer::new(48_000);
        for k in 1..500u64 {
            let now = t0 + Duration::from_nanos(k * 2048 * 1_000_000_000 / 48_000);
            assert_eq!(p.pace(2048, now), None);
        }
    }

    #[test]
    fn an_unpaced_device_is_held_to_real_time() {
        let t0 = Instant::now();
        let mut p = Pacer::new(48_000);
        let mut now = t0;
        // The device delivers the moment it is called: only the pacer's sleeps take time.
        for _ in 0..1_000 {
            if let Some(sleep) = p.pace(480, now) {
                now += sleep;
            }
        }
        let media = Duration::from_millis(10 * 1_000);
        let elapsed = now - t0;
        assert!(
            elapsed + 80 * MS >= media && elapsed <= media,
            "{elapsed:?} for {media:?}"
        );
    }

    #[test]
    fn a_stalled_device_catches_up_but_not_without_bound() {
        let t0 = Instant::now();
        let mut p = Pacer::new(48_000);
        assert_eq!(p.pace(480, t0), None);
        // Stopped for 200 ms: it may deliver the missed 200 ms at once.
        let now = t0 + 200 * MS;
        for _ in 0..20 {
            assert_eq!(p.pace(480, now), None);
        }
        let more = (0..100).take_while(|_| p.pace(480, now).is_none()).count();
        assert!(more <= 4, "{more} periods beyond real time");
        // Stopped for 5 s: the lost time is forgotten, not made up in a 5 s burst.
        let mut p = Pacer::new(48_000);
        assert_eq!(p.pace(480, t0), None);
        let now = t0 + 5_000 * MS;
        assert_eq!(p.pace(480, now), None);
        let burst = (0..1_000)
            .take_while(|_| p.pace(480, now).is_none())
            .count();
        assert!(burst <= 6, "{burst} periods at once after a long stop");
    }

    #[test]
    fn a_passing_backlog_is_left_alone() {
        // Window of 10 takes of 100; keep 50, cut above 200.
        let mut b = Backlog::new(50, 200, 1_000);
        let mut drops = 0;
        for k in 0..100 {
            // Mostly 150 queued; every 10th take comes after a burst of 600 more.
            let len = if k % 10 == 3 { 750 } else { 150 };
            drops += b.check(len, 100);
        }
        assert_eq!(drops, 0);
    }

    #[test]
    fn a_standing_backlog_is_cut_to_keep() {
        let mut b = Backlog::new(50, 200, 1_000);
        let mut len = 1_000;
        let mut cut = 0;
        for _ in 0..30 {
            let drop = b.check(len, 100);
            len -= drop;
            cut += drop;
            len = len - 100 + 100; // taken, and as much added before the next take
        }
        // The smallest fill after a take was 900: 850 of it is cut, once.
        assert_eq!(cut, 850);
        assert_eq!(len, 150);
    }
}
