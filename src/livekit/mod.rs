//! The LiveKit SFU client of MatrixRTC calls: only the SFU's signalling — a WebSocket carrying
//! livekit/protocol `livekit_rtc.proto` messages (join, offer/answer, trickle ICE, publishing
//! our audio track, leave). The peer connections, Opus and the jitter buffer are `media`'s, the
//! same engine legacy calls use: on livekit-server's `/rtc` path (the default,
//! `DEFAULT_CONNECTIONS`) a send-only session for the publisher connection and a receive-only
//! one for the subscriber; on `/rtc/v1` one send-receive session for both directions (as a
//! legacy call has).
//! Where the JWT and the SFU URL come from (the MatrixRTC JWT service) and when to join or
//! leave (the call membership) are not this module's business.
//!
//! ```text
//! SfuSession::join(url, jwt, MediaConfig, source, sink) -> (SfuSession, Receiver<SfuEvent>)
//!   (join_using(Connections::Single|Dual, …) to pick the path)
//!   events: TrackPublished, ParticipantJoined/Left, Media{Publisher|Subscriber, MediaEvent},
//!           Ended (the SFU left or went away), Error
//!   leave().await -> SfuStats
//! ```
//!
//! | file | owns |
//! |---|---|
//! | `join_url` | the `/rtc/v1` and `/rtc` URLs and their queries (token, join request or protocol version and auto-subscribe) |
//! | `wire` | building and reading the protobuf messages (pure) |
//! | `offers` | one offer at a time: `OfferGate` (I/O-free) |
//! | `socket` | the WebSocket: connect, one binary frame per message |
//! | `session` | the order of things: join (v0, or v1 falling back to v0), publish, negotiate, keep-alive, leave |

mod error;
mod join_url;
mod offers;
mod session;
mod socket;
mod wire;

pub use error::SfuError;
pub use join_url::PROTOCOL_VERSION;
pub use session::{Connections, DEFAULT_CONNECTIONS, Joined, SfuEvent, SfuSession, SfuStats};
pub use wire::PeerRole;
