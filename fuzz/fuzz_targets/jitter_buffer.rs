//! The jitter buffer fed arbitrary RTP streams: sequence numbers, timestamps, payload sizes and
//! arrival times from the fuzzer, interleaved with playout ticks. Checks what must hold for any
//! input: no panic, the depth within the slots, every pushed packet counted once.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/media/jitter.rs"]
mod jitter;

use std::time::{Duration, Instant};

use jitter::{JitterBuffer, JitterConfig, MAX_PAYLOAD, Playout, PushOutcome, SLOTS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut now = Instant::now();
    let payload = [0x5au8; MAX_PAYLOAD + 100];
    let (mut pushes, mut too_large) = (0u64, 0u64);
    // Each op: 8 bytes. Byte 0 even: a packet (seq, timestamp, size, arrival step); odd: a tick.
    for op in data.chunks_exact(8) {
        if op[0] % 2 == 0 {
            let seq = u16::from_le_bytes([op[1], op[2]]);
            let ts = u32::from_le_bytes([op[3], op[4], op[5], 0]).wrapping_mul(960);
            let len = (op[6] as usize * 7) % (MAX_PAYLOAD + 100);
            now += Duration::from_millis(op[7] as u64);
            let outcome = jb.push(seq, ts, &payload[..len], now);
            pushes += 1;
            too_large += u64::from(outcome == PushOutcome::TooLarge);
            assert_eq!(outcome == PushOutcome::TooLarge, len > MAX_PAYLOAD);
        } else if let Playout::Packet(p) | Playout::Fec(p) = jb.pop() {
            assert!(p.len() <= MAX_PAYLOAD);
        }
        assert!(jb.depth_frames() <= SLOTS);
        let s = jb.stats();
        assert_eq!(s.received + s.duplicates + s.late + too_large, pushes);
        assert!(s.fec_recovered <= s.lost);
    }
});
