//! The LiveKit SFU client of MatrixRTC calls: only the SFU's signalling — a WebSocket carrying
//! livekit/protocol `livekit_rtc.proto` messages (join, the publisher's and the subscriber's
//! offer/answer, trickle ICE, publishing our audio track, leave). The peer connections, Opus
//! and the jitter buffer are `media`'s, the same engine legacy calls use: one send-only
//! session for the publisher connection, one receive-only session for the subscriber.
//! Where the JWT and the SFU URL come from (the MatrixRTC JWT service) and when to join or
//! leave (the call membership) are not this module's business.
//!
//! ```text
//! SfuSession::join(url, jwt, MediaConfig, source, sink) -> (SfuSession, Receiver<SfuEvent>)
//!   events: TrackPublished, ParticipantJoined/Left, Media{Publisher|Subscriber, MediaEvent},
//!           Ended (the SFU left or went away), Error
//!   leave().await -> SfuStats
//! ```
//!
//! | file | owns |
//! |---|---|
//! | `join_url` | the `/rtc` URL and its query (token, protocol version, auto-subscribe) |
//! | `wire` | building and reading the protobuf messages (pure) |
//! | `socket` | the WebSocket: connect, one binary frame per message |
//! | `session` | the order of things: join, publish, negotiate both connections, keep-alive, leave |

mod error;
mod join_url;
mod session;
mod socket;
mod wire;

pub use error::SfuError;
pub use join_url::PROTOCOL_VERSION;
pub use session::{Joined, SfuEvent, SfuSession, SfuStats};
pub use wire::PeerRole;
