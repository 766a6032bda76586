//! Where a call's sound comes from and goes to: one trait for sources, one for sinks, chosen by a
//! spec string, so the media engine never knows whether it talks to a sound card, a file, a pipe
//! or a test tone.
//!
//! | spec | source (`--input`) | sink (`--output`) |
//! |---|---|---|
//! | `default` / `device:NAME` | cpal capture device | cpal playback device |
//! | `PATH.wav` / `wav:PATH` | WAV file, any rate/channels, resampled to 48 kHz mono; silence once it ends | 48 kHz mono s16 WAV, header kept valid while recording |
//! | `raw:-` | s16le 48 kHz mono from stdin | s16le 48 kHz mono to stdout |
//! | `tone:FREQ` | sine wave | — |
//! | `null` | silence | discard |
//!
//! Everything here works in 20 ms frames of 960 mono `i16` samples at 48 kHz ([`Frame`]).
//! Parsing a spec ([`AudioSpec::from_str`]) is pure; opening one ([`open_source`],
//! [`open_sink`]) touches files and devices and reports every problem then — before any call is
//! placed — as one [`MediaError`] line.
//!
//! Sources and sinks are driven by the engine's 20 ms clock and must not block it: device and
//! pipe endpoints hand samples across a bounded ring to their own thread, dropping or inserting
//! samples when the other side runs fast or slow (devices are not trusted to keep time).

mod device;
mod pace;
mod raw;
pub mod resample;
pub mod ring;
mod tone;
mod wav;

use std::path::PathBuf;
use std::str::FromStr;

pub use crate::media::MediaError;
pub use device::{DeviceInfo, list_devices};

/// Sample rate of everything in the engine.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms mono frame.
pub const FRAME_SAMPLES: usize = 960;
/// One 20 ms frame of 48 kHz mono audio.
pub type Frame = [i16; FRAME_SAMPLES];

/// Whether a source still has input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStatus {
    /// The frame holds input (possibly padded with silence if a device or pipe fell behind).
    Audio,
    /// The input is over (end of file, stdin closed); the frame is silence, as will be every
    /// later one. This is what a `--hangup-after-input` option watches for.
    Ended,
}

/// Produces 20 ms frames on demand of the engine's clock.
pub trait AudioSource: Send {
    /// Fills `frame` with the next 20 ms. Returns promptly: a source with nothing ready fills
    /// silence.
    fn read_frame(&mut self, frame: &mut Frame) -> SourceStatus;

    /// A failure the source met since the last call (a capture device that went away), for the
    /// engine to report. The source keeps producing silence after it.
    fn take_error(&mut self) -> Option<MediaError> {
        None
    }
}

/// Consumes 20 ms frames from the engine's clock.
pub trait AudioSink: Send {
    /// Takes the next 20 ms. Returns promptly; an error means the sink is unusable from now on.
    fn write_frame(&mut self, frame: &Frame) -> Result<(), MediaError>;

    /// Flushes everything written and closes the sink (a WAV file gets its final header).
    fn finish(&mut self) -> Result<(), MediaError>;
}

/// A parsed `--input`/`--output` value. See the module table.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioSpec {
    /// The system's default device.
    Default,
    /// A cpal device by name, as listed by [`list_devices`].
    Device(String),
    Wav(PathBuf),
    /// Standard input (as a source) or standard output (as a sink).
    RawStdio,
    /// A sine wave of this frequency, in Hz.
    Tone(f64),
    Null,
}

impl FromStr for AudioSpec {
    type Err = MediaError;

    fn from_str(spec: &str) -> Result<Self, MediaError> {
        let bad = |reason: &str| MediaError::Spec {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        if spec == "default" {
            return Ok(AudioSpec::Default);
        }
        if spec == "null" {
            return Ok(AudioSpec::Null);
        }
        if let Some(name) = spec.strip_prefix("device:") {
            if name.is_empty() {
                return Err(bad("the device name is empty (see `mxcall devices`)"));
            }
            return Ok(AudioSpec::Device(name.to_owned()));
        }
        if let Some(path) = spec.strip_prefix("wav:") {
            if path.is_empty() {
                return Err(bad("the file name is empty"));
            }
            return Ok(AudioSpec::Wav(PathBuf::from(path)));
        }
        if let Some(target) = spec.strip_prefix("raw:") {
            return if target == "-" {
                Ok(AudioSpec::RawStdio)
            } else {
                Err(bad("only 'raw:-' (standard input/output) is supported"))
            };
        }
        if let Some(freq) = spec.strip_prefix("tone:") {
            let f: f64 = freq
                .parse()
                .map_err(|_| bad("the frequency is not a number"))?;
            if !(f > 0.0 && f < SAMPLE_RATE as f64 / 2.0) {
                return Err(bad("the frequency must be above 0 and below 24000 Hz"));
            }
            return Ok(AudioSpec::Tone(f));
        }
        if spec.len() > 4 && spec[spec.len() - 4..].eq_ignore_ascii_case(".wav") {
            return Ok(AudioSpec::Wav(PathBuf::from(spec)));
        }
        Err(bad(
            "expected default, device:NAME, PATH.wav, wav:PATH, raw:-, tone:FREQ or null",
        ))
    }
}

impl std::fmt::Display for AudioSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AudioSpec::Default => f.write_str("default"),
            AudioSpec::Device(name) => write!(f, "device:{name}"),
            AudioSpec::Wav(path) => write!(f, "wav:{}", path.display()),
            AudioSpec::RawStdio => f.write_str("raw:-"),
            AudioSpec::Tone(freq) => write!(f, "tone:{freq}"),
            AudioSpec::Null => f.write_str("null"),
        }
    }
}

/// Opens a source; every problem (missing device, unreadable or non-WAV file) is reported here.
pub fn open_source(spec: &AudioSpec) -> Result<Box<dyn AudioSource>, MediaError> {
    Ok(match spec {
        AudioSpec::Default => Box::new(device::DeviceSource::open(None)?),
        AudioSpec::Device(name) => Box::new(device::DeviceSource::open(Some(name))?),
        AudioSpec::Wav(path) => Box::new(wav::WavSource::open(path)?),
        AudioSpec::RawStdio => Box::new(raw::StdinSource::open()),
        AudioSpec::Tone(freq) => Box::new(tone::ToneSource::new(*freq)),
        AudioSpec::Null => Box::new(NullSource),
    })
}

/// Opens a sink; every problem (missing device, unwritable path) is reported here.
pub fn open_sink(spec: &AudioSpec) -> Result<Box<dyn AudioSink>, MediaError> {
    Ok(match spec {
        AudioSpec::Default => Box::new(device::DeviceSink::open(None)?),
        AudioSpec::Device(name) => Box::new(device::DeviceSink::open(Some(name))?),
        AudioSpec::Wav(path) => Box::new(wav::WavSink::create(path)?),
        AudioSpec::RawStdio => Box::new(raw::StdoutSink::open()),
        AudioSpec::Tone(_) => {
            return Err(MediaError::WrongDirection {
                spec: spec.to_string(),
                direction: "output",
            });
        }
        AudioSpec::Null => Box::new(NullSink),
    })
}

/// Silence forever; never ends (a call with no input is still a call).
pub struct NullSource;

impl AudioSource for NullSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceStatus {
        frame.fill(0);
        SourceStatus::Audio
    }
}

/// Discards everything.
pub struct NullSink;

impl AudioSink for NullSink {
    fn write_frame(&mut self, _frame: &Frame) -> Result<(), MediaError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), MediaError> {
        Ok(())
    }
}

pub use tone::ToneSource;
pub use wav::{WavSink, WavSource};

/// Converts a float sample in [-1, 1) to `i16`, saturating; the inverse of `s / 32768`, so
/// 16-bit input passes through unchanged.
pub(crate) fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let p = |s: &str| s.parse::<AudioSpec>();
        assert_eq!(p("default").unwrap(), AudioSpec::Default);
        assert_eq!(p("null").unwrap(), AudioSpec::Null);
        assert_eq!(
            p("device:hw:CARD=0,DEV=0").unwrap(),
            AudioSpec::Device("hw:CARD=0,DEV=0".into())
        );
        assert_eq!(
            p("wav:/tmp/a b").unwrap(),
            AudioSpec::Wav("/tmp/a b".into())
        );
        assert_eq!(p("rec.WAV").unwrap(), AudioSpec::Wav("rec.WAV".into()));
        assert_eq!(p("raw:-").unwrap(), AudioSpec::RawStdio);
        assert_eq!(p("tone:440").unwrap(), AudioSpec::Tone(440.0));
        assert_eq!(p("tone:1e3").unwrap(), AudioSpec::Tone(1000.0));
        for bad in [
            "",
            "tone:",
            "tone:x",
            "tone:0",
            "tone:30000",
            "raw:/dev/dsp",
            "device:",
            "wav:",
            "foo.mp3",
            "speaker",
        ] {
            let err = p(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid audio spec"), "{bad}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "default",
            "null",
            "device:x",
            "wav:a.wav",
            "raw:-",
            "tone:440",
        ] {
            assert_eq!(s.parse::<AudioSpec>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn a_tone_is_not_an_output() {
        let err = open_sink(&AudioSpec::Tone(440.0)).err().unwrap();
        assert_eq!(
            err.to_string(),
            "'tone:440' cannot be used as an audio output"
        );
    }

    #[test]
    fn null_endpoints() {
        let mut f = [1i16; FRAME_SAMPLES];
        assert_eq!(NullSource.read_frame(&mut f), SourceStatus::Audio);
        assert!(f.iter().all(|&s| s == 0));
        NullSink.write_frame(&f).unwrap();
        NullSink.finish().unwrap();
    }
}
