//! The one error type of the SFU client: every variant prints as one line naming the step.

use crate::media::MediaError;

/// What went wrong between mxcall and a LiveKit SFU.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SfuError {
    /// The SFU URL handed out with the token is not a ws/wss/http/https URL.
    #[error("invalid LiveKit URL '{url}': {reason}")]
    Url { url: String, reason: String },

    /// No WebSocket: refused connection, TLS failure, timeout.
    #[error("cannot reach the LiveKit SFU at {url}: {reason}")]
    Connect { url: String, reason: String },

    /// The SFU answered the WebSocket upgrade with an HTTP error: a bad or expired token
    /// (401), a room that does not exist (404), no permission (403).
    #[error("the LiveKit SFU refused to join (HTTP {status}): {reason}")]
    Refused { status: u16, reason: String },

    /// The SFU spoke, but not as the protocol says (no `JoinResponse` first, undecodable frames).
    #[error("unexpected LiveKit signalling: {0}")]
    Protocol(String),

    /// The signalling connection ended before the join completed.
    #[error("the LiveKit SFU closed the signalling connection: {0}")]
    Closed(String),

    /// The media side (peer connections, audio) failed.
    #[error(transparent)]
    Media(#[from] MediaError),
}
