//! mxcall and an Element user as Element runs today: matrix-js-sdk with its Rust crypto in
//! Chromium, cross-signed, in `OnlySignedDevicesIsolationMode` ("exclude insecure devices",
//! MSC4153), in encrypted DMs it creates itself. Calls both ways with the tone verified; what an
//! mxcall device that is not cross-signed sees (and says); login with the recovery key of an
//! account that Element set up; emoji verification against a js session; `hangup` declining an
//! Element call while another process of the profile holds the store.
//!
//! Same requirements as `tests/interop.rs` (Chromium, the peer's npm packages).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::js::*;
use common::*;
use serde_json::Value;

/// A js user (Element): its password for new devices, and the recovery key once bootstrapped.
struct JsUser {
    user: String,
    password: String,
}

impl JsUser {
    fn new(prefix: &str) -> JsUser {
        let (user, password) = register(prefix);
        JsUser { user, password }
    }

    /// A new js device (a fresh login) running the peer with `args`.
    fn peer(&self, tone: &std::path::Path, mode: &str, args: &[&str], key: Option<&str>) -> JsPeer {
        let (token, device) = login_with_password(&self.user, &self.password);
        let acct = JsAccount {
            user: self.user.clone(),
            token,
            device,
        };
        let mut env = vec![("MXPEER_PASSWORD", self.password.as_str())];
        if let Some(key) = key {
            env.push(("MXPEER_RECOVERY_KEY", key));
        }
        let mut all = vec!["--crypto", "--timeout", "150"];
        all.extend_from_slice(args);
        JsPeer::start_env(&acct, mode, tone, &all, &env)
    }

    /// Element's first login: a new identity; returns the recovery key.
    fn bootstrap(&self, tone: &std::path::Path) -> String {
        let mut js = self.peer(tone, "setup", &["--bootstrap"], None);
        let key = js.wait_for("recovery_key", Duration::from_secs(90))["key"]
            .as_str()
            .unwrap()
            .to_owned();
        js.finish(Duration::from_secs(60));
        key
    }
}

struct Env {
    home: Home,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        write_tone_wav(&dir.path().join("tone880.wav"), 880);
        Env {
            home: Home::new(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tone(&self) -> PathBuf {
        self.path("tone880.wav")
    }

    /// `mxcall --json --profile P CMD… --input tone:440 --output null --record REC --media-addr 127.0.0.1`
    fn mx(&self, profile: &str, cmd: &[&str], record: &str) -> Vec<String> {
        let mut args: Vec<String> = vec!["--json".into(), "--profile".into(), profile.into()];
        args.extend(cmd.iter().map(|s| s.to_string()));
        args.extend(call_flags("tone:440", &self.path(record)));
        args
    }
}

fn js_timeline<'a>(events: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event"] == "timeline" && e["type"] == event_type)
        .collect()
}

#[test]
fn mxcall_and_an_element_user_in_only_signed_mode_call_each_other_in_an_encrypted_dm() {
    if !interop() {
        return;
    }
    let env = Env::new();
    let (m_user, mpw) = register("m");
    env.home.login("m", &m_user, &mpw); // a new identity: this device is cross-signed
    let j = JsUser::new("j");

    // js → mxcall: Element creates the encrypted DM and rings; `mxcall answer` joins and answers.
    let m = spawn(
        &env.home,
        &env.mx(
            "m",
            &["answer", "--wait", "90", "--from", &j.user],
            "m1.wav",
        ),
    );
    let mut js = j.peer(
        &env.tone(),
        "call",
        &[
            "--bootstrap",
            "--isolation",
            "only-signed",
            "--create-dm",
            &m_user,
            "--hangup-after",
            "4",
            "--expect",
            "440",
        ],
        None,
    );
    let key = js.wait_for("recovery_key", Duration::from_secs(90))["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let room = js.wait_for("room", Duration::from_secs(60))["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let events = js.finish(Duration::from_secs(120));
    let m_out = wait(m, Duration::from_secs(60));
    assert_success(&m_out);
    assert_js_heard(&events, 440.0);
    assert_tone(&env.path("m1.wav"), 880.0);
    // mxcall's answer reached js encrypted, and js decrypted it.
    let answers = js_timeline(&events, "m.call.answer");
    assert!(
        !answers.is_empty() && answers.iter().all(|e| e["encrypted"] == true),
        "{events:#?}"
    );
    assert!(
        !events.iter().any(|e| e["event"] == "decryption_failure"),
        "{events:#?}"
    );
    assert!(
        !stderr(&m_out).contains("cannot decrypt"),
        "{}",
        stderr(&m_out)
    );

    // mxcall → js: a second Element device of the same user (cross-signed with the recovery key).
    let mut js = j.peer(
        &env.tone(),
        "answer",
        &["--isolation", "only-signed", "--expect", "440"],
        Some(&key),
    );
    js.wait_for("ready", Duration::from_secs(90));
    let m = spawn(
        &env.home,
        &env.mx("m", &["call", &room, "--duration", "9"], "m2.wav"),
    );
    let m_out = wait(m, Duration::from_secs(90));
    let events = js.finish(Duration::from_secs(60));
    assert_success(&m_out);
    assert_js_heard(&events, 440.0);
    assert_tone(&env.path("m2.wav"), 880.0);
    let invites = js_timeline(&events, "m.call.invite");
    assert!(
        !invites.is_empty() && invites.iter().all(|e| e["encrypted"] == true),
        "{events:#?}"
    );

    let types = wire_types(&env.home, "m", &room);
    assert!(types.iter().any(|t| t == "m.room.encrypted"), "{types:?}");
    assert!(!types.iter().any(|t| t.starts_with("m.call.")), "{types:?}");
}

#[test]
fn an_mxcall_device_that_is_not_cross_signed_is_excluded_by_element_and_says_so() {
    if !interop() {
        return;
    }
    let env = Env::new();
    let (m_user, mpw) = register("m");
    env.home.login("first", &m_user, &mpw); // creates the identity
    // A second device without the recovery key: not cross-signed.
    let out = env.home.run_with_stdin(
        &[
            "--profile",
            "m",
            "login",
            &m_user,
            "--homeserver",
            hs(),
            "--password-stdin",
        ],
        &format!("{mpw}\n"),
    );
    assert_success(&out);
    assert!(
        stderr(&out).contains("not cross-signed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(whoami(&env.home, "m")["cross_signed"], false);
    let j = JsUser::new("j");

    // Element calls: its room keys are withheld from this device, nothing rings, mxcall says why.
    let m = spawn(
        &env.home,
        &env.mx("m", &["answer", "--wait", "40", "--from", &j.user], "m.wav"),
    );
    let mut js = j.peer(
        &env.tone(),
        "call",
        &[
            "--bootstrap",
            "--isolation",
            "only-signed",
            "--create-dm",
            &m_user,
            "--give-up-after",
            "12",
        ],
        None,
    );
    let room = js.wait_for("room", Duration::from_secs(60))["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    js.wait_for("placed", Duration::from_secs(60));
    let started = Instant::now();
    let events = js.finish(Duration::from_secs(60));
    assert!(
        find_event(&events, "connected").is_none(),
        "an unverified device must not connect: {events:#?}"
    );
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(m.id() as i32, libc::SIGINT) };
    let m_out = wait(m, Duration::from_secs(30));
    let err = stderr(&m_out);
    let evs = common::events(&m_out);
    assert!(find_event(&evs, "ringing").is_none(), "{evs:?}");
    assert!(
        err.contains("warning: this device is not cross-signed"),
        "{err}"
    );
    let utd = evs
        .iter()
        .find(|e| e["event"] == "undecryptable")
        .unwrap_or_else(|| panic!("no undecryptable report: {evs:?}\n{err}"));
    assert_eq!(utd["unverified_device"], true, "{utd}");
    assert!(err.contains("verify`"), "{err}");
    assert_eq!(
        err.matches("cannot decrypt").count(),
        1,
        "reported once: {err}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));

    // mxcall calls: Element refuses to decrypt what this device sends, and never rings.
    let mut js = j.peer(
        &env.tone(),
        "answer",
        &["--isolation", "only-signed", "--stay", "1"],
        None,
    );
    js.wait_for("ready", Duration::from_secs(90));
    let m = spawn(
        &env.home,
        &env.mx("m", &["call", &room, "--ring-timeout", "10"], "m2.wav"),
    );
    let m_out = wait(m, Duration::from_secs(60));
    assert_eq!(code(&m_out), 6, "stderr: {}", stderr(&m_out));
    let failure = js.wait_for_match(
        "decryption_failure",
        |e| e["sender"] == m_user.as_str(),
        Duration::from_secs(20),
    );
    assert_eq!(failure["initial_sync"], false, "{failure}");
    assert!(find_event(&js.seen, "incoming").is_none(), "{:#?}", js.seen);
    js.stop();
}

#[test]
fn login_with_the_recovery_key_of_an_account_element_set_up_cross_signs_the_device() {
    if !interop() {
        return;
    }
    let env = Env::new();
    let j = JsUser::new("j");
    let key = j.bootstrap(&env.tone());

    // A wrong key first: exit 3, nothing stored.
    let wrong = env.home.run_with_stdin(
        &[
            "--profile",
            "m",
            "login",
            &j.user,
            "--homeserver",
            hs(),
            "--password-stdin",
            "--recovery-key-stdin",
        ],
        &format!(
            "{}\nEsTc 1234 5678 9abc defg hijk mnop qrst uvwx yz12 3456 789A BCDE\n",
            j.password
        ),
    );
    assert_fails_with(&wrong, 3);
    assert!(!env.home.profile_dir("m").join("session.json").exists());

    let out = env.home.run_with_stdin(
        &[
            "--json",
            "--profile",
            "m",
            "login",
            &j.user,
            "--homeserver",
            hs(),
            "--password-stdin",
            "--recovery-key-stdin",
        ],
        &format!("{}\n{key}\n", j.password),
    );
    assert_success(&out);
    let result: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["identity"], "recovered", "{result}");
    let device = result["device_id"].as_str().unwrap().to_owned();

    // Element's view: the mxcall device is cross-signed by its owner.
    let mut js = j.peer(
        &env.tone(),
        "check-device",
        &["--check-user", &j.user, "--check-device", &device],
        Some(&key),
    );
    let trust = js.wait_for("device_trust", Duration::from_secs(90));
    let events = js.finish(Duration::from_secs(60));
    let last = events
        .iter()
        .rev()
        .find(|e| e["event"] == "device_trust")
        .unwrap_or(&trust);
    assert_eq!(last["cross_signing_verified"], true, "{events:#?}");
}

#[test]
fn emoji_verification_with_an_element_session_of_the_same_user_trusts_the_device() {
    if !interop() {
        return;
    }
    let env = Env::new();
    let j = JsUser::new("j");
    let key = j.bootstrap(&env.tone());
    let out = env.home.run_with_stdin(
        &[
            "--profile",
            "m",
            "login",
            &j.user,
            "--homeserver",
            hs(),
            "--password-stdin",
        ],
        &format!("{}\n", j.password),
    );
    assert_success(&out);
    assert_eq!(whoami(&env.home, "m")["cross_signed"], false);

    // The Element session (itself cross-signed with the key) accepts our request.
    let mut js = j.peer(&env.tone(), "verify-accept", &["--stay", "5"], Some(&key));
    js.wait_for("ready", Duration::from_secs(90));
    let m = spawn(
        &env.home,
        &[
            "--json",
            "--profile",
            "m",
            "verify",
            "--yes",
            "--timeout",
            "90",
        ]
        .map(String::from),
    );
    let m_out = wait(m, Duration::from_secs(120));
    let events = js.finish(Duration::from_secs(60));
    assert_success(&m_out);
    let ours: Vec<String> = common::events(&m_out)
        .iter()
        .find(|e| e["event"] == "sas")
        .unwrap_or_else(|| panic!("mxcall showed no emoji: {}", stdout(&m_out)))["emoji"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["description"].as_str().unwrap().to_owned())
        .collect();
    let theirs: Vec<String> = event(&events, "sas")["emoji"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[1].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ours.len(), 7);
    assert_eq!(ours, theirs, "the two sides showed different emoji");
    event(&events, "verified");
    assert_eq!(whoami(&env.home, "m")["cross_signed"], true);
}

#[test]
fn hangup_declines_an_element_call_in_an_encrypted_dm_while_another_process_holds_the_store() {
    if !interop() {
        return;
    }
    let env = Env::new();
    let (m_user, mpw) = register("m");
    env.home.login("m", &m_user, &mpw);
    let j = JsUser::new("j");
    // Another process of the profile, syncing on the store all along (it watches another room).
    let other = api(
        "POST",
        "/createRoom",
        &token(&env.home, "m"),
        Some(serde_json::json!({"preset": "private_chat"})),
    )["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let watcher = spawn(
        &env.home,
        &["--json", "--profile", "m", "watch", &other].map(String::from),
    );
    let mut js = j.peer(
        &env.tone(),
        "call",
        &[
            "--bootstrap",
            "--isolation",
            "only-signed",
            "--create-dm",
            &m_user,
            "--give-up-after",
            "60",
        ],
        None,
    );
    let room = js.wait_for("room", Duration::from_secs(90))["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    join(&env.home, "m", &room);
    js.wait_for("placed", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    let out = env.home.run(&["--json", "--profile", "m", "hangup", &room]);
    assert_success(&out);
    let result: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["action"], "reject", "{result}");
    let hangup = js.wait_for("hangup", Duration::from_secs(20));
    assert!(started.elapsed() < Duration::from_secs(20), "{hangup}");
    assert_eq!(hangup["party"], "remote", "{hangup}");
    let events = js.finish(Duration::from_secs(30));
    let rejects = js_timeline(&events, "m.call.reject");
    assert!(
        !rejects.is_empty() && rejects.iter().all(|e| e["encrypted"] == true),
        "js did not see the reject, decrypted: {events:#?}"
    );
    let types = wire_types(&env.home, "m", &room);
    assert!(!types.iter().any(|t| t.starts_with("m.call.")), "{types:?}");
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(watcher.id() as i32, libc::SIGINT) };
    let w = wait(watcher, Duration::from_secs(20));
    assert!(!stderr(&w).contains("panicked"), "{}", stderr(&w));
}
