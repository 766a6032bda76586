//! Test harness: a real Synapse on 127.0.0.1 and the real mxcall binary.
//!
//! `scripts/test.sh` starts one Synapse for the whole run and exports its URL as
//! `MXCALL_TEST_HS`. Without it, the first test that needs a homeserver starts a private one
//! with `scripts/synapse.sh` and stops it when the test binary exits.
#![allow(dead_code)]

pub mod audio;
pub mod coturn;
pub mod js;
pub mod js_rig;
pub mod netns;
pub mod rtc;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_mxcall");

static HS: OnceLock<String> = OnceLock::new();
static OWN_HS_DIR: OnceLock<PathBuf> = OnceLock::new();

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Makes `url` the homeserver of this test binary (the MatrixRTC tests start their own, in
/// Synapse's MatrixRTC configuration). Must come before the first [`hs`].
pub fn use_hs(url: &str) {
    let set = HS.get_or_init(|| url.to_owned());
    assert_eq!(set, url, "the test binary already uses another homeserver");
}

/// A Synapse of the test binary's own, for tests that restart it or configure it unlike the
/// shared one: `scripts/synapse.sh` in `dir` with `env`, made this binary's homeserver
/// ([`use_hs`]), stopped when dropped.
pub struct OwnSynapse {
    dir: PathBuf,
    pub url: String,
}

impl OwnSynapse {
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> OwnSynapse {
        let mut own = OwnSynapse {
            dir: dir.to_owned(),
            url: String::new(),
        };
        own.url = own.script("start", &[], env);
        use_hs(&own.url);
        own
    }

    /// Stops it; its data stays for [`restart`](Self::restart).
    pub fn stop(&self) {
        self.script("stop", &[], &[]);
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        let port = self.url.rsplit(':').next().unwrap().to_owned();
        self.script("start", &[&port], &[]);
    }

    fn script(&self, verb: &str, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = Command::new(repo().join("scripts/synapse.sh"))
            .arg(verb)
            .arg(&self.dir)
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "synapse.sh {verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for OwnSynapse {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/synapse.sh"))
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}

/// The homeserver's base URL, e.g. `http://127.0.0.1:8448`.
pub fn hs() -> &'static str {
    HS.get_or_init(|| {
        if let Ok(url) = std::env::var("MXCALL_TEST_HS") {
            return url;
        }
        let dir = std::env::temp_dir().join(format!("mxcall-test-hs-{}", std::process::id()));
        let out = Command::new(repo().join("scripts/synapse.sh"))
            .arg("start")
            .arg(&dir)
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/synapse.sh");
        assert!(
            out.status.success(),
            "could not start Synapse (run scripts/synapse.sh install?)"
        );
        OWN_HS_DIR.set(dir).unwrap();
        extern "C" fn stop_own_hs() {
            if let Some(dir) = OWN_HS_DIR.get() {
                let _ = Command::new(repo().join("scripts/synapse.sh"))
                    .arg("stop")
                    .arg(dir)
                    .output();
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        // SAFETY: registering a plain extern "C" fn; the test harness exits through exit(3).
        unsafe { libc::atexit(stop_own_hs) };
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    })
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A fresh account on the test homeserver: (user id, password).
pub fn register(prefix: &str) -> (String, String) {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "{prefix}{}x{}x{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let password = format!("pw-{name}-S3cret");
    let body = serde_json::json!({
        "username": name, "password": password,
        "auth": {"type": "m.login.dummy"}, "inhibit_login": true,
    });
    let resp: serde_json::Value = block_on(async {
        reqwest::Client::new()
            .post(format!("{}/_matrix/client/v3/register", hs()))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let user_id = resp["user_id"]
        .as_str()
        .unwrap_or_else(|| panic!("register failed: {resp}"));
    (user_id.to_owned(), password)
}

/// An mxcall data directory (MXCALL_HOME) private to one test.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Self {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env("MXCALL_HOME", self.path())
            .env_remove("MXCALL_PROFILE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs with `stdin` as standard input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// `mxcall --profile P login USER --homeserver HS --password-stdin`, asserted to succeed.
    pub fn login(&self, profile: &str, user: &str, password: &str) -> Output {
        let out = self.run_with_stdin(
            &[
                "--profile",
                profile,
                "login",
                user,
                "--homeserver",
                hs(),
                "--password-stdin",
            ],
            &format!("{password}\n"),
        );
        assert_success(&out);
        out
    }

    pub fn profile_dir(&self, profile: &str) -> PathBuf {
        self.path().join("profiles").join(profile)
    }

    pub fn session(&self, profile: &str) -> serde_json::Value {
        let bytes = std::fs::read(self.profile_dir(profile).join("session.json")).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("killed by a signal")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_success(out: &Output) {
    assert_eq!(
        code(out),
        0,
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

/// The command failed with `expected` and said so in exactly one line on stderr.
/// A call hung up here before it connected: exit 130, and its `ended` event says `cancelled`
/// with the same code.
pub fn assert_cancelled(out: &Output) {
    assert_eq!(code(out), 130, "{}", stderr(out));
    let evs = events(out);
    let ended = find_event(&evs, "ended").unwrap_or_else(|| panic!("no ended event: {evs:?}"));
    assert_eq!(ended["outcome"], "cancelled", "{ended}");
    assert_eq!(ended["exit_code"], 130, "{ended}");
}

pub fn assert_fails_with(out: &Output, expected: i32) -> String {
    let err = stderr(out);
    assert_eq!(
        code(out),
        expected,
        "stdout: {}\nstderr: {err}",
        stdout(out)
    );
    assert_eq!(
        err.lines().count(),
        1,
        "expected one line on stderr, got:\n{err}"
    );
    assert!(err.starts_with("mxcall: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

// ---- Client-server API helpers for setting up rooms and sending raw events -------------------

pub fn api(
    method: &str,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    block_on(async {
        let client = reqwest::Client::new();
        let url = format!("{}/_matrix/client/v3{path}", hs());
        let mut req = match method {
            "GET" => client.get(url),
            "PUT" => client.put(url),
            _ => client.post(url),
        }
        .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let v: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v
    })
}

/// The access token of a logged-in profile (tests only; mxcall never prints it).
pub fn token(home: &Home, profile: &str) -> String {
    home.session(profile)["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A private room created by `a` with `b` invited and joined: the usual two-member call room.
pub fn two_member_room(home: &Home, a: &str, b: &str, b_user: &str) -> String {
    let room = api(
        "POST",
        "/createRoom",
        &token(home, a),
        Some(serde_json::json!({"preset": "private_chat", "invite": [b_user], "is_direct": true})),
    )["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    api(
        "POST",
        &format!("/join/{}", urlencode(&room)),
        &token(home, b),
        Some(serde_json::json!({})),
    );
    room
}

pub fn join(home: &Home, profile: &str, room: &str) {
    api(
        "POST",
        &format!("/join/{}", urlencode(room)),
        &token(home, profile),
        Some(serde_json::json!({})),
    );
}

pub fn invite(home: &Home, profile: &str, room: &str, user: &str) {
    api(
        "POST",
        &format!("/rooms/{}/invite", urlencode(room)),
        &token(home, profile),
        Some(serde_json::json!({"user_id": user})),
    );
}

pub fn send_event(
    home: &Home,
    profile: &str,
    room: &str,
    event_type: &str,
    content: serde_json::Value,
) {
    static TXN: AtomicU32 = AtomicU32::new(0);
    let txn = format!(
        "t{}x{}",
        std::process::id(),
        TXN.fetch_add(1, Ordering::SeqCst)
    );
    api(
        "PUT",
        &format!("/rooms/{}/send/{event_type}/{txn}", urlencode(room)),
        &token(home, profile),
        Some(content),
    );
}

/// The room's call events, oldest first, as the homeserver has them.
pub fn call_events(home: &Home, profile: &str, room: &str) -> Vec<serde_json::Value> {
    let filter = urlencode(r#"{"types":["m.call.*"]}"#);
    let v = api(
        "GET",
        &format!(
            "/rooms/{}/messages?dir=b&limit=100&filter={filter}",
            urlencode(room)
        ),
        &token(home, profile),
        None,
    );
    let mut events: Vec<_> = v["chunk"].as_array().cloned().unwrap_or_default();
    events.reverse();
    events
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---- Running calls -----------------------------------------------------------------------------

/// Flags every test call uses: media on loopback, JSON events.
/// Two new users logged in as profiles `a` and `b` of a new home, in a room of their own.
pub fn two_profiles_in_a_room() -> (Home, String) {
    let home = Home::new();
    let (a_user, apw) = register("a");
    let (b_user, bpw) = register("b");
    home.login("a", &a_user, &apw);
    home.login("b", &b_user, &bpw);
    let room = two_member_room(&home, "a", "b", &b_user);
    (home, room)
}

/// `--json --profile PROFILE CMD…` with [`call_flags`].
pub fn profile_call_args(profile: &str, cmd: &[&str], input: &str, record: &Path) -> Vec<String> {
    let mut v: Vec<String> = ["--json", "--profile", profile].map(String::from).to_vec();
    v.extend(cmd.iter().map(|s| s.to_string()));
    v.extend(call_flags(input, record));
    v
}

pub fn call_flags(input: &str, record: &Path) -> Vec<String> {
    vec![
        "--input".into(),
        input.into(),
        "--output".into(),
        "null".into(),
        "--record".into(),
        record.display().to_string(),
        "--media-addr".into(),
        "127.0.0.1".into(),
    ]
}

pub fn spawn(home: &Home, args: &[String]) -> std::process::Child {
    home.cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a child with a timeout; kills it (and fails) if it hangs.
pub fn wait(child: std::process::Child, limit: std::time::Duration) -> Output {
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let out = child.wait_with_output().unwrap();
    done.store(true, Ordering::SeqCst);
    assert!(
        out.status.code().is_some(),
        "mxcall was killed after {limit:?}\nstderr: {}",
        stderr(&out)
    );
    out
}

/// The JSON events a `--json` run printed.
pub fn events(out: &Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn find_event<'a>(
    events: &'a [serde_json::Value],
    name: &str,
) -> Option<&'a serde_json::Value> {
    events.iter().find(|e| e["event"] == name)
}

// ---- Audio analysis (tests/common/audio.rs, shared with the media tests) --------------------

/// Asserts the recording carries `freq` (± 2 Hz) in at least 90% of its 20 ms frames, from the
/// first frame with the tone to the last (before and after is ringing and hangup).
pub fn assert_tone(path: &Path, freq: f64) {
    let samples = audio::read_wav(path);
    let report = audio::analyse(&samples, freq);
    assert!(
        (report.dominant_hz - freq).abs() <= 2.0
            && report.fraction() >= 0.9
            && report.frames_in_call >= 50,
        "{}: expected {freq} Hz in ≥ 90% of frames, got {report:?}",
        path.display()
    );
}

// ---- Accounts for peers that are not mxcall (matrix-js-sdk in Chromium) -----------------------

/// A fresh account logged in through the API: (user id, access token, device id).
pub fn register_with_token(prefix: &str) -> (String, String, String) {
    let (user, password) = register(prefix);
    let (token, device) = login_with_password(&user, &password);
    (user, token, device)
}

/// A new device of an existing account: (access token, device id).
pub fn login_with_password(user: &str, password: &str) -> (String, String) {
    let body = serde_json::json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
    });
    let resp: serde_json::Value = block_on(async {
        reqwest::Client::new()
            .post(format!("{}/_matrix/client/v3/login", hs()))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let token = resp["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("login failed: {resp}"));
    (
        token.to_owned(),
        resp["device_id"].as_str().unwrap().to_owned(),
    )
}

/// Writes one second of a sine at `freq` (48 kHz mono 16-bit, a whole number of periods, so it
/// loops without a click) — Chromium's fake microphone plays it in a loop.
pub fn write_tone_wav(path: &Path, freq: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..48000 {
        let t = i as f64 / 48000.0;
        w.write_sample(
            (0.3 * 32767.0 * (2.0 * std::f64::consts::PI * freq as f64 * t).sin()).round() as i16,
        )
        .unwrap();
    }
    w.finalize().unwrap();
}

/// Polls the room (as `token` sees it) until it holds a call event of `event_type`.
pub fn wait_for_call_event_as(
    token: &str,
    room: &str,
    event_type: &str,
    limit: std::time::Duration,
) -> serde_json::Value {
    let start = std::time::Instant::now();
    let filter = urlencode(r#"{"types":["m.call.*"]}"#);
    loop {
        let v = api(
            "GET",
            &format!(
                "/rooms/{}/messages?dir=b&limit=100&filter={filter}",
                urlencode(room)
            ),
            token,
            None,
        );
        if let Some(e) = v["chunk"]
            .as_array()
            .and_then(|c| c.iter().rev().find(|e| e["type"] == event_type))
        {
            return e.clone();
        }
        assert!(
            start.elapsed() < limit,
            "no {event_type} in {room} after {limit:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A DM as Element makes one (`trusted_private_chat`: both members may send state such as
/// MatrixRTC call memberships), created by `a` with `b` joined, unencrypted.
pub fn dm(home: &Home, a: &str, b: &str, b_user: &str) -> String {
    create_dm(home, a, b, b_user, serde_json::json!([]))
}

/// As [`dm`], end-to-end encrypted (`m.room.encryption` in the initial state).
pub fn encrypted_dm(home: &Home, a: &str, b: &str, b_user: &str) -> String {
    create_dm(
        home,
        a,
        b,
        b_user,
        serde_json::json!([{"type": "m.room.encryption", "state_key": "",
                            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]),
    )
}

fn create_dm(
    home: &Home,
    a: &str,
    b: &str,
    b_user: &str,
    initial_state: serde_json::Value,
) -> String {
    let room = api(
        "POST",
        "/createRoom",
        &token(home, a),
        Some(serde_json::json!({
            "preset": "trusted_private_chat", "invite": [b_user], "is_direct": true,
            "initial_state": initial_state,
        })),
    )["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    join(home, b, &room);
    room
}

/// The room's event types as the homeserver stores them (newest 100): what is on the wire.
pub fn wire_types(home: &Home, profile: &str, room: &str) -> Vec<String> {
    let all = api(
        "GET",
        &format!("/rooms/{}/messages?dir=b&limit=100", urlencode(room)),
        &token(home, profile),
        None,
    );
    all["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect()
}

/// `mxcall --json whoami` of a profile, parsed.
pub fn whoami(home: &Home, profile: &str) -> serde_json::Value {
    let out = home.run(&["--json", "--profile", profile, "whoami"]);
    assert_success(&out);
    serde_json::from_str(stdout(&out).trim()).unwrap()
}
