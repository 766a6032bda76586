//! `tone:FREQ`: a continuous sine wave, for tests and for checking a call end to end by ear.

use super::{AudioSource, FRAME_SAMPLES, Frame, SAMPLE_RATE, SourceStatus};

/// Amplitude as a fraction of full scale (about -10 dBFS): loud enough to detect, far from
/// clipping after the codec.
const AMPLITUDE: f64 = 0.3;

pub struct ToneSource {
    /// Phase advance per sample, in cycles.
    step: f64,
    /// Current phase in cycles, kept in [0, 1) so precision does not decay over long calls.
    phase: f64,
}

impl ToneSource {
    pub fn new(freq: f64) -> Self {
        ToneSource {
            step: freq / SAMPLE_RATE as f64,
            phase: 0.0,
        }
    }
}

impl AudioSource for ToneSource {
    /// One frame of the sine. The first sample's phase is exact (`sin_cos` of the phase kept in
    /// [0, 1)); the others come from rotating that point by the step (two multiplications and
    /// an addition per coordinate instead of a `sin` per sample, whose cost showed in `perf`
    /// of a connected call). The rotation's rounding error over one frame is ≈ 1e-13 of full
    /// scale, and each frame starts exact again, so nothing drifts over a long call.
    fn read_frame(&mut self, frame: &mut Frame) -> SourceStatus {
        let (mut sin, mut cos) = (self.phase * std::f64::consts::TAU).sin_cos();
        let (step_sin, step_cos) = (self.step * std::f64::consts::TAU).sin_cos();
        let scale = AMPLITUDE * 32767.0;
        for s in frame.iter_mut().take(FRAME_SAMPLES) {
            let v = sin * scale;
            // Rounds half away from zero, as `f64::round` (which is a libm call here).
            *s = (v + 0.5f64.copysign(v)) as i16;
            (sin, cos) = (
                sin * step_cos + cos * step_sin,
                cos * step_cos - sin * step_sin,
            );
        }
        self.phase = (self.phase + self.step * FRAME_SAMPLES as f64).fract();
        SourceStatus::Audio
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produces_a_continuous_sine_of_the_requested_frequency() {
        let mut src = ToneSource::new(1000.0);
        let mut all = Vec::new();
        let mut f = [0i16; FRAME_SAMPLES];
        for _ in 0..500 {
            assert_eq!(src.read_frame(&mut f), SourceStatus::Audio);
            all.extend_from_slice(&f);
        }
        // 1 kHz at 48 kHz: 48 samples per period, continuous across frame boundaries and
        // without drift over 10 s.
        for (i, &s) in all.iter().enumerate() {
            let want = ((i as f64 / 48.0) * std::f64::consts::TAU).sin() * AMPLITUDE * 32767.0;
            assert!((s as f64 - want).abs() <= 1.5, "sample {i}: {s} vs {want}");
        }
        let peak = all.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((9_700..=9_900).contains(&peak), "{peak}");
    }
}
