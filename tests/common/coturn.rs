//! coturn (Debian's `turnserver`) for the relay tests: on 127.0.0.1 with a TURN REST shared
//! secret (the one Synapse's `/voip/turnServer` signs credentials with), relaying on 127.0.0.1;
//! stopped on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Coturn {
    child: Child,
    pub port: u16,
}

impl Coturn {
    pub const SECRET: &str = "mxcall-test-turn-secret";

    /// Whether `turnserver` is installed (`scripts/install-deps.sh`).
    pub fn installed() -> bool {
        Command::new("turnserver")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    }

    /// Starts it listening on `port`, relaying from `relay_ports` (inclusive), its pid and log
    /// files in `dir`; returns once it answers a STUN binding request.
    pub fn start(dir: &Path, port: u16, relay_ports: (u16, u16)) -> Coturn {
        let child = Command::new("turnserver")
            .args(["-n", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint"])
            .args(["--listening-ip", "127.0.0.1", "--listening-port"])
            .arg(port.to_string())
            .args(["--relay-ip", "127.0.0.1", "--min-port"])
            .arg(relay_ports.0.to_string())
            .arg("--max-port")
            .arg(relay_ports.1.to_string())
            .args(["--use-auth-secret", "--static-auth-secret", Self::SECRET])
            .args(["--realm", "mxcall.test", "--allow-loopback-peers"])
            .arg("--pidfile")
            .arg(dir.join("turnserver.pid"))
            .arg("--log-file")
            .arg(dir.join("turnserver.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver");
        let coturn = Coturn { child, port };
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let request = [
            0u8, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ];
        for _ in 0..50 {
            let _ = probe.send_to(&request, ("127.0.0.1", port));
            if probe.recv(&mut [0u8; 512]).is_ok() {
                return coturn;
            }
        }
        panic!("coturn did not start on port {port}");
    }

    /// Synapse's TURN settings for `scripts/synapse.sh` (`MXCALL_TURN_URIS`, `MXCALL_TURN_SECRET`).
    pub fn synapse_env(&self) -> [(&'static str, String); 2] {
        [
            (
                "MXCALL_TURN_URIS",
                format!("turn:127.0.0.1:{}?transport=udp", self.port),
            ),
            ("MXCALL_TURN_SECRET", Self::SECRET.to_owned()),
        ]
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
