//! mxcall's LiveKit client against a real livekit-server (v1.13.5, `scripts/livekit.sh`) on
//! 127.0.0.1: two participants join one room, each publishes a tone (440 / 880 Hz), each is
//! subscribed to the other's track, and each recording must carry the other's tone. Tokens are
//! minted with the SFU's key and secret (no homeserver, no JWT service: those are the
//! MatrixRTC layer's, tested with it).
//!
//! Needs `scripts/livekit.sh install` (builds the SFU once into `.tmp/go-bin`). Without it the
//! test fails with that hint, unless MXCALL_SKIP_LIVEKIT=1 (then it says so on stderr and passes).

#[path = "common/audio.rs"]
mod audio_check;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use audio_check::{analyse, read_wav};
use livekit_api::access_token::{AccessToken, VideoGrants};
use mxcall::audio::{AudioSpec, open_sink, open_source};
use mxcall::livekit::{Connections, PeerRole, SfuEvent, SfuSession};
use mxcall::media::{ConnState, MediaConfig, MediaEvent};
use tokio::sync::mpsc::Receiver;

const LIVEKIT_VERSION: &str = "v1.13.5";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The SFU binary `livekit.sh install` builds, or `None` when it is not there.
fn livekit_binary() -> Option<PathBuf> {
    let dir = std::env::var_os("MXCALL_GO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".tmp/go-bin"));
    let bin = dir.join(format!("livekit-server-{LIVEKIT_VERSION}"));
    bin.is_file().then_some(bin)
}

/// `livekit.sh start` insists on a homeserver answering `/_matrix/client/versions` (for the
/// JWT service it starts beside the SFU, which this test does not use): a stand-in that answers
/// every request with `{}`.
fn stub_homeserver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            );
        }
    });
    format!("http://{addr}")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running SFU; stopped on drop.
struct Sfu {
    dir: PathBuf,
    url: String,
    key: String,
    secret: String,
}

impl Sfu {
    fn start(dir: &Path) -> Sfu {
        let hs = stub_homeserver();
        let out = Command::new(repo().join("scripts/livekit.sh"))
            .args(["start".as_ref(), dir.as_os_str(), hs.as_ref()])
            .env("MXCALL_LK_JWT_PORT", free_port().to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "livekit.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = String::from_utf8(out.stdout).unwrap();
        let get = |k: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("livekit.sh start printed no {k}"))
                .to_owned()
        };
        Sfu {
            dir: dir.to_owned(),
            url: get("LIVEKIT_URL"),
            key: get("LIVEKIT_KEY"),
            secret: get("LIVEKIT_SECRET"),
        }
    }

    fn token(&self, identity: &str, grants: VideoGrants) -> String {
        AccessToken::with_api_key(&self.key, &self.secret)
            .with_identity(identity)
            .with_grants(grants)
            .to_jwt()
            .unwrap()
    }

    /// The SFU has `room.auto_create: false` (as MatrixRTC deployments: the JWT service makes
    /// the room), so the test makes it, through the Twirp room service.
    async fn create_room(&self, room: &str) {
        let admin = self.token(
            "test-admin",
            VideoGrants {
                room_create: true,
                ..Default::default()
            },
        );
        let http = self.url.replacen("ws://", "http://", 1);
        let response = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{http}/twirp/livekit.RoomService/CreateRoom"))
            .bearer_auth(admin)
            .json(&serde_json::json!({ "name": room }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status.is_success(),
            "CreateRoom: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }

    fn join_token(&self, room: &str, identity: &str) -> String {
        self.token(
            identity,
            VideoGrants {
                room_join: true,
                room: room.to_owned(),
                can_publish: Some(true),
                can_subscribe: Some(true),
                ..Default::default()
            },
        )
    }
}

impl Drop for Sfu {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/livekit.sh"))
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}

/// What one participant saw.
#[derive(Default, Debug)]
struct Seen {
    track_published: Option<String>,
    joined: Vec<String>,
    left: Vec<String>,
    publisher_connected: Option<Instant>,
    subscriber_connected: Option<Instant>,
    first_audio: Option<Instant>,
    ended: Option<String>,
    errors: Vec<String>,
}

impl Seen {
    fn record(&mut self, event: SfuEvent) {
        match event {
            SfuEvent::TrackPublished { sid } => self.track_published = Some(sid),
            SfuEvent::ParticipantJoined { identity } => self.joined.push(identity),
            SfuEvent::ParticipantLeft { identity } => self.left.push(identity),
            SfuEvent::Media {
                role,
                event: MediaEvent::Connection(ConnState::Connected),
            } => {
                let at = match role {
                    PeerRole::Publisher => &mut self.publisher_connected,
                    PeerRole::Subscriber => &mut self.subscriber_connected,
                };
                at.get_or_insert(Instant::now());
            }
            SfuEvent::Media {
                event: MediaEvent::FirstAudio,
                ..
            } => {
                self.first_audio.get_or_insert(Instant::now());
            }
            SfuEvent::Media {
                event: MediaEvent::Error(e),
                ..
            } => self.errors.push(e.to_string()),
            SfuEvent::Error(e) => self.errors.push(e.to_string()),
            SfuEvent::Ended { reason } => self.ended = Some(reason),
            _ => {}
        }
    }
}

async fn pump(
    events: &mut [Receiver<SfuEvent>; 2],
    seen: &mut [Seen; 2],
    until: impl Fn(&[Seen; 2]) -> bool,
    deadline: Instant,
) {
    let [a, b] = events;
    while !until(seen) && Instant::now() < deadline {
        tokio::select! {
            Some(e) = a.recv() => seen[0].record(e),
            Some(e) = b.recv() => seen[1].record(e),
            _ = tokio::time::sleep_until(deadline.into()) => break,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_participants_hear_each_other_through_the_sfu() {
    if livekit_binary().is_none() {
        if std::env::var("MXCALL_SKIP_LIVEKIT").as_deref() == Ok("1") {
            eprintln!(
                "NOTE: livekit_sfu skipped: livekit-server {LIVEKIT_VERSION} is not built and \
                 MXCALL_SKIP_LIVEKIT=1"
            );
            return;
        }
        panic!(
            "livekit-server {LIVEKIT_VERSION} is not built: run scripts/livekit.sh install \
             (or set MXCALL_SKIP_LIVEKIT=1 to skip this test)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let sfu = Sfu::start(&dir.path().join("lk"));
    let room = "mxcall-sfu-test";
    sfu.create_room(room).await;

    let recordings = [dir.path().join("alice.wav"), dir.path().join("bob.wav")];
    let started = Instant::now();
    let mut sessions = Vec::new();
    let mut receivers = Vec::new();
    // Alice joins with one peer connection (/rtc/v1, which this server has), Bob with two
    // (/rtc, mxcall's default): both paths, and each hears the other.
    for (identity, tone, record, connections) in [
        ("alice", "tone:440", &recordings[0], Connections::Single),
        ("bob", "tone:880", &recordings[1], Connections::Dual),
    ] {
        let source = open_source(&tone.parse::<AudioSpec>().unwrap()).unwrap();
        let sink = open_sink(&AudioSpec::Wav(record.clone())).unwrap();
        let (session, events) = SfuSession::join_using(
            connections,
            &sfu.url,
            &sfu.join_token(room, identity),
            MediaConfig::loopback(),
            source,
            sink,
        )
        .await
        .unwrap_or_else(|e| panic!("{identity} cannot join: {e}"));
        eprintln!("{identity} joined: {:?}", session.joined());
        assert_eq!(session.joined().identity, identity);
        assert_eq!(session.joined().room, room);
        sessions.push(session);
        receivers.push(events);
    }
    assert_eq!(sessions[0].joined().connections, Connections::Single);
    assert_eq!(sessions[1].joined().connections, Connections::Dual);
    assert!(sessions[0].joined().others.is_empty());
    assert_eq!(sessions[1].joined().others, ["alice"]);

    let mut events: [Receiver<SfuEvent>; 2] = receivers.try_into().unwrap();
    let mut seen = [Seen::default(), Seen::default()];
    // Both hear the other (join, publish, both offers, ICE, DTLS: about a second here) …
    pump(
        &mut events,
        &mut seen,
        |s| s.iter().all(|s| s.first_audio.is_some()),
        started + Duration::from_secs(15),
    )
    .await;
    // … then three seconds of call.
    let call_end = Instant::now() + Duration::from_secs(3);
    pump(&mut events, &mut seen, |_| false, call_end).await;

    // Alice leaves; the SFU tells Bob (what ends a 1:1 call on his side).
    let [alice, bob]: [SfuSession; 2] = sessions.try_into().ok().unwrap();
    let left_at = Instant::now();
    let alice_stats = alice.leave().await;
    pump(
        &mut events,
        &mut seen,
        |s| !s[1].left.is_empty(),
        left_at + Duration::from_secs(5),
    )
    .await;
    eprintln!("bob saw alice leave within {:?}", left_at.elapsed());
    assert_eq!(seen[1].left, ["alice"]);
    let stats = [alice_stats, bob.leave().await];
    for (side, s) in seen.iter().enumerate() {
        eprintln!("side {side}: {s:?}\n  {:?}", stats[side]);
        assert!(s.errors.is_empty(), "side {side}: {s:?}");
        assert!(s.ended.is_none(), "side {side}: {s:?}");
        assert!(
            s.track_published
                .as_deref()
                .is_some_and(|t| t.starts_with("TR_")),
            "side {side}: {s:?}"
        );
        let (p, heard) = (
            s.publisher_connected.expect("publisher connected"),
            s.first_audio
                .unwrap_or_else(|| panic!("side {side} heard nothing: {s:?}")),
        );
        // One connection: its events are the publisher's; two: the subscriber connects too.
        let sub = s.subscriber_connected.map(|at| at - started);
        assert_eq!(sub.is_some(), side == 1, "side {side}: {s:?}");
        eprintln!(
            "side {side}: publisher connected after {:?}, subscriber after {sub:?}, first audio after {:?}",
            p - started,
            heard - started
        );
        let st = &stats[side];
        assert!(st.publisher.packets_sent >= 100, "{st:?}");
        assert!(st.subscriber.packets_received >= 100, "{st:?}");
        assert!(st.subscriber.packets_lost <= 2, "{st:?}");
    }
    assert_eq!(seen[0].joined, ["bob"]);

    // Alice records Bob's 880 Hz, Bob records Alice's 440 Hz.
    for (path, freq) in [(&recordings[0], 880.0), (&recordings[1], 440.0)] {
        let samples = read_wav(path);
        let report = analyse(&samples, freq);
        eprintln!("{}: {} samples, {report:?}", path.display(), samples.len());
        assert!((report.dominant_hz - freq).abs() <= 2.0, "{report:?}");
        assert!(report.frames_in_call >= 140, "{report:?}");
        assert!(
            report.fraction() >= 0.9,
            "only {:.1}% tone frames",
            report.fraction() * 100.0
        );
    }
}
