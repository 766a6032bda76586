//! Streaming sample-rate conversion of mono audio: WAV files and devices at any rate to the
//! engine's 48 kHz, and 48 kHz to a device's rate.
//!
//! A windowed-sinc (Blackman) interpolator with a precomputed polyphase table: 32 taps, 256
//! phases linearly interpolated, cut-off just under the lower of the two Nyquist frequencies so
//! downsampling does not alias. Quality is well beyond what a voice codec can tell apart, and
//! the cost is ~64 multiply-adds per output sample. Equal rates pass samples through untouched.

/// Half the number of filter taps.
const HALF_TAPS: usize = 16;
const TAPS: usize = 2 * HALF_TAPS;
const PHASES: usize = 256;

pub struct Resampler {
    /// Input samples per output sample is `num / den` (the reduced rate ratio).
    num: u64,
    den: u64,
    /// Position of the next output sample, `pos + frac / den` input samples from `buf[0]`;
    /// kept exact so the output length never drifts.
    pos: usize,
    frac: u64,
    /// Pending input, including the history the filter still needs.
    buf: Vec<f32>,
    /// `(PHASES + 1) * TAPS` coefficients; row `p` is for fractional offset `p / PHASES`.
    table: Vec<f32>,
    passthrough: bool,
}

impl Resampler {
    pub fn new(in_rate: u32, out_rate: u32) -> Self {
        let passthrough = in_rate == out_rate;
        let g = gcd(in_rate as u64, out_rate as u64).max(1);
        let (num, den) = (in_rate as u64 / g, out_rate as u64 / g);
        let cutoff = (out_rate as f64 / in_rate as f64).min(1.0) * 0.94;
        let mut table = Vec::new();
        if !passthrough {
            table.reserve((PHASES + 1) * TAPS);
            for p in 0..=PHASES {
                let frac = p as f64 / PHASES as f64;
                for j in 0..TAPS {
                    // Tap j multiplies input n = floor(t) - HALF_TAPS + 1 + j; d = t - n.
                    let d = frac + HALF_TAPS as f64 - 1.0 - j as f64;
                    table.push(kernel(d, cutoff) as f32);
                }
            }
        }
        let mut buf = Vec::with_capacity(8192);
        if !passthrough {
            // Leading zeros stand in for the history before the first sample.
            buf.resize(HALF_TAPS, 0.0);
        }
        Resampler {
            num,
            den,
            pos: HALF_TAPS,
            frac: 0,
            buf,
            table,
            passthrough,
        }
    }

    /// Appends input samples.
    pub fn push(&mut self, input: impl IntoIterator<Item = f32>) {
        self.buf.extend(input);
    }

    /// Appends the zeros that let the last real samples through the filter (call at end of
    /// input).
    pub fn flush(&mut self) {
        if !self.passthrough {
            self.buf.extend(std::iter::repeat_n(0.0, HALF_TAPS));
        }
    }

    /// Output samples available without more input.
    pub fn available(&self) -> usize {
        if self.passthrough {
            return self.buf.len();
        }
        // Outputs k = 0, 1, ... exist while floor(position_k) + HALF_TAPS < buf.len(), i.e.
        // pos * den + frac + k * num < last * den.
        let Some(last) = self.buf.len().checked_sub(HALF_TAPS) else {
            return 0;
        };
        let start = self.pos as u64 * self.den + self.frac;
        let end = last as u64 * self.den;
        if end <= start {
            0
        } else {
            (end - start).div_ceil(self.num) as usize
        }
    }

    /// Writes up to `out.len()` samples; returns how many.
    pub fn pull(&mut self, out: &mut [f32]) -> usize {
        if self.passthrough {
            let n = out.len().min(self.buf.len());
            out[..n].copy_from_slice(&self.buf[..n]);
            self.buf.drain(..n);
            return n;
        }
        let mut n = 0;
        while n < out.len() {
            let i = self.pos;
            if i + HALF_TAPS >= self.buf.len() {
                break;
            }
            let phase = self.frac as f64 / self.den as f64 * PHASES as f64;
            let p = (phase as usize).min(PHASES - 1);
            let w = (phase - p as f64) as f32;
            let row0 = &self.table[p * TAPS..(p + 1) * TAPS];
            let row1 = &self.table[(p + 1) * TAPS..(p + 2) * TAPS];
            let window = &self.buf[i + 1 - HALF_TAPS..=i + HALF_TAPS];
            let mut acc0 = 0.0f32;
            let mut acc1 = 0.0f32;
            for j in 0..TAPS {
                acc0 += window[j] * row0[j];
                acc1 += window[j] * row1[j];
            }
            out[n] = acc0 + (acc1 - acc0) * w;
            n += 1;
            self.frac += self.num;
            self.pos += (self.frac / self.den) as usize;
            self.frac %= self.den;
        }
        // Drop input the filter no longer reaches, keeping positions relative to buf[0].
        let keep_from = (self.pos + 1).saturating_sub(HALF_TAPS).min(self.buf.len());
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.pos -= keep_from;
        }
        n
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Blackman-windowed sinc, normalised so the taps sum to ~1 (unity gain at DC).
fn kernel(d: f64, cutoff: f64) -> f64 {
    let half = HALF_TAPS as f64;
    if d.abs() >= half {
        return 0.0;
    }
    let x = std::f64::consts::PI * cutoff * d;
    let sinc = if x.abs() < 1e-9 { 1.0 } else { x.sin() / x };
    let u = (d + half) / (2.0 * half); // 0..1 across the window
    let tau = 2.0 * std::f64::consts::PI;
    let window = 0.42 - 0.5 * (tau * u).cos() + 0.08 * (2.0 * tau * u).cos();
    cutoff * sinc * window
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f64, secs: f64) -> Vec<f32> {
        let n = (rate as f64 * secs) as usize;
        (0..n)
            .map(|i| {
                (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() as f32 * 0.5
            })
            .collect()
    }

    /// Amplitude of `freq` in `x` (single-bin DFT).
    fn amplitude(x: &[f32], rate: u32, freq: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &s) in x.iter().enumerate() {
            let ph = 2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64;
            re += s as f64 * ph.cos();
            im += s as f64 * ph.sin();
        }
        2.0 * (re * re + im * im).sqrt() / x.len() as f64
    }

    fn convert(input: &[f32], from: u32, to: u32, chunk: usize) -> Vec<f32> {
        let mut r = Resampler::new(from, to);
        let mut out = Vec::new();
        let mut tmp = vec![0.0f32; 1000];
        for c in input.chunks(chunk) {
            r.push(c.iter().copied());
            loop {
                let n = r.pull(&mut tmp);
                out.extend_from_slice(&tmp[..n]);
                if n < tmp.len() {
                    break;
                }
            }
        }
        r.flush();
        let n = r.pull(&mut tmp);
        out.extend_from_slice(&tmp[..n]);
        out
    }

    #[test]
    fn upsampling_keeps_frequency_amplitude_and_length() {
        for from in [8_000, 16_000, 22_050, 44_100] {
            let x = sine(from, 1000.0, 1.0);
            let y = convert(&x, from, 48_000, 333);
            assert_eq!(y.len(), 48_000, "{from}: output length");
            let steady = &y[2000..46_000];
            let a = amplitude(steady, 48_000, 1000.0);
            assert!((a - 0.5).abs() < 0.01, "{from}: amplitude {a}");
        }
    }

    #[test]
    fn downsampling_removes_what_would_alias() {
        // 1 kHz is kept; 30 kHz (above the new Nyquist) must not fold down to 18 kHz.
        let x: Vec<f32> = sine(96_000, 1000.0, 1.0)
            .iter()
            .zip(sine(96_000, 30_000.0, 1.0))
            .map(|(a, b)| a + b)
            .collect();
        let y = convert(&x, 96_000, 48_000, 480);
        assert_eq!(y.len(), 48_000);
        let steady = &y[1000..47_000];
        assert!((amplitude(steady, 48_000, 1000.0) - 0.5).abs() < 0.01);
        assert!(amplitude(steady, 48_000, 18_000.0) < 0.002);
    }

    #[test]
    fn equal_rates_pass_through_exactly() {
        let x = sine(48_000, 440.0, 0.1);
        assert_eq!(convert(&x, 48_000, 48_000, 100), x);
    }

    #[test]
    fn available_matches_what_pull_returns() {
        let mut r = Resampler::new(44_100, 48_000);
        r.push(sine(44_100, 300.0, 0.05));
        let avail = r.available();
        let mut out = vec![0.0; 10_000];
        assert_eq!(r.pull(&mut out), avail);
        assert_eq!(r.available(), 0);
    }
}

/// Property tests (issue 15).
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// All of `input` through a resampler in chunks of the given sizes, pulled in chunks of
    /// `pull` samples after each push, then flushed and drained.
    fn run(rates: (u32, u32), input: &[f32], chunks: &[usize], pull: usize) -> Vec<f32> {
        let mut r = Resampler::new(rates.0, rates.1);
        let mut out = Vec::new();
        let mut buf = vec![0.0f32; pull.max(1)];
        let mut rest = input;
        let mut sizes = chunks.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).clamp(1, rest.len());
            r.push(rest[..n].iter().copied());
            rest = &rest[n..];
            loop {
                let got = r.pull(&mut buf);
                out.extend_from_slice(&buf[..got]);
                if got < buf.len() {
                    break;
                }
            }
        }
        r.flush();
        loop {
            let got = r.pull(&mut buf);
            out.extend_from_slice(&buf[..got]);
            if got == 0 {
                break;
            }
        }
        out
    }

    fn rates() -> impl Strategy<Value = (u32, u32)> {
        let rate = prop_oneof![
            Just(8_000u32),
            Just(16_000),
            Just(22_050),
            Just(44_100),
            Just(48_000),
            Just(96_000),
            4_000u32..200_000
        ];
        (rate.clone(), rate)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// The output — its length and every sample — does not depend on how the input was
        /// chunked or the output pulled, and its length is the input's scaled by the rates.
        #[test]
        fn output_is_independent_of_chunking(
            rates in rates(),
            len in 0usize..3000,
            chunks in prop::collection::vec(1usize..700, 1..8),
            pull in 1usize..900,
        ) {
            let input: Vec<f32> = (0..len).map(|i| ((i * 7919) % 2000) as f32 / 1000.0 - 1.0).collect();
            let whole = run(rates, &input, &[len.max(1)], 4096);
            let chunked = run(rates, &input, &chunks, pull);
            prop_assert_eq!(&whole, &chunked);
            let expected = len as f64 * rates.1 as f64 / rates.0 as f64;
            prop_assert!(
                (whole.len() as f64 - expected).abs() <= 1.0,
                "{} samples from {} at {:?}", whole.len(), len, rates
            );
        }
    }
}
