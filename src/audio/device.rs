//! Sound devices through cpal: capture as a source, playback as a sink, and the device list for
//! `mxcall devices`.
//!
//! A device runs on cpal's callback thread at its own pace — which is not necessarily real time:
//! ALSA's `null` and `file` plugins run as fast as the CPU allows. So the device is never
//! trusted to keep time. Between its callback and the engine's 20 ms clock sits a bounded
//! lock-free ring; each side primes to two frames before it starts taking from the ring, and an
//! empty ring gives silence. A capture device that runs ahead of real time is slowed to it
//! ([`Pacer`]); a full capture ring (nobody read for half a second) drops whole device periods,
//! and what it holds then is stale, so the next read keeps only the newest two frames. Otherwise
//! only a *standing* backlog — one that went unused for a whole second — is cut ([`Backlog`]):
//! latency stays bounded when a device drifts, while the burst in which either side catches up
//! after a stall is played, not thrown away just before it is needed.
//!
//! Rates other than 48 kHz are resampled; any channel count is mixed down (capture) or
//! duplicated (playback); sample formats i16 and f32 are supported.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{SampleFormat, StreamConfig, SupportedBufferSize};
use serde::Serialize;

use super::pace::{Backlog, Pacer};
use super::resample::Resampler;
use super::ring::{RingConsumer, RingProducer, ring};
use super::{AudioSink, AudioSource, FRAME_SAMPLES, Frame, SAMPLE_RATE, SourceStatus, to_i16};
use crate::media::MediaError;
use crate::media::error::one_line;

/// Frames (of 20 ms) each side keeps buffered before taking from the ring.
const PRIME_FRAMES: usize = 2;
/// A ring that never held less than this many frames after a take for a whole window has that
/// much latency to spare: it is cut to `BACKLOG_KEEP_FRAMES`.
const BACKLOG_LIMIT_FRAMES: usize = 3;
const BACKLOG_KEEP_FRAMES: usize = 1;
const BACKLOG_WINDOW_FRAMES: usize = 50;
/// The longest a callback sleeps at once to stay in real time (a stream being stopped waits
/// for its callback to return).
const MAX_PACE_SLEEP: Duration = Duration::from_millis(50);
/// The device period asked for, in 48 kHz samples (10 ms); the device may refuse it.
const PREFERRED_PERIOD: u32 = 480;

/// One entry of `mxcall devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    /// What to write after `device:` to use this device.
    pub name: String,
    /// The human-readable description the system gives.
    pub description: String,
    pub input: bool,
    pub output: bool,
    pub default_input: bool,
    pub default_output: bool,
}

/// Lists the cpal devices of the default host.
pub fn list_devices() -> Result<Vec<DeviceInfo>, MediaError> {
    quiet_alsa(|| {
        let host = cpal::default_host();
        let default_in = host.default_input_device().and_then(|d| d.id().ok());
        let default_out = host.default_output_device().and_then(|d| d.id().ok());
        let devices = host.devices().map_err(|e| MediaError::Device {
            name: host.id().name().to_owned(),
            reason: format!("cannot list devices: {}", one_line(e)),
        })?;
        Ok(devices
            .filter_map(|d| {
                let id = d.id().ok()?;
                let description = d
                    .description()
                    .map(|x| x.name().to_owned())
                    .unwrap_or_default();
                Some(DeviceInfo {
                    name: id.id().to_owned(),
                    description,
                    input: d.supports_input(),
                    output: d.supports_output(),
                    default_input: default_in.as_ref() == Some(&id),
                    default_output: default_out.as_ref() == Some(&id),
                })
            })
            .collect())
    })
}

/// What to tell the user about a cpal error on a device.
fn device_reason(e: cpal::Error) -> String {
    match e.kind() {
        cpal::ErrorKind::DeviceNotAvailable => {
            "not available (no such device, or no sound card; see `mxcall devices`)".to_owned()
        }
        _ => one_line(e),
    }
}

/// Runs `op` with alsa-lib's error printing (which goes straight to stderr, many lines for a
/// machine without a sound card) captured instead, and logged at debug level.
fn quiet_alsa<T>(op: impl FnOnce() -> T) -> T {
    #[cfg(target_os = "linux")]
    {
        let captured = alsa::Output::local_error_handler().ok();
        let result = op();
        if let Some(out) = captured {
            let text = out.borrow().to_string();
            if !text.trim().is_empty() {
                tracing::debug!("alsa-lib: {}", one_line(text));
            }
        }
        result
    }
    #[cfg(not(target_os = "linux"))]
    op()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Input,
    Output,
}

impl Direction {
    fn word(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

/// Finds a device by the name `list_devices` shows (or its description), or the default.
fn find_device(name: Option<&str>, dir: Direction) -> Result<(cpal::Device, String), MediaError> {
    let host = cpal::default_host();
    let Some(name) = name else {
        let device = match dir {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        };
        return device
            .map(|d| (d, "default".to_owned()))
            .ok_or(MediaError::NoSuchDevice {
                name: "default".into(),
                direction: dir.word(),
            });
    };
    let devices = host.devices().map_err(|e| MediaError::Device {
        name: name.to_owned(),
        reason: format!("cannot list devices: {}", one_line(e)),
    })?;
    let mut wrong_direction = false;
    for d in devices {
        let id = d.id().ok();
        let matches = id
            .as_ref()
            .is_some_and(|id| id.id() == name || id.to_string() == name)
            || d.description().is_ok_and(|x| x.name() == name);
        if !matches {
            continue;
        }
        let usable = match dir {
            Direction::Input => d.supports_input(),
            Direction::Output => d.supports_output(),
        };
        if usable {
            return Ok((d, name.to_owned()));
        }
        wrong_direction = true;
    }
    if wrong_direction {
        return Err(MediaError::Device {
            name: name.to_owned(),
            reason: format!("it is not an {} device", dir.word()),
        });
    }
    Err(MediaError::NoSuchDevice {
        name: name.to_owned(),
        direction: dir.word(),
    })
}

/// Picks a stream configuration: i16 before f32, 48 kHz if offered, fewest channels.
fn choose_config(
    device: &cpal::Device,
    name: &str,
    dir: Direction,
) -> Result<(StreamConfig, SampleFormat, Option<u32>), MediaError> {
    let fail = |e: cpal::Error| MediaError::Device {
        name: name.to_owned(),
        reason: device_reason(e),
    };
    let ranges: Vec<_> = match dir {
        Direction::Input => device.supported_input_configs().map_err(fail)?.collect(),
        Direction::Output => device.supported_output_configs().map_err(fail)?.collect(),
    };
    let best = ranges
        .into_iter()
        .filter(|r| matches!(r.sample_format(), SampleFormat::I16 | SampleFormat::F32))
        .min_by_key(|r| {
            (
                !r.contains_rate(SAMPLE_RATE),
                r.sample_format() != SampleFormat::I16,
                r.channels(),
            )
        })
        .ok_or_else(|| MediaError::Device {
            name: name.to_owned(),
            reason: "it supports neither 16-bit integer nor 32-bit float samples".into(),
        })?;
    let rate = if best.contains_rate(SAMPLE_RATE) {
        SAMPLE_RATE
    } else if best.max_sample_rate() < SAMPLE_RATE {
        best.max_sample_rate()
    } else {
        best.min_sample_rate()
    };
    let period = (PREFERRED_PERIOD as u64 * rate as u64 / SAMPLE_RATE as u64) as u32;
    let fixed = match best.buffer_size() {
        SupportedBufferSize::Range { min, max } if (*min..=*max).contains(&period) => Some(period),
        _ => None,
    };
    let format = best.sample_format();
    let config = best.with_sample_rate(rate).config();
    Ok((config, format, fixed))
}

/// A stream error reported by cpal's error callback, kept for the engine's clock to see.
#[derive(Default)]
struct Fault {
    raised: AtomicBool,
    message: Mutex<Option<String>>,
}

impl Fault {
    fn raise(&self, e: cpal::Error) {
        if !self.raised.swap(true, Ordering::AcqRel) {
            *self.message.lock().unwrap_or_else(|p| p.into_inner()) = Some(one_line(e));
        }
    }
    fn take(&self, name: &str) -> Option<MediaError> {
        if !self.raised.load(Ordering::Acquire) {
            return None;
        }
        let reason = self
            .message
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        Some(MediaError::Device {
            name: name.to_owned(),
            reason,
        })
    }
}

/// Builds a stream with the preferred period, falling back to the device's default.
fn build_with_fallback<S>(
    name: &str,
    config: &StreamConfig,
    fixed: Option<u32>,
    mut build: impl FnMut(StreamConfig) -> Result<S, cpal::Error>,
) -> Result<S, MediaError> {
    if let Some(period) = fixed {
        let cfg = StreamConfig {
            buffer_size: cpal::BufferSize::Fixed(period),
            ..*config
        };
        if let Ok(stream) = build(cfg) {
            return Ok(stream);
        }
    }
    build(*config).map_err(|e| MediaError::Device {
        name: name.to_owned(),
        reason: device_reason(e),
    })
}

/// Capture device as a source.
pub struct DeviceSource {
    name: String,
    stream: cpal::Stream,
    reader: CaptureReader,
    fault: Arc<Fault>,
}

impl DeviceSource {
    /// Opens `name` (or the default input) and starts capturing.
    pub fn open(name: Option<&str>) -> Result<Self, MediaError> {
        quiet_alsa(|| Self::open_inner(name))
    }

    fn open_inner(name: Option<&str>) -> Result<Self, MediaError> {
        let (device, name) = find_device(name, Direction::Input)?;
        let (config, format, fixed) = choose_config(&device, &name, Direction::Input)?;
        let rate = config.sample_rate;
        let channels = config.channels as usize;
        let per_frame = (FRAME_SAMPLES as u64 * rate as u64).div_ceil(SAMPLE_RATE as u64) as usize;
        let (producer, consumer) = ring(per_frame * 25);
        let fault = Arc::new(Fault::default());
        let producer = Arc::new(Mutex::new(Some(producer)));
        let stream = build_with_fallback(&name, &config, fixed, |cfg| {
            // Each attempt needs its own producer; a failed attempt hands it back.
            let mut prod = CaptureWriter {
                ring: producer.clone(),
                channels,
                pacer: Pacer::new(rate),
            };
            let f = fault.clone();
            let on_error = move |e| f.raise(e);
            match format {
                SampleFormat::I16 => device.build_input_stream(
                    cfg,
                    move |data: &[i16], _: &cpal::InputCallbackInfo| prod.write(data, |s| s as i32),
                    on_error,
                    None,
                ),
                _ => device.build_input_stream(
                    cfg,
                    move |data: &[f32], _: &cpal::InputCallbackInfo| {
                        prod.write(data, |s| (s * 32768.0) as i32)
                    },
                    on_error,
                    None,
                ),
            }
        })?;
        stream.play().map_err(|e| MediaError::Device {
            name: name.clone(),
            reason: device_reason(e),
        })?;
        tracing::debug!(device = %name, rate, channels, ?format, "capture started");
        Ok(DeviceSource {
            name,
            stream,
            reader: CaptureReader::new(consumer, rate, per_frame),
            fault,
        })
    }
}

fn backlog(per_frame: usize) -> Backlog {
    Backlog::new(
        BACKLOG_KEEP_FRAMES * per_frame,
        BACKLOG_LIMIT_FRAMES * per_frame,
        BACKLOG_WINDOW_FRAMES * per_frame,
    )
}

/// The capture callback's side of the ring. The ring producer sits behind a mutex only so a
/// failed stream attempt can be retried with it; the callback is its only user once the
/// stream runs, so the lock is never contended.
struct CaptureWriter {
    ring: Arc<Mutex<Option<RingProducer>>>,
    channels: usize,
    pacer: Pacer,
}

impl CaptureWriter {
    fn write<T: Copy>(&mut self, data: &[T], to_i32: impl Fn(T) -> i32) {
        let Ok(mut guard) = self.ring.try_lock() else {
            return;
        };
        let Some(ring) = guard.as_mut() else { return };
        let ch = self.channels.max(1);
        let frames = data.len() / ch;
        // All or nothing: a full ring (half a second queued: the clock is not reading yet, or
        // stalled) loses whole periods, never half of one, and counts them as overflowed,
        // which tells the reader that what is queued is stale.
        ring.push_with(frames, |k| {
            let sum: i32 = data[k * ch..(k + 1) * ch].iter().map(|&s| to_i32(s)).sum();
            (sum / ch as i32).clamp(i16::MIN as i32, i16::MAX as i32) as i16
        });
        drop(guard);
        // A device that is not paced (ALSA's null/file plugins deliver as fast as they are
        // asked) is held to real time, rather than spin a core and have all but the periods
        // that happen to fit the ring dropped.
        if let Some(wait) = self.pacer.pace(frames, Instant::now()) {
            std::thread::sleep(wait.min(MAX_PACE_SLEEP));
        }
    }
}

/// The engine's side of the capture ring: device-rate samples in, 20 ms frames at 48 kHz out.
struct CaptureReader {
    ring: RingConsumer,
    resampler: Resampler,
    rate: u32,
    per_frame: usize,
    primed: bool,
    backlog: Backlog,
    /// The ring's overflow count at the last read.
    overflowed: u64,
    scratch: Box<[i16]>,
    out: [f32; FRAME_SAMPLES],
    inserted: u64,
    dropped: u64,
}

impl CaptureReader {
    fn new(ring: RingConsumer, rate: u32, per_frame: usize) -> Self {
        CaptureReader {
            ring,
            resampler: Resampler::new(rate, SAMPLE_RATE),
            rate,
            per_frame,
            primed: false,
            backlog: backlog(per_frame),
            overflowed: 0,
            scratch: vec![0; 4096].into_boxed_slice(),
            out: [0.0; FRAME_SAMPLES],
            inserted: 0,
            dropped: 0,
        }
    }

    fn read(&mut self, frame: &mut Frame) {
        let overflowed = self.ring.overflowed();
        if overflowed != self.overflowed {
            // The ring ran full since the last read (before the call, or a long stall): what it
            // holds is old and has gaps. Start again from the newest two frames.
            self.overflowed = overflowed;
            let len = self.ring.len();
            let keep = PRIME_FRAMES * self.per_frame;
            if len > keep {
                self.dropped += self.ring.skip(len - keep) as u64;
            }
            self.backlog.restart();
        }
        let cut = self.backlog.check(self.ring.len(), self.per_frame);
        if cut > 0 {
            self.dropped += self.ring.skip(cut) as u64;
        }
        if !self.primed {
            if self.ring.len() + self.resampler.available() < PRIME_FRAMES * self.per_frame {
                frame.fill(0);
                self.inserted += FRAME_SAMPLES as u64;
                return;
            }
            self.primed = true;
        }
        while self.resampler.available() < FRAME_SAMPLES {
            let missing = FRAME_SAMPLES - self.resampler.available();
            let need =
                (missing as u64 * self.rate as u64).div_ceil(SAMPLE_RATE as u64) as usize + 1;
            let want = need.min(self.scratch.len()).min(self.ring.len());
            if want == 0 {
                // The device fell behind the clock: pad with silence and prime again.
                self.primed = false;
                break;
            }
            let got = self.ring.pop(&mut self.scratch[..want]);
            self.resampler
                .push(self.scratch[..got].iter().map(|&s| s as f32 / 32768.0));
        }
        let n = self.resampler.pull(&mut self.out);
        for (o, &x) in frame.iter_mut().zip(&self.out[..n]) {
            *o = to_i16(x);
        }
        frame[n..].fill(0);
        self.inserted += (FRAME_SAMPLES - n) as u64;
    }
}

impl AudioSource for DeviceSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceStatus {
        self.reader.read(frame);
        SourceStatus::Audio
    }

    fn take_error(&mut self) -> Option<MediaError> {
        self.fault.take(&self.name)
    }
}

impl Drop for DeviceSource {
    fn drop(&mut self) {
        let _ = self.stream.pause();
        tracing::debug!(
            device = %self.name,
            inserted = self.reader.inserted,
            dropped = self.reader.dropped,
            overflowed = self.reader.ring.overflowed(),
            "capture stopped"
        );
    }
}

/// Playback device as a sink.
pub struct DeviceSink {
    name: String,
    stream: Option<cpal::Stream>,
    ring: RingProducer,
    resampler: Resampler,
    passthrough: bool,
    out: Box<[f32]>,
    fault: Arc<Fault>,
    underruns: Arc<AtomicU64>,
    /// Set by `finish`: the callback plays what is queued without waiting to prime.
    draining: Arc<AtomicBool>,
    dropped_frames: u64,
}

impl DeviceSink {
    /// Opens `name` (or the default output) and starts playing (silence until frames come).
    pub fn open(name: Option<&str>) -> Result<Self, MediaError> {
        quiet_alsa(|| Self::open_inner(name))
    }

    fn open_inner(name: Option<&str>) -> Result<Self, MediaError> {
        let (device, name) = find_device(name, Direction::Output)?;
        let (config, format, fixed) = choose_config(&device, &name, Direction::Output)?;
        let rate = config.sample_rate;
        let channels = config.channels as usize;
        let per_frame = (FRAME_SAMPLES as u64 * rate as u64).div_ceil(SAMPLE_RATE as u64) as usize;
        let (producer, consumer) = ring(per_frame * 25);
        let fault = Arc::new(Fault::default());
        let underruns = Arc::new(AtomicU64::new(0));
        let draining = Arc::new(AtomicBool::new(false));
        let reader = Arc::new(Mutex::new(PlaybackReader::new(
            consumer,
            channels,
            per_frame,
            underruns.clone(),
            draining.clone(),
        )));
        let stream = build_with_fallback(&name, &config, fixed, |cfg| {
            let r = reader.clone();
            let f = fault.clone();
            let on_error = move |e| f.raise(e);
            match format {
                SampleFormat::I16 => device.build_output_stream(
                    cfg,
                    move |data: &mut [i16], _: &cpal::OutputCallbackInfo| {
                        if let Ok(mut r) = r.try_lock() {
                            r.fill(data, |s| s, 0);
                        }
                    },
                    on_error,
                    None,
                ),
                _ => device.build_output_stream(
                    cfg,
                    move |data: &mut [f32], _: &cpal::OutputCallbackInfo| {
                        if let Ok(mut r) = r.try_lock() {
                            r.fill(data, |s| s as f32 / 32768.0, 0.0);
                        }
                    },
                    on_error,
                    None,
                ),
            }
        })?;
        stream.play().map_err(|e| MediaError::Device {
            name: name.clone(),
            reason: device_reason(e),
        })?;
        tracing::debug!(device = %name, rate, channels, ?format, "playback started");
        Ok(DeviceSink {
            name,
            stream: Some(stream),
            ring: producer,
            resampler: Resampler::new(SAMPLE_RATE, rate),
            passthrough: rate == SAMPLE_RATE,
            out: vec![0.0; per_frame + 64].into_boxed_slice(),
            fault,
            underruns,
            draining,
            dropped_frames: 0,
        })
    }
}

/// The playback callback's side of the ring (behind an uncontended mutex for the same reason
/// as [`CaptureWriter`]).
struct PlaybackReader {
    ring: RingConsumer,
    channels: usize,
    per_frame: usize,
    primed: bool,
    backlog: Backlog,
    scratch: Box<[i16]>,
    underruns: Arc<AtomicU64>,
    draining: Arc<AtomicBool>,
}

impl PlaybackReader {
    fn new(
        ring: RingConsumer,
        channels: usize,
        per_frame: usize,
        underruns: Arc<AtomicU64>,
        draining: Arc<AtomicBool>,
    ) -> Self {
        PlaybackReader {
            ring,
            channels,
            per_frame,
            primed: false,
            backlog: backlog(per_frame),
            scratch: vec![0; 4096].into_boxed_slice(),
            underruns,
            draining,
        }
    }

    fn fill<T: Copy>(&mut self, out: &mut [T], conv: impl Fn(i16) -> T, silence: T) {
        let ch = self.channels.max(1);
        let frames = out.len() / ch;
        let cut = self.backlog.check(self.ring.len(), frames);
        if cut > 0 {
            self.ring.skip(cut);
        }
        if !self.primed {
            // While draining, whatever is queued plays: no more is coming to prime with.
            let draining = self.draining.load(Ordering::Relaxed) && !self.ring.is_empty();
            if !draining && self.ring.len() < PRIME_FRAMES * self.per_frame {
                out.fill(silence);
                return;
            }
            self.primed = true;
        }
        let mut done = 0;
        while done < frames {
            let want = (frames - done).min(self.scratch.len());
            let got = self.ring.pop(&mut self.scratch[..want]);
            for (i, &s) in self.scratch[..got].iter().enumerate() {
                let v = conv(s);
                out[(done + i) * ch..(done + i + 1) * ch].fill(v);
            }
            done += got;
            if got < want {
                // The clock fell behind the device: silence, and prime again.
                out[done * ch..].fill(silence);
                self.primed = false;
                self.backlog.restart();
                if !self.draining.load(Ordering::Relaxed) {
                    self.underruns.fetch_add(1, Ordering::Relaxed);
                }
                break;
            }
        }
    }
}

impl AudioSink for DeviceSink {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), MediaError> {
        if let Some(err) = self.fault.take(&self.name) {
            return Err(err);
        }
        let pushed = if self.passthrough {
            self.ring.push_slice(frame)
        } else {
            self.resampler
                .push(frame.iter().map(|&s| s as f32 / 32768.0));
            let n = self.resampler.pull(&mut self.out);
            let out = &self.out;
            self.ring.push_with(n, |k| to_i16(out[k]))
        };
        if !pushed {
            self.dropped_frames += 1;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), MediaError> {
        if let Some(stream) = self.stream.take() {
            // Let what is queued play out, briefly (less than two frames would otherwise wait
            // for a priming that never comes, and the wait would last the whole 300 ms).
            self.draining.store(true, Ordering::Relaxed);
            let deadline = Instant::now() + Duration::from_millis(300);
            while self.ring.free() < self.ring.capacity() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = stream.pause();
            tracing::debug!(
                device = %self.name,
                underruns = self.underruns.load(Ordering::Relaxed),
                dropped_frames = self.dropped_frames,
                "playback stopped"
            );
        }
        match self.fault.take(&self.name) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(per_frame: usize) -> (RingProducer, PlaybackReader) {
        let (p, c) = ring(per_frame * 25);
        let mut r = PlaybackReader::new(
            c,
            2,
            per_frame,
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        r.scratch = vec![0; 64].into_boxed_slice();
        (p, r)
    }

    #[test]
    fn playback_primes_then_plays_every_sample_on_all_channels() {
        let (mut p, mut r) = reader(10);
        let mut out = [7i16; 16];
        assert!(p.push_slice(&[1; 10]));
        r.fill(&mut out, |s| s, 0);
        assert_eq!(out, [0; 16], "one frame queued: still priming");
        assert!(p.push_slice(&(2..12).collect::<Vec<i16>>()));
        r.fill(&mut out, |s| s, 0);
        assert_eq!(&out[..4], &[1, 1, 1, 1], "interleaved to both channels");
        let mut big = [0i16; 200];
        r.fill(&mut big, |s| s, 0);
        // 20 queued, 8 taken before: 12 left, the rest silence.
        assert_eq!(&big[22..24], &[11, 11]);
        assert!(big[24..].iter().all(|&s| s == 0));
        assert_eq!(r.underruns.load(Ordering::Relaxed), 1);
        assert!(!r.primed, "an underrun primes again");
    }

    /// Pushes `n` samples continuing the counter `next`.
    fn push_counting(p: &mut RingProducer, next: &mut i16, n: usize) {
        assert!(p.push_with(n, |k| next.wrapping_add(k as i16)));
        *next = next.wrapping_add(n as i16);
    }

    /// Takes `frames` mono frames from a two-channel reader, returning the left channel.
    fn play(r: &mut PlaybackReader, frames: usize) -> Vec<i16> {
        let mut out = vec![-1i16; frames * 2];
        r.fill(&mut out, |s| s, 0);
        out.iter().step_by(2).copied().collect()
    }

    #[test]
    fn playback_plays_the_burst_after_a_stall_whole() {
        let (mut p, mut r) = reader(10);
        let mut next = 0i16;
        push_counting(&mut p, &mut next, 20);
        let mut heard = Vec::new();
        for _ in 0..20 {
            push_counting(&mut p, &mut next, 10);
            heard.extend(play(&mut r, 5));
            heard.extend(play(&mut r, 5));
        }
        // The process was descheduled for 200 ms: the clock catches up with ten frames at once,
        // then the device asks for its 200 ms (12 frames queued: more than the old cut-off).
        for _ in 0..10 {
            push_counting(&mut p, &mut next, 10);
        }
        for _ in 0..20 {
            heard.extend(play(&mut r, 5));
        }
        assert_eq!(heard, (0..heard.len() as i16).collect::<Vec<_>>());
        assert_eq!(r.underruns.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn playback_cuts_a_backlog_that_stands_for_a_window() {
        let (mut p, mut r) = reader(10);
        let mut next = 0i16;
        push_counting(&mut p, &mut next, 200);
        let mut heard = Vec::new();
        for tick in 0..BACKLOG_WINDOW_FRAMES * 2 {
            push_counting(&mut p, &mut next, 10);
            heard.extend(play(&mut r, 10));
            if tick < BACKLOG_WINDOW_FRAMES - 1 {
                assert_eq!(
                    r.ring.len(),
                    200,
                    "tick {tick}: a backlog is not cut at once"
                );
            }
        }
        // 20 frames were never needed in the first window: cut once, to one spare frame.
        assert_eq!(r.ring.len(), BACKLOG_KEEP_FRAMES * 10);
        let jumps = heard.windows(2).filter(|w| w[1] != w[0] + 1).count();
        assert_eq!(jumps, 1, "{heard:?}");
        assert_eq!(r.underruns.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_finishing_sink_plays_out_what_is_too_little_to_prime() {
        let (mut p, mut r) = reader(10);
        let mut next = 1i16;
        push_counting(&mut p, &mut next, 10);
        assert_eq!(play(&mut r, 4), [0; 4], "priming");
        r.draining.store(true, Ordering::Relaxed);
        assert_eq!(play(&mut r, 12), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0]);
        assert!(r.ring.is_empty());
        assert_eq!(r.underruns.load(Ordering::Relaxed), 0);
    }

    const PF: usize = FRAME_SAMPLES;

    fn capture() -> (RingProducer, CaptureReader) {
        let (p, c) = ring(PF * 25);
        (p, CaptureReader::new(c, SAMPLE_RATE, PF))
    }

    fn read(r: &mut CaptureReader) -> Vec<i16> {
        let mut f = [0i16; FRAME_SAMPLES];
        r.read(&mut f);
        f.to_vec()
    }

    #[test]
    fn capture_reads_the_burst_after_a_stall_whole() {
        let (mut p, mut r) = capture();
        let mut next = 0i16;
        push_counting(&mut p, &mut next, 2 * PF);
        let mut heard = Vec::new();
        for _ in 0..20 {
            push_counting(&mut p, &mut next, PF / 2);
            push_counting(&mut p, &mut next, PF / 2);
            heard.extend(read(&mut r));
        }
        // 200 ms without a read, then the clock's missed ticks back to back.
        for _ in 0..20 {
            push_counting(&mut p, &mut next, PF / 2);
        }
        for _ in 0..10 {
            heard.extend(read(&mut r));
        }
        assert_eq!(heard.len(), 30 * PF);
        let expect: Vec<i16> = (0..heard.len()).map(|k| k as i16).collect();
        assert!(heard == expect, "a gap or a cut in the burst");
        assert_eq!((r.inserted, r.dropped), (0, 0));
    }

    #[test]
    fn capture_starts_from_the_newest_frames_after_the_ring_ran_full() {
        let (mut p, mut r) = capture();
        let mut next = 0i16;
        // Nobody read for a while: the ring is full and a period was dropped.
        push_counting(&mut p, &mut next, 25 * PF);
        assert!(!p.push_slice(&[0; PF / 2]));
        let f = read(&mut r);
        assert_eq!(f[0], (23 * PF) as i16, "the newest two frames");
        assert_eq!(r.dropped, 23 * PF as u64);
        // Then a read per frame delivered: nothing more is dropped or inserted.
        for _ in 0..100 {
            push_counting(&mut p, &mut next, PF);
            read(&mut r);
        }
        assert_eq!((r.inserted, r.dropped), (0, 23 * PF as u64));
    }

    #[test]
    fn capture_underrun_gives_silence_and_primes_again() {
        let (mut p, mut r) = capture();
        let mut next = 1i16;
        assert!(read(&mut r).iter().all(|&s| s == 0), "nothing captured yet");
        push_counting(&mut p, &mut next, 2 * PF);
        let f = read(&mut r);
        assert_eq!(f[0], 1);
        read(&mut r);
        // The device stopped delivering: silence until two frames are queued again.
        assert!(read(&mut r).iter().all(|&s| s == 0));
        push_counting(&mut p, &mut next, PF);
        assert!(read(&mut r).iter().all(|&s| s == 0), "priming");
        push_counting(&mut p, &mut next, PF);
        assert_ne!(read(&mut r)[5], 0);
    }

    #[test]
    fn float_output_is_scaled() {
        let (mut p, mut r) = reader(1);
        assert!(p.push_slice(&[16384, -16384]));
        let mut out = [0f32; 4];
        r.fill(&mut out, |s| s as f32 / 32768.0, 0.0);
        assert_eq!(out, [0.5, 0.5, -0.5, -0.5]);
    }
}
