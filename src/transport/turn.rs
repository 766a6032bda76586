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

/// Fetches the TURN servers now and keeps them fresh in the background: each value is replaced
/// a little before its credentials expire. New media sessions read the latest value.
pub async fn keep_fresh(client: Client) -> tokio::sync::watch::Receiver<Option<TurnServers>> {
    let first = fetch(&client).await;
    let mut next = first.as_ref().map(TurnServers::refresh_after);
    let (tx, rx) = tokio::sync::watch::channel(first);
    tokio::spawn(async move {
        // No TURN at first means none configured: nothing to refresh.
        while let Some(wait) = next {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = tx.closed() => return,
            }
            let fresh = fetch(&client).await;
            next = Some(
                fresh
                    .as_ref()
                    .map_or(Duration::from_secs(600), TurnServers::refresh_after),
            );
            if tx.send(fresh).is_err() {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(ttl: u64) -> TurnServers {
        TurnServers {
            uris: vec!["turn:127.0.0.1:3478".into()],
            username: "u".into(),
            password: "p".into(),
            ttl: Duration::from_secs(ttl),
        }
    }

    #[test]
    fn refresh_comes_before_expiry_and_at_least_every_ten_minutes() {
        assert_eq!(servers(86_400).refresh_after(), Duration::from_secs(540));
        assert_eq!(servers(100).refresh_after(), Duration::from_secs(90));
        assert_eq!(servers(1).refresh_after(), Duration::from_secs(5));
    }
}
