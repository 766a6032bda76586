//! WAV files: any PCM/float WAV as a source (mixed down to mono, resampled to 48 kHz), and a
//! 48 kHz mono 16-bit WAV as a sink whose header is rewritten every 100 ms, so a recording cut
//! short by a kill or a crash is still a valid file up to the last checkpoint.
//!
//! Reading and writing happen on the engine's clock: a 20 ms frame is a few kilobytes of
//! buffered file I/O.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use super::resample::Resampler;
use super::{AudioSink, AudioSource, FRAME_SAMPLES, Frame, SAMPLE_RATE, SourceStatus, to_i16};
use crate::media::MediaError;
use crate::media::error::one_line;

/// Input frames read from the file per refill.
const READ_CHUNK: usize = 480;
/// Frames between header checkpoints of a recording.
const CHECKPOINT_FRAMES: u32 = 5;

enum Encoding {
    Int { scale: f32 },
    Float,
}

pub struct WavSource {
    path: PathBuf,
    reader: hound::WavReader<BufReader<File>>,
    channels: usize,
    encoding: Encoding,
    resampler: Resampler,
    out: [f32; FRAME_SAMPLES],
    input_done: bool,
    ended: bool,
}

impl WavSource {
    pub fn open(path: &Path) -> Result<Self, MediaError> {
        let err = |reason: String| MediaError::WavInput {
            path: path.to_owned(),
            reason,
        };
        let reader = hound::WavReader::open(path).map_err(|e| match e {
            hound::Error::IoError(io) => err(one_line(io)),
            hound::Error::FormatError(what) => err(format!("not a WAV file ({what})")),
            other => err(one_line(other)),
        })?;
        let spec = reader.spec();
        if spec.channels == 0 || !(1_000..=768_000).contains(&spec.sample_rate) {
            return Err(err(format!(
                "unsupported format: {} channels at {} Hz",
                spec.channels, spec.sample_rate
            )));
        }
        let encoding = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Int, bits @ 1..=32) => Encoding::Int {
                scale: 1.0 / (1u64 << (bits - 1)) as f32,
            },
            (hound::SampleFormat::Float, 32) => Encoding::Float,
            (format, bits) => {
                return Err(err(format!(
                    "unsupported sample format: {bits}-bit {format:?}"
                )));
            }
        };
        Ok(WavSource {
            path: path.to_owned(),
            channels: spec.channels as usize,
            encoding,
            resampler: Resampler::new(spec.sample_rate, SAMPLE_RATE),
            reader,
            out: [0.0; FRAME_SAMPLES],
            input_done: false,
            ended: false,
        })
    }

    /// Reads up to `READ_CHUNK` frames from the file into the resampler, mixed down to mono.
    fn refill(&mut self) {
        let channels = self.channels;
        let mut frames = 0;
        let mut acc = 0.0f32;
        let mut in_frame = 0;
        let mut failed = None;
        macro_rules! drain {
            ($iter:expr, $conv:expr) => {
                for sample in $iter {
                    match sample {
                        Ok(s) => {
                            acc += $conv(s);
                            in_frame += 1;
                            if in_frame == channels {
                                self.resampler.push(std::iter::once(acc / channels as f32));
                                acc = 0.0;
                                in_frame = 0;
                                frames += 1;
                                if frames == READ_CHUNK {
                                    break;
                                }
                            }
                        }
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
            };
        }
        match self.encoding {
            Encoding::Int { scale } => {
                drain!(self.reader.samples::<i32>(), |s: i32| s as f32 * scale)
            }
            Encoding::Float => drain!(self.reader.samples::<f32>(), |s: f32| s),
        }
        if let Some(e) = failed {
            tracing::warn!(path = %self.path.display(), "WAV input cut short: {}", one_line(e));
        }
        if frames < READ_CHUNK {
            self.input_done = true;
            self.resampler.flush();
        }
    }
}

impl AudioSource for WavSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceStatus {
        if self.ended {
            frame.fill(0);
            return SourceStatus::Ended;
        }
        while !self.input_done && self.resampler.available() < FRAME_SAMPLES {
            self.refill();
        }
        let n = self.resampler.pull(&mut self.out);
        for (o, &x) in frame.iter_mut().zip(&self.out[..n]) {
            *o = to_i16(x);
        }
        frame[n..].fill(0);
        if n == 0 && self.input_done {
            self.ended = true;
            return SourceStatus::Ended;
        }
        SourceStatus::Audio
    }
}

pub struct WavSink {
    path: PathBuf,
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    since_checkpoint: u32,
}

impl WavSink {
    pub fn create(path: &Path) -> Result<Self, MediaError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(path, spec).map_err(|e| MediaError::Output {
            path: path.to_owned(),
            reason: hound_reason(e),
        })?;
        // A valid (empty) file exists from the start.
        writer.flush().map_err(|e| MediaError::Output {
            path: path.to_owned(),
            reason: hound_reason(e),
        })?;
        Ok(WavSink {
            path: path.to_owned(),
            writer: Some(writer),
            since_checkpoint: 0,
        })
    }

    fn fail(&self, e: hound::Error) -> MediaError {
        MediaError::Output {
            path: self.path.clone(),
            reason: hound_reason(e),
        }
    }
}

fn hound_reason(e: hound::Error) -> String {
    match e {
        hound::Error::IoError(io) => one_line(io),
        other => one_line(other),
    }
}

impl AudioSink for WavSink {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), MediaError> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(MediaError::Output {
                path: self.path.clone(),
                reason: "already closed".into(),
            });
        };
        let mut result = Ok(());
        for &s in frame.iter() {
            if let Err(e) = writer.write_sample(s) {
                result = Err(e);
                break;
            }
        }
        if result.is_ok() {
            self.since_checkpoint += 1;
            if self.since_checkpoint >= CHECKPOINT_FRAMES {
                self.since_checkpoint = 0;
                result = writer.flush();
            }
        }
        result.map_err(|e| self.fail(e))
    }

    fn finish(&mut self) -> Result<(), MediaError> {
        match self.writer.take() {
            Some(writer) => writer.finalize().map_err(|e| self.fail(e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(
        path: &Path,
        rate: u32,
        channels: u16,
        bits: u16,
        frames: usize,
        f: impl Fn(usize, u16) -> f64,
    ) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: if bits == 32 {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..frames {
            for c in 0..channels {
                let x = f(i, c);
                match bits {
                    32 => w.write_sample(x as f32).unwrap(),
                    16 => w.write_sample((x * 32767.0) as i16).unwrap(),
                    24 => w.write_sample((x * 8_388_607.0) as i32).unwrap(),
                    8 => w.write_sample((x * 127.0) as i8).unwrap(),
                    _ => unreachable!(),
                }
            }
        }
        w.finalize().unwrap();
    }

    fn read_all(src: &mut WavSource) -> (Vec<i16>, usize) {
        let mut out = Vec::new();
        let mut f = [0i16; FRAME_SAMPLES];
        let mut frames = 0;
        while src.read_frame(&mut f) == SourceStatus::Audio {
            out.extend_from_slice(&f);
            frames += 1;
            assert!(frames < 10_000);
        }
        (out, frames)
    }

    #[test]
    fn a_48k_mono_file_is_read_sample_exact_then_ends_in_silence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.wav");
        write_wav(&path, 48_000, 1, 16, 2400, |i, _| {
            ((i % 100) as f64 - 50.0) / 100.0
        });
        let mut src = WavSource::open(&path).unwrap();
        let (out, frames) = read_all(&mut src);
        assert_eq!(frames, 3, "2400 samples = 2.5 frames, the last one padded");
        for (i, &s) in out[..2400].iter().enumerate() {
            assert_eq!(s, (((i % 100) as f64 - 50.0) / 100.0 * 32767.0) as i16);
        }
        assert!(out[2400..].iter().all(|&s| s == 0));
        let mut f = [1i16; FRAME_SAMPLES];
        assert_eq!(src.read_frame(&mut f), SourceStatus::Ended);
        assert!(f.iter().all(|&s| s == 0));
        assert_eq!(src.read_frame(&mut f), SourceStatus::Ended);
    }

    #[test]
    fn stereo_44k1_24bit_is_mixed_down_and_resampled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.wav");
        // Both channels carry a 500 Hz tone, which the mono mix keeps at full amplitude; a
        // 3 kHz tone on the left only comes out at half amplitude.
        write_wav(&path, 44_100, 2, 24, 44_100, |i, c| {
            let t = i as f64 / 44_100.0;
            let a = 0.4 * (std::f64::consts::TAU * 500.0 * t).sin();
            if c == 0 {
                a + 0.2 * (std::f64::consts::TAU * 3000.0 * t).sin()
            } else {
                a
            }
        });
        let mut src = WavSource::open(&path).unwrap();
        let (out, frames) = read_all(&mut src);
        assert_eq!(frames, 50, "one second");
        let x: Vec<f32> = out[4_800..43_200]
            .iter()
            .map(|&s| s as f32 / 32767.0)
            .collect();
        let amp = |freq: f64| {
            let (mut re, mut im) = (0.0, 0.0);
            for (i, &s) in x.iter().enumerate() {
                let ph = std::f64::consts::TAU * freq * i as f64 / 48_000.0;
                re += s as f64 * ph.cos();
                im += s as f64 * ph.sin();
            }
            2.0 * (re * re + im * im).sqrt() / x.len() as f64
        };
        assert!((amp(500.0) - 0.4).abs() < 0.01, "{}", amp(500.0));
        assert!((amp(3000.0) - 0.1).abs() < 0.01, "{}", amp(3000.0));
    }

    #[test]
    fn float_and_8bit_files_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        for bits in [8, 32] {
            let path = dir.path().join(format!("in{bits}.wav"));
            write_wav(&path, 16_000, 1, bits, 16_000, |i, _| {
                0.5 * (std::f64::consts::TAU * 250.0 * i as f64 / 16_000.0).sin()
            });
            let mut src = WavSource::open(&path).unwrap();
            let (out, frames) = read_all(&mut src);
            assert_eq!(frames, 50);
            let peak = out[1000..40_000]
                .iter()
                .map(|s| s.unsigned_abs())
                .max()
                .unwrap();
            assert!((15_500..=17_000).contains(&peak), "{bits}-bit peak {peak}");
        }
    }

    #[test]
    fn a_file_that_is_not_a_wav_is_refused_with_one_line_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.wav");
        std::fs::write(&path, b"this is not audio at all, just some text\n").unwrap();
        let err = WavSource::open(&path).err().unwrap().to_string();
        assert!(
            err.contains("notes.wav") && err.contains("not a WAV file"),
            "{err}"
        );
        assert!(!err.contains('\n'));

        let missing = dir.path().join("missing.wav");
        let err = WavSource::open(&missing).err().unwrap().to_string();
        assert!(
            err.contains("missing.wav") && err.contains("No such file"),
            "{err}"
        );
    }

    #[test]
    fn an_unwritable_output_is_refused_when_opened() {
        let err = WavSink::create(Path::new("/nonexistent-dir/out.wav"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("cannot write '/nonexistent-dir/out.wav'"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn a_recording_stays_readable_if_the_process_dies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.wav");
        let mut sink = WavSink::create(&path).unwrap();
        let frame: Frame = std::array::from_fn(|i| i as i16);
        for _ in 0..12 {
            sink.write_frame(&frame).unwrap();
        }
        // Simulate a kill: no finish(), no destructor.
        std::mem::forget(sink);
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec().sample_rate, 48_000);
        assert_eq!(reader.spec().channels, 1);
        let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
        assert_eq!(
            samples.len(),
            10 * FRAME_SAMPLES,
            "everything up to the last checkpoint"
        );
        assert_eq!(&samples[..FRAME_SAMPLES], &frame[..]);
    }

    #[test]
    fn finish_writes_every_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.wav");
        let mut sink = WavSink::create(&path).unwrap();
        for k in 0..7 {
            sink.write_frame(&[k as i16; FRAME_SAMPLES]).unwrap();
        }
        sink.finish().unwrap();
        let samples: Vec<i16> = hound::WavReader::open(&path)
            .unwrap()
            .into_samples()
            .map(Result::unwrap)
            .collect();
        assert_eq!(samples.len(), 7 * FRAME_SAMPLES);
        assert_eq!(samples[6 * FRAME_SAMPLES], 6);
    }
}
