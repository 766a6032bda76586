//! The signalling messages mxcall sends and how it reads the ones it receives: livekit/protocol
//! `livekit_rtc.proto` (`SignalRequest`, `SignalResponse`) as prost types from
//! `livekit-protocol`, one binary WebSocket frame per message. Pure functions, no I/O.

use livekit_protocol as proto;
use prost::Message as _;
use proto::signal_request::Message as Request;
use proto::signal_response::Message as Response;

use super::SfuError;
use crate::media::Candidate;

/// Which of our two peer connections a message is about (`SignalTarget` in
/// `livekit_rtc.proto`): the publisher carries our track up, we offer on it; the subscriber
/// carries the others' tracks down, the SFU offers on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PeerRole {
    Publisher,
    Subscriber,
}

impl PeerRole {
    fn target(self) -> proto::SignalTarget {
        match self {
            PeerRole::Publisher => proto::SignalTarget::Publisher,
            PeerRole::Subscriber => proto::SignalTarget::Subscriber,
        }
    }
}

/// One request as the binary frame to send.
pub fn encode(message: Request) -> Vec<u8> {
    proto::SignalRequest {
        message: Some(message),
    }
    .encode_to_vec()
}

/// One received binary frame. A `SignalResponse` without a message (a variant newer than
/// `livekit-protocol` knows) is `None`: prost keeps unknown oneof fields out.
pub fn decode(frame: &[u8]) -> Result<Option<Response>, SfuError> {
    proto::SignalResponse::decode(frame)
        .map(|r| r.message)
        .map_err(|e| SfuError::Protocol(format!("undecodable SignalResponse: {e}")))
}

/// Our publisher offer, or our answer to the SFU's subscriber offer. `id` echoes the offer's
/// id in an answer (client-sdk-js `SignalClient.ts` `sendAnswer(answer, offerId)`).
pub fn description(kind: &str, sdp: String, id: u32) -> proto::SessionDescription {
    proto::SessionDescription {
        r#type: kind.to_owned(),
        sdp,
        id,
        ..Default::default()
    }
}

/// A local ICE candidate for one of our connections. `candidate_init` is the JSON of the W3C
/// `RTCIceCandidateInit` (client-sdk-js `sendIceCandidate`: `JSON.stringify(candidate)`), the
/// shape `media::Candidate` already serialises to.
pub fn trickle(role: PeerRole, candidate: &Candidate) -> Request {
    Request::Trickle(proto::TrickleRequest {
        candidate_init: serde_json::to_string(candidate).unwrap_or_default(),
        target: role.target() as i32,
        r#final: false,
    })
}

/// A remote candidate from a `TrickleRequest`: the connection it belongs to, and the candidate
/// (`None` for an end-of-candidates marker: an empty candidate string).
pub fn remote_candidate(
    trickle: &proto::TrickleRequest,
) -> Result<(PeerRole, Option<Candidate>), SfuError> {
    let role = match proto::SignalTarget::try_from(trickle.target) {
        Ok(proto::SignalTarget::Publisher) => PeerRole::Publisher,
        Ok(proto::SignalTarget::Subscriber) => PeerRole::Subscriber,
        Err(_) => {
            return Err(SfuError::Protocol(format!(
                "trickle for unknown target {}",
                trickle.target
            )));
        }
    };
    let candidate: Candidate = serde_json::from_str(&trickle.candidate_init).map_err(|e| {
        SfuError::Protocol(format!(
            "trickle candidate_init is not an RTCIceCandidateInit: {e}"
        ))
    })?;
    Ok((role, (!candidate.candidate.is_empty()).then_some(candidate)))
}

/// Announces our microphone track before it is in an offer (client-sdk-js
/// `LocalParticipant.ts` `publish`: `AddTrackRequest` → `TrackPublishedResponse` → negotiate).
/// `cid` is the track id of our `a=msid` line, which livekit-server matches with the track that
/// arrives (`getPendingTrack` in `pkg/rtc/participant.go`). DTX off and RED off: the media
/// engine sends plain Opus with in-band FEC, every 20 ms (`audio_features: [TF_NO_DTX]`, which
/// replaces the deprecated `disable_dtx`).
///
/// `encrypted`: our frames are end-to-end encrypted (`encryption: GCM`, as livekit-client's
/// `LocalParticipant.publish` says with E2EE on). Other livekit-clients decrypt a participant's
/// frames only when its tracks say so (`RemoteTrackPublication.isEncrypted` →
/// `ParticipantEncryptionStatusChanged` → the frame cryptor is enabled for that identity).
pub fn add_audio_track(cid: &str, encrypted: bool) -> Request {
    let encryption = if encrypted {
        proto::encryption::Type::Gcm
    } else {
        proto::encryption::Type::None
    };
    Request::AddTrack(proto::AddTrackRequest {
        cid: cid.to_owned(),
        name: "microphone".to_owned(),
        r#type: proto::TrackType::Audio as i32,
        source: proto::TrackSource::Microphone as i32,
        disable_red: true,
        audio_features: vec![proto::AudioTrackFeature::TfNoDtx as i32],
        encryption: encryption as i32,
        ..Default::default()
    })
}

/// The `WrappedJoinRequest` of a `/rtc/v1` join (one peer connection), encoded, uncompressed:
/// who we are (`ClientInfo`: no SDK named, as on the v0 path, and our protocol version) and
/// `auto_subscribe`, so the SFU forwards every audio track in the room without an
/// `UpdateSubscription`. Our track is announced after the join with [`add_audio_track`], as on
/// the v0 path: its id comes from the media session, which needs the join's ICE servers.
pub fn join_request() -> Vec<u8> {
    let join = proto::JoinRequest {
        client_info: Some(proto::ClientInfo {
            protocol: super::PROTOCOL_VERSION as i32,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ..Default::default()
        }),
        connection_settings: Some(proto::ConnectionSettings {
            auto_subscribe: true,
            adaptive_stream: false,
            ..Default::default()
        }),
        ..Default::default()
    };
    proto::WrappedJoinRequest {
        compression: proto::wrapped_join_request::Compression::None as i32,
        join_request: join.encode_to_vec(),
    }
    .encode_to_vec()
}

/// Leaving for good (client-sdk-js `sendLeave`: `action: DISCONNECT`, `reason:
/// CLIENT_INITIATED`).
pub fn leave() -> Request {
    Request::Leave(proto::LeaveRequest {
        reason: proto::DisconnectReason::ClientInitiated as i32,
        action: proto::leave_request::Action::Disconnect as i32,
        ..Default::default()
    })
}

/// The keep-alive (`PingReq`, answered by `PongResp`; client-sdk-js `sendPing` also sends the
/// older bare `ping`, which servers since protocol 7 no longer need).
pub fn ping(now_unix_ms: i64, rtt_ms: i64) -> Request {
    Request::PingReq(proto::Ping {
        timestamp: now_unix_ms,
        rtt: rtt_ms,
    })
}

/// A short name of a response for logs (the full messages carry SDP and tokens).
pub fn response_name(message: &Response) -> &'static str {
    match message {
        Response::Join(_) => "join",
        Response::Answer(_) => "answer",
        Response::Offer(_) => "offer",
        Response::Trickle(_) => "trickle",
        Response::Update(_) => "participant update",
        Response::TrackPublished(_) => "track published",
        Response::Leave(_) => "leave",
        Response::PongResp(_) | Response::Pong(_) => "pong",
        Response::TrackSubscribed(_) => "track subscribed",
        Response::MediaSectionsRequirement(_) => "media sections requirement",
        Response::RefreshToken(_) => "refresh token",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v1_join_request_asks_for_auto_subscribe_and_names_our_protocol() {
        let wrapped = proto::WrappedJoinRequest::decode(join_request().as_slice()).unwrap();
        assert_eq!(
            wrapped.compression(),
            proto::wrapped_join_request::Compression::None
        );
        let join = proto::JoinRequest::decode(wrapped.join_request.as_slice()).unwrap();
        let info = join.client_info.unwrap();
        assert_eq!(info.protocol, super::super::PROTOCOL_VERSION as i32);
        assert_eq!(
            info.sdk, 0,
            "no SDK named: the SFU keeps no libwebrtc quirks for us"
        );
        let settings = join.connection_settings.unwrap();
        assert!(settings.auto_subscribe && !settings.adaptive_stream);
        assert!(join.add_track_requests.is_empty() && join.publisher_offer.is_none());
    }

    #[test]
    fn trickle_carries_the_w3c_candidate_json_and_target() {
        let c = Candidate {
            candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".to_owned(),
            sdp_mid: Some("0".to_owned()),
            sdp_mline_index: Some(0),
        };
        let Request::Trickle(t) = trickle(PeerRole::Subscriber, &c) else {
            panic!()
        };
        assert_eq!(t.target, 1);
        let json: serde_json::Value = serde_json::from_str(&t.candidate_init).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"candidate": c.candidate, "sdpMid": "0", "sdpMLineIndex": 0})
        );
        assert_eq!(
            remote_candidate(&t).unwrap(),
            (PeerRole::Subscriber, Some(c))
        );
    }

    #[test]
    fn reads_the_servers_candidates_and_end_marker() {
        // As livekit-server (pion) sends them: with usernameFragment, which we do not need.
        let t = proto::TrickleRequest {
            candidate_init: r#"{"candidate":"candidate:2 1 udp 1 127.0.0.1 7882 typ host","sdpMid":"","sdpMLineIndex":0,"usernameFragment":"abc"}"#.to_owned(),
            target: 0,
            r#final: false,
        };
        let (role, c) = remote_candidate(&t).unwrap();
        assert_eq!(role, PeerRole::Publisher);
        assert!(c.unwrap().candidate.contains("7882"));
        let end = proto::TrickleRequest {
            candidate_init: r#"{"candidate":""}"#.to_owned(),
            target: 1,
            r#final: true,
        };
        assert_eq!(
            remote_candidate(&end).unwrap(),
            (PeerRole::Subscriber, None)
        );
        let bad = proto::TrickleRequest {
            candidate_init: "{".to_owned(),
            ..end
        };
        assert!(remote_candidate(&bad).is_err());
    }

    #[test]
    fn frames_round_trip_and_garbage_is_an_error() {
        let frame = encode(add_audio_track("TR_x", false));
        let req = proto::SignalRequest::decode(frame.as_slice()).unwrap();
        let Some(Request::AddTrack(add)) = req.message else {
            panic!()
        };
        assert_eq!(
            (add.cid.as_str(), add.r#type, add.source),
            ("TR_x", proto::TrackType::Audio as i32, 2)
        );
        let pong = proto::SignalResponse {
            message: Some(Response::PongResp(proto::Pong {
                last_ping_timestamp: 1,
                timestamp: 2,
            })),
        }
        .encode_to_vec();
        assert!(matches!(decode(&pong), Ok(Some(Response::PongResp(_)))));
        assert!(decode(&[0xff, 0xff, 0xff]).is_err());
    }
}
