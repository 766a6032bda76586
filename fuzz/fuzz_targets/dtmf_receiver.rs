//! The DTMF receiver fed arbitrary telephone-event payloads, timestamps and clock rates (what
//! any peer may send under a negotiated telephone-event payload type). For any input: no panic,
//! and every digit reported is a DTMF digit with a duration that fits the 16-bit field.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/media/dtmf.rs"]
mod dtmf;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rx = dtmf::DtmfReceiver::new();
    let mut rest = data;
    // Each packet: kind (even: event, odd: audio), timestamp (2 bytes), clock (1 byte), length
    // (1 byte), then that many payload bytes.
    while rest.len() >= 5 {
        let (head, tail) = rest.split_at(5);
        let len = (head[4] as usize % 8).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        let digit = if head[0] % 2 == 0 {
            let ts = u16::from_le_bytes([head[1], head[2]]) as u32;
            let clock = [0, 8_000, 16_000, 48_000, 1][head[3] as usize % 5];
            rx.on_event(ts, payload, clock)
        } else {
            rx.on_audio()
        };
        if let Some(d) = digit {
            assert!("0123456789*#ABCD".contains(d.digit), "{d:?}");
            assert!(d.duration_ms <= 65_535_000, "{d:?}");
        }
    }
});
