//! [`FramePlayer`]: turns the jitter buffer's packets, whatever their duration, into the sink's
//! steady 20 ms frames.
//!
//! A peer may send Opus packets of 2.5 to 120 ms (RFC 6716 §2.1.4; SIP gateways often use 60 ms,
//! `a=ptime`/`maxptime`, RFC 7587 §7), and may change the size mid-call. Each packet is decoded
//! whole into a queue of samples and the sink takes 20 ms at a time from it; the jitter buffer
//! is asked for the next packet only when less than a frame is queued, so packets are played
//! out at the pace their RTP timestamps imply (a 60 ms packet every third tick, two 10 ms
//! packets per tick). A lost packet is recovered (FEC) or concealed for as long as the last
//! packet lasted. I/O-free: the caller pops the jitter buffer and writes the sink.

use super::MediaError;
use super::codec::{MAX_PACKET_SAMPLES, OpusDecoder};
use super::jitter::Playout;
use crate::audio::{FRAME_SAMPLES, Frame};

/// At most this many packets are taken for one 20 ms frame (eight 2.5 ms packets).
pub const MAX_PACKETS_PER_FRAME: usize = 8;

/// How a pull was turned into samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filled {
    Silence,
    Decoded,
    Recovered,
    Concealed,
    /// The packet did not decode (corrupt): concealed instead.
    Failed,
}

/// See the module documentation.
pub struct FramePlayer {
    decoder: OpusDecoder,
    /// Decoded samples not yet played, `queue[..len]`.
    queue: Box<[i16]>,
    len: usize,
    scratch: Box<[i16; MAX_PACKET_SAMPLES]>,
}

impl FramePlayer {
    pub fn new() -> Result<Self, MediaError> {
        Ok(FramePlayer {
            decoder: OpusDecoder::new()?,
            queue: vec![0; MAX_PACKET_SAMPLES + FRAME_SAMPLES].into_boxed_slice(),
            len: 0,
            scratch: Box::new([0; MAX_PACKET_SAMPLES]),
        })
    }

    /// Whether the next frame needs another packet from the jitter buffer.
    pub fn wants_packet(&self) -> bool {
        self.len < FRAME_SAMPLES
    }

    /// Decodes what the jitter buffer gave (its [`Playout`], or a copy taken under the receiver's
    /// lock) onto the queue. `Idle` pads the frame with silence.
    pub fn fill(&mut self, pull: Playout<'_>) -> Filled {
        if pull == Playout::Idle {
            let pad = FRAME_SAMPLES.saturating_sub(self.len);
            self.queue[self.len..self.len + pad].fill(0);
            self.len += pad;
            return Filled::Silence;
        }
        let (result, kind) = match pull {
            Playout::Packet(p) => (self.decoder.decode(p, &mut self.scratch), Filled::Decoded),
            Playout::Fec(p) => (
                self.decoder.recover(p, &mut self.scratch),
                Filled::Recovered,
            ),
            Playout::Conceal | Playout::Idle => {
                (self.decoder.conceal(&mut self.scratch), Filled::Concealed)
            }
        };
        let (n, kind) = match result {
            Ok(n) => (n, kind),
            Err(e) => {
                tracing::debug!("{e}; concealing");
                match self.decoder.conceal(&mut self.scratch) {
                    Ok(n) => (n, Filled::Failed),
                    Err(_) => {
                        self.scratch[..FRAME_SAMPLES].fill(0);
                        (FRAME_SAMPLES, Filled::Failed)
                    }
                }
            }
        };
        // The queue holds less than a frame here, so a whole packet always fits.
        let n = n.min(self.queue.len() - self.len);
        self.queue[self.len..self.len + n].copy_from_slice(&self.scratch[..n]);
        self.len += n;
        kind
    }

    /// Takes the next 20 ms; silence for whatever the queue lacks.
    pub fn take_frame(&mut self, out: &mut Frame) {
        let n = self.len.min(FRAME_SAMPLES);
        out[..n].copy_from_slice(&self.queue[..n]);
        out[n..].fill(0);
        self.queue.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{AudioSource, ToneSource};
    use crate::media::jitter::{JitterBuffer, JitterConfig};
    use std::time::{Duration, Instant};

    /// Opus packets of `ms` each (2.5..=60 ms) of a 1 kHz tone.
    fn packets(ms_each: &[f64], total_ms: f64) -> Vec<(Vec<u8>, u32)> {
        let mut enc =
            opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let mut src = ToneSource::new(1000.0);
        let mut pcm = Vec::new();
        while (pcm.len() as f64) < total_ms * 48.0 + 5760.0 {
            let mut f = [0i16; FRAME_SAMPLES];
            src.read_frame(&mut f);
            pcm.extend_from_slice(&f);
        }
        let mut out = Vec::new();
        let (mut at, mut i) = (0usize, 0usize);
        while (at as f64) < total_ms * 48.0 {
            let n = (ms_each[i % ms_each.len()] * 48.0) as usize;
            let mut buf = [0u8; 4000];
            let len = enc.encode(&pcm[at..at + n], &mut buf).unwrap();
            out.push((buf[..len].to_vec(), n as u32));
            at += n;
            i += 1;
        }
        out
    }

    /// Sends the packets through a jitter buffer at their real pace and plays them for
    /// `ticks` 20 ms ticks; returns the frames played.
    fn play(packets: &[(Vec<u8>, u32)], ticks: usize) -> Vec<Frame> {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut player = FramePlayer::new().unwrap();
        let t0 = Instant::now();
        let (mut next, mut ts, mut seq) = (0usize, 0u32, 0u16);
        let mut frames = Vec::new();
        for tick in 0..ticks {
            let now = t0 + Duration::from_millis(20 * tick as u64);
            // Everything whose start time has come has arrived.
            while next < packets.len() && (ts as u64) <= (tick as u64 + 1) * 960 {
                jb.push(seq, ts, &packets[next].0, now);
                ts += packets[next].1;
                seq = seq.wrapping_add(1);
                next += 1;
            }
            let mut pulls = 0;
            while player.wants_packet() && pulls < MAX_PACKETS_PER_FRAME {
                pulls += 1;
                if player.fill(jb.pop()) == Filled::Silence {
                    break;
                }
            }
            let mut f = [0i16; FRAME_SAMPLES];
            player.take_frame(&mut f);
            frames.push(f);
        }
        frames
    }

    fn tone_share(frames: &[Frame]) -> f64 {
        // Goertzel power at 1 kHz against the frame's total power.
        let hits = frames
            .iter()
            .filter(|f| {
                let k = 2.0 * (2.0 * std::f64::consts::PI * 1000.0 / 48_000.0).cos();
                let (mut s1, mut s2) = (0.0f64, 0.0f64);
                let mut energy = 0.0;
                for &x in f.iter() {
                    let x = x as f64;
                    energy += x * x;
                    let s0 = x + k * s1 - s2;
                    s2 = s1;
                    s1 = s0;
                }
                let power = s1 * s1 + s2 * s2 - k * s1 * s2;
                energy > 1e6 && power / (energy * FRAME_SAMPLES as f64 / 2.0) > 0.5
            })
            .count();
        hits as f64 / frames.len() as f64
    }

    #[test]
    fn packets_of_every_opus_duration_play_as_the_tone() {
        for ms in [2.5, 5.0, 10.0, 20.0, 40.0, 60.0] {
            let frames = play(&packets(&[ms], 2000.0), 110);
            let share = tone_share(&frames[10..100]);
            assert!(share > 0.95, "{ms} ms packets: {:.0}% tone", share * 100.0);
        }
    }

    #[test]
    fn a_change_of_packet_size_mid_call_keeps_playing() {
        let mut list = packets(&[20.0], 1000.0);
        list.extend(packets(&[60.0], 1000.0));
        list.extend(packets(&[10.0], 600.0));
        let frames = play(&list, 140);
        let share = tone_share(&frames[10..125]);
        assert!(share > 0.9, "{:.0}% tone", share * 100.0);
    }

    #[test]
    fn a_lost_60_ms_packet_is_concealed_for_60_ms() {
        let mut player = FramePlayer::new().unwrap();
        let list = packets(&[60.0], 240.0);
        assert_eq!(player.fill(Playout::Packet(&list[0].0)), Filled::Decoded);
        let mut f = [0i16; FRAME_SAMPLES];
        for _ in 0..3 {
            assert!(!player.wants_packet());
            player.take_frame(&mut f);
        }
        assert!(player.wants_packet());
        assert_eq!(player.fill(Playout::Conceal), Filled::Concealed);
        assert_eq!(player.len, 2880);
        assert_eq!(
            player.fill(Playout::Packet(b"\xff\xff\xff")),
            Filled::Failed
        );
    }
}
