//! Two media sessions in one process, signalling passed in memory, host candidates on
//! 127.0.0.1: each sends a tone and records what it hears, and the recordings are checked for
//! the other side's tone, continuously.

#[path = "common/audio.rs"]
mod audio_check;
#[path = "common/netns.rs"]
mod netns;

use std::path::Path;
use std::time::{Duration, Instant};

use audio_check::{analyse, read_wav};
use mxcall::audio::{AudioSpec, open_sink, open_source};
use mxcall::media::{ConnState, MediaConfig, MediaEvent, MediaSession};
use tokio::sync::mpsc::Receiver;

async fn session(input: &str, record: &Path) -> (MediaSession, Receiver<MediaEvent>) {
    let source = open_source(&input.parse::<AudioSpec>().unwrap()).unwrap();
    let sink = open_sink(&AudioSpec::Wav(record.to_owned())).unwrap();
    MediaSession::new(MediaConfig::loopback(), source, sink)
        .await
        .unwrap()
}

/// What the in-memory signalling saw of one side.
#[derive(Default, Debug)]
struct Seen {
    candidates: usize,
    gathering_complete: bool,
    connected_at: Option<Instant>,
    first_audio_at: Option<Instant>,
    states: Vec<ConnState>,
    errors: Vec<String>,
    dtmf: Vec<mxcall::media::dtmf::Dtmf>,
    /// The local candidates' lines.
    lines: Vec<String>,
}

/// Passes each side's candidates to the other and records events, until `until`.
async fn pump(
    a: &MediaSession,
    a_events: &mut Receiver<MediaEvent>,
    b: &MediaSession,
    b_events: &mut Receiver<MediaEvent>,
    seen: &mut [Seen; 2],
    until: Instant,
) {
    loop {
        let (side, event) = tokio::select! {
            Some(e) = a_events.recv() => (0, e),
            Some(e) = b_events.recv() => (1, e),
            _ = tokio::time::sleep_until(until.into()) => return,
        };
        let other = if side == 0 { b } else { a };
        let s = &mut seen[side];
        match event {
            MediaEvent::LocalCandidate(c) => {
                s.candidates += 1;
                assert!(
                    c.candidate.contains(" 127.0.0.1 ") || c.candidate.contains(" ::1 "),
                    "{c:?}"
                );
                s.lines.push(c.candidate.clone());
                assert_eq!(c.sdp_mid.as_deref(), Some("0"));
                other.add_remote_candidate(Some(c)).await.unwrap();
            }
            MediaEvent::GatheringComplete => {
                s.gathering_complete = true;
                other.add_remote_candidate(None).await.unwrap();
            }
            MediaEvent::Connection(state) => {
                s.states.push(state);
                if state == ConnState::Connected {
                    s.connected_at.get_or_insert(Instant::now());
                }
            }
            MediaEvent::FirstAudio => {
                s.first_audio_at.get_or_insert(Instant::now());
            }
            MediaEvent::Error(e) => s.errors.push(e.to_string()),
            MediaEvent::Dtmf(d) => s.dtmf.push(d),
            _ => {}
        }
    }
}

/// Pumps until both sides are connected (at most 5 s).
async fn until_connected(
    a: &MediaSession,
    a_events: &mut Receiver<MediaEvent>,
    b: &MediaSession,
    b_events: &mut Receiver<MediaEvent>,
    seen: &mut [Seen; 2],
) {
    let t0 = Instant::now();
    while seen.iter().any(|s| s.connected_at.is_none()) && t0.elapsed() < Duration::from_secs(5) {
        let step = Instant::now() + Duration::from_millis(20);
        pump(a, a_events, b, b_events, seen, step).await;
    }
}

fn assert_chromium_shaped(sdp: &str, stream_id: &str) {
    for needle in [
        "a=group:BUNDLE 0",
        "m=audio ",
        "UDP/TLS/RTP/SAVPF 111",
        "a=mid:0",
        "a=rtpmap:111 opus/48000/2",
        "useinbandfec=1",
        "a=rtcp-mux",
        "a=fingerprint:sha-256 ",
        "a=ice-ufrag:",
        "a=sendrecv",
    ] {
        assert!(sdp.contains(needle), "SDP lacks {needle:?}:\n{sdp}");
    }
    let msid = sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=msid:"))
        .unwrap_or_else(|| panic!("no a=msid line:\n{sdp}"));
    let mut parts = msid.split_whitespace();
    assert_eq!(parts.next(), Some(stream_id), "msid stream id");
    assert!(parts.next().is_some_and(|t| !t.is_empty()), "msid track id");
    assert_eq!(sdp.matches("m=").count(), 1, "audio only:\n{sdp}");
    assert!(!sdp.contains("usedtx=1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_exchange_tones_over_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let (a_rec, b_rec) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    let (a, mut a_events) = session("tone:440", &a_rec).await;
    let (b, mut b_events) = session("tone:880", &b_rec).await;

    let started = Instant::now();
    let offer = a.create_offer().await.unwrap();
    assert_chromium_shaped(&offer, a.stream_id());
    assert!(offer.contains("a=setup:actpass"));
    let answer = b.accept_offer(&offer).await.unwrap();
    assert_chromium_shaped(&answer, b.stream_id());
    a.accept_answer(&answer).await.unwrap();

    let mut seen = [Seen::default(), Seen::default()];
    // Until both are connected (ICE takes 0.2 to 1 s here), then three seconds of call.
    while seen.iter().any(|s| s.connected_at.is_none())
        && started.elapsed() < Duration::from_secs(5)
    {
        let step = Instant::now() + Duration::from_millis(20);
        pump(&a, &mut a_events, &b, &mut b_events, &mut seen, step).await;
    }
    let call_end = Instant::now() + Duration::from_secs(3);
    pump(&a, &mut a_events, &b, &mut b_events, &mut seen, call_end).await;

    let stats = [a.close().await, b.close().await];

    // What one side counts as sent is what went on the wire: the other side received it.
    for (from, to) in [(0, 1), (1, 0)] {
        let (sent, received) = (stats[from].packets_sent, stats[to].packets_received);
        assert!(
            sent >= received && sent <= received + 10,
            "side {from} claims {sent} packets sent, side {to} received {received}"
        );
        assert!(stats[to].frames_decoded >= 100, "{:?}", stats[to]);
    }
    for (side, s) in seen.iter().enumerate() {
        assert!(
            s.candidates >= 1 && s.gathering_complete,
            "side {side}: {s:?}"
        );
        assert!(s.errors.is_empty(), "side {side}: {s:?}");
        let connected = s
            .connected_at
            .unwrap_or_else(|| panic!("side {side} never connected: {s:?}"));
        let heard = s
            .first_audio_at
            .unwrap_or_else(|| panic!("side {side} heard nothing: {s:?}"));
        eprintln!(
            "side {side}: connected after {:?}, first audio after {:?}, {:?}",
            connected - started,
            heard - started,
            stats[side]
        );
        assert!(connected - started < Duration::from_secs(2));
        assert!(heard - connected < Duration::from_millis(500));
        let st = &stats[side];
        assert!(
            st.packets_sent >= 100 && st.packets_received >= 100,
            "{st:?}"
        );
        assert!(st.packets_lost <= 2, "{st:?}");
        assert!(st.frames_played >= 100, "{st:?}");
    }

    for (path, freq) in [(&b_rec, 440.0), (&a_rec, 880.0)] {
        let samples = read_wav(path);
        let report = analyse(&samples, freq);
        eprintln!("{}: {} samples, {report:?}", path.display(), samples.len());
        assert!(samples.len() >= 48_000 * 3 - 960, "recording too short");
        assert!((report.dominant_hz - freq).abs() <= 2.0, "{report:?}");
        assert!(report.frames_in_call >= 140, "{report:?}");
        let first = report.first_tone_frame.unwrap();
        assert!(
            first <= 15,
            "tone starts {} ms into the recording",
            first * 20
        );
        assert!(
            report.fraction() >= 0.9,
            "only {:.1}% tone frames",
            report.fraction() * 100.0
        );
    }
}

/// An offer as Chromium sends it (audio only; Opus, RED, G.722, PCMU/A, CN, DTMF).
const CHROMIUM_OFFER: &str = "v=0\r
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0\r
a=extmap-allow-mixed\r
a=msid-semantic: WMS 2c5f0e5a-7c1f-4a0e-9a43-1c4e0b1e1a11\r
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r
c=IN IP4 0.0.0.0\r
a=rtcp:9 IN IP4 0.0.0.0\r
a=ice-ufrag:9mXq\r
a=ice-pwd:b3NQvS0m2rkGgJb0wY9Iq6Zt\r
a=ice-options:trickle\r
a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4F:97:6C:5E:BC:4E:2A:95:AF:FC:44:5B\r
a=setup:actpass\r
a=mid:0\r
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r
a=sendrecv\r
a=msid:2c5f0e5a-7c1f-4a0e-9a43-1c4e0b1e1a11 7d5b1c8e-3f7a-4b2c-9d1e-5a6f7b8c9d0e\r
a=rtcp-mux\r
a=rtcp-rsize\r
a=rtpmap:111 opus/48000/2\r
a=rtcp-fb:111 transport-cc\r
a=fmtp:111 minptime=10;useinbandfec=1\r
a=rtpmap:63 red/48000/2\r
a=fmtp:63 111/111\r
a=rtpmap:9 G722/8000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:13 CN/8000\r
a=rtpmap:110 telephone-event/48000\r
a=rtpmap:126 telephone-event/8000\r
a=ssrc:3735928559 cname:Yq3hVh0s5nq2fJxJ\r
a=ssrc:3735928559 msid:2c5f0e5a-7c1f-4a0e-9a43-1c4e0b1e1a11 7d5b1c8e-3f7a-4b2c-9d1e-5a6f7b8c9d0e\r
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_a_chromium_offer_with_one_bundled_opus_line() {
    let (s, _events) = MediaSession::new(
        MediaConfig::loopback(),
        open_source(&AudioSpec::Null).unwrap(),
        open_sink(&AudioSpec::Null).unwrap(),
    )
    .await
    .unwrap();
    let answer = s.accept_offer(CHROMIUM_OFFER).await.unwrap();
    assert_chromium_shaped(&answer, s.stream_id());
    let m_line = answer.lines().find(|l| l.starts_with("m=audio")).unwrap();
    // Opus and the telephone-event at its clock (RFC 4733), nothing else.
    assert!(m_line.ends_with("UDP/TLS/RTP/SAVPF 111 110"), "{answer}");
    assert!(
        answer.contains("a=setup:active") || answer.contains("a=setup:passive"),
        "{answer}"
    );
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_remote_description_is_one_clear_error() {
    let (s, _events) = MediaSession::new(
        MediaConfig::loopback(),
        open_source(&AudioSpec::Null).unwrap(),
        open_sink(&AudioSpec::Null).unwrap(),
    )
    .await
    .unwrap();
    let err = s
        .accept_offer("this is not SDP")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cannot apply remote offer:"), "{err}");
    assert!(!err.contains('\n'));
    let err = s
        .add_remote_candidate(Some(mxcall::media::Candidate {
            candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        }))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cannot add remote ICE candidate"), "{err}");
    s.close().await;
}

fn ice_ufrag(sdp: &str) -> &str {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .expect("ice-ufrag")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ice_restart_renegotiates_and_audio_keeps_flowing() {
    let dir = tempfile::tempdir().unwrap();
    let (a_rec, b_rec) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    let (a, mut a_events) = session("tone:440", &a_rec).await;
    let (b, mut b_events) = session("tone:880", &b_rec).await;
    let offer = a.create_offer().await.unwrap();
    let answer = b.accept_offer(&offer).await.unwrap();
    a.accept_answer(&answer).await.unwrap();
    let mut seen = [Seen::default(), Seen::default()];
    until_connected(&a, &mut a_events, &b, &mut b_events, &mut seen).await;
    let settle = Instant::now() + Duration::from_secs(1);
    pump(&a, &mut a_events, &b, &mut b_events, &mut seen, settle).await;
    let before = b.stats().packets_received;
    assert!(
        before > 20,
        "audio flows before the restart: {:?}",
        b.stats()
    );

    let restart = a.ice_restart_offer().await.unwrap();
    assert_ne!(
        ice_ufrag(&restart),
        ice_ufrag(&offer),
        "fresh ICE credentials"
    );
    let answer2 = b.accept_offer(&restart).await.unwrap();
    assert_ne!(ice_ufrag(&answer2), ice_ufrag(&answer));
    a.accept_answer(&answer2).await.unwrap();
    let t1 = Instant::now();
    pump(
        &a,
        &mut a_events,
        &b,
        &mut b_events,
        &mut seen,
        t1 + Duration::from_secs(2),
    )
    .await;
    let after = [a.stats(), b.stats()];
    a.close().await;
    b.close().await;

    assert!(
        !seen.iter().any(|s| s.states.contains(&ConnState::Failed)),
        "{seen:?}"
    );
    for st in &after {
        assert!(
            st.packets_received >= before + 80,
            "audio stalled after the restart: {st:?}"
        );
    }
    for (path, freq) in [(&b_rec, 440.0), (&a_rec, 880.0)] {
        let report = analyse(&read_wav(path), freq);
        assert!((report.dominant_hz - freq).abs() <= 2.0, "{report:?}");
        assert!(report.fraction() >= 0.9, "{report:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_a_wav_input_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("short.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&input, spec).unwrap();
    for s in audio_check::sine(500.0, 0.3, 0.3).iter().step_by(3) {
        w.write_sample(*s).unwrap();
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();
    let (a, mut a_events) = session(
        &format!("wav:{}", input.display()),
        &dir.path().join("a.wav"),
    )
    .await;
    let (b, mut b_events) = session("null", &dir.path().join("b.wav")).await;
    let offer = a.create_offer().await.unwrap();
    a.accept_answer(&b.accept_offer(&offer).await.unwrap())
        .await
        .unwrap();

    let start = Instant::now();
    let (mut connected, mut ended) = (None, Vec::new());
    let deadline = start + Duration::from_secs(3);
    loop {
        let (side, event) = tokio::select! {
            Some(e) = a_events.recv() => (0, e),
            Some(e) = b_events.recv() => (1, e),
            _ = tokio::time::sleep_until(deadline.into()) => break,
        };
        let other = if side == 0 { &b } else { &a };
        match event {
            MediaEvent::LocalCandidate(c) => other.add_remote_candidate(Some(c)).await.unwrap(),
            MediaEvent::GatheringComplete => other.add_remote_candidate(None).await.unwrap(),
            MediaEvent::Connection(ConnState::Connected) if side == 0 => {
                connected = Some(Instant::now())
            }
            MediaEvent::InputEnded => ended.push((side, Instant::now())),
            _ => {}
        }
    }
    a.close().await;
    b.close().await;
    let connected = connected.expect("connected");
    assert_eq!(ended.len(), 1, "{ended:?}");
    let (side, at) = ended[0];
    assert_eq!(side, 0);
    // 0.3 s of input, read from the moment the connection is up.
    let after = at - connected;
    assert!(
        after >= Duration::from_millis(280) && after < Duration::from_millis(600),
        "{after:?}"
    );
    let heard = analyse(&read_wav(&dir.path().join("b.wav")), 500.0);
    assert!((heard.dominant_hz - 500.0).abs() <= 2.0, "{heard:?}");
    assert!((14..=17).contains(&heard.frames_in_call), "{heard:?}");
}

/// What real peers and homeservers send (issue 11): a gateway's `SHA-256` fingerprint after a
/// `sha-1` one, a homeserver's TURN list with a `stun:…?transport=udp` URI, URIs webrtc-rs
/// cannot parse and an unreachable TURN server, a peer's TCP candidate naming a local service
/// and an mDNS name nobody answers for. The call connects, tones flow both ways, gathering
/// still ends, and mxcall never dials the TCP candidate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_survive_gateway_sdp_odd_turn_lists_and_hostile_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let (a_rec, b_rec) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    let (a, mut a_events) = session("tone:440", &a_rec).await;
    let b_cfg = MediaConfig {
        ice_servers: vec![
            mxcall::media::IceServer {
                urls: vec![
                    "stun:127.0.0.1:9?transport=udp".into(),
                    "stuns:127.0.0.1:9".into(),
                    "not a uri".into(),
                    // Nothing listens there: allocation fails, the call goes on without it.
                    "turn:127.0.0.1:9?transport=udp".into(),
                ],
                username: Some("1700000000:@b:localhost".into()),
                credential: Some("c2VjcmV0".into()),
            },
            mxcall::media::IceServer {
                urls: vec!["turn:127.0.0.1:9".into()], // no credentials
                username: None,
                credential: None,
            },
        ],
        ..MediaConfig::loopback()
    };
    let (b, mut b_events) = MediaSession::new(
        b_cfg,
        open_source(&"tone:880".parse::<AudioSpec>().unwrap()).unwrap(),
        open_sink(&AudioSpec::Wav(b_rec.clone())).unwrap(),
    )
    .await
    .expect("a homeserver's odd TURN list does not stop the call");

    let started = Instant::now();
    let gateway_fingerprints = |sdp: &str| {
        sdp.replace(
            "a=fingerprint:sha-256 ",
            "a=fingerprint:sha-1 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67\r\na=fingerprint:SHA-256 ",
        )
    };
    let offer = gateway_fingerprints(&a.create_offer().await.unwrap());
    let answer = gateway_fingerprints(&b.accept_offer(&offer).await.unwrap());
    a.accept_answer(&answer).await.unwrap();

    // A TCP candidate of B's naming a local service A could reach.
    let service = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    service.set_nonblocking(true).unwrap();
    let port = service.local_addr().unwrap().port();
    for candidate in [
        format!("candidate:9 1 tcp 2105524479 127.0.0.1 {port} typ host tcptype passive"),
        "candidate:8 1 udp 2122260223 f81c6e0c-5a6b-4c1f-9d2e-6c1a2b3c4d5e.local 40000 typ host"
            .into(),
    ] {
        a.add_remote_candidate(Some(mxcall::media::Candidate {
            candidate,
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        }))
        .await
        .expect("an unusable candidate is skipped, not an error");
    }

    let mut seen = [Seen::default(), Seen::default()];
    while seen.iter().any(|s| s.connected_at.is_none())
        && started.elapsed() < Duration::from_secs(5)
    {
        let step = Instant::now() + Duration::from_millis(20);
        pump(&a, &mut a_events, &b, &mut b_events, &mut seen, step).await;
    }
    let call_end = Instant::now() + Duration::from_secs(3);
    pump(&a, &mut a_events, &b, &mut b_events, &mut seen, call_end).await;
    // B's TURN server never answers: its gathering is declared over after 5 s.
    while seen.iter().any(|s| !s.gathering_complete) && started.elapsed() < Duration::from_secs(8) {
        let step = Instant::now() + Duration::from_millis(50);
        pump(&a, &mut a_events, &b, &mut b_events, &mut seen, step).await;
    }
    a.close().await;
    b.close().await;

    for (side, s) in seen.iter().enumerate() {
        assert!(
            s.connected_at.is_some(),
            "side {side} never connected: {s:?}"
        );
        assert!(
            s.gathering_complete,
            "side {side} never ended gathering: {s:?}"
        );
    }
    assert!(
        matches!(service.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "mxcall dialled the peer's TCP candidate"
    );
    for (path, freq) in [(&b_rec, 440.0), (&a_rec, 880.0)] {
        let report = analyse(&read_wav(path), freq);
        assert!((report.dominant_hz - freq).abs() <= 2.0, "{report:?}");
        assert!(report.fraction() >= 0.9, "{report:?}");
    }
}

/// A peer whose certificate does not match its fingerprint: the call does not connect, and
/// mxcall says in one line that DTLS failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dtls_fingerprint_mismatch_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut a_events) = session("tone:440", &dir.path().join("a.wav")).await;
    let (b, mut b_events) = session("tone:880", &dir.path().join("b.wav")).await;
    let offer = a.create_offer().await.unwrap();
    let answer = b.accept_offer(&offer).await.unwrap();
    let forged: String = answer
        .lines()
        .map(|l| match l.strip_prefix("a=fingerprint:sha-256 ") {
            Some(v) => format!(
                "a=fingerprint:sha-256 {}\r\n",
                v.replace(|c: char| c.is_ascii_hexdigit(), "A")
            ),
            None => format!("{l}\r\n"),
        })
        .collect();
    a.accept_answer(&forged).await.unwrap();
    let mut seen = [Seen::default(), Seen::default()];
    let until = Instant::now() + Duration::from_secs(12);
    while Instant::now() < until && seen[0].errors.is_empty() {
        let step = Instant::now() + Duration::from_millis(50);
        pump(&a, &mut a_events, &b, &mut b_events, &mut seen, step).await;
    }
    a.close().await;
    b.close().await;
    eprintln!("{seen:?}");
    assert!(seen[0].connected_at.is_none(), "{seen:?}");
    let err = seen[0].errors.first().expect("no error reported");
    assert!(err.contains("DTLS"), "{err}");
    assert!(!err.contains('\n'));
}

/// A host without a multicast route (a container, a sandbox with only `lo`): mDNS cannot start,
/// and the call must go on without it. Runs the loopback call above inside a fresh network
/// namespace with only `lo` up (needs root or user namespaces; skipped with a note otherwise).
#[test]
fn calls_work_on_a_host_without_multicast() {
    const INNER: &str = "MXCALL_TEST_IN_NETNS";
    if std::env::var_os(INNER).is_some() {
        return; // The inner run is the test below, not this one.
    }
    if netns::available() {
        netns::rerun_inside("two_sessions_exchange_tones_over_loopback", INNER, "1");
    }
}

fn direction(sdp: &str) -> &str {
    sdp.lines()
        .find_map(|l| {
            l.strip_prefix("a=")
                .filter(|d| ["sendrecv", "sendonly", "recvonly", "inactive"].contains(d))
        })
        .unwrap_or("sendrecv")
}

/// RFC 3264 §6.1 hold and resume, as a peer renegotiates them (`m.call.negotiate`): the answer's
/// direction follows each offer's, and after the resume audio flows both ways again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_with_inactive_then_resume_with_sendrecv_restores_audio_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (a_rec, b_rec) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    let (a, mut a_events) = session("tone:440", &a_rec).await;
    let (b, mut b_events) = session("tone:880", &b_rec).await;
    let offer = a.create_offer().await.unwrap();
    a.accept_answer(&b.accept_offer(&offer).await.unwrap())
        .await
        .unwrap();
    let mut seen = [Seen::default(), Seen::default()];
    until_connected(&a, &mut a_events, &b, &mut b_events, &mut seen).await;
    let settle = Instant::now() + Duration::from_secs(1);
    pump(&a, &mut a_events, &b, &mut b_events, &mut seen, settle).await;

    for (offered, expected) in [
        ("inactive", "inactive"),
        ("sendrecv", "sendrecv"),
        ("sendonly", "recvonly"),
        ("sendrecv", "sendrecv"),
    ] {
        let reoffer = a
            .create_offer()
            .await
            .unwrap()
            .replace("a=sendrecv", &format!("a={offered}"));
        let answer = b.accept_offer(&reoffer).await.unwrap();
        assert_eq!(
            direction(&answer),
            expected,
            "answer to a={offered}:\n{answer}"
        );
        a.accept_answer(&answer).await.unwrap();
        let until = Instant::now() + Duration::from_millis(1500);
        pump(&a, &mut a_events, &b, &mut b_events, &mut seen, until).await;
    }
    // After the final resume B sends again: A hears 880 Hz in the last second.
    let before = a.stats().packets_received;
    let until = Instant::now() + Duration::from_secs(2);
    pump(&a, &mut a_events, &b, &mut b_events, &mut seen, until).await;
    let after = a.stats().packets_received;
    a.close().await;
    b.close().await;
    assert!(
        after >= before + 60,
        "B does not send after the resume: {before} → {after}"
    );
    let samples = read_wav(&a_rec);
    let tail = &samples[samples.len().saturating_sub(48_000)..];
    let report = analyse(tail, 880.0);
    assert!(report.fraction() >= 0.8, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtmf_digits_go_both_ways_as_telephone_events_and_audio_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (a_rec, b_rec) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    let (a, mut a_events) = session("tone:440", &a_rec).await;
    let (b, mut b_events) = session("tone:880", &b_rec).await;
    let offer = a.create_offer().await.unwrap();
    // Offered at both clock rates, as browsers do (RFC 4733 §7.1.1).
    assert!(offer.contains("telephone-event/48000"), "{offer}");
    assert!(offer.contains("telephone-event/8000"), "{offer}");
    a.accept_answer(&b.accept_offer(&offer).await.unwrap())
        .await
        .unwrap();
    let mut seen = [Seen::default(), Seen::default()];
    until_connected(&a, &mut a_events, &b, &mut b_events, &mut seen).await;
    assert_eq!(a.dtmf_refusal(), None);
    a.send_dtmf("12#").unwrap();
    b.send_dtmf("D*").unwrap();
    let until = Instant::now() + Duration::from_secs(2);
    pump(&a, &mut a_events, &b, &mut b_events, &mut seen, until).await;
    let before = b.stats();
    let until = Instant::now() + Duration::from_secs(1);
    pump(&a, &mut a_events, &b, &mut b_events, &mut seen, until).await;
    let after = b.stats();
    a.close().await;
    b.close().await;

    let digits = |s: &Seen| s.dtmf.iter().map(|d| d.digit).collect::<String>();
    assert_eq!(digits(&seen[1]), "12#", "{:?}", seen[1].dtmf);
    assert_eq!(digits(&seen[0]), "D*", "{:?}", seen[0].dtmf);
    for d in seen.iter().flat_map(|s| &s.dtmf) {
        assert_eq!(d.duration_ms, 100, "{d:?}");
    }
    // Event packets never reach the decoder and the audio numbering stays whole: after the
    // digits B plays A's tone again with no loss counted.
    assert!(
        after.frames_decoded >= before.frames_decoded + 40,
        "{before:?} → {after:?}"
    );
    assert_eq!(after.packets_lost, 0, "{after:?}");
    let samples = read_wav(&b_rec);
    let tail = &samples[samples.len().saturating_sub(48_000)..];
    assert!(analyse(tail, 440.0).fraction() >= 0.8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtmf_is_refused_when_the_peer_offers_no_telephone_event() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _a_events) = session("tone:440", &dir.path().join("a.wav")).await;
    let (b, _b_events) = session("tone:880", &dir.path().join("b.wav")).await;
    // A peer without telephone-event (Chromium with DTMF disabled, some gateways).
    let offer: String = a
        .create_offer()
        .await
        .unwrap()
        .lines()
        .filter(|l| !l.contains("telephone-event"))
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        .replace(" 111 110 126", " 111");
    let answer = b.accept_offer(&offer).await.unwrap();
    assert!(!answer.contains("telephone-event"), "{answer}");
    let refusal = b.send_dtmf("1").unwrap_err();
    assert!(refusal.contains("did not offer DTMF"), "{refusal}");
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_offering_only_8_khz_telephone_events_gets_digits_at_that_rate() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut a_events) = session("tone:440", &dir.path().join("a.wav")).await;
    let (b, mut b_events) = session("tone:880", &dir.path().join("b.wav")).await;
    // Firefox and SIP gateways offer telephone-event/8000 only, under their own number.
    let offer: String = a
        .create_offer()
        .await
        .unwrap()
        .lines()
        .filter(|l| !l.contains("telephone-event/48000"))
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        .replace(" 111 110 126", " 111 126");
    let answer = b.accept_offer(&offer).await.unwrap();
    let m_line = answer.lines().find(|l| l.starts_with("m=audio")).unwrap();
    assert!(m_line.ends_with(" 111 126"), "{answer}");
    assert!(
        answer.contains("a=rtpmap:126 telephone-event/8000"),
        "{answer}"
    );
    a.accept_answer(&answer).await.unwrap();
    let mut seen = [Seen::default(), Seen::default()];
    until_connected(&a, &mut a_events, &b, &mut b_events, &mut seen).await;
    b.send_dtmf("9").unwrap();
    let until = Instant::now() + Duration::from_secs(1);
    pump(&a, &mut a_events, &b, &mut b_events, &mut seen, until).await;
    a.close().await;
    b.close().await;
    let d = seen[0].dtmf.first().copied();
    assert_eq!(
        d.map(|d| (d.digit, d.duration_ms)),
        Some(('9', 100)),
        "{:?}",
        seen[0].dtmf
    );
}

/// Random packet loss (issue 15): inside a network namespace of its own, after the call
/// connected, `iptables -m statistic` drops each UDP packet on `lo` with probability P — both
/// directions. The call stays up; Opus FEC, concealment and the jitter buffer keep the received
/// tone in ≥ 95% / 90% / 80% of frames at 5% / 10% / 20% loss, and the statistics show the loss.
///
/// The tones are 880 and 1320 Hz: Opus (SILK) sends in-band FEC only for frames its voice
/// activity detector scores as speech, and after a second of some steady tones (440 and 1000 Hz
/// here) it scores them as stationary noise — lost frames are then concealed, not recovered
/// (87–89% of 440 Hz frames right at 10–20% loss, against ≥ 98% at 880 Hz). Speech keeps the
/// detector busy, as these two tones do.
#[test]
fn calls_survive_random_packet_loss() {
    if std::env::var_os(LOSS).is_some() {
        return; // Inside the namespace only the inner test runs.
    }
    if !netns::available() {
        return;
    }
    for loss in ["0.05", "0.10", "0.20"] {
        let text = netns::rerun_inside("lossy_call_in_a_namespace", LOSS, loss);
        for line in text.lines().filter(|l| l.starts_with("loss ")) {
            eprintln!("{line}");
        }
    }
}

const LOSS: &str = "MXCALL_TEST_LOSS";

/// The call of [`calls_survive_random_packet_loss`], run by it inside a namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_call_in_a_namespace() {
    let Some(loss) = std::env::var(LOSS).ok().and_then(|p| p.parse::<f64>().ok()) else {
        return; // Only inside the namespace (the rule below would break the host's loopback).
    };
    let dir = tempfile::tempdir().unwrap();
    let (a_rec, b_rec) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    let (a, mut a_events) = session("tone:1320", &a_rec).await;
    let (b, mut b_events) = session("tone:880", &b_rec).await;
    let offer = a.create_offer().await.unwrap();
    a.accept_answer(&b.accept_offer(&offer).await.unwrap())
        .await
        .unwrap();
    let mut seen = [Seen::default(), Seen::default()];
    until_connected(&a, &mut a_events, &b, &mut b_events, &mut seen).await;
    let settle = Instant::now() + Duration::from_secs(1);
    pump(&a, &mut a_events, &b, &mut b_events, &mut seen, settle).await;
    let p = loss.to_string();
    let rule = [
        "-o",
        "lo",
        "-p",
        "udp",
        "-m",
        "statistic",
        "--mode",
        "random",
    ];
    netns::iptables(
        "-A",
        &[&rule[..], &["--probability", &p, "-j", "DROP"]].concat(),
    );
    let before = [a.stats(), b.stats()];
    let lossy = Instant::now() + Duration::from_secs(8);
    pump(&a, &mut a_events, &b, &mut b_events, &mut seen, lossy).await;
    let after = [a.stats(), b.stats()];
    let states: Vec<&Vec<ConnState>> = seen.iter().map(|s| &s.states).collect();
    a.close().await;
    b.close().await;
    let need = if loss <= 0.05 {
        0.95
    } else if loss <= 0.10 {
        0.90
    } else {
        0.80
    };
    for (side, (rec, freq)) in [(&a_rec, 880.0), (&b_rec, 1320.0)].into_iter().enumerate() {
        // The call stayed up.
        assert!(
            !states[side].contains(&ConnState::Failed),
            "side {side}: {:?}",
            states[side]
        );
        // The lossy 8 s, less the jitter buffer's delay at either end.
        let samples = read_wav(rec);
        let end = samples.len().saturating_sub(48_000 / 2);
        let lossy_part = &samples[end.saturating_sub(48_000 * 7)..end];
        let frames: Vec<bool> = lossy_part
            .chunks_exact(960)
            .map(|f| audio_check::frame_has_tone(f, freq))
            .collect();
        let share = frames.iter().filter(|t| **t).count() as f64 / frames.len() as f64;
        if std::env::var_os("MXCALL_TEST_LOSS_DEBUG").is_some() {
            let misses: Vec<usize> = (0..frames.len()).filter(|&i| !frames[i]).collect();
            println!(
                "side {side} frames without the tone: {misses:?} {:?}",
                after[side]
            );
        }
        let lost = after[side].packets_lost - before[side].packets_lost;
        let received = after[side].packets_received - before[side].packets_received;
        let measured = lost as f64 / (lost + received).max(1) as f64;
        println!(
            "loss {:.0}%: side {side} heard the tone in {:.1}% of frames; {lost} packets \
             lost of {} ({:.1}%), {} recovered by FEC, {} concealed",
            loss * 100.0,
            share * 100.0,
            lost + received,
            measured * 100.0,
            after[side].fec_recovered - before[side].fec_recovered,
            after[side].concealed_frames - before[side].concealed_frames,
        );
        assert!(
            share >= need,
            "at {loss} loss side {side} heard the tone in only {:.1}% of frames",
            share * 100.0
        );
        // The statistics show the loss (what the jitter buffer declared lost, FEC or not).
        assert!(
            measured >= loss * 0.4 && measured <= loss * 2.0 + 0.02,
            "side {side}: {lost} lost of {} at a {loss} drop rate",
            lost + received
        );
    }
}

/// Both sides restart ICE at the same moment (RFC 9429 §5.7 glare): the polite side rolls its
/// own offer back and answers the other's; audio flows again both ways (issue 15).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_ice_restarts_roll_the_polite_sides_offer_back() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut a_events) = session("tone:440", &dir.path().join("a.wav")).await;
    let (b, mut b_events) = session("tone:880", &dir.path().join("b.wav")).await;
    let offer = a.create_offer().await.unwrap();
    a.accept_answer(&b.accept_offer(&offer).await.unwrap())
        .await
        .unwrap();
    let mut seen = [Seen::default(), Seen::default()];
    until_connected(&a, &mut a_events, &b, &mut b_events, &mut seen).await;
    let a_offer = a.ice_restart_offer().await.unwrap();
    let _b_offer = b.ice_restart_offer().await.unwrap(); // B's loses: B is the polite side
    let answer = b.accept_offer(&a_offer).await.unwrap();
    a.accept_answer(&answer).await.unwrap();
    assert_ne!(
        ice_ufrag(&a_offer),
        ice_ufrag(&offer),
        "no fresh credentials"
    );
    let before = [a.stats(), b.stats()];
    let until = Instant::now() + Duration::from_secs(3);
    pump(&a, &mut a_events, &b, &mut b_events, &mut seen, until).await;
    let after = [a.stats(), b.stats()];
    a.close().await;
    b.close().await;
    for side in 0..2 {
        assert!(
            after[side].frames_decoded >= before[side].frames_decoded + 100,
            "side {side}: {:?} → {:?}",
            before[side],
            after[side]
        );
        assert!(seen[side].errors.is_empty(), "{:?}", seen[side].errors);
    }
}

/// IPv6 (issue 15): both sides gather host candidates on `::1` only; they pair and the tones
/// flow both ways over a v6-only path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_only_path_carries_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let (a_rec, b_rec) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    let v6 = || MediaConfig {
        bind_addrs: vec![std::net::Ipv6Addr::LOCALHOST.into()],
        ..MediaConfig::loopback()
    };
    let new = |input: &str, rec: &Path| {
        let source = open_source(&input.parse::<AudioSpec>().unwrap()).unwrap();
        let sink = open_sink(&AudioSpec::Wav(rec.to_owned())).unwrap();
        MediaSession::new(v6(), source, sink)
    };
    let (a, mut a_events) = new("tone:440", &a_rec).await.unwrap();
    let (b, mut b_events) = new("tone:880", &b_rec).await.unwrap();
    let offer = a.create_offer().await.unwrap();
    a.accept_answer(&b.accept_offer(&offer).await.unwrap())
        .await
        .unwrap();
    let mut seen = [Seen::default(), Seen::default()];
    until_connected(&a, &mut a_events, &b, &mut b_events, &mut seen).await;
    let until = Instant::now() + Duration::from_secs(2);
    pump(&a, &mut a_events, &b, &mut b_events, &mut seen, until).await;
    let stats = [a.close().await, b.close().await];
    for (side, s) in seen.iter().enumerate() {
        assert!(s.connected_at.is_some(), "side {side}: {s:?}");
        assert!(
            !s.lines.is_empty() && s.lines.iter().all(|l| l.contains(" ::1 ")),
            "side {side}: {:?}",
            s.lines
        );
        assert!(stats[side].frames_decoded >= 80, "{:?}", stats[side]);
    }
    for (rec, freq) in [(&a_rec, 880.0), (&b_rec, 440.0)] {
        let report = analyse(&read_wav(rec), freq);
        assert!(report.fraction() >= 0.9, "{}: {report:?}", rec.display());
    }
}

/// Without `--media-addr` mxcall gathers on every interface, IPv4 and IPv6 (issue 15): each
/// family the host has a global address of shows up in the host candidates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_gathers_ipv4_and_ipv6_host_candidates() {
    let out = std::process::Command::new("ip")
        .args(["-o", "addr", "show", "scope", "global"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let has = |family: &str| {
        text.lines()
            .any(|l| l.split_whitespace().nth(2) == Some(family))
    };
    let (v4, v6) = (has("inet"), has("inet6"));
    let (s, mut events) = MediaSession::new(
        MediaConfig::default(),
        open_source(&AudioSpec::Null).unwrap(),
        open_sink(&AudioSpec::Null).unwrap(),
    )
    .await
    .unwrap();
    s.create_offer().await.unwrap();
    let mut lines = Vec::new();
    let until = Instant::now() + Duration::from_secs(6);
    loop {
        tokio::select! {
            Some(e) = events.recv() => match e {
                MediaEvent::LocalCandidate(c) => lines.push(c.candidate),
                MediaEvent::GatheringComplete => break,
                _ => {}
            },
            _ = tokio::time::sleep_until(until.into()) => break,
        }
    }
    s.close().await;
    let address = |l: &String| l.split_whitespace().nth(4).unwrap_or("").to_owned();
    let addrs: Vec<String> = lines.iter().map(address).collect();
    eprintln!("host addresses: v4 {v4}, v6 {v6}; candidates on {addrs:?}");
    assert_eq!(
        addrs.iter().any(|a| a.contains('.')),
        v4,
        "{lines:?}\n{text}"
    );
    assert_eq!(
        addrs.iter().any(|a| a.contains(':')),
        v6,
        "{lines:?}\n{text}"
    );
}
