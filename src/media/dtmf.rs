//! DTMF as RFC 4733 telephone-events: which digits exist, how a queue of digits becomes event
//! packets one 20 ms frame tick at a time ([`DtmfSender`]), and how received event packets
//! become digits ([`DtmfReceiver`]).
//!
//! No I/O and no clock: the sender is stepped once per frame tick of the send loop and the
//! receiver is fed packets, so both are tested on a virtual clock of ticks.
//!
//! Timing follows what browsers do (W3C WebRTC `RTCDTMFSender.insertDTMF` defaults): each digit
//! a 100 ms tone, 70 ms between digits (rounded up to whole frames: 80 ms), `,` a 2 s pause. While
//! a digit sounds, its event packets take the place of audio packets (RFC 4733 §2.5.1.2 lets a
//! sender do either; Chromium does this); they share the audio stream's SSRC, sequence numbers
//! and RTP clock.

use std::collections::VecDeque;

/// A digit's tone, in frames of 20 ms (W3C `insertDTMF` default duration, 100 ms).
const TONE_FRAMES: u32 = 5;
/// The gap after a digit, in frames (W3C default `interToneGap` 70 ms, rounded up to a frame).
const GAP_FRAMES: u32 = 4;
/// What `,` waits, in frames (W3C `insertDTMF`: two seconds).
const PAUSE_FRAMES: u32 = 100;
/// How often the final packet of an event is sent (RFC 4733 §2.5.1.4: retransmitted twice).
const END_COPIES: usize = 3;
/// Volume field of sent events: −10 dBm0 (RFC 4733 §2.3.4; any value 0–63 is valid).
const VOLUME: u8 = 10;
/// Samples per frame at the audio stream's 48 kHz RTP clock.
const FRAME_TICKS_48K: u32 = 960;

/// The characters [`parse_digits`] accepts, for messages and help texts.
pub const DIGITS: &str = "0-9, *, #, A-D and , (a 2 s pause)";

/// The RFC 4733 §3.2 event code of a DTMF digit (`0`–`9`, `*`, `#`, `A`–`D`, either case).
pub fn event_code(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// The digit of an RFC 4733 §3.2 event code; `None` for events that are not DTMF (16 and up).
pub fn digit(code: u8) -> Option<char> {
    match code {
        0..=9 => Some((b'0' + code) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + code - 12) as char),
        _ => None,
    }
}

/// Checks a digit string for [`DtmfSender::queue`]: empty, or a character outside [`DIGITS`],
/// is an error naming it. Returns the digits upper-cased.
pub fn parse_digits(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err(format!("no DTMF digits given (use {DIGITS})"));
    }
    if let Some(bad) = s.chars().find(|&c| c != ',' && event_code(c).is_none()) {
        return Err(format!("'{bad}' is not a DTMF digit (use {DIGITS})"));
    }
    Ok(s.to_ascii_uppercase())
}

/// One telephone-event packet to send: the RTP timestamp of the event's start (the same for all
/// its packets, RFC 4733 §2.5.1.2), the marker bit (the first packet of an event), and the 4-byte
/// payload (event, E bit, volume, duration in the event clock's units; §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    pub timestamp: u32,
    pub marker: bool,
    pub payload: [u8; 4],
}

/// What the send loop puts on the wire at one frame tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    /// The audio frame, as without DTMF.
    Audio,
    /// These event packets instead of the audio frame (several: the repeated final packet).
    Events(Vec<EventPacket>),
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Digit(u8),
    Pause(u32),
}

#[derive(Debug, Clone, Copy)]
struct Sounding {
    code: u8,
    start: u32,
    /// Frames sent so far.
    frames: u32,
}

/// Turns queued digits into event packets, one decision per 20 ms frame tick. See the module
/// documentation for the timing.
#[derive(Debug, Default)]
pub struct DtmfSender {
    queue: VecDeque<Step>,
    sounding: Option<Sounding>,
    /// Audio frames still to send before the next step (a gap or a pause).
    waiting: u32,
}

impl DtmfSender {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues digits checked by [`parse_digits`] (other characters are skipped) behind any
    /// still being sent.
    pub fn queue(&mut self, digits: &str) {
        for c in digits.chars() {
            if c == ',' {
                self.queue.push_back(Step::Pause(PAUSE_FRAMES));
            } else if let Some(code) = event_code(c) {
                self.queue.push_back(Step::Digit(code));
            }
        }
    }

    /// True while digits are queued or sounding.
    pub fn busy(&self) -> bool {
        self.sounding.is_some() || !self.queue.is_empty() || self.waiting > 0
    }

    /// One frame tick. `timestamp` is the RTP timestamp (48 kHz) this frame would carry;
    /// `clock_rate` is the negotiated telephone-event clock (8000 or 48000), in which the
    /// duration field counts.
    pub fn tick(&mut self, timestamp: u32, clock_rate: u32) -> Tick {
        if self.sounding.is_none() {
            if self.waiting > 0 {
                self.waiting -= 1;
                return Tick::Audio;
            }
            match self.queue.pop_front() {
                None => return Tick::Audio,
                Some(Step::Pause(frames)) => {
                    self.waiting = frames - 1;
                    return Tick::Audio;
                }
                Some(Step::Digit(code)) => {
                    self.sounding = Some(Sounding {
                        code,
                        start: timestamp,
                        frames: 0,
                    })
                }
            }
        }
        let Some(s) = self.sounding.as_mut() else {
            return Tick::Audio;
        };
        s.frames += 1;
        let per_frame = clock_rate / 50;
        let duration = (s.frames * per_frame).min(u16::MAX as u32) as u16;
        let end = s.frames >= TONE_FRAMES;
        let [d0, d1] = duration.to_be_bytes();
        let packet = EventPacket {
            timestamp: s.start,
            marker: s.frames == 1,
            payload: [s.code, if end { 0x80 } else { 0 } | VOLUME, d0, d1],
        };
        if !end {
            return Tick::Events(vec![packet]);
        }
        self.sounding = None;
        self.waiting = GAP_FRAMES;
        Tick::Events(vec![packet; END_COPIES])
    }
}

/// A digit the peer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dtmf {
    pub digit: char,
    /// How long the peer held it, in milliseconds (the event's final duration field).
    pub duration_ms: u32,
}

#[derive(Debug, Clone, Copy)]
struct Heard {
    timestamp: u32,
    code: u8,
    duration: u16,
    clock_rate: u32,
    reported: bool,
}

/// Turns received telephone-event packets into digits, each once: at its end packet (E bit),
/// or — if the end packets were all lost — when the next event or audio packet arrives.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    last: Option<Heard>,
}

impl DtmfReceiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// A telephone-event packet: its RTP timestamp, payload, and the event clock rate its
    /// payload type was negotiated with. Malformed payloads (under 4 bytes) and events that are
    /// not DTMF are ignored. Returns the digit that ended, if any.
    pub fn on_event(&mut self, timestamp: u32, payload: &[u8], clock_rate: u32) -> Option<Dtmf> {
        let &[code, flags, d0, d1, ..] = payload else {
            return None;
        };
        let duration = u16::from_be_bytes([d0, d1]);
        let end = flags & 0x80 != 0;
        let mut ended = None;
        match self.last.as_mut() {
            Some(h) if h.timestamp == timestamp => {
                if h.reported {
                    return None;
                }
                h.duration = h.duration.max(duration);
            }
            _ => {
                ended = self.flush();
                self.last = Some(Heard {
                    timestamp,
                    code,
                    duration,
                    clock_rate,
                    reported: false,
                });
            }
        }
        if end {
            // A second digit ending in the same packet cannot happen: `flush` reported the old.
            return ended.or_else(|| self.flush());
        }
        ended
    }

    /// An audio packet arrived: an event still open has ended (its end packets were lost).
    pub fn on_audio(&mut self) -> Option<Dtmf> {
        self.flush()
    }

    fn flush(&mut self) -> Option<Dtmf> {
        let h = self.last.as_mut().filter(|h| !h.reported)?;
        h.reported = true;
        let digit = digit(h.code)?;
        Some(Dtmf {
            digit,
            duration_ms: (h.duration as u64 * 1000 / h.clock_rate.max(1) as u64) as u32,
        })
    }
}

/// The RTP timestamp of frame `n` of a stream starting at `base` (48 kHz, 20 ms frames).
pub fn frame_timestamp(base: u32, n: u64) -> u32 {
    base.wrapping_add((n as u32).wrapping_mul(FRAME_TICKS_48K))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steps the sender `n` ticks from frame 0 at 48 kHz.
    fn run(s: &mut DtmfSender, n: u64, clock: u32) -> Vec<Tick> {
        (0..n)
            .map(|i| s.tick(frame_timestamp(1000, i), clock))
            .collect()
    }

    #[test]
    fn digits_map_to_rfc_4733_codes_and_back() {
        for (c, code) in [
            ('0', 0),
            ('9', 9),
            ('*', 10),
            ('#', 11),
            ('A', 12),
            ('d', 15),
        ] {
            assert_eq!(event_code(c), Some(code));
            assert_eq!(digit(code), Some(c.to_ascii_uppercase()));
        }
        assert_eq!(event_code('E'), None);
        assert_eq!(digit(16), None);
        assert_eq!(parse_digits("12#a,*"), Ok("12#A,*".to_owned()));
        assert!(parse_digits("").is_err());
        let err = parse_digits("12x").unwrap_err();
        assert!(err.starts_with("'x' is not a DTMF digit"), "{err}");
    }

    #[test]
    fn a_digit_is_five_event_frames_with_a_triple_end_then_an_80_ms_gap() {
        let mut s = DtmfSender::new();
        s.queue("5");
        let ticks = run(&mut s, 12, 48_000);
        let events: Vec<&Vec<EventPacket>> = ticks
            .iter()
            .filter_map(|t| match t {
                Tick::Events(p) => Some(p),
                Tick::Audio => None,
            })
            .collect();
        assert_eq!(events.len(), 5, "{ticks:?}");
        assert!(matches!(ticks[0], Tick::Events(_)));
        for (i, packets) in events.iter().enumerate() {
            let p = packets[0];
            assert_eq!(p.timestamp, 1000, "all packets carry the event's start");
            assert_eq!(p.marker, i == 0);
            assert_eq!(p.payload[0], 5);
            let duration = u16::from_be_bytes([p.payload[2], p.payload[3]]);
            assert_eq!(duration as u32, 960 * (i as u32 + 1));
            assert_eq!(p.payload[1] & 0x80 != 0, i == 4, "E bit only at the end");
        }
        assert_eq!(events[4].len(), 3);
        assert!(ticks[5..].iter().all(|t| *t == Tick::Audio));
        assert!(!s.busy());
    }

    #[test]
    fn digits_are_spaced_by_the_gap_and_a_comma_pauses_two_seconds() {
        let mut s = DtmfSender::new();
        s.queue("1,2");
        let ticks = run(&mut s, 200, 8_000);
        let starts: Vec<usize> = ticks
            .iter()
            .enumerate()
            .filter(|(_, t)| matches!(t, Tick::Events(p) if p[0].marker))
            .map(|(i, _)| i)
            .collect();
        // 5 tone + 4 gap frames, then the pause of 100 frames, then the second digit.
        assert_eq!(starts, vec![0, 109]);
        // At 8 kHz the duration counts 160 per frame.
        let Tick::Events(p) = &ticks[4] else { panic!() };
        assert_eq!(u16::from_be_bytes([p[0].payload[2], p[0].payload[3]]), 800);
    }

    #[test]
    fn the_receiver_reports_each_digit_once_at_its_end() {
        let mut tx = DtmfSender::new();
        tx.queue("7#");
        let mut rx = DtmfReceiver::new();
        let mut heard = vec![];
        for (i, tick) in run(&mut tx, 30, 48_000).into_iter().enumerate() {
            match tick {
                Tick::Events(packets) => {
                    for p in packets {
                        heard.extend(rx.on_event(p.timestamp, &p.payload, 48_000));
                    }
                }
                Tick::Audio => heard.extend(rx.on_audio()),
            }
            let _ = i;
        }
        assert_eq!(
            heard,
            vec![
                Dtmf {
                    digit: '7',
                    duration_ms: 100
                },
                Dtmf {
                    digit: '#',
                    duration_ms: 100
                }
            ]
        );
    }

    #[test]
    fn lost_end_packets_still_report_the_digit_when_something_else_arrives() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.on_event(100, &[1, 10, 0, 160], 8000), None);
        assert_eq!(rx.on_event(100, &[1, 10, 1, 64], 8000), None);
        // The next event starts: the first (320 units at 8 kHz = 40 ms) is reported.
        assert_eq!(
            rx.on_event(900, &[2, 10, 0, 160], 8000),
            Some(Dtmf {
                digit: '1',
                duration_ms: 40
            })
        );
        assert_eq!(
            rx.on_audio(),
            Some(Dtmf {
                digit: '2',
                duration_ms: 20
            })
        );
        assert_eq!(rx.on_audio(), None);
    }

    #[test]
    fn hostile_event_payloads_are_ignored() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.on_event(1, &[], 48_000), None);
        assert_eq!(rx.on_event(1, &[3, 0x80], 48_000), None);
        // Event 200 (not DTMF) with its end bit: nothing, and nothing later either.
        assert_eq!(rx.on_event(5, &[200, 0x80, 0xff, 0xff], 48_000), None);
        assert_eq!(rx.on_audio(), None);
        // A clock rate of 0 from a broken SDP does not divide by zero.
        assert_eq!(
            rx.on_event(9, &[4, 0x80, 0, 10], 0),
            Some(Dtmf {
                digit: '4',
                duration_ms: 10_000
            })
        );
    }
}
