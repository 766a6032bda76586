//! Sending call events: in order, each with its own transaction id, retried with the same id.
//!
//! Order matters (an invite before its candidates, an answer before a hangup), so one task per
//! call room sends events one after another. Retries are matrix-sdk's (`RequestConfig`): the
//! same request, hence the same transaction id (the homeserver never stores a duplicate),
//! waiting what a 429's `retry_after_ms` asks, else backing off; after [`MAX_TRIES`] tries or
//! [`MAX_RETRY_TIME`] the engine is told and hangs up (`signalling_timeout`, as matrix-js-sdk
//! does).
//!
//! A rate-limited homeserver makes the queue grow, so (issue 11, "rate limits"):
//! - a hangup or reject of a call goes ahead of that call's queued candidates, which are
//!   dropped, and cuts short a candidates event of that call still being retried: nobody needs
//!   the candidates of a call that is over;
//! - at most [`MAX_QUEUED`] events wait; beyond that the oldest candidates are dropped.

use std::collections::VecDeque;
use std::time::Duration;

use matrix_sdk::Room;
use matrix_sdk::config::RequestConfig;
use matrix_sdk::ruma::{OwnedEventId, TransactionId};
use tokio::sync::mpsc;

/// Tries per event (the first and the retries).
pub const MAX_TRIES: usize = 5;
/// How long one event may be retried in all.
const MAX_RETRY_TIME: Duration = Duration::from_secs(30);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Events that may wait behind the one being sent.
const MAX_QUEUED: usize = 64;

const CANDIDATES: &str = "m.call.candidates";

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
        let mut queue = Queue::default();
        let mut open = true;
        loop {
            while let Ok(out) = rx.try_recv() {
                queue.push(out);
            }
            let Some(out) = queue.pop() else {
                if !open {
                    break;
                }
                match rx.recv().await {
                    Some(out) => queue.push(out),
                    None => open = false,
                }
                continue;
            };
            let send = send_one(&room, &out.event_type, &out.content);
            tokio::pin!(send);
            let result = loop {
                tokio::select! {
                    r = &mut send => break Some(r),
                    next = rx.recv(), if open => match next {
                        Some(next) => {
                            let ends_this = out.event_type == CANDIDATES
                                && ends_call(&next.event_type)
                                && call_id(&next) == call_id(&out);
                            queue.push(next);
                            if ends_this {
                                tracing::debug!("a hangup cuts short the candidates being sent");
                                break None;
                            }
                        }
                        None => open = false,
                    },
                }
            };
            let report = match result {
                None => continue,
                Some(Ok(event_id)) => SendReport::Sent {
                    event_type: out.event_type.clone(),
                    event_id,
                },
                Some(Err(cause)) => SendReport::Failed {
                    event_type: out.event_type.clone(),
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

/// The events waiting in one room, with the rules of the module documentation.
#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<Outgoing>,
}

impl Queue {
    fn push(&mut self, out: Outgoing) {
        if ends_call(&out.event_type) {
            let id = call_id(&out).map(str::to_owned);
            let before = self.events.len();
            self.events
                .retain(|e| !(e.event_type == CANDIDATES && call_id(e) == id.as_deref()));
            if self.events.len() < before {
                tracing::debug!(
                    dropped = before - self.events.len(),
                    "candidates of an ended call dropped"
                );
            }
            // Ahead of anything of other calls still waiting: ending a call is never late.
            self.events.push_front(out);
            return;
        }
        if self.events.len() >= MAX_QUEUED {
            match self.events.iter().position(|e| e.event_type == CANDIDATES) {
                Some(i) => {
                    self.events.remove(i);
                    tracing::debug!("send queue full: the oldest candidates dropped");
                }
                None => tracing::warn!("send queue full ({MAX_QUEUED} events waiting)"),
            }
        }
        self.events.push_back(out);
    }

    fn pop(&mut self) -> Option<Outgoing> {
        self.events.pop_front()
    }
}

/// Whether an event of this type ends a call for the peer (a hangup or a reject).
pub fn ends_call(event_type: &str) -> bool {
    matches!(event_type, "m.call.hangup" | "m.call.reject")
}

fn call_id(out: &Outgoing) -> Option<&str> {
    out.content.get("call_id").and_then(|v| v.as_str())
}

/// Sends one event through matrix-sdk, which retries transient failures (network, 5xx, 429
/// after its `retry_after_ms`) with the same request and transaction id.
pub async fn send_one(
    room: &Room,
    event_type: &str,
    content: &serde_json::Value,
) -> Result<OwnedEventId, String> {
    let txn_id = TransactionId::new();
    let config = RequestConfig::new()
        .timeout(SEND_TIMEOUT)
        .retry_limit(MAX_TRIES)
        .max_retry_time(MAX_RETRY_TIME);
    match room
        .send_raw(event_type, content.clone())
        .with_transaction_id(&txn_id)
        .with_request_config(config)
        .await
    {
        Ok(sent) => {
            tracing::debug!(event_type, event_id = %sent.response.event_id, "sent");
            Ok(sent.response.event_id)
        }
        Err(e) => {
            let cause = crate::error::root_cause(&e);
            tracing::warn!(event_type, "sending failed: {cause}");
            Err(cause)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(event_type: &str, call: &str) -> Outgoing {
        Outgoing {
            event_type: event_type.into(),
            content: json!({"call_id": call}),
        }
    }

    fn drain(q: &mut Queue) -> Vec<(String, String)> {
        std::iter::from_fn(|| q.pop())
            .map(|o| (o.event_type.clone(), call_id(&o).unwrap().to_owned()))
            .collect()
    }

    #[test]
    fn a_hangup_goes_first_and_takes_its_calls_candidates_with_it() {
        let mut q = Queue::default();
        q.push(ev("m.call.invite", "c1"));
        q.push(ev(CANDIDATES, "c1"));
        q.push(ev(CANDIDATES, "c2"));
        q.push(ev(CANDIDATES, "c1"));
        q.push(ev("m.call.hangup", "c1"));
        let order = drain(&mut q);
        let want: Vec<(String, String)> = [
            ("m.call.hangup", "c1"),
            ("m.call.invite", "c1"),
            (CANDIDATES, "c2"),
        ]
        .iter()
        .map(|(t, c)| (t.to_string(), c.to_string()))
        .collect();
        assert_eq!(order, want);
    }

    #[test]
    fn the_queue_is_bounded_by_dropping_the_oldest_candidates() {
        let mut q = Queue::default();
        q.push(ev("m.call.invite", "c1"));
        for _ in 0..MAX_QUEUED + 10 {
            q.push(ev(CANDIDATES, "c1"));
        }
        assert_eq!(q.events.len(), MAX_QUEUED);
        assert_eq!(q.events[0].event_type, "m.call.invite");
    }
}
