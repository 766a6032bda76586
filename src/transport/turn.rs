//! TURN servers from the homeserver (`GET /_matrix/client/v3/voip/turnServer`).
//!
//! No TURN configured (404, empty `uris`) is normal: the call then uses host and server-reflexive
//! candidates only, and that is not an error.

use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::ruma::api::client::voip::get_turn_server_info;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServers {
    pub uris: Vec<String>,
    pub username: String,
    pub password: String,
    /// How long the credentials stay valid; fetch again before this runs out.
    pub ttl: Duration,
}

/// The homeserver's TURN servers, or `None` when it has none (or will not say).
pub async fn fetch(client: &Client) -> Option<TurnServers> {
    match client.send(get_turn_server_info::v3::Request::new()).await {
        Ok(resp) if !resp.uris.is_empty() => Some(TurnServers {
            uris: resp.uris,
            username: resp.username,
            password: resp.password,
            ttl: resp.ttl,
        }),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(
                "no TURN servers from the homeserver: {}",
                crate::error::root_cause(&e)
            );
            None
        }
    }
}

impl TurnServers {
    /// When to fetch again: a little before the credentials expire, and at least every 10 min
    /// (as matrix-js-sdk does).
    pub fn refresh_after(&self) -> Duration {
        let ttl = self.ttl.min(Duration::from_secs(600));
        ttl.saturating_sub(ttl / 10).max(Duration::from_secs(5))
    }
}
