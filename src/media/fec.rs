//! When the Opus encoder spends bits and CPU on in-band FEC: only once the peer reports loss.
//!
//! libopus adds forward error correction (an LBRR copy of each SILK frame, RFC 6716 §4.2.4) only
//! when told to expect loss (`OPUS_SET_PACKET_LOSS_PERC` > 0), and the copy costs a second run
//! of the noise-shaping quantiser per frame. On a clean path that is pure cost, so a call starts
//! without it and turns it on when the peer's RTCP receiver reports (RFC 3550 §6.4.2, "fraction
//! lost") show loss; it stays on for [`HOLD`] after the last lossy report, since loss comes in
//! spells. I/O-free: the media session feeds it each report's fraction with `now`.

use std::time::{Duration, Instant};

/// FEC stays on this long after the last report with loss.
pub const HOLD: Duration = Duration::from_secs(10);
/// The expected loss told to the encoder while FEC is on, at least (libopus plans its LBRR
/// bitrate from it; below ≈ 5% it may decide the copy is not worth sending).
const MIN_PERCENT: i32 = 10;
/// … and at most (beyond this the copy would crowd the primary encoding out of the bitrate).
const MAX_PERCENT: i32 = 30;

/// Decides the encoder's expected-loss setting (0: no FEC) from the peer's loss reports.
#[derive(Debug, Default)]
pub struct FecPolicy {
    /// The setting in force, as last returned.
    percent: i32,
    /// Until when FEC stays on.
    until: Option<Instant>,
    /// The highest loss reported within the current spell, in percent.
    spell_max: i32,
}

impl FecPolicy {
    /// The setting in force (0 at the start: no FEC).
    pub fn percent(&self) -> i32 {
        self.percent
    }

    /// A receiver report's fraction lost (0.0–1.0; anything else is read as no loss), or
    /// `None` when no new report came. Returns the new expected-loss percentage when the
    /// setting changes.
    pub fn observe(&mut self, now: Instant, fraction_lost: Option<f64>) -> Option<i32> {
        let lost = fraction_lost
            .filter(|f| f.is_finite() && *f > 0.0)
            .map(|f| (f.min(1.0) * 100.0).ceil() as i32);
        if let Some(lost) = lost {
            self.until = Some(now + HOLD);
            self.spell_max = self.spell_max.max(lost);
        } else if self.until.is_some_and(|t| now >= t) {
            self.until = None;
            self.spell_max = 0;
        }
        let want = if self.until.is_some() {
            self.spell_max.clamp(MIN_PERCENT, MAX_PERCENT)
        } else {
            0
        };
        (want != self.percent).then(|| {
            self.percent = want;
            want
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_on_a_clean_path_on_with_loss_off_again_after_the_hold() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut p = FecPolicy::default();
        assert_eq!(p.percent(), 0);
        assert_eq!(p.observe(t0, Some(0.0)), None);
        assert_eq!(p.observe(t0 + s(1), None), None);
        // 2% reported: on, at the floor.
        assert_eq!(p.observe(t0 + s(2), Some(0.02)), Some(MIN_PERCENT));
        // 20% later in the spell raises it; clean reports within the hold keep it.
        assert_eq!(p.observe(t0 + s(3), Some(0.2)), Some(20));
        assert_eq!(p.observe(t0 + s(4), Some(0.0)), None);
        assert_eq!(p.observe(t0 + s(12), Some(0.0)), None);
        // The hold runs from the last lossy report.
        assert_eq!(p.observe(t0 + s(13), Some(0.0)), Some(0));
        assert_eq!(p.percent(), 0);
        // A new spell starts from its own maximum.
        assert_eq!(p.observe(t0 + s(14), Some(0.05)), Some(MIN_PERCENT));
    }

    #[test]
    fn hostile_fractions_are_clamped_or_ignored() {
        let t0 = Instant::now();
        let mut p = FecPolicy::default();
        assert_eq!(p.observe(t0, Some(f64::NAN)), None);
        assert_eq!(p.observe(t0, Some(-1.0)), None);
        assert_eq!(p.observe(t0, Some(f64::INFINITY)), None);
        assert_eq!(p.observe(t0, Some(7.0)), Some(MAX_PERCENT));
    }
}
