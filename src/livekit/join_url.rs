//! The signalling WebSocket's URL: `<sfu>/rtc?access_token=…&protocol=…&auto_subscribe=1`.
//!
//! client-sdk-js `src/api/utils.ts` `createV0RtcUrl` (http(s) → ws(s), `rtc` appended to the
//! path) and `SignalClient.ts` `createConnectionParams` (the query). This is the "v0" path:
//! two peer connections (publisher and subscriber) and the join parameters in the query. The
//! newer `/rtc/v1` path (one peer connection, a protobuf `WrappedJoinRequest` in `join_request`)
//! needs the client to answer `MediaSectionsRequirement` with recv-only transceivers; v0 keeps
//! each connection one-directional, which is what `media::MediaSession` builds.

use url::Url;

use super::SfuError;

/// The signal protocol version we speak (`ClientInfo.protocol`, livekit-server
/// `pkg/rtc/types/protocol_version.go`). 16 covers what an audio-only client meets: subscriber
/// as primary connection (> 2), `TrackSubscribed` and request responses (> 14), room moves
/// (> 15). 17 only adds packet trailers on video frames, and client-sdk-js sends 17.
pub const PROTOCOL_VERSION: u32 = 16;

/// Builds the URL to open. `auto_subscribe=1`: the SFU subscribes us to every track published
/// in the room and offers it on the subscriber connection, so no `UpdateSubscription` is
/// needed. No `sdk` parameter: the SFU then treats us as an unknown SDK and turns off the
/// quirks it keeps for libwebrtc-based SDKs (SCTP zero checksum, codec changes mid-call,
/// livekit-server `pkg/rtc/clientinfo.go`).
pub fn join_url(sfu_url: &str, token: &str) -> Result<Url, SfuError> {
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
    // "…/" + "rtc", keeping any path prefix the service put in front (a reverse proxy).
    let path = format!("{}/rtc", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_fragment(None);
    url.query_pairs_mut()
        .append_pair("access_token", token)
        .append_pair("auto_subscribe", "1")
        .append_pair("adaptive_stream", "0")
        .append_pair("protocol", &PROTOCOL_VERSION.to_string())
        .append_pair("version", env!("CARGO_PKG_VERSION"));
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
    fn other_urls_are_one_clear_error() {
        for bad in ["ftp://h/", "not a url", "ws://"] {
            let err = join_url(bad, "t").unwrap_err().to_string();
            assert!(err.starts_with("invalid LiveKit URL"), "{bad}: {err}");
        }
    }
}
