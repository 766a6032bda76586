//! Sending call events: in order, each with its own transaction id, retried with the same id.
//!
//! Order matters (an invite before its candidates, an answer before a hangup), so one task per
//! call room sends events one after another. A failed send is retried after 500 ms · 2ⁿ with the
//! same transaction id, so the homeserver never stores a duplicate; after 5 tries the engine is
//! told and hangs up (`signalling_timeout`, as matrix-js-sdk does).

use std::time::Duration;

use matrix_sdk::Room;
use matrix_sdk::config::RequestConfig;
use matrix_sdk::ruma::api::error::ErrorKind;
use matrix_sdk::ruma::{OwnedEventId, TransactionId};
use tokio::sync::mpsc;

pub const MAX_TRIES: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Outgoing {
    pub event_type: String,
    pub content: serde_json::Value,
}

#[derive(Debug)]
pub enum SendReport {
    Sent {
        event_type: String,
        event_id: OwnedEventId,
    },
    Failed {
        event_type: String,
        cause: String,
    },
}

/// Queues events for one room; dropping it ends the task after the queue is drained.
#[derive(Clone)]
pub struct CallSender {
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl CallSender {
    pub fn send(&self, event_type: impl Into<String>, content: serde_json::Value) {
        let _ = self.tx.send(Outgoing {
            event_type: event_type.into(),
            content,
        });
    }
}

/// Starts the sending task for `room`; reports arrive on the returned receiver.
pub fn spawn(room: Room) -> (CallSender, mpsc::UnboundedReceiver<SendReport>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let (report_tx, report_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let report = match send_with_retry(&room, &out.event_type, &out.content).await {
                Ok(event_id) => SendReport::Sent {
                    event_type: out.event_type,
                    event_id,
                },
                Err(cause) => SendReport::Failed {
                    event_type: out.event_type,
                    cause,
                },
            };
            if report_tx.send(report).is_err() {
                break;
            }
        }
    });
    (CallSender { tx }, report_rx)
}

/// Sends one event, retrying transient failures with the same transaction id.
pub async fn send_with_retry(
    room: &Room,
    event_type: &str,
    content: &serde_json::Value,
) -> Result<OwnedEventId, String> {
    let txn_id = TransactionId::new();
    let config = RequestConfig::new().disable_retry().timeout(SEND_TIMEOUT);
    let mut backoff = FIRST_BACKOFF;
    let mut tries = 0;
    loop {
        tries += 1;
        let result = room
            .send_raw(event_type, content.clone())
            .with_transaction_id(&txn_id)
            .with_request_config(config)
            .await;
        match result {
            Ok(sent) => {
                tracing::debug!(event_type, event_id = %sent.response.event_id, "sent");
                return Ok(sent.response.event_id);
            }
            Err(e) => {
                let cause = crate::error::root_cause(&e);
                if tries >= MAX_TRIES || !is_transient(&e) {
                    tracing::warn!(event_type, tries, "sending failed: {cause}");
                    return Err(cause);
                }
                tracing::debug!(
                    event_type,
                    tries,
                    "send failed, retrying in {backoff:?}: {cause}"
                );
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
}

/// Network trouble, server errors and rate limits are worth another try; a Matrix error such
/// as `M_FORBIDDEN` will not change by waiting.
fn is_transient(err: &matrix_sdk::Error) -> bool {
    let matrix_sdk::Error::Http(http) = err else {
        return false;
    };
    match http.as_client_api_error() {
        Some(api) => {
            api.status_code.is_server_error()
                || matches!(api.error_kind(), Some(ErrorKind::LimitExceeded(_)))
        }
        None => matches!(**http, matrix_sdk::HttpError::Reqwest(_)),
    }
}
