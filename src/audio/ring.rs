//! A bounded single-producer/single-consumer ring of samples, lock-free, for the hand-over
//! between a thread that must never block (a cpal callback, a stdin reader) and the 20 ms clock.
//!
//! Neither side allocates or takes a lock. The producer writes all of a chunk or none of it, so
//! when a device runs ahead of the clock whole device periods are dropped rather than torn. The
//! two halves are separate types that are not `Clone`, which is what keeps it single-producer
//! and single-consumer.

use std::sync::Arc;
use std::sync::atomic::{AtomicI16, AtomicU64, AtomicUsize, Ordering};

struct Inner {
    buf: Box<[AtomicI16]>,
    /// Total samples ever read; written only by the consumer.
    head: AtomicUsize,
    /// Total samples ever written; written only by the producer.
    tail: AtomicUsize,
    /// Samples the producer had to drop because the ring was full.
    overflowed: AtomicU64,
}

/// Creates a ring holding up to `capacity` samples.
pub fn ring(capacity: usize) -> (RingProducer, RingConsumer) {
    let inner = Arc::new(Inner {
        buf: (0..capacity.max(1)).map(|_| AtomicI16::new(0)).collect(),
        head: AtomicUsize::new(0),
        tail: AtomicUsize::new(0),
        overflowed: AtomicU64::new(0),
    });
    (
        RingProducer {
            inner: inner.clone(),
        },
        RingConsumer { inner },
    )
}

pub struct RingProducer {
    inner: Arc<Inner>,
}

pub struct RingConsumer {
    inner: Arc<Inner>,
}

impl RingProducer {
    pub fn capacity(&self) -> usize {
        self.inner.buf.len()
    }

    pub fn free(&self) -> usize {
        let i = &self.inner;
        i.buf.len() - (i.tail.load(Ordering::Relaxed) - i.head.load(Ordering::Acquire))
    }

    /// Writes `n` samples produced by `sample(i)`, or nothing (and counts an overflow) if they
    /// do not all fit.
    pub fn push_with(&mut self, n: usize, mut sample: impl FnMut(usize) -> i16) -> bool {
        if n > self.free() {
            self.inner.overflowed.fetch_add(n as u64, Ordering::Relaxed);
            return false;
        }
        let i = &self.inner;
        let tail = i.tail.load(Ordering::Relaxed);
        let cap = i.buf.len();
        for k in 0..n {
            i.buf[(tail + k) % cap].store(sample(k), Ordering::Relaxed);
        }
        i.tail.store(tail + n, Ordering::Release);
        true
    }

    pub fn push_slice(&mut self, samples: &[i16]) -> bool {
        self.push_with(samples.len(), |k| samples[k])
    }

    pub fn overflowed(&self) -> u64 {
        self.inner.overflowed.load(Ordering::Relaxed)
    }
}

impl RingConsumer {
    pub fn len(&self) -> usize {
        let i = &self.inner;
        i.tail.load(Ordering::Acquire) - i.head.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.inner.buf.len()
    }

    /// Reads up to `out.len()` samples; returns how many.
    pub fn pop(&mut self, out: &mut [i16]) -> usize {
        let n = out.len().min(self.len());
        let i = &self.inner;
        let head = i.head.load(Ordering::Relaxed);
        let cap = i.buf.len();
        for (k, o) in out[..n].iter_mut().enumerate() {
            *o = i.buf[(head + k) % cap].load(Ordering::Relaxed);
        }
        i.head.store(head + n, Ordering::Release);
        n
    }

    /// Discards up to `n` of the oldest samples; returns how many.
    pub fn skip(&mut self, n: usize) -> usize {
        let n = n.min(self.len());
        let i = &self.inner;
        i.head
            .store(i.head.load(Ordering::Relaxed) + n, Ordering::Release);
        n
    }

    pub fn overflowed(&self) -> u64 {
        self.inner.overflowed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_across_the_wrap() {
        let (mut p, mut c) = ring(5);
        let mut out = [0i16; 3];
        for round in 0..10i16 {
            assert!(p.push_slice(&[round * 3, round * 3 + 1, round * 3 + 2]));
            assert_eq!(c.pop(&mut out), 3);
            assert_eq!(out, [round * 3, round * 3 + 1, round * 3 + 2]);
        }
        assert!(c.is_empty());
    }

    #[test]
    fn a_chunk_that_does_not_fit_is_dropped_whole() {
        let (mut p, mut c) = ring(4);
        assert!(p.push_slice(&[1, 2, 3]));
        assert!(!p.push_slice(&[4, 5]));
        assert_eq!(p.overflowed(), 2);
        let mut out = [0i16; 8];
        assert_eq!(c.pop(&mut out), 3);
        assert_eq!(&out[..3], &[1, 2, 3]);
        assert_eq!(c.skip(10), 0);
    }

    #[test]
    fn threads_see_every_sample_in_order() {
        let (mut p, mut c) = ring(64);
        let producer = std::thread::spawn(move || {
            let mut next = 0i16;
            while next < 20_000 {
                let n = 7;
                if p.push_with(n, |k| next + k as i16) {
                    next += n as i16;
                } else {
                    std::thread::yield_now();
                }
            }
        });
        let mut expect = 0i16;
        let mut buf = [0i16; 13];
        while expect < 20_000 - 6 {
            let n = c.pop(&mut buf);
            for &s in &buf[..n] {
                assert_eq!(s, expect);
                expect += 1;
            }
        }
        producer.join().unwrap();
    }
}

/// Property tests (issue 15).
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Against a plain queue: what comes out is what went in, in order, minus what was
        /// skipped; a push that does not fit is refused whole and counted.
        #[test]
        fn behaves_like_a_bounded_queue(
            capacity in 1usize..300,
            ops in prop::collection::vec((0u8..3, 0usize..400), 0..200),
        ) {
            let (mut tx, mut rx) = ring(capacity);
            let mut model = std::collections::VecDeque::new();
            let (mut next, mut overflowed) = (0i16, 0u64);
            let mut out = vec![0i16; 400];
            for (kind, n) in ops {
                match kind {
                    0 => {
                        let samples: Vec<i16> = (0..n).map(|k| next.wrapping_add(k as i16)).collect();
                        let fits = n <= capacity - model.len();
                        prop_assert_eq!(tx.push_slice(&samples), fits);
                        if fits {
                            model.extend(samples);
                            next = next.wrapping_add(n as i16);
                        } else {
                            overflowed += n as u64;
                        }
                    }
                    1 => {
                        let got = rx.pop(&mut out[..n]);
                        prop_assert_eq!(got, n.min(model.len()));
                        let want: Vec<i16> = model.drain(..got).collect();
                        prop_assert_eq!(&out[..got], &want[..]);
                    }
                    _ => {
                        let skipped = rx.skip(n);
                        prop_assert_eq!(skipped, n.min(model.len()));
                        model.drain(..skipped);
                    }
                }
                prop_assert_eq!(rx.len(), model.len());
                prop_assert_eq!(tx.free(), capacity - model.len());
                prop_assert_eq!(tx.overflowed(), overflowed);
            }
        }
    }
}
