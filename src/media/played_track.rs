//! [`PlayedTrack`]: which of the remote audio tracks is played, one at a time (no mixing).
//!
//! A peer connection can bring several remote audio tracks: an SFU forwards one per publishing
//! participant, and livekit-client republishes its microphone under a new track sid after a
//! full reconnect (the old track then just stops). The rule: the track being played keeps the
//! speaker as long as its packets keep coming; another track takes over once the played one
//! has sent nothing for [`TAKEOVER_SILENCE`] — a track that ended, or (with Opus DTX, which
//! sends a packet every 400 ms in silence) a participant who stopped talking. A take-over is a
//! new stream for the jitter buffer (another SSRC, sequence and timestamps: RFC 3550 §8.2).
//!
//! The caller asks only for packets it can play (decrypted, in an end-to-end encrypted call):
//! a participant whose frames we cannot read never holds the speaker.
//!
//! I/O-free: arrival instants come from the caller; tested on a virtual clock.

use std::time::{Duration, Instant};

/// How long the played track must be silent before another track's packets are played.
pub const TAKEOVER_SILENCE: Duration = Duration::from_millis(250);

/// What to do with one received packet of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Its track is the one played: into the jitter buffer.
    Play,
    /// Its track takes over from a silent one: restart the jitter buffer, then play it.
    TakeOver,
    /// Another track is being played: drop it.
    Ignore,
}

/// See the module documentation. Tracks are named by the caller's numbers (`generation`, from
/// 1, in the order the tracks arrived).
#[derive(Debug, Default)]
pub struct PlayedTrack {
    /// The played track and its last packet's arrival; `None` before the first packet.
    played: Option<(u64, Instant)>,
}

impl PlayedTrack {
    /// A packet of track `generation` arrived at `now`.
    pub fn admit(&mut self, generation: u64, now: Instant) -> Admission {
        match self.played {
            Some((g, _)) if g == generation => {
                self.played = Some((g, now));
                Admission::Play
            }
            Some((_, last)) if now.saturating_duration_since(last) < TAKEOVER_SILENCE => {
                Admission::Ignore
            }
            Some(_) => {
                self.played = Some((generation, now));
                Admission::TakeOver
            }
            None => {
                self.played = Some((generation, now));
                Admission::Play
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_played_track_keeps_the_speaker_until_it_falls_silent() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut p = PlayedTrack::default();
        // The first packet of any track starts playing it.
        assert_eq!(p.admit(2, ms(0)), Admission::Play);
        assert_eq!(p.admit(1, ms(1)), Admission::Ignore);
        // Another participant talks at the same time: not played.
        for t in (20..1000).step_by(20) {
            assert_eq!(p.admit(2, ms(t)), Admission::Play);
            assert_eq!(p.admit(3, ms(t + 5)), Admission::Ignore);
        }
        // Track 2 stops (unpublished, or silent): 249 ms later still its turn, at 250 ms not.
        assert_eq!(p.admit(3, ms(980 + 249)), Admission::Ignore);
        assert_eq!(p.admit(3, ms(980 + 250)), Admission::TakeOver);
        assert_eq!(p.admit(3, ms(1250)), Admission::Play);
        // Track 2 comes back while 3 talks: ignored.
        assert_eq!(p.admit(2, ms(1260)), Admission::Ignore);
        assert_eq!(p.admit(3, ms(1270)), Admission::Play);
    }

    #[test]
    fn a_clock_going_backwards_never_panics() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut p = PlayedTrack::default();
        assert_eq!(p.admit(1, t0), Admission::Play);
        assert_eq!(
            p.admit(2, t0 - Duration::from_millis(500)),
            Admission::Ignore
        );
    }
}
