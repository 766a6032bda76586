//! `stats` events: every `--stats-interval` while a call is connected (legacy: its media
//! session; MatrixRTC: the SFU session, what we publish and what we receive), its quality as
//! the media measures it — RTT, loss, jitter, the jitter buffer, concealment and FEC,
//! bitrates each way over the interval — and the E-model's MOS (`media::quality`). The
//! cumulative figures and the MOS of the whole call go into `ended`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::Engine;
use super::report::call_ref;
use crate::events::{Event, IntervalStats};
use crate::media::{MediaStats, quality};

/// When the next `stats` events are due, and what each call's last one said.
#[derive(Debug, Default)]
pub(super) struct StatsTimer {
    due: Option<Instant>,
    interval: Option<Duration>,
    last: HashMap<String, (Instant, MediaStats)>,
}

impl StatsTimer {
    /// A call connected: the timer runs (if `--stats-interval` is on) until no call is.
    pub(super) fn start(&mut self, now: Instant, interval: Option<Duration>) {
        if let Some(i) = interval {
            self.interval = Some(i);
            self.due.get_or_insert(now + i);
        }
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        self.due
    }
}

impl Engine {
    /// Reports every connected call's `stats` when they are due, and schedules the next ones.
    pub(super) fn report_stats(&mut self, now: Instant) {
        if self.stats.due.is_none_or(|t| now < t) {
            return;
        }
        let mut events = Vec::new();
        for (call_id, call) in &self.calls {
            let probe = call.media.as_ref().and_then(|m| m.probe.as_ref());
            let (Some(probe), Some(connected_at), None) = (probe, call.connected_at, &call.ended)
            else {
                continue;
            };
            let s = probe.stats();
            let prev = self.stats.last.insert(call_id.clone(), (now, s.clone()));
            events.push((
                call.room_id.clone(),
                call_id.clone(),
                super::report::LEGACY,
                fields(&s, prev.as_ref(), connected_at, now),
            ));
        }
        for (room_id, room) in &self.rtc_rooms {
            let (Some(call_id), Some(s)) = (&room.call_id, room.media.stats()) else {
                continue;
            };
            let connected_at = room.connected_at.unwrap_or(now);
            let prev = self.stats.last.insert(call_id.clone(), (now, s.clone()));
            events.push((
                room_id.clone(),
                call_id.clone(),
                super::rtc::PROTOCOL,
                fields(&s, prev.as_ref(), connected_at, now),
            ));
        }
        self.stats.due = (!events.is_empty())
            .then_some(self.stats.interval)
            .flatten()
            .map(|i| now + i);
        for (room_id, call_id, protocol, stats) in events {
            let call = call_ref(room_id.as_str(), &call_id, protocol);
            self.reporter.event(Event::Stats { call, stats }, None);
        }
    }
}

/// Lost packets as a share of those due, in percent.
pub(super) fn loss_percent(lost: u64, received: u64) -> f64 {
    let due = lost + received;
    if due == 0 {
        0.0
    } else {
        lost as f64 * 100.0 / due as f64
    }
}

/// The MOS estimate of a whole call.
pub(super) fn mos(s: &MediaStats) -> f64 {
    let delay = quality::one_way_delay_ms(s.rtt_ms, s.jitter_buffer_ms);
    let r = quality::r_factor(delay, loss_percent(s.packets_lost, s.packets_received));
    round(quality::mos(r), 2)
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// One `stats` event: cumulative counters, and loss, bitrates and MOS over the interval since
/// the previous one (since `connected_at`, from zero counters, for the first: so a call's first
/// report already has its bitrates).
fn fields(
    s: &MediaStats,
    prev: Option<&(Instant, MediaStats)>,
    connected_at: Instant,
    now: Instant,
) -> IntervalStats {
    let zero = MediaStats::default();
    let (since, p) = match prev {
        Some((at, p)) => (now.saturating_duration_since(*at), p),
        None => (now.saturating_duration_since(connected_at), &zero),
    };
    let secs = since.as_secs_f64();
    let kbps = |bytes: u64| (secs > 0.0).then(|| round(bytes as f64 * 8.0 / secs / 1000.0, 1));
    let lost = s.packets_lost.saturating_sub(p.packets_lost);
    let received = s.packets_received.saturating_sub(p.packets_received);
    let loss = loss_percent(lost, received);
    let delay = quality::one_way_delay_ms(s.rtt_ms, s.jitter_buffer_ms);
    IntervalStats {
        interval_ms: since.as_millis() as u64,
        rtt_ms: s.rtt_ms.map(|r| round(r, 1)),
        packets_sent: s.packets_sent,
        packets_received: s.packets_received,
        packets_lost: s.packets_lost,
        loss_percent: round(loss, 2),
        jitter_ms: round(s.jitter_ms, 2),
        jitter_buffer_ms: s.jitter_buffer_ms as u64,
        concealed_frames: s.concealed_frames,
        fec_recovered: s.fec_recovered,
        send_kbps: kbps(s.bytes_sent.saturating_sub(p.bytes_sent)),
        recv_kbps: kbps(s.bytes_received.saturating_sub(p.bytes_received)),
        mos: round(quality::mos(quality::r_factor(delay, loss)), 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_reports_its_own_loss_and_bitrates() {
        let t0 = Instant::now();
        let before = MediaStats {
            packets_received: 100,
            bytes_received: 10_000,
            bytes_sent: 20_000,
            ..Default::default()
        };
        let after = MediaStats {
            packets_received: 190,
            packets_lost: 10,
            bytes_received: 15_000,
            bytes_sent: 40_000,
            rtt_ms: Some(20.0),
            jitter_buffer_ms: 40,
            ..Default::default()
        };
        let f = fields(
            &after,
            Some(&(t0, before.clone())),
            t0,
            t0 + Duration::from_secs(2),
        );
        assert_eq!(f.loss_percent, 10.0);
        assert_eq!(f.recv_kbps, Some(20.0));
        assert_eq!(f.send_kbps, Some(80.0));
        assert_eq!(f.interval_ms, 2000);
        let m = f.mos;
        assert!(m > 1.0 && m < mos(&MediaStats::default()), "{m}");
        // The first report covers the time since the call connected, from zero counters.
        let first = fields(&before, None, t0, t0 + Duration::from_secs(4));
        assert_eq!(first.interval_ms, 4000);
        assert_eq!(first.send_kbps, Some(40.0));
        assert_eq!(first.recv_kbps, Some(20.0));
        // A clean call rates "excellent".
        assert!(
            mos(&MediaStats {
                rtt_ms: Some(1.0),
                ..Default::default()
            }) > 4.3
        );
    }
}
