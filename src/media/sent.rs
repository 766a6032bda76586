//! What our stream has put on the wire, fresh at any instant.
//!
//! The stack's W3C `outbound-rtp` counters (`packetsSent`, `bytesSent`: payload bytes) are the
//! truth — a packet written before DTLS-SRTP is up never leaves — but they are only known when
//! the stats loop samples them (an async `get_stats`, once a second). A `stats` event read
//! between two samples would repeat the last one (an interval with `send_kbps` 0 followed by
//! one with twice the rate: the two 1 s clocks drift against each other). So the send loop
//! also counts what it hands the stack, and the figure reported is the last sample plus what
//! was written since it. Once the send loop has stopped, a final sample makes the figure the
//! stack's exactly (`MediaSession::close`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Sent packets and payload bytes (see the module doc). Shared by the send loop (`wrote`), the
/// stats loop (`sampled`) and readers (`now`).
#[derive(Debug, Default)]
pub(super) struct SentCounter {
    written_packets: AtomicU64,
    written_bytes: AtomicU64,
    last: Mutex<Option<Sample>>,
}

/// The stack's counters at a sample, and our written counts read just after it.
#[derive(Debug, Default, Clone, Copy)]
struct Sample {
    stack_packets: u64,
    stack_bytes: u64,
    written_packets: u64,
    written_bytes: u64,
}

impl SentCounter {
    /// The send loop handed the stack one RTP packet with `payload_bytes` of payload.
    pub(super) fn wrote(&self, payload_bytes: usize) {
        self.written_packets.fetch_add(1, Ordering::Relaxed);
        self.written_bytes
            .fetch_add(payload_bytes as u64, Ordering::Relaxed);
    }

    /// The stack's `outbound-rtp` counters, just sampled. Our written counts are read after
    /// the sample, so no packet is counted twice: one still queued towards the stack at the
    /// sample is missing from the figure until the next sample. A sample older than the last
    /// one kept (counters below it) is ignored.
    pub(super) fn sampled(&self, stack_packets: u64, stack_bytes: u64) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let kept = last.unwrap_or_default();
        if stack_packets < kept.stack_packets {
            return;
        }
        *last = Some(Sample {
            stack_packets,
            stack_bytes: stack_bytes.max(kept.stack_bytes),
            written_packets: self.written_packets.load(Ordering::Relaxed),
            written_bytes: self.written_bytes.load(Ordering::Relaxed),
        });
    }

    /// Packets and payload bytes sent now: the last sample plus what was written since.
    /// Zero before the first sample (nothing is known to have left before DTLS is up).
    pub(super) fn now(&self) -> (u64, u64) {
        let Some(last) = *self.last.lock().unwrap_or_else(|p| p.into_inner()) else {
            return (0, 0);
        };
        let since = |now: &AtomicU64, then: u64| now.load(Ordering::Relaxed).saturating_sub(then);
        (
            last.stack_packets + since(&self.written_packets, last.written_packets),
            last.stack_bytes + since(&self.written_bytes, last.written_bytes),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(c: &SentCounter, packets: usize) {
        for _ in 0..packets {
            c.wrote(80);
        }
    }

    #[test]
    fn nothing_is_sent_before_the_stack_says_so() {
        let c = SentCounter::default();
        write(&c, 5);
        assert_eq!(c.now(), (0, 0));
    }

    #[test]
    fn between_samples_the_figure_grows_with_what_was_written() {
        let c = SentCounter::default();
        write(&c, 3); // dropped by the stack: DTLS was not up
        write(&c, 50);
        c.sampled(50, 4000);
        assert_eq!(c.now(), (50, 4000));
        write(&c, 25);
        assert_eq!(c.now(), (75, 6000), "half a second later, no new sample");
        write(&c, 25);
        c.sampled(100, 8000);
        assert_eq!(c.now(), (100, 8000), "the stack's figure again at a sample");
    }

    #[test]
    fn a_stale_sample_does_not_move_the_figure_back() {
        let c = SentCounter::default();
        write(&c, 10);
        c.sampled(10, 800);
        write(&c, 10);
        c.sampled(5, 400);
        assert_eq!(c.now(), (20, 1600));
    }
}
