//! A call with a matrix-js-sdk peer (Element Web's engine, in Chromium) that allows only relayed
//! media: js-sdk's `forceTURN` (Element's "only relay calls"), with the TURN servers both sides
//! get from Synapse's `/voip/turnServer` — coturn (Debian) with the TURN REST shared secret.
//!
//! This binary runs its own Synapse, configured with the TURN server; needs `turnserver`
//! (`scripts/install-deps.sh`) and the interop set-up (`scripts/install-interop.sh`).

mod common;

use std::time::Duration;

use common::coturn::Coturn;
use common::js::*;
use common::js_rig::*;
use common::*;

#[test]
fn mxcall_calls_a_js_peer_that_allows_only_relayed_media() {
    if !interop() {
        return;
    }
    if !Coturn::installed() {
        eprintln!("SKIPPED: coturn's turnserver is not installed (scripts/install-deps.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Not coturn's default port: the resilience tests run theirs in namespaces of their own,
    // but a TURN server on the host may hold 3478.
    let coturn = Coturn::start(dir.path(), 3479, (49500, 49700));
    let env = coturn.synapse_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _synapse = OwnSynapse::start(&dir.path().join("hs"), &env);

    let r = rig();
    let mut js = r.js("answer", &["--force-turn", "--raw-mic"]);
    js.wait_for("ready", Duration::from_secs(60));
    let mx = spawn(
        &r.home,
        &r.mx(&["call", &r.room, "--duration", "6"], "mx.wav"),
    );
    let mx_out = wait(mx, Duration::from_secs(60));
    assert_success(&mx_out);
    let js_events = js.finish(Duration::from_secs(20));

    let mx_events = events(&mx_out);
    assert_eq!(event(&mx_events, "ended")["outcome"], "completed");
    event(&js_events, "connected");
    // js used its relay candidate: every packet of the call went through coturn.
    let path = event(&js_events, "ice_path");
    assert_eq!(path["local"], "relay", "{path}");
    assert_js_heard(&js_events, 440.0);
    assert_tone(&r.path("mx.wav"), 880.0);
}
