//! Media engine benchmark (not a test): two sessions in one process over 127.0.0.1.
//!
//! Prints a table of
//! - setup time: create-offer → first decoded audio frame (several runs);
//! - mouth-to-ear latency: a click-train WAV is sent, the far end records to WAV, and each click
//!   is located in the recording by cross-correlation; "mouth" time of a sample is when a
//!   microphone would have captured it (a frame is read 20 ms after its first sample), "ear"
//!   time is when the sink is handed the frame;
//! - CPU seconds per minute of two-way audio, per side (and as % of one core), and its ratio to
//!   the same run's baseline: the Opus work the same audio needs without the engine (each side
//!   encoding its tone and decoding the other's, as fast as it goes), which this machine's
//!   changing speed moves alike, so the ratio is what compares across runs;
//! - peak RSS of the process.
//!
//! Run with `scripts/bench-media.sh` (a release build). Options: `--setup-runs N`,
//! `--latency-secs S`, `--cpu-secs S`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mxcall::audio::{
    AudioSink, AudioSource, AudioSpec, FRAME_SAMPLES, Frame, MediaError, SourceStatus, open_sink,
    open_source,
};
use mxcall::media::codec::{MAX_PACKET, MAX_PACKET_SAMPLES, OpusDecoder, OpusEncoder};
use mxcall::media::{MediaConfig, MediaEvent, MediaSession};
use tokio::sync::mpsc::Receiver;

const RATE: f64 = 48_000.0;
const CLICK_PERIOD: usize = 24_000; // 500 ms
const CLICK_LEN: usize = 240; // 5 ms

/// Records when the first frame was taken from the wrapped source.
struct TimedSource {
    inner: Box<dyn AudioSource>,
    first_read: Arc<OnceLock<Instant>>,
}

impl AudioSource for TimedSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceStatus {
        self.first_read.get_or_init(Instant::now);
        self.inner.read_frame(frame)
    }
}

/// Records when the first frame was handed to the wrapped sink.
struct TimedSink {
    inner: Box<dyn AudioSink>,
    first_write: Arc<OnceLock<Instant>>,
}

impl AudioSink for TimedSink {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), MediaError> {
        self.first_write.get_or_init(Instant::now);
        self.inner.write_frame(frame)
    }
    fn finish(&mut self) -> Result<(), MediaError> {
        self.inner.finish()
    }
}

struct Pair {
    a: MediaSession,
    a_events: Receiver<MediaEvent>,
    b: MediaSession,
    b_events: Receiver<MediaEvent>,
}

/// Connects two sessions; returns them with the time from create-offer until both have
/// decoded their first frame.
async fn connect(
    a_io: (Box<dyn AudioSource>, Box<dyn AudioSink>),
    b_io: (Box<dyn AudioSource>, Box<dyn AudioSink>),
) -> (Pair, Duration) {
    let (a, a_events) = MediaSession::new(MediaConfig::loopback(), a_io.0, a_io.1)
        .await
        .unwrap();
    let (b, b_events) = MediaSession::new(MediaConfig::loopback(), b_io.0, b_io.1)
        .await
        .unwrap();
    let mut p = Pair {
        a,
        a_events,
        b,
        b_events,
    };
    let start = Instant::now();
    let offer = p.a.create_offer().await.unwrap();
    let answer = p.b.accept_offer(&offer).await.unwrap();
    p.a.accept_answer(&answer).await.unwrap();
    let mut heard = [false, false];
    while heard != [true, true] {
        if !pump_once(&mut p, &mut heard, start + Duration::from_secs(10)).await {
            panic!("no audio within 10 s");
        }
    }
    let setup = start.elapsed();
    (p, setup)
}

/// Handles one event of either side; false at `deadline`.
async fn pump_once(p: &mut Pair, heard: &mut [bool; 2], deadline: Instant) -> bool {
    let (side, event) = tokio::select! {
        Some(e) = p.a_events.recv() => (0, e),
        Some(e) = p.b_events.recv() => (1, e),
        _ = tokio::time::sleep_until(deadline.into()) => return false,
    };
    let other = if side == 0 { &p.b } else { &p.a };
    match event {
        MediaEvent::LocalCandidate(c) => other.add_remote_candidate(Some(c)).await.unwrap(),
        MediaEvent::GatheringComplete => other.add_remote_candidate(None).await.unwrap(),
        MediaEvent::FirstAudio => heard[side] = true,
        MediaEvent::Error(e) => panic!("side {side}: {e}"),
        _ => {}
    }
    true
}

async fn run_for(p: &mut Pair, d: Duration) {
    let deadline = Instant::now() + d;
    let mut heard = [true, true];
    while pump_once(p, &mut heard, deadline).await {}
}

async fn close(p: Pair) {
    p.a.close().await;
    p.b.close().await;
}

/// What each side sends in the setup and CPU runs (and the baseline encodes): a 440 Hz tone.
fn tone() -> Box<dyn AudioSource> {
    open_source(&AudioSpec::Tone(440.0)).unwrap()
}

fn null_io() -> (Box<dyn AudioSource>, Box<dyn AudioSink>) {
    (tone(), open_sink(&AudioSpec::Null).unwrap())
}

fn click() -> Vec<f64> {
    (0..CLICK_LEN)
        .map(|i| {
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / CLICK_LEN as f64).cos();
            0.6 * w * (std::f64::consts::TAU * 2_000.0 * i as f64 / RATE).sin()
        })
        .collect()
}

fn write_click_train(path: &Path, secs: f64) -> Vec<usize> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let n = (secs * RATE) as usize;
    let c = click();
    let mut onsets = Vec::new();
    for i in 0..n {
        // A click every 500 ms, the first after 250 ms.
        let pos = (i + CLICK_PERIOD / 2) % CLICK_PERIOD;
        let s = if pos < CLICK_LEN { c[pos] } else { 0.0 };
        if pos == 0 {
            onsets.push(i);
        }
        w.write_sample((s * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    onsets
}

/// Mouth-to-ear latency of each click, in ms.
async fn latency(dir: &Path, secs: f64) -> Vec<f64> {
    let input = dir.join("clicks.wav");
    let record = dir.join("heard.wav");
    let onsets = write_click_train(&input, secs);
    let first_read = Arc::new(OnceLock::new());
    let first_write = Arc::new(OnceLock::new());
    let a_io: (Box<dyn AudioSource>, Box<dyn AudioSink>) = (
        Box::new(TimedSource {
            inner: open_source(&AudioSpec::Wav(input)).unwrap(),
            first_read: first_read.clone(),
        }),
        open_sink(&AudioSpec::Null).unwrap(),
    );
    let b_io: (Box<dyn AudioSource>, Box<dyn AudioSink>) = (
        open_source(&AudioSpec::Null).unwrap(),
        Box::new(TimedSink {
            inner: open_sink(&AudioSpec::Wav(record.clone())).unwrap(),
            first_write: first_write.clone(),
        }),
    );
    let (mut p, _) = connect(a_io, b_io).await;
    run_for(&mut p, Duration::from_secs_f64(secs + 0.5)).await;
    close(p).await;

    let heard: Vec<f64> = hound::WavReader::open(&record)
        .unwrap()
        .into_samples::<i16>()
        .map(|s| s.unwrap() as f64 / 32768.0)
        .collect();
    let t_src = *first_read.get().unwrap();
    let t_sink = *first_write.get().unwrap();
    // Mouth time of input sample i: t_src - 20 ms + i/RATE. Ear time of recorded sample j:
    // t_sink + j/RATE. For a latency L (in samples), input sample i is heard at
    // j = i + L - offset, where offset = (t_sink - t_src + 20 ms) in samples.
    let offset = ((t_sink - t_src).as_secs_f64() + 0.020) * RATE;
    let c = click();
    let mut out = Vec::new();
    for &i in &onsets {
        let mut best = (0usize, f64::MIN);
        for lag in 0..(CLICK_PERIOD / 2) {
            let j0 = i as f64 + lag as f64 - offset;
            if j0 < 0.0 {
                continue;
            }
            let j0 = j0 as usize;
            if j0 + CLICK_LEN > heard.len() {
                break;
            }
            let corr: f64 = c
                .iter()
                .zip(&heard[j0..j0 + CLICK_LEN])
                .map(|(a, b)| a * b)
                .sum();
            if corr > best.1 {
                best = (lag, corr);
            }
        }
        let energy: f64 = c.iter().map(|a| a * a).sum();
        if best.1 > 0.3 * energy {
            out.push(best.0 as f64 / RATE * 1000.0);
        }
    }
    out
}

/// The baseline: CPU seconds the codec work of `secs` of two-way audio takes alone — two
/// sides, each encoding the CPU run's [`tone`] with the call's encoder and decoding the other
/// side's packets with the call's decoder.
fn codec_only_cpu(secs: f64) -> f64 {
    let frames = (secs * RATE / FRAME_SAMPLES as f64).round() as usize;
    let side = || {
        (
            tone(),
            OpusEncoder::new().unwrap(),
            OpusDecoder::new().unwrap(),
        )
    };
    let (mut a, mut b) = (side(), side());
    let mut pcm: Frame = [0; FRAME_SAMPLES];
    let mut packet = [0u8; MAX_PACKET];
    let mut out = [0i16; MAX_PACKET_SAMPLES];
    let mut decoded = 0usize;
    let cpu0 = cpu_seconds();
    type Side = (Box<dyn AudioSource>, OpusEncoder, OpusDecoder);
    let mut send = |from: &mut Side, to: &mut Side| {
        from.0.read_frame(&mut pcm);
        let n = from.1.encode(&pcm, &mut packet).unwrap();
        decoded += to.2.decode(&packet[..n], &mut out).unwrap();
    };
    for _ in 0..frames {
        send(&mut a, &mut b);
        send(&mut b, &mut a);
    }
    let cpu = cpu_seconds() - cpu0;
    assert_eq!(decoded, 2 * frames * FRAME_SAMPLES);
    cpu
}

fn cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn stats_line(xs: &[f64]) -> String {
    if xs.is_empty() {
        return "n/a".into();
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    format!(
        "median {:.1}  min {:.1}  max {:.1}  (n={})",
        v[v.len() / 2],
        v[0],
        v[v.len() - 1],
        v.len()
    )
}

fn arg(args: &[String], name: &str, default: f64) -> f64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let setup_runs = arg(&args, "--setup-runs", 5.0) as usize;
    let latency_secs = arg(&args, "--latency-secs", 10.0);
    let cpu_secs = arg(&args, "--cpu-secs", 30.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir_path: PathBuf = dir.path().to_owned();

    rt.block_on(async move {
        let mut setups = Vec::new();
        for _ in 0..setup_runs {
            let (p, setup) = connect(null_io(), null_io()).await;
            setups.push(setup.as_secs_f64() * 1000.0);
            close(p).await;
        }

        let latencies = latency(&dir_path, latency_secs).await;

        let (mut p, _) = connect(null_io(), null_io()).await;
        run_for(&mut p, Duration::from_secs(1)).await; // settle
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        run_for(&mut p, Duration::from_secs_f64(cpu_secs)).await;
        let cpu = cpu_seconds() - cpu0;
        let wall = t0.elapsed().as_secs_f64();
        let (sa, sb) = (p.a.stats(), p.b.stats());
        close(p).await;
        let per_side_per_min = cpu / wall * 60.0 / 2.0;
        let per_side_core = cpu / wall / 2.0 * 100.0;
        let codec_cpu = codec_only_cpu(wall);

        println!();
        println!("mxcall media benchmark (loopback 127.0.0.1, Opus 48 kHz mono 20 ms, release build)");
        println!("{:-<96}", "");
        println!("{:<44} {}", "create-offer -> first decoded frame (ms)", stats_line(&setups));
        println!("{:<44} {}", "mouth-to-ear latency (ms)", stats_line(&latencies));
        println!(
            "{:<44} {:.2} s/min per side  ({:.2}% of one core; {:.1} s of audio, both sides {:.2} CPU-s)",
            "CPU per minute of two-way audio", per_side_per_min, per_side_core, wall, cpu
        );
        println!(
            "{:<44} {:.2} s/min per side  ({:.2}× of it: the engine's CPU over the codec's alone)",
            "baseline: Opus encode + decode alone",
            codec_cpu / wall * 60.0 / 2.0,
            cpu / codec_cpu
        );
        println!("{:<44} {:.1} MiB", "peak RSS (whole benchmark process)", peak_rss_mib());
        println!("{:-<96}", "");
        println!(
            "cpu run: sent {}/{} packets, lost {}/{}, jitter buffer {}/{} ms",
            sa.packets_sent, sb.packets_sent, sa.packets_lost, sb.packets_lost, sa.jitter_buffer_ms, sb.jitter_buffer_ms
        );
    });
}
