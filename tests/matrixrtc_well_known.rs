//! MatrixRTC discovery through `.well-known/matrix/client` alone: a homeserver whose LiveKit
//! service is only in `org.matrix.msc4143.rtc_foci` (no MSC4143 `rtc/transports` endpoint, as
//! many deployments publish it) still gets MatrixRTC calls with `--protocol auto`. The other
//! discovery path, the endpoint, is what `tests/matrixrtc.rs` runs on.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn the_well_known_rtc_foci_alone_is_enough_for_a_matrixrtc_call() {
    let Some(env) = rtc::env_well_known_only() else {
        return;
    };
    let home = Home::new();
    let (a_user, apw) = register("a");
    let (b_user, bpw) = register("b");
    home.login("a", &a_user, &apw);
    home.login("b", &b_user, &bpw);
    // The endpoint is not there; the .well-known key is.
    let status = block_on(async {
        reqwest::Client::new()
            .get(format!(
                "{}/_matrix/client/unstable/org.matrix.msc4143/rtc/transports",
                env.hs
            ))
            .bearer_auth(token(&home, "a"))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert!(!status.is_success(), "rtc/transports answered {status}");
    let well_known: serde_json::Value = block_on(async {
        reqwest::get(format!("{}/.well-known/matrix/client", env.hs))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(
        well_known["org.matrix.msc4143.rtc_foci"][0]["livekit_service_url"],
        env.service_url.as_str()
    );

    let room = dm(&home, "a", "b", &b_user);
    let dir = tempfile::tempdir().unwrap();
    let args = |profile: &str, cmd: &[&str], input: &str, rec: &str| {
        let mut v: Vec<String> = vec!["--json".into(), "--profile".into(), profile.into()];
        v.extend(cmd.iter().map(|s| s.to_string()));
        v.extend(call_flags(input, &dir.path().join(rec)));
        v
    };
    let b = spawn(
        &home,
        &args("b", &["answer", "--wait", "60"], "tone:880", "b.wav"),
    );
    let a = spawn(
        &home,
        &args(
            "a",
            &["call", &room, "--duration", "3"],
            "tone:440",
            "a.wav",
        ),
    );
    let a_out = wait(a, Duration::from_secs(60));
    let b_out = wait(b, Duration::from_secs(30));
    assert_eq!(code(&a_out), 0, "{}", stderr(&a_out));
    assert_eq!(code(&b_out), 0, "{}", stderr(&b_out));
    let connected = events(&a_out);
    let connected = find_event(&connected, "connected").expect("caller never connected");
    assert_eq!(connected["protocol"], "matrixrtc");
    assert_tone(&dir.path().join("a.wav"), 880.0);
    assert_tone(&dir.path().join("b.wav"), 440.0);
}
