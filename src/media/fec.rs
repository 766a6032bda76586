//! When the Opus encoder spends bits and CPU on in-band FEC: unless the peer's reports show a
//! clean path.
//!
//! libopus adds forward error correction (an LBRR copy of each SILK frame, RFC 6716 §4.2.4) only
//! when told to expect loss (`OPUS_SET_PACKET_LOSS_PERC` > 0), and the copy costs a second run
//! of the noise-shaping quantiser per frame. A call starts with FEC planned for [`START_PERCENT`]
//! (nothing is known of the path yet, and an encoder switched on mid-loss recovers far fewer
//! frames than one that had it from the start); the peer's RTCP reception reports (RFC 3550
//! §6.4.1, "fraction lost", about one a second) then decide: FEC goes off once reports have shown
//! no loss for [`START_HOLD`] from the start (a clean path shows in the first few reports, and
//! the rest of the call is spared the second quantiser run), comes back at the first lossy
//! report, planned for the worst loss of the spell, and stays on for [`HOLD`] after the last
//! lossy report, since loss comes in spells. Without reports nothing changes: absent reports are
//! no evidence of a clean path. I/O-free: the media session feeds it each report's fraction with
//! `now`.

use std::time::{Duration, Instant};

/// FEC stays on this long after the last report with loss.
pub const HOLD: Duration = Duration::from_secs(10);
/// … and this long from the start of the call (three reports, when the peer sends them once a
/// second as webrtc-rs and browsers do).
pub const START_HOLD: Duration = Duration::from_secs(3);
/// The expected loss told to the encoder while FEC is on, at least (libopus plans its LBRR
/// bitrate from it; below ≈ 5% it may decide the copy is not worth sending).
const MIN_PERCENT: i32 = 10;
/// … and at most (beyond this the copy would crowd the primary encoding out of the bitrate).
const MAX_PERCENT: i32 = 30;
/// The setting a call starts with.
pub const START_PERCENT: i32 = MIN_PERCENT;

/// Decides the encoder's expected-loss setting (0: no FEC) from the peer's loss reports.
#[derive(Debug)]
pub struct FecPolicy {
    /// The setting in force, as last returned.
    percent: i32,
    /// Until when FEC stays on (`None`: off).
    until: Option<Instant>,
    /// The highest loss reported within the current spell, in percent.
    spell_max: i32,
}

impl FecPolicy {
    /// A call's policy from its start (`now`): on at [`START_PERCENT`].
    pub fn new(now: Instant) -> Self {
        FecPolicy {
            percent: START_PERCENT,
            until: Some(now + START_HOLD),
            spell_max: 0,
        }
    }

    /// The setting in force.
    pub fn percent(&self) -> i32 {
        self.percent
    }

    /// A reception report's fraction lost (0.0–1.0; above 1.0 is read as 1.0, negative or
    /// not finite as no report), or `None` when no new report came. Returns the new
    /// expected-loss percentage when the setting changes.
    pub fn observe(&mut self, now: Instant, fraction_lost: Option<f64>) -> Option<i32> {
        match fraction_lost.filter(|f| f.is_finite() && *f >= 0.0) {
            Some(f) if f > 0.0 => {
                let lost = (f.min(1.0) * 100.0).ceil() as i32;
                self.until = Some(now + HOLD);
                self.spell_max = self.spell_max.max(lost);
            }
            // A clean report ends the spell once its hold is over.
            Some(_) if self.until.is_some_and(|t| now >= t) => {
                self.until = None;
                self.spell_max = 0;
            }
            _ => {}
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
    fn on_at_the_start_off_on_a_clean_path_on_with_loss_off_again_after_the_hold() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut p = FecPolicy::new(t0);
        assert_eq!(p.percent(), START_PERCENT);
        // Clean reports within the start's hold keep it; the first after it turns FEC off.
        assert_eq!(p.observe(t0 + s(1), Some(0.0)), None);
        assert_eq!(p.observe(t0 + s(2), Some(0.0)), None);
        assert_eq!(p.observe(t0 + s(3), Some(0.0)), Some(0));
        assert_eq!(p.observe(t0 + s(11), None), None);
        // 2% reported: on, at the floor.
        assert_eq!(p.observe(t0 + s(12), Some(0.02)), Some(MIN_PERCENT));
        // 20% later in the spell raises it; clean reports within the hold keep it.
        assert_eq!(p.observe(t0 + s(13), Some(0.2)), Some(20));
        assert_eq!(p.observe(t0 + s(14), Some(0.0)), None);
        assert_eq!(p.observe(t0 + s(22), Some(0.0)), None);
        // The hold runs from the last lossy report.
        assert_eq!(p.observe(t0 + s(23), Some(0.0)), Some(0));
        assert_eq!(p.percent(), 0);
        // A new spell starts from its own maximum.
        assert_eq!(p.observe(t0 + s(24), Some(0.05)), Some(MIN_PERCENT));
    }

    #[test]
    fn without_reports_it_stays_on() {
        let t0 = Instant::now();
        let mut p = FecPolicy::new(t0);
        for secs in 1..120 {
            assert_eq!(p.observe(t0 + Duration::from_secs(secs), None), None);
        }
        assert_eq!(p.percent(), START_PERCENT);
    }

    #[test]
    fn hostile_fractions_are_clamped_or_ignored() {
        let t0 = Instant::now();
        let mut p = FecPolicy::new(t0);
        let later = t0 + START_HOLD + HOLD;
        assert_eq!(p.observe(later, Some(f64::NAN)), None);
        assert_eq!(p.observe(later, Some(-1.0)), None);
        assert_eq!(p.observe(later, Some(f64::INFINITY)), None);
        assert_eq!(p.observe(later, Some(7.0)), Some(MAX_PERCENT));
    }
}
