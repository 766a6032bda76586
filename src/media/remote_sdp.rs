//! The peer's SDP, made acceptable to webrtc-rs without changing what it says.
//!
//! - **DTLS fingerprints** (RFC 8122 §5): hash names are case-insensitive (`SHA-256` from
//!   Asterisk and some gateways), several `a=fingerprint` lines may appear, at session and media
//!   level, in any order, and the certificate must match one of them. webrtc-rs 0.21 reads only
//!   the first line of each level, refuses differing lines as "conflicting", and checks the
//!   certificate only against an exact `sha-256`. So the SHA-256 fingerprint (whatever its
//!   case, wherever it stands) becomes the one line `a=fingerprint:sha-256 <value>` at each
//!   level that had fingerprints; the certificate is then checked against it, which RFC 8122
//!   allows ("any of the listed hash functions"). An SDP without a SHA-256 fingerprint is
//!   refused with a clear reason: webrtc-rs can check no other hash.
//! - **Candidates in the SDP** (`a=candidate`, RFC 8839): the same rule as trickled ones
//!   ([`super::ice::refuse_remote_candidate`]); a refused line is removed.
//! - **DTLS role** (RFC 5763 §5): in answers to later offers (renegotiation, ICE restart) the
//!   answerer keeps the role of the running DTLS association; webrtc-rs answers `active` each
//!   time, which Chromium refuses ("Failed to set SSL role") when mxcall was the caller and so
//!   `passive`. [`setup_role`] / [`set_setup_role`] read and fix it.
//! - **Media direction** (RFC 3264 §6.1, hold and resume): [`audio_direction`] reads it and
//!   [`set_audio_direction`] rewrites it; the session uses them around webrtc-rs, which stops a
//!   transceiver for good when an offer says `a=inactive` (so a resume could never send again).

use super::ice::refuse_remote_candidate;

/// The SDP with fingerprints normalised and unusable candidate lines removed; `Err` with a
/// one-line reason when no fingerprint can be checked. `mdns`: whether `.local` candidates can
/// be resolved here. Line endings are kept as the peer sent them.
pub fn prepare(sdp: &str, mdns: bool) -> Result<String, String> {
    let eol = line_ending(sdp);
    let lines: Vec<&str> = sdp.lines().collect();
    let fingerprints: Vec<(&str, &str)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("a=fingerprint:"))
        .filter_map(|v| v.trim().split_once(' '))
        .map(|(hash, value)| (hash.trim(), value.trim()))
        .collect();
    let chosen = if fingerprints.is_empty() {
        // No fingerprint at all: webrtc-rs says so itself.
        None
    } else {
        let sha256: Vec<&str> = fingerprints
            .iter()
            .filter(|(hash, _)| hash.eq_ignore_ascii_case("sha-256"))
            .map(|(_, v)| *v)
            .collect();
        match sha256.first() {
            None => {
                let hashes: Vec<&str> = fingerprints.iter().map(|(h, _)| *h).collect();
                return Err(format!(
                    "the peer's DTLS fingerprints use {}; mxcall can check only sha-256",
                    hashes.join(", ")
                ));
            }
            Some(first) if sha256.iter().any(|v| !v.eq_ignore_ascii_case(first)) => {
                return Err(
                    "the peer's SDP carries two different sha-256 DTLS fingerprints".into(),
                );
            }
            Some(first) => Some(format!("a=fingerprint:sha-256 {first}")),
        }
    };

    let mut out = String::with_capacity(sdp.len());
    // One fingerprint line per level (the session part, then each m= section).
    let mut level_has_fingerprint = false;
    for line in lines {
        if line.starts_with("m=") {
            level_has_fingerprint = false;
        }
        if line.starts_with("a=fingerprint:") {
            if level_has_fingerprint {
                continue;
            }
            level_has_fingerprint = true;
            if let Some(chosen) = &chosen {
                out.push_str(chosen);
                out.push_str(eol);
                continue;
            }
        }
        if let Some(candidate) = line.strip_prefix("a=candidate:")
            && let Some(why) = refuse_remote_candidate(candidate, mdns)
        {
            tracing::debug!(line, why, "remote SDP candidate skipped");
            continue;
        }
        out.push_str(line);
        out.push_str(eol);
    }
    Ok(out)
}

/// The direction of an audio m-line (RFC 3264 §6.1), from the peer's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "a=sendrecv",
            Direction::SendOnly => "a=sendonly",
            Direction::RecvOnly => "a=recvonly",
            Direction::Inactive => "a=inactive",
        }
    }

    fn parse(line: &str) -> Option<Self> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| line.trim_end() == d.attribute())
    }

    /// The answer to an offer with this direction from a side that wants to send and receive
    /// (RFC 3264 §6.1): the offer's direction reversed.
    pub fn answer(self) -> Self {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// Whether the side that wrote this direction receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// The direction of the first audio m-line: its own attribute, else the session's, else
/// `sendrecv` (RFC 4566 §6).
pub fn audio_direction(sdp: &str) -> Direction {
    let mut session = None;
    let mut in_audio = false;
    let mut seen_media = false;
    for line in sdp.lines() {
        if line.starts_with("m=") {
            if in_audio {
                break;
            }
            seen_media = true;
            in_audio = line.starts_with("m=audio");
            continue;
        }
        if let Some(d) = Direction::parse(line) {
            if in_audio {
                return d;
            }
            if !seen_media {
                session = Some(d);
            }
        }
    }
    session.unwrap_or(Direction::SendRecv)
}

/// The SDP with the first audio m-line's direction set to `to` (its attribute replaced, or
/// added after the m-line); a session-level direction is left as is.
pub fn set_audio_direction(sdp: &str, to: Direction) -> String {
    let eol = line_ending(sdp);
    let mut out = String::with_capacity(sdp.len() + 16);
    let (mut in_audio, mut done, mut pending_insert) = (false, false, false);
    for line in sdp.lines() {
        if line.starts_with("m=") {
            if pending_insert {
                out.push_str(to.attribute());
                out.push_str(eol);
                done = true;
            }
            in_audio = !done && line.starts_with("m=audio");
            pending_insert = in_audio;
        } else if in_audio && !done && Direction::parse(line).is_some() {
            out.push_str(to.attribute());
            out.push_str(eol);
            pending_insert = false;
            done = true;
            continue;
        }
        out.push_str(line);
        out.push_str(eol);
    }
    if pending_insert {
        out.push_str(to.attribute());
        out.push_str(eol);
    }
    out
}

/// The `a=setup` value (RFC 4145 §4, RFC 5763 §5) of the first line that has one.
pub fn setup_role(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=setup:"))
        .map(str::trim)
}

/// The SDP with every `a=setup` line saying `role`.
pub fn set_setup_role(sdp: &str, role: &str) -> String {
    let eol = line_ending(sdp);
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.lines() {
        if line.starts_with("a=setup:") {
            out.push_str("a=setup:");
            out.push_str(role);
        } else {
            out.push_str(line);
        }
        out.push_str(eol);
    }
    out
}

/// The line ending the peer used (RFC 4566 says CRLF; some send LF), kept in rewrites.
fn line_ending(sdp: &str) -> &'static str {
    if sdp.contains("\r\n") { "\r\n" } else { "\n" }
}

/// The SDP with each payload type listed once per m-line, and its `a=rtpmap`/`a=fmtp`/
/// `a=rtcp-fb` lines once. webrtc-rs matches codecs by name and parameters, not clock rate:
/// answering an offer of `telephone-event/48000` and `/8000` (every browser's), it names the
/// first payload type twice, an m-line RFC 4566 §5.14 does not allow.
pub fn dedupe_payload_types(sdp: &str) -> String {
    let eol = line_ending(sdp);
    let mut out = String::with_capacity(sdp.len());
    let mut seen_lines = std::collections::HashSet::new();
    for line in sdp.lines() {
        if line.starts_with("m=") {
            seen_lines.clear();
            let mut fields: Vec<&str> = line.split(' ').collect();
            if fields.len() > 3 {
                let mut seen = std::collections::HashSet::new();
                let formats: Vec<&str> = fields.split_off(3);
                fields.extend(formats.into_iter().filter(|f| seen.insert(*f)));
            }
            out.push_str(&fields.join(" "));
        } else {
            let per_format = ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"]
                .iter()
                .any(|p| line.starts_with(p));
            if per_format && !seen_lines.insert(line.to_owned()) {
                continue;
            }
            out.push_str(line);
        }
        out.push_str(eol);
    }
    out
}

/// The telephone-event payload types of the first audio m-line with their clock rates
/// (`a=rtpmap:<pt> telephone-event/<rate>`, RFC 4733 §7.1.1; the name case-insensitive).
pub fn telephone_events(sdp: &str) -> Vec<(u8, u32)> {
    let mut in_audio = false;
    let mut out = Vec::new();
    for line in sdp.lines() {
        if line.starts_with("m=") {
            if in_audio {
                break;
            }
            in_audio = line.starts_with("m=audio");
            continue;
        }
        let Some(map) = line.strip_prefix("a=rtpmap:").filter(|_| in_audio) else {
            continue;
        };
        let mut parts = map.split_whitespace();
        let (Some(pt), Some(codec)) = (parts.next(), parts.next()) else {
            continue;
        };
        let mut codec = codec.split('/');
        let (Some(name), Some(rate)) = (codec.next(), codec.next()) else {
            continue;
        };
        if let (true, Ok(pt), Ok(rate)) = (
            name.eq_ignore_ascii_case("telephone-event"),
            pt.parse::<u8>(),
            rate.parse::<u32>(),
        ) && pt < 128
            && rate > 0
        {
            out.push((pt, rate));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_roles_are_read_and_rewritten() {
        let s = sdp(&[], &["a=setup:active", "a=mid:0"]);
        assert_eq!(setup_role(&s), Some("active"));
        let t = set_setup_role(&s, "passive");
        assert_eq!(setup_role(&t), Some("passive"));
        assert!(!t.contains("a=setup:active"));
        assert_eq!(setup_role(&sdp(&[], &[])), None);
    }

    #[test]
    fn directions_are_read_and_rewritten_on_the_audio_line() {
        let base = sdp(&[], &["a=mid:0", "a=sendrecv", "a=rtcp-mux"]);
        assert_eq!(audio_direction(&base), Direction::SendRecv);
        let held = set_audio_direction(&base, Direction::Inactive);
        assert_eq!(audio_direction(&held), Direction::Inactive);
        assert_eq!(held.matches("a=inactive").count(), 1);
        assert!(!held.contains("a=sendrecv"));
        // No media-level attribute: the session's counts; a rewrite adds one to the m-line.
        let session_level = sdp(&["a=sendonly"], &["a=mid:0"]);
        assert_eq!(audio_direction(&session_level), Direction::SendOnly);
        let rewritten = set_audio_direction(&session_level, Direction::RecvOnly);
        assert_eq!(audio_direction(&rewritten), Direction::RecvOnly);
        assert_eq!(
            audio_direction(&sdp(&[], &["a=mid:0"])),
            Direction::SendRecv
        );
        assert!(Direction::RecvOnly.receives() && !Direction::SendOnly.receives());
        assert_eq!(Direction::SendOnly.answer(), Direction::RecvOnly);
        assert_eq!(Direction::Inactive.answer(), Direction::Inactive);
    }

    const FP: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

    fn sdp(session: &[&str], media: &[&str]) -> String {
        let mut s = String::from("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
        for l in session {
            s.push_str(l);
            s.push_str("\r\n");
        }
        s.push_str("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n");
        for l in media {
            s.push_str(l);
            s.push_str("\r\n");
        }
        s
    }

    fn fingerprint_lines(sdp: &str) -> Vec<&str> {
        sdp.lines()
            .filter(|l| l.starts_with("a=fingerprint:"))
            .collect()
    }

    #[test]
    fn the_sha_256_fingerprint_is_found_in_any_case_and_order() {
        let want = format!("a=fingerprint:sha-256 {FP}");
        for (session, media) in [
            (vec![], vec![format!("a=fingerprint:SHA-256 {FP}")]),
            (
                vec![],
                vec![
                    "a=fingerprint:sha-1 12:34:56:78:90:12:34:56:78:90:12:34:56:78:90:12:34:56:78:90".into(),
                    format!("a=fingerprint:Sha-256 {FP}"),
                ],
            ),
            (
                vec!["a=fingerprint:sha-512 00:11".to_owned()],
                vec![format!("a=fingerprint:sha-256 {FP}")],
            ),
        ] {
            let session: Vec<&str> = session.iter().map(String::as_str).collect();
            let media: Vec<&str> = media.iter().map(String::as_str).collect();
            let out = prepare(&sdp(&session, &media), true).unwrap();
            let lines = fingerprint_lines(&out);
            assert!(!lines.is_empty());
            assert!(lines.iter().all(|l| *l == want), "{out}");
            // One per level.
            assert_eq!(lines.len(), if session.is_empty() { 1 } else { 2 }, "{out}");
            assert!(out.ends_with("\r\n") && !out.contains("\n\n"));
        }
    }

    #[test]
    fn fingerprints_without_sha_256_or_contradicting_are_refused_with_a_reason() {
        let only_sha1 = sdp(&[], &["a=fingerprint:SHA-1 12:34"]);
        let err = prepare(&only_sha1, true).unwrap_err();
        assert!(err.contains("SHA-1") && err.contains("sha-256"), "{err}");
        let two = sdp(
            &[],
            &[
                &format!("a=fingerprint:sha-256 {FP}"),
                "a=fingerprint:sha-256 00:00",
            ],
        );
        assert!(prepare(&two, true).is_err());
        // No fingerprint: left for webrtc-rs to refuse.
        assert!(prepare(&sdp(&[], &[]), true).is_ok());
    }

    #[test]
    fn tcp_candidate_lines_are_removed() {
        let s = sdp(
            &[],
            &[
                "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
                "a=candidate:2 1 tcp 1518280447 127.0.0.1 22 typ host tcptype passive",
                "a=candidate:3 1 udp 2130706431 abc.local 5001 typ host",
                "a=end-of-candidates",
            ],
        );
        let out = prepare(&s, false).unwrap();
        assert!(out.contains("127.0.0.1 5000"));
        assert!(!out.contains(" tcp "));
        assert!(!out.contains("abc.local"));
        assert!(out.contains("a=end-of-candidates"));
        assert!(prepare(&s, true).unwrap().contains("abc.local"));
    }

    #[test]
    fn telephone_event_types_come_from_the_first_audio_section() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 110 126\r\n\
                   a=rtpmap:111 opus/48000/2\r\na=rtpmap:110 telephone-event/48000\r\n\
                   a=rtpmap:126 TELEPHONE-EVENT/8000\r\na=rtpmap:127 telephone-event/x\r\n\
                   a=rtpmap:300 telephone-event/8000\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 telephone-event/8000\r\n";
        assert_eq!(telephone_events(sdp), vec![(110, 48_000), (126, 8_000)]);
        assert!(telephone_events("v=0\r\nm=audio 9 RTP/AVP 0\r\n").is_empty());
    }

    #[test]
    fn a_payload_type_named_twice_is_listed_once() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 110 110\r\na=mid:0\r\n\
                   a=rtpmap:111 opus/48000/2\r\na=rtpmap:110 telephone-event/48000\r\n\
                   a=rtpmap:110 telephone-event/48000\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\n\
                   a=rtpmap:96 VP8/90000\r\n";
        assert_eq!(
            dedupe_payload_types(sdp),
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 110\r\na=mid:0\r\n\
             a=rtpmap:111 opus/48000/2\r\na=rtpmap:110 telephone-event/48000\r\n\
             m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
        );
    }
}

/// Property tests (issue 15): SDP from a hostile peer — lines of any kind, in any order, with
/// any line endings and bytes — never panics any of the rewrites, and they keep their promises.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("v=0".to_owned()),
            Just("m=audio 9 UDP/TLS/RTP/SAVPF 111 110 110 126".to_owned()),
            Just("m=video 0 UDP/TLS/RTP/SAVPF 96".to_owned()),
            Just("m=".to_owned()),
            Just("a=rtpmap:110 telephone-event/48000".to_owned()),
            Just("a=rtpmap:126 telephone-event/".to_owned()),
            Just("a=fingerprint:SHA-256 AB:CD".to_owned()),
            Just("a=fingerprint:sha-1".to_owned()),
            Just("a=setup:actpass".to_owned()),
            Just("a=sendonly".to_owned()),
            Just("a=inactive".to_owned()),
            Just("a=candidate:1 1 tcp 1 10.0.0.1 9 typ host tcptype passive".to_owned()),
            Just("a=candidate:2 1 udp 1 x.local 9 typ host".to_owned()),
            Just("a=candidate:".to_owned()),
            "a=[a-z:-]{0,12}[ /0-9A-Za-z:.-]{0,30}",
            "\\PC{0,40}",
        ]
    }

    fn sdp() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(line(), 0..30),
            prop_oneof![Just("\r\n"), Just("\n")],
        )
            .prop_map(|(lines, eol)| lines.join(eol) + eol)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn hostile_sdp_never_panics_and_the_rewrites_hold(sdp in sdp(), mdns in any::<bool>()) {
            if let Ok(prepared) = prepare(&sdp, mdns) {
                // No TCP candidate survives, nor a .local one without mDNS.
                for l in prepared.lines().filter(|l| l.starts_with("a=candidate:")) {
                    prop_assert!(!l.contains(" tcp "), "{l}");
                    prop_assert!(mdns || !l.contains(".local"), "{l}");
                }
            }
            let _ = audio_direction(&sdp);
            for to in [Direction::Inactive, Direction::SendOnly, Direction::RecvOnly, Direction::SendRecv] {
                let set = set_audio_direction(&sdp, to);
                if sdp.lines().any(|l| l.starts_with("m=audio")) {
                    prop_assert_eq!(audio_direction(&set), to, "{}", set);
                }
            }
            for (pt, rate) in telephone_events(&sdp) {
                prop_assert!(pt < 128 && rate > 0);
            }
            let once = dedupe_payload_types(&sdp);
            prop_assert_eq!(dedupe_payload_types(&once), once.clone());
            let _ = set_setup_role(&sdp, "active");
        }
    }
}
