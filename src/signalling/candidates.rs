//! ICE candidates in both directions: batching ours (spec "ICE Candidate Batching") and holding
//! the peer's until they can be used.
//!
//! Ours: every `m.call.candidates` is a room event, rate-limited by homeservers, so candidates are
//! sent in few batches — what was gathered before the invite/answer goes out *in* its SDP
//! ([`with_candidates`]: `a=candidate` lines, and `a=end-of-candidates` when gathering had ended,
//! as matrix-js-sdk's answer does), then one batch per 2 s (caller: the callee takes a while to
//! answer anyway) or 500 ms (callee), and everything at once with the end-of-candidates marker
//! when gathering ends. A call whose host candidates were all gathered in time thus sends no
//! `m.call.candidates` at all, and the peer can check them the moment the SDP reaches it.
//!
//! Theirs: candidates may arrive before the invite or answer they belong to (event order across
//! syncs, or several callee devices answering), so they are kept per (user, party) until the
//! machine knows which party it talks to and the peer connection exists.

use std::time::{Duration, Instant};

use super::IceCandidate;

/// Batching delay after our invite.
pub(super) const CALLER_BATCH_DELAY: Duration = Duration::from_secs(2);
/// Batching delay after our answer.
pub(super) const CALLEE_BATCH_DELAY: Duration = Duration::from_millis(500);

/// Our candidates waiting to be sent.
#[derive(Debug, Default)]
pub(super) struct LocalBatcher {
    queue: Vec<IceCandidate>,
    /// Gathering finished and the end-of-candidates marker is not sent yet.
    end_owed: bool,
    /// `None` until our invite/answer is sent: nothing may be sent before it.
    delay: Option<Duration>,
    due: Option<Instant>,
}

/// One `m.call.candidates` worth of ours.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Batch {
    pub candidates: Vec<IceCandidate>,
    pub end: bool,
}

impl LocalBatcher {
    pub fn push(&mut self, now: Instant, candidate: IceCandidate) {
        // A local misbehaving gatherer must not grow memory without bound either.
        if self.queue.len() >= 512 {
            tracing::debug!("dropping local candidate: queue full");
            return;
        }
        self.queue.push(candidate);
        if let Some(delay) = self.delay
            && self.due.is_none()
        {
            self.due = Some(now + delay);
        }
    }

    pub fn gathering_complete(&mut self, now: Instant) {
        self.end_owed = true;
        if self.delay.is_some() {
            self.due = Some(now);
        }
    }

    /// What was gathered before our invite/answer, and whether gathering has ended, for that
    /// description's SDP ([`with_candidates`]); what does not fit there comes back through
    /// [`LocalBatcher::put_back`].
    pub fn take_for_description(&mut self) -> (Vec<IceCandidate>, bool) {
        (
            std::mem::take(&mut self.queue),
            std::mem::take(&mut self.end_owed),
        )
    }

    /// Candidates (and the end marker) that the description could not carry go out as the
    /// first batch instead.
    pub fn put_back(&mut self, candidates: Vec<IceCandidate>, end: bool) {
        self.queue.extend(candidates);
        self.end_owed |= end;
    }

    /// Our invite/answer went out: from now on batches flow, the first one at once.
    pub fn open(&mut self, now: Instant, delay: Duration) {
        self.delay = Some(delay);
        if !self.queue.is_empty() || self.end_owed {
            self.due = Some(now);
        }
    }

    /// An ICE restart gathers afresh and will end with a new marker.
    pub fn restart(&mut self) {
        self.end_owed = false;
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.due
    }

    /// The batch due at `now`, if any.
    pub fn take_due(&mut self, now: Instant) -> Option<Batch> {
        if self.due.is_none_or(|due| due > now) {
            return None;
        }
        self.due = None;
        let batch = Batch {
            candidates: std::mem::take(&mut self.queue),
            end: self.end_owed,
        };
        self.end_owed = false;
        (!batch.candidates.is_empty() || batch.end).then_some(batch)
    }

    pub fn gathering_done(&self) -> bool {
        self.end_owed
    }
}

/// `sdp` with `candidates` added as `a=candidate` lines (RFC 8839 §5.1) to the m-section each
/// belongs to — by `sdp_mid` against the section's `a=mid`, else by `sdp_mline_index` (none:
/// the first) — and, when `end`, `a=end-of-candidates` (RFC 8840 §8.2) in every m-section.
/// Returns the SDP and the candidates it could not place (no such section); `end` is written
/// only when all were placed, since a marker before them would be wrong. Lines already present
/// are not repeated; the SDP's line ending is kept. Our own SDP is the input (the media engine's
/// offer or answer), so no section means no change.
pub(super) fn with_candidates(
    sdp: &str,
    candidates: Vec<IceCandidate>,
    end: bool,
) -> (String, Vec<IceCandidate>) {
    if candidates.is_empty() && !end {
        return (sdp.to_owned(), candidates);
    }
    let eol = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    let mut sections: Vec<Vec<&str>> = vec![Vec::new()];
    for line in sdp.lines() {
        if line.starts_with("m=") {
            sections.push(Vec::new());
        }
        if let Some(section) = sections.last_mut() {
            section.push(line);
        }
    }
    if sections.len() < 2 {
        return (sdp.to_owned(), candidates);
    }
    let media: Vec<(Option<&str>, &[&str])> = sections[1..]
        .iter()
        .map(|s| {
            let mid = s
                .iter()
                .find_map(|l| l.strip_prefix("a=mid:"))
                .map(str::trim);
            (mid, s.as_slice())
        })
        .collect();
    let section_of = |c: &IceCandidate| -> Option<usize> {
        if let Some(mid) = c.sdp_mid.as_deref().filter(|m| !m.is_empty())
            && let Some(i) = media.iter().position(|(m, _)| *m == Some(mid))
        {
            return Some(i);
        }
        let index = usize::from(c.sdp_mline_index.unwrap_or(0));
        (index < media.len()).then_some(index)
    };
    let mut placed: Vec<Vec<String>> = vec![Vec::new(); media.len()];
    let mut left = Vec::new();
    for c in candidates {
        let line = format!(
            "a={}{}",
            if c.candidate.starts_with("candidate:") {
                ""
            } else {
                "candidate:"
            },
            c.candidate.trim()
        );
        match section_of(&c) {
            Some(i) => {
                if !media[i].1.contains(&line.as_str()) && !placed[i].contains(&line) {
                    placed[i].push(line);
                }
            }
            None => left.push(c),
        }
    }
    let end = end && left.is_empty();
    let mut out =
        String::with_capacity(sdp.len() + 128 * placed.iter().map(Vec::len).sum::<usize>());
    for (i, section) in sections.iter().enumerate() {
        for line in section {
            out.push_str(line);
            out.push_str(eol);
        }
        let Some(lines) = i.checked_sub(1).and_then(|m| placed.get(m)) else {
            continue;
        };
        for line in lines {
            out.push_str(line);
            out.push_str(eol);
        }
        if end && !section.contains(&"a=end-of-candidates") {
            out.push_str("a=end-of-candidates");
            out.push_str(eol);
        }
    }
    (out, left)
}

/// Who sent remote candidates: (user, party). Version 0 and party-less senders have `None`.
pub(super) type PartyKey = (String, Option<String>);

/// The peer's candidates held until they can be handed to the media engine.
#[derive(Debug, Default, Clone)]
pub(super) struct RemoteBuffer {
    parties: Vec<(PartyKey, Vec<IceCandidate>, bool)>,
    total: usize,
}

/// Bounds on what a peer can make us hold before the invite/answer: a handful of devices, and
/// more candidates than any real gathering produces.
const MAX_PARTIES: usize = 8;
const MAX_HELD: usize = 1024;

impl RemoteBuffer {
    pub fn add(&mut self, from: PartyKey, candidates: Vec<IceCandidate>, end: bool) {
        if self.total + candidates.len() > MAX_HELD {
            tracing::debug!("dropping remote candidates: buffer full");
            return;
        }
        self.total += candidates.len();
        if let Some((_, held, ended)) = self.parties.iter_mut().find(|(k, ..)| *k == from) {
            held.extend(candidates);
            *ended |= end;
        } else if self.parties.len() < MAX_PARTIES {
            self.parties.push((from, candidates, end));
        } else {
            tracing::debug!("dropping remote candidates: too many parties");
        }
    }

    /// Everything `from` sent so far, and whether it ended; the others' are dropped, since the
    /// machine takes only one party's candidates per call.
    pub fn take(&mut self, from: &PartyKey) -> Option<(Vec<IceCandidate>, bool)> {
        let found = self.parties.iter().position(|(k, ..)| k == from);
        let out = found
            .map(|i| self.parties.swap_remove(i))
            .map(|(_, c, e)| (c, e));
        self.parties.clear();
        self.total = 0;
        out.filter(|(c, e)| !c.is_empty() || *e)
    }

    pub fn merge(&mut self, other: RemoteBuffer) {
        for (from, candidates, end) in other.parties {
            self.add(from, candidates, end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(n: u8, mid: Option<&str>, index: Option<u16>) -> IceCandidate {
        IceCandidate {
            candidate: format!("candidate:{n} 1 udp 2122260223 192.0.2.{n} 5000{n} typ host"),
            sdp_mid: mid.map(str::to_owned),
            sdp_mline_index: index,
        }
    }

    const TWO_SECTIONS: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendrecv\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:1\r\n";

    #[test]
    fn candidates_go_into_their_section_by_mid_then_by_index_with_the_end_marker() {
        let (sdp, left) = with_candidates(
            TWO_SECTIONS,
            vec![
                cand(1, Some("0"), Some(0)),
                cand(2, Some("1"), Some(0)), // the mid wins over the index
                cand(3, None, Some(1)),
                cand(4, None, None), // neither: the first section
            ],
            true,
        );
        assert!(left.is_empty());
        assert_eq!(
            sdp,
            "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendrecv\r\n\
             a=candidate:1 1 udp 2122260223 192.0.2.1 50001 typ host\r\n\
             a=candidate:4 1 udp 2122260223 192.0.2.4 50004 typ host\r\n\
             a=end-of-candidates\r\n\
             m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:1\r\n\
             a=candidate:2 1 udp 2122260223 192.0.2.2 50002 typ host\r\n\
             a=candidate:3 1 udp 2122260223 192.0.2.3 50003 typ host\r\n\
             a=end-of-candidates\r\n"
        );
    }

    #[test]
    fn a_candidate_without_a_section_is_left_for_trickle_and_holds_back_the_end_marker() {
        let sdp = "v=0\nm=audio 9 UDP/TLS/RTP/SAVPF 111\na=mid:0\n";
        let (out, left) = with_candidates(
            sdp,
            vec![cand(1, Some("0"), Some(0)), cand(2, Some("7"), Some(5))],
            true,
        );
        assert_eq!(left, [cand(2, Some("7"), Some(5))]);
        assert_eq!(
            out,
            "v=0\nm=audio 9 UDP/TLS/RTP/SAVPF 111\na=mid:0\n\
             a=candidate:1 1 udp 2122260223 192.0.2.1 50001 typ host\n",
            "LF kept, no end marker while a candidate is still to come"
        );
    }

    #[test]
    fn lines_already_there_are_not_repeated_and_nothing_to_add_changes_nothing() {
        let sdp = "v=0\r\nm=audio 9 RTP/SAVPF 0\r\n\
                   a=candidate:1 1 udp 2122260223 192.0.2.1 50001 typ host\r\n\
                   a=end-of-candidates\r\n";
        let (out, left) = with_candidates(sdp, vec![cand(1, None, Some(0))], true);
        assert_eq!((out.as_str(), left.len()), (sdp, 0));
        // Without a trailing line ending, and nothing to add: byte for byte.
        assert_eq!(with_candidates("v=0", vec![], false).0, "v=0");
        // No m-section: everything is left for trickle.
        let (out, left) = with_candidates("v=0\r\n", vec![cand(1, None, None)], true);
        assert_eq!((out.as_str(), left.len()), ("v=0\r\n", 1));
    }
}
