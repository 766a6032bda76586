//! One mxcall profile (`m`, playing 440 Hz) and one js account (playing 880 Hz) in a two-member
//! room of this test binary's homeserver: the rig of the legacy interop tests.

use std::path::PathBuf;

use super::js::*;
use super::*;

pub struct Rig {
    pub home: Home,
    pub m_user: String,
    pub js: JsAccount,
    pub room: String,
    pub dir: tempfile::TempDir,
}

pub fn rig() -> Rig {
    let home = Home::new();
    let (m_user, pw) = register("m");
    home.login("m", &m_user, &pw);
    let (user, token, device) = register_with_token("js");
    let room = api(
        "POST",
        "/createRoom",
        &super::token(&home, "m"),
        Some(serde_json::json!({"preset": "private_chat", "invite": [user], "is_direct": true})),
    )["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    api(
        "POST",
        &format!("/join/{}", urlencode(&room)),
        &token,
        Some(serde_json::json!({})),
    );
    let dir = tempfile::tempdir().unwrap();
    write_tone_wav(&dir.path().join("tone880.wav"), 880);
    Rig {
        home,
        m_user,
        js: JsAccount {
            user,
            token,
            device,
        },
        room,
        dir,
    }
}

impl Rig {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The js peer with its microphone playing 880 Hz, expecting to hear mxcall's 440 Hz.
    pub fn js(&self, mode: &str, extra: &[&str]) -> JsPeer {
        let mut args = vec!["--expect", "440", "--timeout", "150"];
        args.extend_from_slice(extra);
        JsPeer::start(&self.js, mode, &self.path("tone880.wav"), &args)
    }

    /// `mxcall --json --profile m CMD… --input tone:440 --output null --record REC --media-addr 127.0.0.1`
    pub fn mx(&self, cmd: &[&str], record: &str) -> Vec<String> {
        let mut args: Vec<String> = vec!["--json".into(), "--profile".into(), "m".into()];
        args.extend(cmd.iter().map(|s| s.to_string()));
        args.extend(call_flags("tone:440", &self.path(record)));
        args
    }
}
