//! Which send failures are retried, after how long and how often: js-sdk
//! `MembershipManager.actionUpdateFromErrors` (rate limits first, then network errors), with
//! separate counters per action that a success resets (`resetRateLimitCounter`).

use std::time::Duration;

use super::{MembershipTiming, SendError};

/// Retries used so far by one action.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counters {
    rate_limit: u32,
    network: u32,
}

/// What to do after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Retry {
    /// Try the same action again after this long.
    After(Duration),
    /// A retryable error, but the action has used up its retries (js-sdk throws: "Exceeded
    /// maximum retries" / "Reached maximum … retries").
    Exhausted(String),
    /// Not a rate limit nor a network error: the caller decides (`actionUpdateFromErrors`
    /// returns `undefined`).
    NotRetryable,
}

impl Counters {
    /// js-sdk `actionUpdateFromRateLimitError`: `M_LIMIT_EXCEEDED` → wait `retry_after_ms` (else
    /// 5 s), at most `maximumRateLimitRetryCount` times; `actionUpdateFromNetworkErrorRetry`: a
    /// connection error or 5xx → wait `networkErrorRetryMs`, a local timeout → retry at once,
    /// at most `maximumNetworkErrorRetryCount` times.
    pub fn on_error(&mut self, e: &SendError, t: &MembershipTiming) -> Retry {
        match e {
            SendError::RateLimited { retry_after } => {
                if self.rate_limit < t.max_rate_limit_retries {
                    self.rate_limit += 1;
                    Retry::After(retry_after.unwrap_or(t.rate_limit_retry))
                } else {
                    Retry::Exhausted(format!(
                        "rate limited {} times in a row",
                        self.rate_limit + 1
                    ))
                }
            }
            SendError::Transient(_) | SendError::LocalTimeout => {
                if self.network < t.max_network_retries {
                    self.network += 1;
                    Retry::After(match e {
                        SendError::LocalTimeout => Duration::ZERO,
                        _ => t.network_retry,
                    })
                } else {
                    Retry::Exhausted(format!("{e} ({} retries)", self.network))
                }
            }
            _ => Retry::NotRetryable,
        }
    }
}
