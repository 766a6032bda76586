//! A device that Element trusts, against the real Synapse: cross-signing at login (a new identity
//! and its recovery key for a fresh account; the recovery key for a later device), `verify
//! --recovery-key-stdin`, what `whoami` reports, undecryptable call events, and `hangup`
//! declining a call in an encrypted room while another process of the profile holds the store.
//! (Against Element's engine, matrix-js-sdk in Chromium: `tests/interop_trust.rs`.)

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

fn login_args<'a>(profile: &'a str, user: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--profile",
        profile,
        "login",
        user,
        "--homeserver",
        hs(),
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    args
}

fn read_key(path: &Path) -> String {
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} is not private", path.display());
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

#[test]
fn a_fresh_account_gets_an_identity_and_later_devices_are_cross_signed_with_its_recovery_key() {
    let home = Home::new();
    let (user, pw) = register("x");
    let keyfile = home.path().join("recovery.txt");
    let keyfile_arg = keyfile.display().to_string();

    // First device: a new identity; the key goes to the named file, and nowhere else.
    let first = home.run_with_stdin(
        &[
            &["-vvv"][..],
            &login_args("one", &user, &["--save-recovery-key", &keyfile_arg]),
        ]
        .concat(),
        &format!("{pw}\n"),
    );
    assert_success(&first);
    let key = read_key(&keyfile);
    assert!(key.len() >= 48, "not a recovery key: {} chars", key.len());
    let squeezed: String = key.split_whitespace().collect();
    for text in [stdout(&first), stderr(&first)] {
        assert!(
            !text.contains(&key) && !text.contains(&squeezed),
            "the recovery key was printed"
        );
    }
    assert!(
        stderr(&first).contains("recovery key is in"),
        "{}",
        stderr(&first)
    );
    let me = whoami(&home, "one");
    assert_eq!(me["cross_signed"], true, "{me}");
    assert_eq!(me["cross_signing_identity"], true, "{me}");
    assert_eq!(me["key_backup"], true, "{me}");
    assert_eq!(me["recovery"], true, "{me}");
    // A recovery key file is never overwritten.
    let again = home.run_with_stdin(
        &login_args("spare", &user, &["--save-recovery-key", &keyfile_arg]),
        &format!("{pw}\n"),
    );
    assert_fails_with(&again, 2);
    assert_eq!(read_key(&keyfile), key);

    // Second device: password, then the recovery key, both on stdin.
    let second = home.run_with_stdin(
        &[
            &["--json"][..],
            &login_args("two", &user, &["--recovery-key-stdin"]),
        ]
        .concat(),
        &format!("{pw}\n{key}\n"),
    );
    assert_success(&second);
    let result: serde_json::Value = serde_json::from_str(stdout(&second).trim()).unwrap();
    assert_eq!(result["identity"], "recovered", "{result}");
    assert_eq!(result["cross_signed"], true, "{result}");
    assert_eq!(whoami(&home, "two")["cross_signed"], true);

    // A wrong key: exit 3 with one line, and the profile keeps its session untouched.
    let before = std::fs::read(home.profile_dir("two").join("session.json")).unwrap();
    let wrong = home.run_with_stdin(
        &login_args("two", &user, &["--recovery-key-stdin"]),
        &format!("{pw}\nEsTc 1234 5678 9abc defg hijk mnop qrst uvwx yz12 3456 789A BCDE\n"),
    );
    let err = assert_fails_with(&wrong, 3);
    assert!(err.contains("recovery key"), "{err}");
    assert_eq!(
        std::fs::read(home.profile_dir("two").join("session.json")).unwrap(),
        before
    );
    assert_eq!(whoami(&home, "two")["cross_signed"], true);

    // Third device without a key: logged in, not trusted, and told how to fix it ...
    let third = home.run_with_stdin(&login_args("three", &user, &[]), &format!("{pw}\n"));
    assert_success(&third);
    assert!(stderr(&third).contains("verify"), "{}", stderr(&third));
    assert_eq!(whoami(&home, "three")["cross_signed"], false);
    // ... which `verify` with the key does; a wrong key there is exit 3 too.
    let wrong = home.run_with_stdin(
        &["--profile", "three", "verify", "--recovery-key-stdin"],
        "EsTc 1234 5678 9abc defg hijk mnop qrst uvwx yz12 3456 789A BCDE\n",
    );
    assert_fails_with(&wrong, 3);
    let verified = home.run_with_stdin(
        &["--profile", "three", "verify", "--recovery-key-stdin"],
        &format!("{key}\n"),
    );
    assert_success(&verified);
    assert_eq!(whoami(&home, "three")["cross_signed"], true);
}

#[test]
fn without_a_terminal_the_new_recovery_key_is_kept_in_the_profile_not_printed() {
    let home = Home::new();
    let (user, pw) = register("k");
    // Even with -q the user is told where the key went.
    let out = home.run_with_stdin(
        &[&["-q"][..], &login_args("p", &user, &[])].concat(),
        &format!("{pw}\n"),
    );
    assert_success(&out);
    let path = home.profile_dir("p").join("recovery-key.txt");
    let key = read_key(&path);
    let squeezed: String = key.split_whitespace().collect();
    for text in [stdout(&out), stderr(&out)] {
        assert!(
            !text.contains(&key) && !text.contains(&squeezed),
            "the recovery key was printed"
        );
    }
    assert!(
        stderr(&out).contains(&path.display().to_string()),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_second_device_restored_with_the_recovery_key_calls_in_an_encrypted_dm() {
    let home = Home::new();
    let (x_user, xpw) = register("x");
    let (y_user, ypw) = register("y");
    home.login("x1", &x_user, &xpw);
    let key = read_key(&home.profile_dir("x1").join("recovery-key.txt"));
    let out = home.run_with_stdin(
        &login_args("x2", &x_user, &["--recovery-key-stdin"]),
        &format!("{xpw}\n{key}\n"),
    );
    assert_success(&out);
    home.login("y", &y_user, &ypw);
    let room = encrypted_dm(&home, "x2", "y", &y_user);
    let dir = tempfile::tempdir().unwrap();
    let args = |profile: &str, cmd: &[&str], input: &str, rec: &str| -> Vec<String> {
        let mut v: Vec<String> = vec!["--json".into(), "--profile".into(), profile.into()];
        v.extend(cmd.iter().map(|s| s.to_string()));
        v.extend(call_flags(input, &dir.path().join(rec)));
        v
    };
    let y = spawn(
        &home,
        &args("y", &["answer", "--wait", "40"], "tone:880", "y.wav"),
    );
    let x = spawn(
        &home,
        &args(
            "x2",
            &["call", &room, "--duration", "3"],
            "tone:440",
            "x.wav",
        ),
    );
    let x_out = wait(x, Duration::from_secs(60));
    let y_out = wait(y, Duration::from_secs(60));
    assert_success(&x_out);
    assert_success(&y_out);
    assert_tone(&dir.path().join("x.wav"), 880.0);
    assert_tone(&dir.path().join("y.wav"), 440.0);
    // Neither side warned about an untrusted device.
    for out in [&x_out, &y_out] {
        assert!(!stderr(out).contains("not cross-signed"), "{}", stderr(out));
    }
    let types = wire_types(&home, "y", &room);
    assert!(!types.iter().any(|t| t.starts_with("m.call.")), "{types:?}");
}

/// Base64 without padding, as Matrix encodes keys and ciphertexts.
fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    s
}

#[test]
fn an_event_whose_room_key_never_arrives_is_reported_once_and_nothing_rings() {
    let home = Home::new();
    let (a_user, apw) = register("a");
    let (b_user, bpw) = register("b");
    home.login("a", &a_user, &apw);
    home.login("b", &b_user, &bpw);
    let room = encrypted_dm(&home, "a", "b", &b_user);
    let b = spawn(
        &home,
        &[
            "--json",
            "--profile",
            "b",
            "answer",
            "--wait",
            "8",
            "--input",
            "null",
            "--output",
            "null",
        ]
        .map(String::from),
    );
    std::thread::sleep(Duration::from_secs(2));
    // A well-formed Megolm message (version 3, index 0, 16 bytes of ciphertext, MAC, signature)
    // of a session nobody ever shared: the key can never arrive.
    let mut message = vec![3u8, 0x08, 0x00, 0x12, 16];
    message.extend_from_slice(&[7u8; 16]);
    message.extend_from_slice(&[1u8; 8]);
    message.extend_from_slice(&[2u8; 64]);
    // Two such events (a call is many): reported once.
    for _ in 0..2 {
        send_event(
            &home,
            "a",
            &room,
            "m.room.encrypted",
            serde_json::json!({
                "algorithm": "m.megolm.v1.aes-sha2",
                "sender_key": b64(&[9u8; 32]),
                "device_id": "GHOSTDEVICE",
                "session_id": b64(&[5u8; 32]),
                "ciphertext": b64(&message),
            }),
        );
    }
    let started = Instant::now();
    let out = wait(b, Duration::from_secs(30));
    assert_eq!(code(&out), 6, "stderr: {}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "hung past --wait"
    );
    let evs = events(&out);
    let utds: Vec<_> = evs
        .iter()
        .filter(|e| e["event"] == "undecryptable")
        .collect();
    assert_eq!(utds.len(), 1, "reported once: {evs:?}");
    assert!(
        utds.iter().all(|e| e["sender"] == a_user.as_str()),
        "{utds:?}"
    );
    assert!(find_event(&evs, "ringing").is_none(), "{evs:?}");
    let err = stderr(&out);
    assert_eq!(err.matches("cannot decrypt").count(), 1, "{err}");
}

#[test]
fn hangup_declines_an_encrypted_call_while_another_process_of_the_profile_holds_the_store() {
    let home = Home::new();
    let (a_user, apw) = register("a");
    let (b_user, bpw) = register("b");
    home.login("a", &a_user, &apw);
    home.login("b", &b_user, &bpw);
    let room = encrypted_dm(&home, "a", "b", &b_user);
    let dir = tempfile::tempdir().unwrap();
    // B's other process: a watcher of some other room, syncing on the same store all along.
    let other = encrypted_dm(&home, "b", "a", &a_user);
    let watcher = spawn(
        &home,
        &["--json", "--profile", "b", "watch", &other].map(String::from),
    );
    std::thread::sleep(Duration::from_secs(2));

    let call_args = |room: &str, ring_timeout: &str| {
        let mut call = vec![
            "--json".to_string(),
            "--profile".into(),
            "a".into(),
            "call".into(),
            room.to_owned(),
            "--ring-timeout".into(),
            ring_timeout.into(),
        ];
        call.extend(call_flags("tone:440", &dir.path().join("a.wav")));
        call
    };
    let call = call_args(&room, "60");
    let started = Instant::now();
    let a = spawn(&home, &call);
    // The (encrypted) invite is on the server.
    wait_for_encrypted_from(&home, "b", &room, &a_user, 1);
    std::thread::sleep(Duration::from_millis(500));
    let out = home.run(&["--json", "--profile", "b", "hangup", &room]);
    assert_success(&out);
    let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["action"], "reject", "{result}");
    assert_eq!(result["caller"], a_user.as_str());
    // The caller decrypted the reject: declined, exit 5, in seconds.
    let a_out = wait(a, Duration::from_secs(60));
    assert_eq!(code(&a_out), 5, "stderr: {}", stderr(&a_out));
    assert!(started.elapsed() < Duration::from_secs(30));
    let types = wire_types(&home, "b", &room);
    assert!(!types.iter().any(|t| t.starts_with("m.call.")), "{types:?}");

    // The store survived two processes: the watcher still decrypts and rings on a new call.
    let a2 = spawn(&home, &call_args(&other, "8"));
    let a2_out = wait(a2, Duration::from_secs(40));
    assert_eq!(code(&a2_out), 6, "stderr: {}", stderr(&a2_out));
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(watcher.id() as i32, libc::SIGINT) };
    let w_out = wait(watcher, Duration::from_secs(20));
    let evs = events(&w_out);
    assert!(
        evs.iter()
            .any(|e| e["event"] == "ringing" && e["room_id"] == other.as_str()),
        "the watcher did not ring: {evs:?}\nstderr: {}",
        stderr(&w_out)
    );
    assert!(
        !evs.iter().any(|e| e["event"] == "undecryptable"),
        "{evs:?}"
    );
    // And a later process of the profile still opens the store and is still trusted.
    assert_eq!(whoami(&home, "b")["cross_signed"], true);
}

/// Waits until `room` holds at least `n` encrypted events from `sender` (as `profile` sees it).
fn wait_for_encrypted_from(home: &Home, profile: &str, room: &str, sender: &str, n: usize) {
    let start = Instant::now();
    loop {
        let v = api(
            "GET",
            &format!("/rooms/{}/messages?dir=b&limit=50", urlencode(room)),
            &token(home, profile),
            None,
        );
        let count = v["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "m.room.encrypted" && e["sender"] == sender)
            .count();
        if count >= n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nothing encrypted from {sender}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn verify_says_at_once_when_there_is_nothing_to_verify_or_no_one_to_verify_with() {
    let home = Home::new();
    let (user, pw) = register("v");
    home.login("first", &user, &pw);
    // Already cross-signed: nothing to do.
    let out = home.run(&["--profile", "first", "verify", "--yes", "--timeout", "30"]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("already cross-signed"),
        "{}",
        stderr(&out)
    );
    // The only other device is gone: a new one without the key has no one to compare emoji with.
    let out = home.run(&["--profile", "first", "logout"]);
    assert_success(&out);
    let out = home.run_with_stdin(&login_args("second", &user, &[]), &format!("{pw}\n"));
    assert_success(&out);
    let started = Instant::now();
    let out = home.run(&["--profile", "second", "verify", "--yes", "--timeout", "60"]);
    let err = assert_fails_with(&out, 1);
    assert!(err.contains("no other session"), "{err}");
    assert!(err.contains("--recovery-key"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited for nothing"
    );
}
