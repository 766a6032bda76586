//! `raw:-`: signed 16-bit little-endian 48 kHz mono on standard input or output.
//!
//! A pipe may block, and the engine's clock must not, so each direction has its own thread and
//! a one-second ring. Input is treated like a file: when the ring is full the reader waits
//! (back-pressure on the writer of the pipe) rather than dropping, and when it runs dry the
//! clock gets silence. Output drops whole frames if the reader of the pipe falls a second
//! behind.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::ring::{RingConsumer, RingProducer, ring};
use super::{AudioSink, AudioSource, FRAME_SAMPLES, Frame, SAMPLE_RATE, SourceStatus};
use crate::media::MediaError;
use crate::media::error::one_line;

const RING_SAMPLES: usize = SAMPLE_RATE as usize;

pub struct StdinSource {
    ring: RingConsumer,
    ended: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
    finished: bool,
}

impl StdinSource {
    pub fn open() -> Self {
        Self::from_reader(std::io::stdin())
    }

    /// The same over any reader (tests use a pipe or a byte slice).
    pub fn from_reader(input: impl Read + Send + 'static) -> Self {
        let (producer, consumer) = ring(RING_SAMPLES);
        let ended = Arc::new(AtomicBool::new(false));
        let closed = Arc::new(AtomicBool::new(false));
        let (e, c) = (ended.clone(), closed.clone());
        std::thread::Builder::new()
            .name("mxcall-raw-in".into())
            .spawn(move || read_loop(input, producer, &c, &e))
            .expect("spawning the stdin reader thread");
        StdinSource {
            ring: consumer,
            ended,
            closed,
            finished: false,
        }
    }
}

fn read_loop(
    mut input: impl Read,
    mut ring: RingProducer,
    closed: &AtomicBool,
    ended: &AtomicBool,
) {
    let mut bytes = [0u8; 4096];
    // A sample split across two reads keeps its first byte here.
    let mut carry: Option<u8> = None;
    let mut samples = [0i16; 2049];
    loop {
        let n = match input.read(&mut bytes) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("raw input: reading standard input failed: {}", one_line(e));
                break;
            }
        };
        let mut count = 0;
        let mut data = &bytes[..n];
        if let Some(lo) = carry.take() {
            samples[count] = i16::from_le_bytes([lo, data[0]]);
            count += 1;
            data = &data[1..];
        }
        for pair in data.chunks_exact(2) {
            samples[count] = i16::from_le_bytes([pair[0], pair[1]]);
            count += 1;
        }
        if data.len() % 2 == 1 {
            carry = Some(data[data.len() - 1]);
        }
        while !ring.push_slice(&samples[..count]) {
            if closed.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    ended.store(true, Ordering::Release);
}

impl AudioSource for StdinSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceStatus {
        if self.finished {
            frame.fill(0);
            return SourceStatus::Ended;
        }
        // Read the flag first: if it was set, everything the reader will ever push is in the ring.
        let ended = self.ended.load(Ordering::Acquire);
        let n = self.ring.pop(frame);
        frame[n..].fill(0);
        if ended && n == 0 {
            self.finished = true;
            return SourceStatus::Ended;
        }
        SourceStatus::Audio
    }
}

impl Drop for StdinSource {
    fn drop(&mut self) {
        // The reader may be blocked in read(); it exits at its next push.
        self.closed.store(true, Ordering::Relaxed);
    }
}

pub struct StdoutSink {
    ring: RingProducer,
    shared: Arc<WriterShared>,
    thread: Option<JoinHandle<()>>,
    dropped_frames: u64,
}

struct WriterShared {
    done: AtomicBool,
    failed: std::sync::Mutex<Option<String>>,
}

impl StdoutSink {
    pub fn open() -> Self {
        Self::to_writer(std::io::stdout())
    }

    pub fn to_writer(output: impl Write + Send + 'static) -> Self {
        let (producer, consumer) = ring(RING_SAMPLES);
        let shared = Arc::new(WriterShared {
            done: AtomicBool::new(false),
            failed: Default::default(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mxcall-raw-out".into())
            .spawn(move || write_loop(output, consumer, &s))
            .expect("spawning the stdout writer thread");
        StdoutSink {
            ring: producer,
            shared,
            thread: Some(thread),
            dropped_frames: 0,
        }
    }

    fn failure(&self) -> Option<MediaError> {
        let failed = self.shared.failed.lock().unwrap_or_else(|p| p.into_inner());
        failed.as_ref().map(|reason| MediaError::Stdio {
            stream: "standard output",
            reason: reason.clone(),
        })
    }
}

fn write_loop(mut output: impl Write, mut ring: RingConsumer, shared: &WriterShared) {
    let mut samples = [0i16; FRAME_SAMPLES];
    let mut bytes = [0u8; FRAME_SAMPLES * 2];
    loop {
        // Read the flag before draining so the last frames written before finish() go out.
        let done = shared.done.load(Ordering::Acquire);
        let n = ring.pop(&mut samples);
        if n == 0 {
            if done {
                break;
            }
            std::thread::park_timeout(Duration::from_millis(20));
            continue;
        }
        for (b, s) in bytes.chunks_exact_mut(2).zip(&samples[..n]) {
            b.copy_from_slice(&s.to_le_bytes());
        }
        if let Err(e) = output.write_all(&bytes[..2 * n]).and_then(|()| {
            if ring.is_empty() {
                output.flush()
            } else {
                Ok(())
            }
        }) {
            *shared.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(one_line(e));
            return;
        }
    }
    if let Err(e) = output.flush() {
        *shared.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(one_line(e));
    }
}

impl AudioSink for StdoutSink {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), MediaError> {
        if let Some(err) = self.failure() {
            return Err(err);
        }
        if !self.ring.push_slice(frame) {
            self.dropped_frames += 1;
            if self.dropped_frames == 1 {
                tracing::warn!(
                    "raw output: the reader of standard output is behind; dropping audio"
                );
            }
        }
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), MediaError> {
        self.shared.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        match self.failure() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

impl Drop for StdoutSink {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Hands out its bytes in awkward odd-sized reads, like a pipe might.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(333).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn stdin_samples_arrive_in_order_then_end() {
        let samples: Vec<i16> = (0..2500).map(|i| (i * 7 - 9000) as i16).collect();
        let data = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut src = StdinSource::from_reader(Trickle { data, pos: 0 });
        std::thread::sleep(Duration::from_millis(100));
        let mut got = Vec::new();
        let mut f = [0i16; FRAME_SAMPLES];
        while src.read_frame(&mut f) == SourceStatus::Audio {
            got.extend_from_slice(&f);
            assert!(got.len() < 100 * FRAME_SAMPLES);
        }
        assert_eq!(&got[..2500], &samples[..]);
        assert!(got[2500..].iter().all(|&s| s == 0));
        assert_eq!(src.read_frame(&mut f), SourceStatus::Ended);
    }

    #[test]
    fn a_slow_pipe_gives_silence_not_a_stall() {
        let (reader, _writer) = std::io::pipe().unwrap();
        let mut src = StdinSource::from_reader(reader);
        let mut f = [5i16; FRAME_SAMPLES];
        assert_eq!(src.read_frame(&mut f), SourceStatus::Audio);
        assert!(f.iter().all(|&s| s == 0));
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn stdout_gets_every_frame_as_s16le() {
        let out = Shared::default();
        let mut sink = StdoutSink::to_writer(out.clone());
        for k in 0..20i16 {
            sink.write_frame(&[k * 100 - 1; FRAME_SAMPLES]).unwrap();
        }
        sink.finish().unwrap();
        let bytes = out.0.lock().unwrap().clone();
        assert_eq!(bytes.len(), 20 * FRAME_SAMPLES * 2);
        let s: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(s[0], -1);
        assert_eq!(s[19 * FRAME_SAMPLES], 1899);
    }

    #[test]
    fn a_closed_stdout_is_reported() {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut sink = StdoutSink::to_writer(writer);
        let frame = [0i16; FRAME_SAMPLES];
        let mut err = None;
        for _ in 0..100 {
            if let Err(e) = sink.write_frame(&frame) {
                err = Some(e);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let err = err
            .or_else(|| sink.finish().err())
            .expect("broken pipe reported");
        assert!(
            err.to_string().starts_with("raw audio on standard output:"),
            "{err}"
        );
    }
}
