//! Audio checks for the media tests: the dominant frequency of a recording, and how many of its
//! 20 ms frames carry a given tone (Goertzel filters, no FFT needed).
#![allow(dead_code)]

use std::f64::consts::TAU;

pub const RATE: f64 = 48_000.0;
pub const FRAME: usize = 960;

/// Power of `freq` in `x`, normalised to an amplitude (a full-length sine of amplitude A gives A).
pub fn tone_amplitude(x: &[i16], freq: f64) -> f64 {
    let w = TAU * freq / RATE;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = v as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / x.len() as f64
}

/// The frequency (20 Hz – 4 kHz) with the most energy in `x`, to a fraction of a hertz.
pub fn dominant_frequency(x: &[i16]) -> f64 {
    // Coarse scan on a short stretch, then finer scans around the best candidate on all of it.
    let short = &x[..x.len().min(12_000)];
    let mut best = scan(short, 20.0, 4_000.0, 5.0);
    for step in [0.5, 0.05] {
        best = scan(x, best - 20.0 * step, best + 20.0 * step, step);
    }
    best
}

fn scan(x: &[i16], from: f64, to: f64, step: f64) -> f64 {
    let mut best = (from, f64::MIN);
    let mut f = from.max(1.0);
    while f <= to {
        let a = tone_amplitude(x, f);
        if a > best.1 {
            best = (f, a);
        }
        f += step;
    }
    best.0
}

/// Quietest frame (RMS, of 32767) that can count as carrying a tone: −42 dBFS. Chromium's
/// audio processing (automatic gain control and noise suppression, on in Element Call and
/// matrix-js-sdk) brings the test pages' steady 0.3 full-scale tone down to about 735 RMS
/// (−33 dBFS) within two seconds; a higher floor would see only those first seconds.
pub const TONE_FLOOR_RMS: f64 = 260.0;

/// Whether a 20 ms frame carries `freq`: loud enough, and most of its energy at that frequency.
pub fn frame_has_tone(frame: &[i16], freq: f64) -> bool {
    let rms = (frame.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / frame.len() as f64).sqrt();
    if rms < TONE_FLOOR_RMS {
        return false;
    }
    // A pure sine of amplitude A has rms A/sqrt(2).
    tone_amplitude(frame, freq) / (rms * std::f64::consts::SQRT_2) > 0.7
}

/// Summary of a recording against an expected tone.
#[derive(Debug)]
pub struct ToneReport {
    pub dominant_hz: f64,
    /// Index of the first 20 ms frame carrying the tone.
    pub first_tone_frame: Option<usize>,
    /// Frames from the first to the last frame carrying the tone (what is left around them is
    /// before the call connected or after it closed).
    pub frames_in_call: usize,
    /// Of those, frames carrying the tone; the rest are dropouts.
    pub tone_frames: usize,
    /// Every 20 ms frame of the recording.
    pub total_frames: usize,
    /// Where the tone is: runs of frames with it, as `first..=last` (the first few), so a
    /// failure shows whether the recording is short, late or full of dropouts.
    pub tone_runs: Vec<std::ops::RangeInclusive<usize>>,
}

impl ToneReport {
    pub fn fraction(&self) -> f64 {
        self.tone_frames as f64 / self.frames_in_call.max(1) as f64
    }
}

pub fn analyse(samples: &[i16], freq: f64) -> ToneReport {
    let has: Vec<bool> = samples
        .chunks_exact(FRAME)
        .map(|f| frame_has_tone(f, freq))
        .collect();
    let first = has.iter().position(|&t| t);
    let last = has.iter().rposition(|&t| t);
    let (span, tone, body) = match (first, last) {
        (Some(i), Some(j)) => (
            j - i + 1,
            has[i..=j].iter().filter(|&&t| t).count(),
            &samples[i * FRAME..(j + 1) * FRAME],
        ),
        _ => (0, 0, samples),
    };
    let mut tone_runs: Vec<std::ops::RangeInclusive<usize>> = Vec::new();
    for (i, _) in has.iter().enumerate().filter(|(_, t)| **t) {
        match tone_runs.last_mut() {
            Some(run) if *run.end() + 1 == i => *run = *run.start()..=i,
            _ => tone_runs.push(i..=i),
        }
    }
    tone_runs.truncate(8);
    ToneReport {
        total_frames: has.len(),
        tone_runs,
        dominant_hz: if body.len() >= FRAME {
            dominant_frequency(body)
        } else {
            0.0
        },
        first_tone_frame: first,
        frames_in_call: span,
        tone_frames: tone,
    }
}

pub fn read_wav(path: &std::path::Path) -> Vec<i16> {
    let reader = hound::WavReader::open(path).expect("recording is a valid WAV");
    assert_eq!(reader.spec().sample_rate, 48_000);
    assert_eq!(reader.spec().channels, 1);
    reader.into_samples().map(|s| s.unwrap()).collect()
}

/// `secs` of a sine at `freq`, amplitude `amp` (of full scale).
pub fn sine(freq: f64, secs: f64, amp: f64) -> Vec<i16> {
    (0..(secs * RATE) as usize)
        .map(|i| ((TAU * freq * i as f64 / RATE).sin() * amp * 32767.0) as i16)
        .collect()
}

#[cfg(test)]
mod self_check {
    use super::*;

    #[test]
    fn finds_a_pure_tone_and_its_frames() {
        let mut x = vec![0i16; 4_800];
        x.extend(sine(440.0, 1.0, 0.3));
        let r = analyse(&x, 440.0);
        assert!((r.dominant_hz - 440.0).abs() < 0.5, "{r:?}");
        assert_eq!(r.first_tone_frame, Some(5));
        assert_eq!(r.tone_frames, 50);
        assert_eq!((r.total_frames, r.tone_runs.clone()), (55, vec![5..=54]));
        assert!(!frame_has_tone(&sine(880.0, 0.02, 0.3), 440.0));
        // As quiet as Chromium's gain control makes a test page's tone: still the tone.
        assert!(frame_has_tone(
            &sine(440.0, 0.02, 735.0 / 32767.0 * 2f64.sqrt()),
            440.0
        ));
        assert!(!frame_has_tone(&sine(440.0, 0.02, 0.005), 440.0));
    }
}
