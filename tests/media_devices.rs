//! The loopback call again, but with sound going through cpal devices: ALSA `file` plugins
//! configured by an asoundrc this test writes (`ALSA_CONFIG_PATH`), so the device code runs on
//! a machine without a sound card.
//!
//! - Capture: a `file` pcm whose `infile` holds a tone. ALSA delivers it unpaced (far faster
//!   than real time), then repeats its last period: the source must hold it to real time.
//!   Tones of 400/800 Hz have a whole number of cycles in a 480-sample period, so dropped
//!   periods (before the call, when nobody reads) leave no phase jumps for the analysis.
//! - Playback: a `file` pcm writing into a FIFO that this test reads at real-time pace, which
//!   paces the device like a sound card would; the raw S16_LE it reads is analysed.
//!
//! ALSA's configuration is process-wide, so this file holds a single test.

mod common;
use common::audio as audio_check;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use audio_check::{analyse, sine};
use mxcall::audio::{AudioSpec, list_devices, open_sink, open_source};
use mxcall::media::{ConnState, MediaConfig, MediaEvent, MediaSession};

fn write_raw(path: &Path, samples: &[i16]) {
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn asoundrc(dir: &Path) -> String {
    let p = |name: &str| dir.join(name).display().to_string();
    let capture = |name: &str, infile: &str, desc: &str| {
        format!(
            "pcm.{name} {{\n  type file\n  slave.pcm {{ type null }}\n  file \"/dev/null\"\n  \
             infile \"{}\"\n  format \"raw\"\n  hint {{ show on description \"{desc}\" }}\n}}\n",
            p(infile)
        )
    };
    let playback = |name: &str, file: &str, desc: &str| {
        format!(
            "pcm.{name} {{\n  type file\n  slave.pcm {{ type null }}\n  file \"{}\"\n  \
             format \"raw\"\n  hint {{ show on description \"{desc}\" }}\n}}\n",
            p(file)
        )
    };
    [
        capture("mx_in_a", "in_a.raw", "mxcall test input A"),
        capture("mx_in_b", "in_b.raw", "mxcall test input B"),
        playback("mx_out_a", "out_a.fifo", "mxcall test output A"),
        playback("mx_out_b", "out_b.fifo", "mxcall test output B"),
        "pcm.!default {\n  type asym\n  playback.pcm { type null }\n  capture.pcm { type null }\n  \
         hint { show on description \"Default\" }\n}\n"
            .to_owned(),
    ]
    .concat()
}

/// Reads S16_LE from a FIFO at real-time pace (the device's clock) until the writer closes it.
fn paced_reader(path: PathBuf) -> (Arc<Mutex<Vec<i16>>>, JoinHandle<()>) {
    let out = Arc::new(Mutex::new(Vec::new()));
    let o = out.clone();
    let handle = std::thread::spawn(move || {
        let mut fifo = std::fs::File::open(&path).unwrap(); // blocks until ALSA opens it
        let start = Instant::now();
        let mut buf = [0u8; 960 * 2];
        for k in 1u32.. {
            if fifo.read_exact(&mut buf).is_err() {
                break;
            }
            o.lock().unwrap().extend(
                buf.chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]])),
            );
            let due = start + Duration::from_millis(20) * k;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    });
    (out, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_alsa_devices_carries_both_tones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_raw(&d.join("in_a.raw"), &sine(400.0, 2.0, 0.3));
    write_raw(&d.join("in_b.raw"), &sine(800.0, 2.0, 0.3));
    for fifo in ["out_a.fifo", "out_b.fifo"] {
        let ok = std::process::Command::new("mkfifo")
            .arg(d.join(fifo))
            .status()
            .unwrap()
            .success();
        assert!(ok, "mkfifo");
    }
    let conf = d.join("asound.conf");
    std::fs::write(&conf, asoundrc(d)).unwrap();
    // SAFETY: the only test in this binary sets it before anything reads the environment.
    unsafe { std::env::set_var("ALSA_CONFIG_PATH", &conf) };

    // The device list shows the configured pcms with their descriptions.
    let devices = list_devices().unwrap();
    for (name, desc) in [
        ("mx_in_a", "mxcall test input A"),
        ("mx_out_b", "mxcall test output B"),
    ] {
        let dev = devices
            .iter()
            .find(|x| x.name == name)
            .unwrap_or_else(|| panic!("{name} in {devices:?}"));
        assert_eq!(dev.description, desc);
        assert!(dev.input && dev.output);
    }
    assert!(
        devices
            .iter()
            .any(|x| x.name == "default" && x.default_input && x.default_output),
        "{devices:?}"
    );
    let json = serde_json::to_string(&devices).unwrap();
    assert!(json.contains("\"name\":\"mx_in_a\""), "{json}");

    // A missing device is one line, at open time.
    let err = open_source(&"device:no-such-mic".parse().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "no audio input device named 'no-such-mic' (see `mxcall devices`)"
    );
    let err = open_sink(&"device:no-such-speaker".parse().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "no audio output device named 'no-such-speaker' (see `mxcall devices`)"
    );
    // The default devices open (and close) too.
    drop(open_source(&AudioSpec::Default).unwrap());
    drop(open_sink(&AudioSpec::Default).unwrap());

    let (heard_by_a, reader_a) = paced_reader(d.join("out_a.fifo"));
    let (heard_by_b, reader_b) = paced_reader(d.join("out_b.fifo"));
    let open = |input: &str, output: &str| {
        (
            open_source(&input.parse().unwrap()).unwrap(),
            open_sink(&output.parse().unwrap()).unwrap(),
        )
    };
    let (src_a, sink_a) = open("device:mx_in_a", "device:mx_out_a");
    let (src_b, sink_b) = open("device:mxcall test input B", "device:mx_out_b"); // by description
    let (a, mut a_events) = MediaSession::new(MediaConfig::loopback(), src_a, sink_a)
        .await
        .unwrap();
    let (b, mut b_events) = MediaSession::new(MediaConfig::loopback(), src_b, sink_b)
        .await
        .unwrap();

    let offer = a.create_offer().await.unwrap();
    let answer = b.accept_offer(&offer).await.unwrap();
    a.accept_answer(&answer).await.unwrap();

    // Until both are connected (ICE takes 0.2 to 1 s here), then three seconds of call.
    let start = Instant::now();
    let mut connected: [Option<Instant>; 2] = [None, None];
    let mut errors = Vec::new();
    loop {
        let deadline = match connected {
            [Some(x), Some(y)] => x.max(y) + Duration::from_secs(3),
            _ => start + Duration::from_secs(5),
        };
        let (side, event) = tokio::select! {
            Some(e) = a_events.recv() => (0, e),
            Some(e) = b_events.recv() => (1, e),
            _ = tokio::time::sleep_until(deadline.into()) => break,
        };
        let other = if side == 0 { &b } else { &a };
        match event {
            MediaEvent::LocalCandidate(c) => other.add_remote_candidate(Some(c)).await.unwrap(),
            MediaEvent::GatheringComplete => other.add_remote_candidate(None).await.unwrap(),
            MediaEvent::Connection(ConnState::Connected) => {
                connected[side].get_or_insert(Instant::now());
            }
            MediaEvent::Error(e) => errors.push(e.to_string()),
            _ => {}
        }
    }
    let stats = [a.stats(), b.stats()];
    a.close().await;
    b.close().await;
    reader_a.join().unwrap();
    reader_b.join().unwrap();

    assert!(connected.iter().all(Option::is_some), "{connected:?}");
    assert!(errors.is_empty(), "{errors:?}");
    for (heard, freq, st) in [
        (&heard_by_b, 400.0, &stats[1]),
        (&heard_by_a, 800.0, &stats[0]),
    ] {
        let samples = heard.lock().unwrap();
        let report = analyse(&samples, freq);
        eprintln!(
            "played {freq} Hz: {} samples, {report:?}, {st:?}",
            samples.len()
        );
        assert!(samples.len() >= 48_000 * 3, "the device played too little");
        assert!((report.dominant_hz - freq).abs() <= 2.0, "{report:?}");
        assert!(report.frames_in_call >= 140, "{report:?}");
        assert!(
            report.fraction() >= 0.9,
            "only {:.1}% tone frames",
            report.fraction() * 100.0
        );
    }
}

/// `mxcall devices` lists the ALSA devices by the names `device:NAME` takes, and a call with a
/// device that does not exist fails with exit 7 and one line, before anything is sent.
#[test]
fn the_devices_command_and_a_missing_device() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_raw(&d.join("in_a.raw"), &sine(400.0, 0.1, 0.3));
    write_raw(&d.join("in_b.raw"), &sine(800.0, 0.1, 0.3));
    let conf = d.join("asound.conf");
    std::fs::write(&conf, asoundrc(d)).unwrap();
    let mxcall = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mxcall"))
            .env("ALSA_CONFIG_PATH", &conf)
            .env("MXCALL_HOME", d.join("home"))
            .args(args)
            .output()
            .unwrap()
    };

    let out = mxcall(&["--json", "devices"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let devices = v["devices"].as_array().unwrap();
    let find = |name: &str| devices.iter().find(|dev| dev["name"] == name).cloned();
    assert_eq!(find("mx_in_a").unwrap()["input"], true, "{v}");
    assert_eq!(find("mx_out_b").unwrap()["output"], true, "{v}");

    let out = mxcall(&["devices"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("device:mx_in_a") && text.contains("mxcall test input A"),
        "{text}"
    );

    // A logged-in profile (not being logged in is exit 3, which comes first).
    let home = common::Home::new();
    let (user, password) = common::register("devices");
    home.login("default", &user, &password);
    let out = home
        .cmd()
        .env("ALSA_CONFIG_PATH", &conf)
        .args([
            "call",
            "!room:localhost",
            "--input",
            "device:no-such-mic",
            "--output",
            "null",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no-such-mic"), "{err}");
}
