//! The other party of the interop tests: matrix-js-sdk (Element's engine) in Debian's headless
//! Chromium, driven by `tests/interop/peer.mjs` (legacy 1:1 calls, MatrixCall) or
//! `tests/interop/rtc-peer.mjs` (MatrixRTC calls as Element Call: a MatrixRTC session and
//! livekit-client), whose page events arrive as JSON lines.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{find_event, hs, repo};

pub fn peer_dir() -> PathBuf {
    repo().join("tests/interop")
}

/// False (with a note on stderr) when the interop tests are explicitly skipped; panics with the
/// install hint when the peer cannot run. Builds the page bundle once per test binary.
pub fn interop() -> bool {
    static READY: OnceLock<Result<bool, String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        if std::env::var("MXCALL_SKIP_INTEROP").is_ok_and(|v| v == "1") {
            return Ok(false);
        }
        let chromium =
            std::env::var("MXCALL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let hint =
            "run scripts/install-interop.sh (or set MXCALL_SKIP_INTEROP=1 to skip these tests)";
        if !Path::new(&chromium).exists() {
            return Err(format!("{chromium} not found: {hint}"));
        }
        if !peer_dir().join("node_modules/matrix-js-sdk").exists() {
            return Err(format!("tests/interop/node_modules is missing: {hint}"));
        }
        if !peer_dir().join("node_modules/livekit-client").exists() {
            return Err(format!("tests/interop/node_modules is not current: {hint}"));
        }
        let out = Command::new("node")
            .arg("build.mjs")
            .current_dir(peer_dir())
            .output();
        match out {
            Ok(o) if o.status.success() => Ok(true),
            Ok(o) => Err(format!(
                "node build.mjs failed: {}",
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => Err(format!("cannot run node: {e}: {hint}")),
        }
    });
    match ready {
        Ok(true) => true,
        Ok(false) => {
            // Past the test harness's output capture: a skip is never silent.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "interop: SKIPPED (MXCALL_SKIP_INTEROP=1): matrix-js-sdk peer not run"
            );
            false
        }
        Err(e) => panic!("interop peer unavailable: {e}"),
    }
}

// ---- The js peer -------------------------------------------------------------------------------

pub struct JsAccount {
    pub user: String,
    pub token: String,
    pub device: String,
}

/// One running `node peer.mjs` (or `rtc-peer.mjs`): its JSON events arrive on a channel as it
/// prints them.
pub struct JsPeer {
    child: Option<Child>,
    rx: Receiver<Value>,
    pub seen: Vec<Value>,
    stderr: Arc<Mutex<String>>,
}

impl JsPeer {
    pub fn start(acct: &JsAccount, mode: &str, tone: &Path, extra: &[&str]) -> JsPeer {
        Self::start_env(acct, mode, tone, extra, &[])
    }

    /// As [`JsPeer::start`], with environment variables for the driver (`MXPEER_PASSWORD`,
    /// `MXPEER_RECOVERY_KEY`: secrets stay out of argv).
    pub fn start_env(
        acct: &JsAccount,
        mode: &str,
        tone: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> JsPeer {
        Self::spawn("peer.mjs", hs(), acct, mode, tone, extra, env)
    }

    /// The Element Call engine (`rtc-peer.mjs`) on the homeserver `hs` in MatrixRTC mode
    /// (`scripts/synapse.sh` with `MXCALL_HS_RTC_SERVICE_URL`, `scripts/livekit.sh` beside it):
    /// `mode` is call, answer, decline, join or ignore; `extra` takes `--room ROOM` (or
    /// `--auto-join`), `--expect HZ`, `--hangup-after S`, `--answer-after S`, `--ring-lifetime S`,
    /// `--jwt legacy|matrix2|both`, `--timeout S` (see the top of rtc-peer.mjs, and
    /// docs/matrixrtc-test-setup.md for its events). The room must let both users send
    /// `org.matrix.msc3401.call.member` state events.
    pub fn start_rtc(
        hs: &str,
        acct: &JsAccount,
        mode: &str,
        tone: &Path,
        extra: &[&str],
    ) -> JsPeer {
        Self::spawn("rtc-peer.mjs", hs, acct, mode, tone, extra, &[])
    }

    /// As [`JsPeer::start_rtc`], with environment variables for the driver (`MXPEER_PASSWORD`
    /// for `--bootstrap`, `MXPEER_RECOVERY_KEY`: secrets stay out of argv).
    pub fn start_rtc_env(
        hs: &str,
        acct: &JsAccount,
        mode: &str,
        tone: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> JsPeer {
        Self::spawn("rtc-peer.mjs", hs, acct, mode, tone, extra, env)
    }

    fn spawn(
        script: &str,
        hs: &str,
        acct: &JsAccount,
        mode: &str,
        tone: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> JsPeer {
        let mut cmd = Command::new("node");
        cmd.envs(env.iter().copied());
        cmd.current_dir(peer_dir())
            .arg(script)
            .args([
                "--hs",
                hs,
                "--user",
                &acct.user,
                "--token",
                &acct.token,
                "--device",
                &acct.device,
            ])
            .args(["--mode", mode, "--tone"])
            .arg(tone)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if std::env::var_os("MXCALL_INTEROP_VERBOSE").is_some() {
            cmd.arg("--verbose");
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("run node tests/interop/{script}: {e}"));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        JsPeer {
            child: Some(child),
            rx,
            seen: Vec::new(),
            stderr,
        }
    }

    pub fn context(&self) -> String {
        let events: Vec<String> = self.seen.iter().map(|e| e.to_string()).collect();
        format!(
            "js events:\n{}\njs stderr:\n{}",
            events.join("\n"),
            self.stderr.lock().unwrap()
        )
    }

    /// Waits for the page's next event named `name`; fails on an error event or at `limit`.
    pub fn wait_for(&mut self, name: &str, limit: Duration) -> Value {
        self.wait_for_match(name, |_| true, limit)
    }

    /// Waits for an event named `name` for which `matches` holds (seen before, or to come).
    pub fn wait_for_match(
        &mut self,
        name: &str,
        matches: impl Fn(&Value) -> bool,
        limit: Duration,
    ) -> Value {
        if let Some(e) = self.seen.iter().find(|e| e["event"] == name && matches(e)) {
            return e.clone();
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if v["event"] == name && matches(&v) {
                        return v;
                    }
                    if v["event"] == "error" {
                        panic!(
                            "the js peer reported an error while waiting for {name}: {v}\n{}",
                            self.context()
                        );
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no {name} from the js peer within {limit:?}\n{}",
                    self.context()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the js peer exited before {name}\n{}", self.context())
                }
            }
        }
    }

    /// Waits for the driver to exit (after the page's call ended) and returns every event.
    pub fn finish(&mut self, limit: Duration) -> Vec<Value> {
        let mut child = self.child.take().expect("finished twice");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                // The reader thread ends at EOF: drain what is left.
                while let Ok(v) = self.rx.recv_timeout(Duration::from_secs(2)) {
                    self.seen.push(v);
                }
                assert!(
                    status.success(),
                    "the js peer failed ({status})\n{}",
                    self.context()
                );
                return self.seen.clone();
            }
            while let Ok(v) = self.rx.try_recv() {
                self.seen.push(v);
            }
            if Instant::now() > deadline {
                self.child = Some(child);
                self.stop();
                panic!(
                    "the js peer did not finish within {limit:?}\n{}",
                    self.context()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Hangs the call up now (SIGUSR1: rtc-peer.mjs leaves as `--hangup-after` would), for a
    /// test that decides when from what the page reported.
    pub fn hang_up_now(&self) {
        if let Some(child) = &self.child {
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) };
        }
    }

    /// Ends the driver: SIGTERM makes it close Chromium (the page sends nothing more; rtc-peer.mjs
    /// first leaves the MatrixRTC session and the SFU, within 6 s).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for JsPeer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn event<'a>(events: &'a [Value], name: &str) -> &'a Value {
    find_event(events, name).unwrap_or_else(|| panic!("no {name} event in {events:#?}"))
}

/// What the js peer heard: the dominant frequency within `tol` Hz of `freq`, in ≥ 90% of the time.
pub fn assert_js_heard(events: &[Value], freq: f64) {
    assert_heard(event(events, "heard"), freq);
}

/// As [`assert_js_heard`], for the track of `user` (a MatrixRTC peer hears one per participant).
pub fn assert_js_heard_from(events: &[Value], user: &str, freq: f64) {
    let heard = events
        .iter()
        .find(|e| e["event"] == "heard" && e["user"] == user)
        .unwrap_or_else(|| panic!("the js peer heard no track of {user}: {events:#?}"));
    assert_heard(heard, freq);
}

fn assert_heard(heard: &Value, freq: f64) {
    let dominant = heard["dominant_hz"]
        .as_f64()
        .unwrap_or_else(|| panic!("the js peer heard nothing: {heard}"));
    assert!(
        (dominant - freq).abs() <= 3.0,
        "the js peer heard {dominant} Hz, expected {freq}: {heard}"
    );
    let share = heard["tone_share"].as_f64().unwrap();
    assert!(
        share >= 0.9,
        "the js peer heard the tone in only {:.0}% of the time: {heard}",
        share * 100.0
    );
}
