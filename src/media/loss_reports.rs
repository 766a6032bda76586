//! The peer's reception reports on our audio: how the fraction it lost reaches `fec::FecPolicy`.
//!
//! The peer reports, about once a second, the fraction of our RTP packets it lost since its last
//! report (RFC 3550 §6.4: report blocks in a receiver report, or in a sender report from a peer
//! that also sends). webrtc-rs 0.21 ends every chain of interceptors with one that drops inbound
//! RTCP, and its statistics never read inbound reports (`remote-inbound-rtp` stays empty), so
//! [`ReportTap`] — the last interceptor before that terminus — lets report-bearing RTCP through
//! to our sending track (`TrackLocal::poll`), where [`fraction_lost`] reads it.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::shared::error::Error;

/// The tap's place in the chain: after every interceptor of `configure_rtcp_reports` (the
/// sender-report slot is 11 000), before the terminus.
pub const SLOT: usize = 11_500;

/// Passes inbound RTCP packets that carry reception reports to the application; everything
/// else (and every outbound packet) goes on unchanged.
#[derive(Default)]
pub struct ReportTap {
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

fn reports(packet: &dyn rtc::rtcp::Packet) -> &[ReceptionReport] {
    let any = packet.as_any();
    if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
        &rr.reports
    } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
        &sr.reports
    } else {
        &[]
    }
}

impl rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for ReportTap {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtcp(packets) = &mut msg.message.packet {
            // Only the packets with report blocks, so that the first names our stream (webrtc-rs
            // routes inbound RTCP by its first packet's first destination SSRC).
            packets.retain(|p| !reports(p.as_ref()).is_empty());
            if packets.is_empty() {
                return Ok(()); // the interceptors before this one have seen it
            }
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for ReportTap {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// The highest fraction lost (0.0–1.0, RFC 3550 §6.4.1 "fraction lost" / 256) that these
/// packets report about the stream `ssrc`; `None` when none reports on it.
pub fn fraction_lost(packets: &[Box<dyn rtc::rtcp::Packet>], ssrc: u32) -> Option<f64> {
    packets
        .iter()
        .flat_map(|p| reports(p.as_ref()))
        .filter(|r| r.ssrc == ssrc)
        .map(|r| f64::from(r.fraction_lost) / 256.0)
        .reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ssrc: u32, fraction_lost: u8) -> ReceptionReport {
        ReceptionReport {
            ssrc,
            fraction_lost,
            ..Default::default()
        }
    }

    #[test]
    fn the_worst_report_on_our_stream_counts_and_others_do_not() {
        let packets: Vec<Box<dyn rtc::rtcp::Packet>> = vec![
            Box::new(SenderReport {
                ssrc: 9,
                reports: vec![report(1, 64), report(2, 255)],
                ..Default::default()
            }),
            Box::new(ReceiverReport {
                ssrc: 9,
                reports: vec![report(1, 32)],
                ..Default::default()
            }),
        ];
        assert_eq!(fraction_lost(&packets, 1), Some(0.25));
        assert_eq!(fraction_lost(&packets, 3), None);
        assert_eq!(fraction_lost(&[], 1), None);
    }
}
