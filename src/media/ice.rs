//! What the media engine takes from outside for ICE: the homeserver's STUN/TURN list and the
//! peer's candidates. Both are input from others, so each entry is checked on its own and the
//! ones the stack cannot or must not use are left out with a reason, instead of failing the
//! whole call.
//!
//! Rules:
//! - **ICE servers** (`/voip/turnServer`, LiveKit's join response): each URI is taken on its own
//!   and kept only if webrtc-rs parses it (RFC 7064 `stun:`/`stuns:`, RFC 7065 `turn:`/`turns:`).
//!   A query on a `stun:` URI (`stun:host:3478?transport=udp`, a common deployment pattern
//!   that RFC 7064 does not define) is removed first, as browsers accept it; `stuns:` and a
//!   `?transport=tcp` STUN server are dropped (webrtc-rs sends STUN over UDP only).
//! - **Remote candidates**: mxcall gathers UDP only, so a peer's TCP candidate can never form a
//!   pair with ours; webrtc-rs would still dial a `tcptype passive` one (to any address and port
//!   the peer names, local services included), so TCP candidates are never handed to it.
//!   `.local` (mDNS, RFC 8445 + draft-ietf-mmusic-mdns-ice-candidates) candidates go to the stack
//!   only when it can resolve them (multicast available); otherwise they are skipped.

use rtc::peer_connection::configuration::RTCIceServer;

use super::IceServer;

/// One ICE server URI that was left out, and why (one line, for a warning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedUri {
    pub uri: String,
    pub reason: String,
}

/// The servers webrtc-rs can use, one URI checked at a time, and the URIs left out.
///
/// A server whose URIs are all dropped disappears; a `turn:` URI without a username or
/// credential is dropped (W3C `setConfiguration` step 11.3.2 would refuse the whole
/// configuration).
pub fn usable_ice_servers(servers: &[IceServer]) -> (Vec<RTCIceServer>, Vec<DroppedUri>) {
    let mut usable = Vec::with_capacity(servers.len());
    let mut dropped = Vec::new();
    for server in servers {
        let username = server.username.clone().unwrap_or_default();
        let credential = server.credential.clone().unwrap_or_default();
        let mut urls = Vec::with_capacity(server.urls.len());
        for uri in &server.urls {
            match usable_uri(uri, &username, &credential) {
                Ok(u) => urls.push(u),
                Err(reason) => dropped.push(DroppedUri {
                    uri: uri.clone(),
                    reason,
                }),
            }
        }
        if !urls.is_empty() {
            usable.push(RTCIceServer {
                urls,
                username: username.clone(),
                credential: credential.clone(),
            });
        }
    }
    (usable, dropped)
}

/// Whether any of `servers` is a TURN relay (`turn:` or `turns:`).
pub fn has_relay(servers: &[RTCIceServer]) -> bool {
    servers.iter().flat_map(|s| &s.urls).any(|u| {
        let lower = u.to_ascii_lowercase();
        lower.starts_with("turn:") || lower.starts_with("turns:")
    })
}

fn usable_uri(uri: &str, username: &str, credential: &str) -> Result<String, String> {
    let trimmed = uri.trim();
    let lower = trimmed.to_ascii_lowercase();
    let candidate = if lower.starts_with("stun:") {
        let (base, query) = trimmed.split_once('?').unwrap_or((trimmed, ""));
        if query
            .split('&')
            .any(|kv| kv.eq_ignore_ascii_case("transport=tcp"))
        {
            return Err("STUN over TCP is not supported".to_owned());
        }
        base.to_owned()
    } else if lower.starts_with("stuns:") {
        return Err("STUN over TLS is not supported".to_owned());
    } else {
        trimmed.to_owned()
    };
    let probe = RTCIceServer {
        urls: vec![candidate.clone()],
        username: username.to_owned(),
        credential: credential.to_owned(),
    };
    probe
        .urls()
        .map(|_| candidate)
        .map_err(super::error::one_line)
}

/// Why a remote candidate is not handed to the ICE agent, or `None` when it may be.
/// `mdns`: whether `.local` names can be resolved here.
pub fn refuse_remote_candidate(candidate: &str, mdns: bool) -> Option<&'static str> {
    let value = candidate.trim();
    let value = value.strip_prefix("a=").unwrap_or(value);
    let value = value.strip_prefix("candidate:").unwrap_or(value);
    // foundation component transport priority address port typ type ...
    let mut fields = value.split_ascii_whitespace();
    let transport = fields.nth(2)?;
    let address = fields.nth(1)?;
    if !transport.eq_ignore_ascii_case("udp") {
        return Some("not UDP (mxcall gathers UDP candidates only)");
    }
    if !mdns && address.to_ascii_lowercase().ends_with(".local") {
        return Some("an mDNS name, and multicast is not available here");
    }
    unspecified(address)
}

/// Why one of our own candidates is not sent to the peer, or `None` when it may be: webrtc-rs
/// bound to `[::]` on a host without any IPv6 address offers a host candidate on `::` itself,
/// which no peer can reach.
pub fn refuse_local_candidate(candidate: &str) -> Option<&'static str> {
    let value = candidate.trim();
    let value = value.strip_prefix("candidate:").unwrap_or(value);
    unspecified(value.split_ascii_whitespace().nth(4)?)
}

/// `0.0.0.0` and `::` (RFC 4291 §2.5.2) name no host: a candidate on them cannot connect.
fn unspecified(address: &str) -> Option<&'static str> {
    address
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
        .then_some("an unspecified address (0.0.0.0 or ::)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(urls: &[&str], user: Option<&str>) -> IceServer {
        IceServer {
            urls: urls.iter().map(|s| s.to_string()).collect(),
            username: user.map(str::to_owned),
            credential: user.map(|_| "secret".to_owned()),
        }
    }

    #[test]
    fn each_uri_is_taken_on_its_own() {
        let (usable, dropped) = usable_ice_servers(&[
            server(
                &[
                    "stun:127.0.0.1:3478?transport=udp",
                    "turn:127.0.0.1:3478?transport=udp",
                    "turn:127.0.0.1:3478?transport=tcp",
                    "turns:turn.example.org:5349",
                    "stun:127.0.0.1:3478?transport=tcp",
                    "stuns:stun.example.org",
                    "http://nonsense",
                    "turn:host?foo=bar",
                ],
                Some("u"),
            ),
            server(&["turn:127.0.0.1:3478"], None),
            server(&["STUN:stun.example.org"], None),
        ]);
        assert_eq!(
            usable,
            vec![
                RTCIceServer {
                    urls: vec![
                        "stun:127.0.0.1:3478".into(),
                        "turn:127.0.0.1:3478?transport=udp".into(),
                        "turn:127.0.0.1:3478?transport=tcp".into(),
                        "turns:turn.example.org:5349".into(),
                    ],
                    username: "u".into(),
                    credential: "secret".into(),
                },
                RTCIceServer {
                    urls: vec!["STUN:stun.example.org".into()],
                    username: String::new(),
                    credential: String::new(),
                },
            ]
        );
        let dropped: Vec<&str> = dropped.iter().map(|d| d.uri.as_str()).collect();
        assert_eq!(
            dropped,
            [
                "stun:127.0.0.1:3478?transport=tcp",
                "stuns:stun.example.org",
                "http://nonsense",
                "turn:host?foo=bar",
                "turn:127.0.0.1:3478",
            ]
        );
        assert!(has_relay(&usable));
        assert!(!has_relay(&usable[1..]));
    }

    #[test]
    fn remote_tcp_and_unresolvable_mdns_candidates_are_refused() {
        let udp = "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host";
        let tcp = "candidate:2 1 tcp 1518280447 127.0.0.1 22 typ host tcptype passive";
        let tcp_upper = "candidate:2 1 TCP 1518280447 127.0.0.1 22 typ host tcptype active";
        let mdns =
            "candidate:3 1 udp 2130706431 8c1a0b0e-1111-2222-3333-444455556666.local 5000 typ host";
        assert_eq!(refuse_remote_candidate(udp, false), None);
        assert_eq!(refuse_remote_candidate(&format!("a={udp}"), false), None);
        assert!(refuse_remote_candidate(tcp, true).is_some());
        assert!(refuse_remote_candidate(tcp_upper, true).is_some());
        assert_eq!(refuse_remote_candidate(mdns, true), None);
        assert!(refuse_remote_candidate(mdns, false).is_some());
        // Too short to judge: left to the stack, which reports it.
        assert_eq!(refuse_remote_candidate("candidate:1 1", false), None);
    }

    #[test]
    fn candidates_on_unspecified_addresses_are_refused_both_ways() {
        let ours = "candidate:167090039 1 udp 2130706431 :: 45447 typ host";
        assert!(refuse_local_candidate(ours).is_some());
        assert!(refuse_local_candidate("candidate:1 1 udp 1 0.0.0.0 9 typ host").is_some());
        assert_eq!(
            refuse_local_candidate("candidate:1 1 udp 1 fd00::2 9 typ host"),
            None
        );
        assert_eq!(refuse_local_candidate(""), None);
        assert!(refuse_remote_candidate(ours, true).is_some());
        assert_eq!(
            refuse_remote_candidate("candidate:1 1 udp 1 10.0.2.100 9 typ host", true),
            None
        );
    }
}
