//! Waiting for news without holding the crypto store's lock.
//!
//! The sync task normally long-polls with matrix-sdk's `sync_once` under the crypto store's
//! cross-process lock (see `store_claim`), and matrix-sdk renews that lock's lease every 50 ms
//! while it is held (`EXTEND_LEASE_EVERY_MS`, an SQLite write and fsync each time): ≈ 0.45 CPU-s
//! a minute, a third of a connected call's CPU. While every call of the process is connected
//! nothing needs to arrive within milliseconds, so the task waits with a *probe* instead: the
//! same `/sync` request (same since token, filter and timeout) sent as a plain request, whose
//! response is only looked at, never processed or stored. When a probe brings anything for the
//! filter, the task runs a locked `sync_once` without long-poll, which fetches the same news again
//! and processes it: one extra round trip for whatever arrives during a connected call (a hangup,
//! a renegotiation), no lease renewals while nothing does. A process that shares its profile
//! with another long-running one (a `watch` beside a `call`) probes at every pace, so neither
//! keeps the store through a long-poll (`sync::spawn`, `locked_sync`).

use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::config::RequestConfig;
use matrix_sdk::ruma::api::client::sync::sync_events::v3::{Filter, Request, Response};

/// Sends `/sync` probes from `since` until one brings news for the filter (then returns), each
/// waiting on the server up to `timeout`. A probe that brings nothing moves `since` on: what
/// it skipped was nothing the filter keeps.
///
/// Errors: the first failed request (the caller backs off and retries as for any sync).
pub async fn until_news(
    client: &Client,
    mut since: String,
    filter_id: Option<&str>,
    timeout: Duration,
) -> Result<(), matrix_sdk::HttpError> {
    loop {
        let mut request = Request::new();
        request.since = Some(since.clone());
        request.filter = filter_id.map(|id| Filter::FilterId(id.to_owned()));
        request.timeout = Some(timeout);
        let config = RequestConfig::new()
            .timeout(timeout + Duration::from_secs(15))
            .retry_limit(0);
        let response = client.send(request).with_request_config(config).await?;
        if has_news(&response) {
            return Ok(());
        }
        since = response.next_batch;
    }
}

/// Whether a `/sync` response carries anything the sync task must process: room updates,
/// to-device messages (room keys, verification), device-list changes or account data.
/// One-time-key counts alone are not news (they wait for the next real sync).
fn has_news(response: &Response) -> bool {
    !response.rooms.is_empty()
        || !response.to_device.is_empty()
        || !response.device_lists.is_empty()
        || !response.account_data.is_empty()
}
