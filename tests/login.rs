//! login / whoami / logout against the real Synapse started by the test harness.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use common::*;

#[test]
fn login_then_whoami_shows_the_user() {
    let home = Home::new();
    let (user, password) = register("who");
    let out = home.login("default", &user, &password);
    assert!(stdout(&out).contains(&user), "{}", stdout(&out));

    let out = home.run(&["whoami"]);
    assert_success(&out);
    assert_eq!(stdout(&out).lines().next(), Some(user.as_str()));

    let out = home.run(&["--json", "whoami"]);
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["user_id"], user.as_str());
    assert_eq!(
        v["homeserver"].as_str().unwrap().trim_end_matches('/'),
        hs()
    );
    assert_eq!(v["device_id"], home.session("default")["device_id"]);
}

#[test]
fn wrong_password_exits_3_and_stores_nothing() {
    let home = Home::new();
    let (user, _) = register("wrong");
    let out = home.run_with_stdin(
        &["login", &user, "--homeserver", hs(), "--password-stdin"],
        "not-the-password\n",
    );
    let err = assert_fails_with(&out, 3);
    assert!(err.contains("wrong user id or password"), "{err}");
    // The user is logging in: no hint to run `mxcall login`.
    assert!(!err.contains("log in again"), "{err}");
    assert!(
        !home.profile_dir("default").exists(),
        "a failed first login left files behind"
    );
}

#[test]
fn unreachable_homeserver_exits_4() {
    let home = Home::new();
    // Port 9 (discard) has no listener on this machine: connection refused.
    let out = home.run_with_stdin(
        &[
            "login",
            "@nobody:localhost",
            "--homeserver",
            "http://127.0.0.1:9",
            "--password-stdin",
        ],
        "pw\n",
    );
    let err = assert_fails_with(&out, 4);
    assert!(err.contains("cannot reach the homeserver"), "{err}");
}

#[test]
fn homeserver_answering_garbage_exits_4() {
    // Not a homeserver: whatever is asked, it answers 200 with an HTML page.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut buf);
            let body = "<html>hello</html>";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let home = Home::new();
    let out = home.run_with_stdin(
        &[
            "login",
            "@nobody:localhost",
            "--homeserver",
            &url,
            "--password-stdin",
        ],
        "pw\n",
    );
    let err = assert_fails_with(&out, 4);
    assert!(err.contains("garbage"), "{err}");
}

#[test]
fn not_logged_in_exits_3_with_a_hint() {
    let home = Home::new();
    let err = assert_fails_with(&home.run(&["whoami"]), 3);
    assert!(
        err.contains("not logged in") && err.contains("`mxcall login`"),
        "{err}"
    );
    let err = assert_fails_with(&home.run(&["--profile", "bob", "whoami"]), 3);
    assert!(err.contains("`mxcall --profile bob login`"), "{err}");
    // The profile also comes from the environment.
    let out = home
        .cmd()
        .env("MXCALL_PROFILE", "carol")
        .arg("whoami")
        .output()
        .unwrap();
    let err = assert_fails_with(&out, 3);
    assert!(err.contains("'carol'"), "{err}");
    // `call` says so too, before it looks at the audio: on a machine with no sound card
    // (the default devices) the first thing to fix is the login, not the device.
    let err = assert_fails_with(
        &home.run(&[
            "call",
            "@bob:localhost",
            "--input",
            "/nonexistent/in.wav",
            "--output",
            "null",
        ]),
        3,
    );
    assert!(err.contains("not logged in"), "{err}");
}

#[test]
fn revoked_token_exits_3_with_a_hint() {
    let home = Home::new();
    let (user, password) = register("revoked");
    home.login("default", &user, &password);
    let token = home.session("default")["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another client (the user, on the web) logs this device out.
    let status = block_on(async {
        reqwest::Client::new()
            .post(format!("{}/_matrix/client/v3/logout", hs()))
            .bearer_auth(&token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert!(status.is_success());
    let err = assert_fails_with(&home.run(&["whoami"]), 3);
    assert!(
        err.contains("rejected the stored access token") && err.contains("mxcall login"),
        "{err}"
    );
    assert!(!err.contains(&token));
    // Logging in again repairs the profile.
    home.login("default", &user, &password);
    assert_success(&home.run(&["whoami"]));
}

#[test]
fn stored_files_are_private() {
    let home = Home::new();
    let (user, password) = register("modes");
    home.login("default", &user, &password);
    let session = home.profile_dir("default").join("session.json");
    assert_eq!(
        std::fs::metadata(&session).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut seen = 0;
    let mut stack = vec![home.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                assert_eq!(mode, 0o700, "{}", entry.path().display());
                stack.push(entry.path());
            } else {
                assert_eq!(mode, 0o600, "{}", entry.path().display());
            }
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "expected the profile dir, session.json and the store"
    );
}

#[test]
fn two_profiles_coexist() {
    let home = Home::new();
    let (alice, apw) = register("alice");
    let (bob, bpw) = register("bob");
    home.login("alice", &alice, &apw);
    home.login("bob", &bob, &bpw);
    for (profile, user) in [("alice", &alice), ("bob", &bob)] {
        let out = home.run(&["--json", "--profile", profile, "whoami"]);
        assert_success(&out);
        let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        assert_eq!(v["user_id"], user.as_str());
        assert_eq!(v["profile"], profile);
    }
    assert_fails_with(&home.run(&["whoami"]), 3);
}

#[test]
fn secrets_never_appear_in_argv_environment_or_output() {
    let home = Home::new();
    let (user, password) = register("secret");
    let mut child = home
        .cmd()
        .args([
            "-vvv",
            "login",
            &user,
            "--homeserver",
            hs(),
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While it waits for the password, look at what `ps` would see.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let pid = child.id();
    for what in ["cmdline", "environ"] {
        let bytes = std::fs::read(format!("/proc/{pid}/{what}")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&password),
            "password in /proc/{what}"
        );
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    let token = home.session("default")["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let passphrase = home.session("default")["store_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let whoami = home.run(&["-vvv", "whoami"]);
    assert_success(&whoami);
    let logout = home.run(&["-vvv", "--json", "logout"]);
    assert_success(&logout);
    for out in [&out, &whoami, &logout] {
        let all = format!("{}{}", stdout(out), stderr(out));
        for secret in [&password, &token, &passphrase] {
            assert!(
                !all.contains(secret.as_str()),
                "a secret was printed:\n{all}"
            );
        }
    }
}

#[test]
fn logout_invalidates_the_token_and_removes_local_data() {
    let home = Home::new();
    let (user, password) = register("logout");
    home.login("default", &user, &password);
    let token = home.session("default")["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = home.run(&["logout"]);
    assert_success(&out);
    // Everything but the new account's recovery key (possibly its only copy) is gone.
    assert_eq!(left_in_profile(&home), ["recovery-key.txt"]);
    assert!(stderr(&out).contains("kept"), "{}", stderr(&out));
    let status = block_on(async {
        reqwest::Client::new()
            .get(format!("{}/_matrix/client/v3/account/whoami", hs()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 401, "the token still works after logout");
    assert_fails_with(&home.run(&["whoami"]), 3);
}

/// A default profile logged in as a new user, whose session then points at a homeserver that
/// answers nothing (it moved away, or the network is down); returns its `session.json`.
fn logged_in_with_the_server_unreachable(prefix: &str) -> (Home, std::path::PathBuf) {
    let home = Home::new();
    let (user, password) = register(prefix);
    home.login("default", &user, &password);
    let path = home.profile_dir("default").join("session.json");
    let mut session = home.session("default");
    session["homeserver"] = "http://127.0.0.1:9/".into();
    std::fs::write(&path, serde_json::to_vec(&session).unwrap()).unwrap();
    (home, path)
}

#[test]
fn logout_with_the_server_unreachable_keeps_data_unless_forced() {
    // The homeserver moved away (or the network is down).
    let (home, path) = logged_in_with_the_server_unreachable("offline");

    let err = assert_fails_with(&home.run(&["logout"]), 4);
    assert!(err.contains("--force"), "{err}");
    assert!(
        path.exists(),
        "local data removed although the server was not told"
    );

    let out = home.run(&["logout", "--force"]);
    assert_success(&out);
    assert_eq!(left_in_profile(&home), ["recovery-key.txt"]);
}

#[test]
fn call_and_answer_with_the_server_unreachable_end_at_once_with_exit_4() {
    let (home, path) = logged_in_with_the_server_unreachable("serverdown");

    // Before: both waited for the homeserver for ever (and `answer --wait 30` past its 30 s),
    // printing a retry line every 5 s; Ctrl-C did nothing meanwhile.
    for args in [
        &[
            "call",
            "!room:localhost",
            "--input",
            "tone:440",
            "--output",
            "null",
        ][..],
        &[
            "answer", "--wait", "30", "--input", "tone:440", "--output", "null",
        ][..],
    ] {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let started = std::time::Instant::now();
        let out = wait(spawn(&home, &args), std::time::Duration::from_secs(25));
        let err = assert_fails_with(&out, 4);
        assert!(
            err.contains("cannot reach the homeserver"),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
    // The profile is untouched: still logged in, the session kept.
    assert!(path.exists());
}

#[test]
fn ctrl_c_while_the_homeserver_is_unreachable_ends_the_command_with_130() {
    let (home, _) = logged_in_with_the_server_unreachable("downsigint");

    let args: Vec<String> = [
        "answer", "--wait", "30", "--input", "tone:440", "--output", "null",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let child = spawn(&home, &args);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = wait(child, std::time::Duration::from_secs(10));
    assert_eq!(code(&out), 130, "{}", stderr(&out));
}

fn left_in_profile(home: &Home) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.profile_dir("default"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn failed_relogin_keeps_the_existing_session() {
    let home = Home::new();
    let (user, password) = register("relogin");
    home.login("default", &user, &password);
    let before = home.session("default");
    let out = home.run_with_stdin(
        &["login", &user, "--homeserver", hs(), "--password-stdin"],
        "wrong\n",
    );
    assert_fails_with(&out, 3);
    assert_eq!(home.session("default"), before);
    assert_success(&home.run(&["whoami"]));
    // A successful re-login replaces it with a new device.
    home.login("default", &user, &password);
    assert_ne!(home.session("default")["device_id"], before["device_id"]);
    assert_success(&home.run(&["whoami"]));
}

#[test]
fn usage_errors_exit_2() {
    let home = Home::new();
    let out = home.run_with_stdin(&["login", "alice", "--password-stdin"], "pw\n");
    let err = assert_fails_with(&out, 2);
    assert!(err.contains("invalid user id"), "{err}");
    // No terminal and no --password-stdin: refuse rather than hang.
    let err = assert_fails_with(
        &home.run(&["login", "@a:localhost", "--homeserver", hs()]),
        2,
    );
    assert!(err.contains("--password-stdin"), "{err}");
    let err = assert_fails_with(&home.run(&["--profile", "../evil", "whoami"]), 2);
    assert!(err.contains("invalid profile name"), "{err}");
    let err = assert_fails_with(
        &home.run_with_stdin(
            &[
                "login",
                "@a:localhost",
                "--homeserver",
                "ftp://x",
                "--password-stdin",
            ],
            "pw\n",
        ),
        2,
    );
    assert!(err.contains("--homeserver"), "{err}");
    assert_eq!(code(&home.run(&["no-such-command"])), 2);
    assert_eq!(code(&home.run(&["--help"])), 0);
}
