//! The MatrixRTC backend of the tests, started once per test binary: Synapse in its MatrixRTC
//! configuration (`MXCALL_HS_RTC_SERVICE_URL`: the MSC4143 `rtc/transports` endpoint and the
//! `.well-known` `org.matrix.msc4143.rtc_foci` key, MSC4140 delayed events, a TLS listener for
//! the OpenID check) and `scripts/livekit.sh`'s livekit-server and LiveKit JWT service, all on
//! 127.0.0.1 (docs/matrixrtc-test-setup.md). Stopped when the test binary exits.
//!
//! Needs `scripts/livekit.sh install` (the SFU is built once into `.tmp/go-bin`): without it
//! the tests fail with that hint, unless MXCALL_SKIP_LIVEKIT=1 (then [`env`] returns `None`
//! and the tests say so on stderr and pass).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::repo;

pub struct RtcEnv {
    pub dir: PathBuf,
    /// The homeserver's client API URL.
    pub hs: String,
    /// The LiveKit JWT service the homeserver advertises.
    pub service_url: String,
    /// The SFU's WebSocket URL.
    pub livekit_url: String,
    /// The homeserver's server name (`localhost:PORT`).
    pub server_name: String,
}

static ENV: OnceLock<Option<RtcEnv>> = OnceLock::new();
static DIR: OnceLock<PathBuf> = OnceLock::new();

/// The MatrixRTC backend (started on first use), also made the binary's homeserver; `None`
/// when MXCALL_SKIP_LIVEKIT=1.
pub fn env() -> Option<&'static RtcEnv> {
    ENV.get_or_init(|| start(false)).as_ref()
}

/// As [`env`], but the homeserver advertises its LiveKit service only in
/// `.well-known/matrix/client` (`org.matrix.msc4143.rtc_foci`), not through MSC4143's
/// `rtc/transports` endpoint. One test binary uses one or the other.
pub fn env_well_known_only() -> Option<&'static RtcEnv> {
    ENV.get_or_init(|| start(true)).as_ref()
}

fn start(well_known_only: bool) -> Option<RtcEnv> {
    let bin_dir = std::env::var_os("MXCALL_GO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".tmp/go-bin"));
    let have_sfu = std::fs::read_dir(&bin_dir)
        .map(|d| {
            d.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("livekit-server-")
            })
        })
        .unwrap_or(false);
    if !have_sfu {
        if std::env::var("MXCALL_SKIP_LIVEKIT").as_deref() == Ok("1") {
            eprintln!("MXCALL_SKIP_LIVEKIT=1: MatrixRTC tests skipped");
            return None;
        }
        panic!(
            "no livekit-server in {}: run scripts/livekit.sh install",
            bin_dir.display()
        );
    }
    let dir = std::env::temp_dir().join(format!("mxcall-test-rtc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = |name: &str| repo().join("scripts").join(name);
    let port = run(Command::new(script("livekit.sh")).arg("free-port"));
    let service_url = format!("http://127.0.0.1:{port}");
    let hs = run(Command::new(script("synapse.sh"))
        .arg("start")
        .arg(dir.join("hs"))
        .env("MXCALL_HS_RTC_SERVICE_URL", &service_url)
        .env(
            "MXCALL_HS_RTC_DISCOVERY",
            if well_known_only {
                "well-known"
            } else {
                "both"
            },
        ));
    DIR.set(dir.clone()).unwrap();
    extern "C" fn stop() {
        if let Some(dir) = DIR.get() {
            let script = |name: &str| repo().join("scripts").join(name);
            let _ = Command::new(script("livekit.sh"))
                .arg("stop")
                .arg(dir.join("lk"))
                .output();
            let _ = Command::new(script("synapse.sh"))
                .arg("stop")
                .arg(dir.join("hs"))
                .output();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    // SAFETY: registering a plain extern "C" fn; the test harness exits through exit(3).
    unsafe { libc::atexit(stop) };
    let lk = run(Command::new(script("livekit.sh"))
        .arg("start")
        .arg(dir.join("lk"))
        .arg(&hs));
    let get = |k: &str| {
        lk.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("livekit.sh start printed no {k}"))
            .to_owned()
    };
    assert_eq!(get("LK_JWT_URL"), service_url);
    let server_name = std::fs::read_to_string(dir.join("hs/server_name"))
        .unwrap()
        .trim()
        .to_owned();
    super::use_hs(&hs);
    Some(RtcEnv {
        livekit_url: get("LIVEKIT_URL"),
        dir,
        hs,
        service_url,
        server_name,
    })
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.stderr(Stdio::inherit()).output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
