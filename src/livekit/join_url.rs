//! The signalling WebSocket's URL, in either of livekit-server's two shapes:
//! - [`join_url_v1`]: `<sfu>/rtc/v1?access_token=…&join_request=…` — one peer connection for
//!   both directions, the join parameters as a protobuf `WrappedJoinRequest` (base64url) in the
//!   query (livekit-server `pkg/service/rtcservice.go` `validateInternal`: a `join_request`
//!   turns `UseSinglePeerConnection` on; client-sdk-js `createRtcUrl` with
//!   `singlePeerConnection`). What mxcall tries first.
//! - [`join_url`]: `<sfu>/rtc?access_token=…&protocol=…&auto_subscribe=1` — the "v0" path: two
//!   peer connections (publisher and subscriber), the join parameters in the query
//!   (client-sdk-js `createV0RtcUrl`, `SignalClient.ts` `createConnectionParams`). For servers
//!   without `/rtc/v1` (they answer it with HTTP 404).
//!
//! Both: http(s) becomes ws(s) and `rtc` is appended to the service's path.

use url::Url;

use super::SfuError;

/// The signal protocol version we speak (`ClientInfo.protocol`, livekit-server
/// `pkg/rtc/types/protocol_version.go`). 16 covers what an audio-only client meets: subscriber
/// as primary connection (> 2), `TrackSubscribed` and request responses (> 14), room moves
/// (> 15). 17 only adds packet trailers on video frames, and client-sdk-js sends 17.
pub const PROTOCOL_VERSION: u32 = 16;

/// Builds the v0 URL (two peer connections). `auto_subscribe=1`: the SFU subscribes us to
/// every track published in the room and offers it on the subscriber connection, so no
/// `UpdateSubscription` is needed. No `sdk` parameter: the SFU then treats us as an unknown SDK
/// and turns off the quirks it keeps for libwebrtc-based SDKs (SCTP zero checksum, codec
/// changes mid-call, livekit-server `pkg/rtc/clientinfo.go`).
pub fn join_url(sfu_url: &str, token: &str) -> Result<Url, SfuError> {
    let mut url = signal_url(sfu_url, "rtc")?;
    url.query_pairs_mut()
        .append_pair("access_token", token)
        .append_pair("auto_subscribe", "1")
        .append_pair("adaptive_stream", "0")
        .append_pair("protocol", &PROTOCOL_VERSION.to_string())
        .append_pair("version", env!("CARGO_PKG_VERSION"));
    Ok(url)
}

/// Builds the v1 URL (one peer connection): `join_request` is the encoded
/// `WrappedJoinRequest` ([`wire::join_request`](super::wire::join_request)) in padded base64url
/// (livekit-server decodes it with Go's `base64.URLEncoding`, which requires the padding).
pub fn join_url_v1(sfu_url: &str, token: &str, join_request: &[u8]) -> Result<Url, SfuError> {
    use base64::Engine as _;
    let mut url = signal_url(sfu_url, "rtc/v1")?;
    url.query_pairs_mut()
        .append_pair("access_token", token)
        .append_pair(
            "join_request",
            &base64::engine::general_purpose::URL_SAFE.encode(join_request),
        );
    Ok(url)
}

/// `sfu_url` with a WebSocket scheme and `tail` appended to its path.
fn signal_url(sfu_url: &str, tail: &str) -> Result<Url, SfuError> {
    let bad = |reason: &str| SfuError::Url {
        url: sfu_url.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(sfu_url).map_err(|e| bad(&e.to_string()))?;
    let scheme = match url.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        _ => return Err(bad("not a ws, wss, http or https URL")),
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    url.set_scheme(scheme)
        .map_err(|()| bad("cannot use a WebSocket scheme"))?;
    // "…/" + tail, keeping any path prefix the service put in front (a reverse proxy).
    let path = format!("{}/{tail}", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_on_rtc_with_the_token_and_auto_subscribe() {
        let url = join_url("ws://127.0.0.1:7880", "a.b.c").unwrap();
        assert_eq!(url.scheme(), "ws");
        assert_eq!(url.path(), "/rtc");
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("access_token"), Some("a.b.c"));
        assert_eq!(get("auto_subscribe"), Some("1"));
        assert_eq!(get("protocol"), Some("16"));
        assert_eq!(get("sdk"), None);
    }

    #[test]
    fn http_becomes_ws_and_a_path_prefix_is_kept() {
        let url = join_url("https://sfu.example.org/livekit/sfu/", "t").unwrap();
        assert_eq!(url.scheme(), "wss");
        assert_eq!(url.path(), "/livekit/sfu/rtc");
        assert_eq!(
            join_url("http://h:1", "t")
                .unwrap()
                .as_str()
                .split('?')
                .next(),
            Some("ws://h:1/rtc")
        );
    }

    #[test]
    fn v1_carries_the_join_request_as_base64url_under_rtc_v1() {
        use base64::Engine as _;
        let request = [0xfb_u8, 0xff, 0x01];
        let url = join_url_v1("https://sfu.example.org/livekit/sfu", "a.b.c", &request).unwrap();
        assert_eq!(url.scheme(), "wss");
        assert_eq!(url.path(), "/livekit/sfu/rtc/v1");
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("access_token").as_deref(), Some("a.b.c"));
        let sent = get("join_request").unwrap();
        assert!(!sent.contains('+') && !sent.contains('/'), "{sent}");
        assert_eq!(
            base64::engine::general_purpose::URL_SAFE
                .decode(sent)
                .unwrap(),
            request
        );
        assert_eq!(get("protocol"), None);
    }

    #[test]
    fn other_urls_are_one_clear_error() {
        for bad in ["ftp://h/", "not a url", "ws://"] {
            let err = join_url(bad, "t").unwrap_err().to_string();
            assert!(err.starts_with("invalid LiveKit URL"), "{bad}: {err}");
            let err = join_url_v1(bad, "t", &[]).unwrap_err().to_string();
            assert!(err.starts_with("invalid LiveKit URL"), "{bad}: {err}");
        }
    }
}
