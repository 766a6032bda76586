//! [`SignalSocket`]: the signalling WebSocket — open it, send a `SignalRequest`, receive the
//! next `SignalResponse`. One binary frame per protobuf message (client-sdk-js
//! `SignalClient.ts`: `ws.binaryType = 'arraybuffer'`, `SignalResponse.fromBinary`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use livekit_protocol::signal_request::Message as Request;
use livekit_protocol::signal_response::Message as Response;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message as Frame};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use url::Url;

use super::{SfuError, wire};

pub struct SignalSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl SignalSocket {
    /// Opens the WebSocket at `url` (from [`join_url`](super::join_url::join_url)). An HTTP
    /// error answer to the upgrade is [`SfuError::Refused`] with the SFU's own reason (it
    /// says "invalid token" or "room not found" in the body).
    pub async fn connect(url: &Url, timeout: Duration) -> Result<Self, SfuError> {
        // The query carries the token: errors name the URL without it.
        let shown = format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        );
        let connector = if url.scheme() == "wss" {
            let config = tls_config().map_err(|reason| SfuError::Connect {
                url: shown.clone(),
                reason,
            })?;
            Connector::Rustls(config)
        } else {
            Connector::Plain
        };
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            None,
            true,
            Some(connector),
        );
        let (ws, _response) = match tokio::time::timeout(timeout, connect).await {
            Err(_) => {
                return Err(SfuError::Connect {
                    url: shown,
                    reason: format!("no answer within {} s", timeout.as_secs()),
                });
            }
            Ok(Err(tungstenite::Error::Http(response))) => {
                let status = response.status().as_u16();
                let body = response
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                let reason = body.trim().lines().next().unwrap_or("").to_owned();
                return Err(SfuError::Refused {
                    status,
                    reason: if reason.is_empty() {
                        response
                            .status()
                            .canonical_reason()
                            .unwrap_or("")
                            .to_owned()
                    } else {
                        reason
                    },
                });
            }
            Ok(Err(e)) => {
                return Err(SfuError::Connect {
                    url: shown,
                    reason: e.to_string(),
                });
            }
            Ok(Ok(pair)) => pair,
        };
        Ok(SignalSocket { ws })
    }

    pub async fn send(&mut self, message: Request) -> Result<(), SfuError> {
        self.ws
            .send(Frame::Binary(wire::encode(message).into()))
            .await
            .map_err(|e| SfuError::Closed(e.to_string()))
    }

    /// The next response; `None` when the socket is closed. Cancel-safe (each frame is taken
    /// whole), so it can sit in a `select!`.
    pub async fn recv(&mut self) -> Option<Result<Response, SfuError>> {
        loop {
            let frame = match self.ws.next().await? {
                Ok(frame) => frame,
                Err(e) => return Some(Err(SfuError::Closed(e.to_string()))),
            };
            match frame {
                Frame::Binary(bytes) => match wire::decode(&bytes) {
                    Ok(Some(message)) => return Some(Ok(message)),
                    Ok(None) => tracing::trace!("a signal response of a kind we do not know"),
                    Err(e) => return Some(Err(e)),
                },
                Frame::Close(_) => return None,
                // Text frames are JSON for clients that ask for it (protocol 0); control
                // frames are answered by tungstenite.
                _ => {}
            }
        }
    }

    pub async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }
}

/// TLS for `wss://`: the system's trusted roots (as reqwest's platform verifier uses on Linux)
/// and aws-lc-rs named explicitly (tungstenite's own config asks rustls for its process default,
/// which panics when, as here, two crypto providers are compiled in).
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let native = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(native.certs);
    if roots.is_empty() {
        return Err("no trusted root certificates on this system".to_owned());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_config_is_built_without_a_process_default_provider() {
        // The machines mxcall runs on have CA certificates; what must not happen is a panic.
        assert!(tls_config().is_ok());
    }
}
