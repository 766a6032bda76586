//! Opus at 48 kHz mono: the encoder (20 ms frames, wideband speech) set up as a call needs it
//! (in-band FEC allowed, planned for the loss `fec::FecPolicy` sets; DTX off) and a decoder for packets of
//! any duration that knows the three ways to fill the time of a packet — decode, recover a lost packet from the FEC data in the next one, or
//! conceal.
//!
//! Both work on caller-owned buffers; neither allocates per frame.

use crate::audio::{FRAME_SAMPLES, Frame, SAMPLE_RATE};
use crate::media::MediaError;

/// Largest encoded frame we ask for (Opus caps a 20 ms frame at 1275 bytes).
pub const MAX_PACKET: usize = 1500;
/// Target bitrate: wideband speech with room for the FEC copy.
const BITRATE: i32 = 32_000;
/// Encoder complexity (0-10) and the widest audio band it codes: complexity 1, wideband
/// (up to 8 kHz, SILK alone), chosen by measurement (`scripts/bench-codec.sh`; docs/performance.md, CPU).
/// Over the speech of `/usr/share/sounds/alsa` at 32 kbit/s, PESQ-WB (ITU-T P.862.2, which
/// scores the band up to 8 kHz) gives 4.37 for this setting and 4.37 for complexity 5 in the
/// band libopus picks itself (a hybrid SILK + CELT mode up to 20 kHz, what mxcall used
/// before), for 0.42× of that encoder's CPU: at 32 kbit/s the hybrid modes spend bits above
/// 8 kHz that the wideband coder spends below it. Given up: the band above 8 kHz, and the
/// 0.02–0.11 PESQ of the finer quantisers of complexity 2–5.
const COMPLEXITY: i32 = 1;
const MAX_BANDWIDTH: opus::Bandwidth = opus::Bandwidth::Wideband;

fn codec_err(step: &str, e: opus::Error) -> MediaError {
    MediaError::Codec(format!("{step}: {e}"))
}

/// The call's Opus encoder: 48 kHz mono frames of [`FRAME_SAMPLES`] (20 ms) in, one packet per
/// frame out, at the settings above.
pub struct OpusEncoder {
    inner: opus::Encoder,
}

impl OpusEncoder {
    /// An encoder at the call's settings. Errors: [`MediaError::Codec`] if libopus refuses one.
    pub fn new() -> Result<Self, MediaError> {
        let mut inner =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(|e| codec_err("creating the encoder", e))?;
        inner
            .set_bitrate(opus::Bitrate::Bits(BITRATE))
            .map_err(|e| codec_err("setting the bitrate", e))?;
        inner
            .set_inband_fec(true)
            .map_err(|e| codec_err("enabling FEC", e))?;
        inner
            .set_packet_loss_perc(0)
            .map_err(|e| codec_err("setting the expected loss", e))?;
        inner
            .set_dtx(false)
            .map_err(|e| codec_err("disabling DTX", e))?;
        inner
            .set_complexity(COMPLEXITY)
            .map_err(|e| codec_err("setting the complexity", e))?;
        inner
            .set_max_bandwidth(MAX_BANDWIDTH)
            .map_err(|e| codec_err("setting the bandwidth", e))?;
        Ok(OpusEncoder { inner })
    }

    /// The loss (percent, 0–100) the encoder plans in-band FEC for; 0 turns FEC off
    /// (`OPUS_SET_PACKET_LOSS_PERC`).
    pub fn set_expected_loss(&mut self, percent: i32) -> Result<(), MediaError> {
        self.inner
            .set_packet_loss_perc(percent.clamp(0, 100))
            .map_err(|e| codec_err("setting the expected loss", e))
    }

    /// Encodes one frame into `out` (at least [`MAX_PACKET`] bytes); returns the packet length
    /// in bytes. Errors: [`MediaError::Codec`] (an `out` too small).
    pub fn encode(&mut self, pcm: &Frame, out: &mut [u8]) -> Result<usize, MediaError> {
        self.inner
            .encode(pcm, out)
            .map_err(|e| codec_err("encoding", e))
    }
}

/// Longest Opus packet: 120 ms (RFC 6716 §3.2.5: up to 48 frames, 120 ms in all), in samples
/// at 48 kHz.
pub const MAX_PACKET_SAMPLES: usize = 5760;

/// An Opus decoder for packets of any duration (2.5 to 120 ms, RFC 6716 §2.1.4): each call
/// writes as many samples as the packet (or the loss it stands for) lasts.
pub struct OpusDecoder {
    inner: opus::Decoder,
    /// Duration of the last decoded packet, in samples: what a lost packet is assumed to last.
    last_samples: usize,
}

impl OpusDecoder {
    /// A 48 kHz mono decoder. Errors: [`MediaError::Codec`] if libopus refuses it.
    pub fn new() -> Result<Self, MediaError> {
        let inner = opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)
            .map_err(|e| codec_err("creating the decoder", e))?;
        Ok(OpusDecoder {
            inner,
            last_samples: FRAME_SAMPLES,
        })
    }

    /// Decodes `packet` into the start of `out`; returns the number of samples (its duration).
    pub fn decode(
        &mut self,
        packet: &[u8],
        out: &mut [i16; MAX_PACKET_SAMPLES],
    ) -> Result<usize, MediaError> {
        let n = self
            .inner
            .decode(packet, out, false)
            .map_err(|e| codec_err("decoding", e))?;
        if n > 0 {
            self.last_samples = n;
        }
        Ok(n)
    }

    /// Rebuilds the packet lost before `next_packet` from the FEC data it carries (libopus
    /// conceals if it carries none); the loss is taken to last as long as the last packet.
    pub fn recover(
        &mut self,
        next_packet: &[u8],
        out: &mut [i16; MAX_PACKET_SAMPLES],
    ) -> Result<usize, MediaError> {
        let len = self.last_samples;
        self.inner
            .decode(next_packet, &mut out[..len], true)
            .map_err(|e| codec_err("FEC decoding", e))
    }

    /// Packet-loss concealment for one lost packet (as long as the last one).
    pub fn conceal(&mut self, out: &mut [i16; MAX_PACKET_SAMPLES]) -> Result<usize, MediaError> {
        let len = self.last_samples;
        self.inner
            .decode(&[], &mut out[..len], false)
            .map_err(|e| codec_err("concealing", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{AudioSource, ToneSource};

    fn tone_frames(n: usize) -> Vec<Frame> {
        let mut src = ToneSource::new(1000.0);
        (0..n)
            .map(|_| {
                let mut f = [0i16; FRAME_SAMPLES];
                src.read_frame(&mut f);
                f
            })
            .collect()
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// Every packet is SILK-only wideband (RFC 6716 §3.1: TOC configurations 8–11), 20 ms —
    /// including for a 12 kHz tone, which a fullband encoder would code with CELT.
    #[test]
    fn codes_wideband_speech_with_silk_alone() {
        let mut enc = OpusEncoder::new().unwrap();
        let mut buf = [0u8; MAX_PACKET];
        for freq in [440.0, 12_000.0] {
            let mut src = ToneSource::new(freq);
            for _ in 0..50 {
                let mut f = [0i16; FRAME_SAMPLES];
                src.read_frame(&mut f);
                let n = enc.encode(&f, &mut buf).unwrap();
                assert!(n > 0);
                let config = buf[0] >> 3;
                assert!((8..=11).contains(&config), "{freq} Hz: TOC config {config}");
                assert_eq!(config & 3, 1, "20 ms frames");
            }
        }
    }

    #[test]
    fn round_trip_keeps_the_signal() {
        let mut enc = OpusEncoder::new().unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut buf = [0u8; MAX_PACKET];
        let mut out = [0i16; MAX_PACKET_SAMPLES];
        for f in tone_frames(20) {
            let n = enc.encode(&f, &mut buf).unwrap();
            assert!(n > 10 && n < 400, "{n}");
            assert_eq!(dec.decode(&buf[..n], &mut out).unwrap(), FRAME_SAMPLES);
        }
        let out = &out[..FRAME_SAMPLES];
        let want = rms(&tone_frames(1)[0]);
        assert!(
            (rms(out) / want - 1.0).abs() < 0.1,
            "{} vs {want}",
            rms(out)
        );
    }

    #[test]
    fn a_lost_frame_is_recovered_from_fec_and_concealed_otherwise() {
        let mut enc = OpusEncoder::new().unwrap();
        // As `fec::FecPolicy` sets it once the peer reports loss.
        enc.set_expected_loss(10).unwrap();
        let packets: Vec<Vec<u8>> = tone_frames(30)
            .iter()
            .map(|f| {
                let mut buf = [0u8; MAX_PACKET];
                let n = enc.encode(f, &mut buf).unwrap();
                buf[..n].to_vec()
            })
            .collect();
        let want = rms(&tone_frames(1)[0]);
        let mut out = [0i16; MAX_PACKET_SAMPLES];

        let mut dec = OpusDecoder::new().unwrap();
        for p in &packets[..20] {
            dec.decode(p, &mut out).unwrap();
        }
        let n = dec.recover(&packets[21], &mut out).unwrap(); // packet 20 lost
        assert_eq!(n, FRAME_SAMPLES);
        assert!(
            rms(&out[..n]) > want * 0.5,
            "FEC frame rms {}",
            rms(&out[..n])
        );

        let mut dec = OpusDecoder::new().unwrap();
        for p in &packets[..20] {
            dec.decode(p, &mut out).unwrap();
        }
        let n = dec.conceal(&mut out).unwrap();
        assert_eq!(n, FRAME_SAMPLES);
        assert!(
            rms(&out[..n]) > want * 0.3,
            "PLC frame rms {}",
            rms(&out[..n])
        );
    }
}
