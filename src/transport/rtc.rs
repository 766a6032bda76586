//! The Matrix side of MatrixRTC calls: which LiveKit service the homeserver advertises, the
//! room's call memberships as they stand, the requests of the MatrixRTC machine (state events,
//! MSC4140 delayed events, ring notifications, declines), and the credentials a call joins its
//! LiveKit SFU with. What the events mean is `matrixrtc`'s business; this file only carries
//! them.
//!
//! Sources: MSC4143 (`GET /_matrix/client/unstable/org.matrix.msc4143/rtc/transports`, and the
//! `.well-known/matrix/client` key `org.matrix.msc4143.rtc_foci` many servers publish instead),
//! MSC4140 (delayed events), MSC4195 and element-hq/lk-jwt-service (`POST /get_token`, the
//! older `POST /sfu/get`), element-call `src/livekit/openIDSFU.ts` (the OpenID token it sends).

use std::time::Duration;

use matrix_sdk::ruma::api::client::delayed_events::{
    DelayParameters, delayed_state_event, update_delayed_event,
};
use matrix_sdk::ruma::api::client::rtc::{RtcTransport, transports};
use matrix_sdk::ruma::api::client::state::get_state_events;
use matrix_sdk::ruma::api::error::ErrorKind;
use matrix_sdk::ruma::events::StateEventType;
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::{Client, Room};
use serde_json::{Value, json};

use super::RoomEvent;
use crate::matrixrtc::{Request, Response, SendError, membership};

/// The LiveKit slot of a room's one call (js-sdk `slotId` `m.call#ROOM`): part of the LiveKit
/// room name the JWT service derives (`/get_token`: `slot_id`; `/sfu/get`: implied).
pub const ROOM_SLOT_ID: &str = "m.call#ROOM";

/// How long a request to the JWT service may take.
const SERVICE_TIMEOUT: Duration = Duration::from_secs(10);

/// The homeserver's LiveKit service URL (`livekit_service_url` of the first `livekit`
/// transport): the MSC4143 `rtc/transports` endpoint first, then the `org.matrix.msc4143.rtc_foci`
/// key of `.well-known/matrix/client` (from the server name's host, then from the homeserver
/// URL). `None` when neither names one.
pub async fn discover_service(client: &Client) -> Option<String> {
    match client.send(transports::v1::Request::new()).await {
        Ok(response) => {
            if let Some(url) = first_livekit(&response.rtc_transports) {
                tracing::debug!(url, "LiveKit service from rtc/transports");
                return Some(url);
            }
            tracing::debug!("rtc/transports names no LiveKit transport");
        }
        Err(e) => tracing::debug!(
            "no rtc/transports endpoint: {}",
            crate::error::root_cause(&e)
        ),
    }
    let url = first_livekit(&well_known_foci(client).await);
    tracing::debug!(?url, "LiveKit service from .well-known rtc_foci");
    url
}

/// How long the `.well-known/matrix/client` fetch may take.
const WELL_KNOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The `org.matrix.msc4143.rtc_foci` of `.well-known/matrix/client`, from the user id's server
/// name, else from the homeserver URL (where matrix-sdk's `Client::rtc_foci` looks too). Fetched
/// here, once and without retries, because matrix-sdk retries a refused connection for ≈ 1.5 s
/// (`RequestConfig::short_retry`), and a server name that serves no `.well-known` (most
/// self-hosted ones on plain HTTP, every test server) is exactly that; this is on the path of
/// every `call --protocol auto`. Empty when neither answers with any.
async fn well_known_foci(client: &Client) -> Vec<RtcTransport> {
    let Ok(http) = reqwest::Client::builder()
        .timeout(WELL_KNOWN_TIMEOUT)
        .build()
    else {
        return Vec::new();
    };
    let homeserver = client.homeserver();
    let mut bases = Vec::with_capacity(2);
    if let Some(user) = client.user_id() {
        bases.push(format!("{}://{}", homeserver.scheme(), user.server_name()));
    }
    bases.push(homeserver.as_str().trim_end_matches('/').to_owned());
    for base in bases {
        let url = format!("{base}/.well-known/matrix/client");
        let body = match http.get(&url).send().await {
            Ok(r) if r.status().is_success() => r.json::<Value>().await,
            Ok(r) => {
                tracing::debug!(url, status = r.status().as_u16(), "no .well-known");
                continue;
            }
            Err(e) => {
                tracing::debug!(url, "no .well-known: {}", crate::error::root_cause(&e));
                continue;
            }
        };
        let Ok(body) = body else {
            tracing::debug!(url, ".well-known is not JSON");
            continue;
        };
        return rtc_foci_of(&body);
    }
    Vec::new()
}

/// The well-formed entries of a `.well-known/matrix/client` body's
/// `org.matrix.msc4143.rtc_foci` (MSC4143); others are skipped.
fn rtc_foci_of(well_known: &Value) -> Vec<RtcTransport> {
    well_known
        .get("org.matrix.msc4143.rtc_foci")
        .and_then(Value::as_array)
        .map(|foci| {
            foci.iter()
                .filter_map(|f| serde_json::from_value(f.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn first_livekit(transports: &[RtcTransport]) -> Option<String> {
    transports.iter().find_map(|t| match t {
        RtcTransport::LiveKit(lk) if !lk.service_url.is_empty() => Some(lk.service_url.clone()),
        _ => None,
    })
}

/// The room's `org.matrix.msc3401.call.member` state events as they stand on the server (the
/// session a `call` may join), as [`RoomEvent`]s for the machine.
///
/// Errors: the request's, as a one-line cause.
pub async fn current_memberships(room: &Room) -> Result<Vec<RoomEvent>, String> {
    let room_id = room.room_id().to_owned();
    let response = room
        .client()
        .send(get_state_events::v3::Request::new(room_id.clone()))
        .await
        .map_err(|e| crate::error::root_cause(&e))?;
    Ok(memberships(
        &room_id,
        response
            .room_state
            .iter()
            .filter_map(|raw| raw.deserialize_as::<Value>().ok()),
    ))
}

/// The call memberships (`org.matrix.msc3401.call.member` with a state key) among raw events.
pub fn memberships(
    room_id: &matrix_sdk::ruma::OwnedRoomId,
    events: impl Iterator<Item = Value>,
) -> Vec<RoomEvent> {
    events
        .filter_map(|json| RoomEvent::from_json(room_id, &json))
        .filter(|e| e.event_type == membership::EVENT_TYPE && e.state_key.is_some())
        .collect()
}

/// Carries out one request of the MatrixRTC machine in `room` (no retries: the machine
/// retries) and classifies a failure as the machine needs it.
pub async fn execute(room: &Room, request: Request) -> Result<Response, SendError> {
    let client = room.client();
    match request {
        Request::SendDelayedLeave { state_key, delay } => {
            let body = Raw::from_json(
                serde_json::value::to_raw_value(&json!({}))
                    .map_err(|e| SendError::Other(e.to_string()))?,
            );
            let req = delayed_state_event::unstable::Request::new_raw(
                room.room_id().to_owned(),
                state_key,
                StateEventType::from(membership::EVENT_TYPE),
                DelayParameters::Timeout { timeout: delay },
                body,
            );
            let response = client.send(req).await.map_err(|e| classify_http(&e))?;
            Ok(Response::DelayId(response.delay_id))
        }
        Request::RestartDelayed { delay_id } => update(&client, delay_id, "restart").await,
        Request::CancelDelayed { delay_id } => update(&client, delay_id, "cancel").await,
        Request::SendDelayedNow { delay_id } => update(&client, delay_id, "send").await,
        Request::SendMembership { state_key, content } => {
            let response = room
                .send_state_event_raw(membership::EVENT_TYPE, &state_key, content)
                .await
                .map_err(|e| classify(&e))?;
            Ok(Response::EventId(response.event_id.to_string()))
        }
        Request::SendNotification { content } => {
            send_event(room, crate::matrixrtc::notification::EVENT_TYPE, content).await
        }
        Request::SendDecline { content } => {
            send_event(room, crate::matrixrtc::decline::EVENT_TYPE, content).await
        }
    }
}

async fn update(client: &Client, delay_id: String, action: &str) -> Result<Response, SendError> {
    use update_delayed_event::unstable::{Request as Update, UpdateAction};
    let action = match action {
        "restart" => UpdateAction::Restart,
        "cancel" => UpdateAction::Cancel,
        _ => UpdateAction::Send,
    };
    client
        .send(Update::new(delay_id, action))
        .await
        .map(|_| Response::Empty)
        .map_err(|e| classify_http(&e))
}

async fn send_event(room: &Room, event_type: &str, content: Value) -> Result<Response, SendError> {
    let sent = room
        .send_raw(event_type, content)
        .await
        .map_err(|e| classify(&e))?;
    Ok(Response::EventId(sent.response.event_id.to_string()))
}

fn classify(err: &matrix_sdk::Error) -> SendError {
    match err {
        matrix_sdk::Error::Http(http) => classify_http(http),
        other => SendError::Other(crate::error::root_cause(other)),
    }
}

/// A failed request as [`SendError`]: rate limits, `M_NOT_FOUND`, `M_UNRECOGNIZED` (no MSC4140),
/// the MSC4140 `M_MAX_DELAY_EXCEEDED`, transient failures (no connection, 5xx), the rest.
fn classify_http(err: &matrix_sdk::HttpError) -> SendError {
    let cause = crate::error::root_cause(err);
    let Some(api) = err.as_client_api_error() else {
        return match err {
            matrix_sdk::HttpError::Reqwest(_) => SendError::Transient(cause),
            _ => SendError::Other(cause),
        };
    };
    if cause.contains("M_MAX_DELAY_EXCEEDED") {
        return SendError::MaxDelayExceeded { max_delay: None };
    }
    match api.error_kind() {
        Some(ErrorKind::LimitExceeded(limit)) => SendError::RateLimited {
            retry_after: limit.retry_after.as_ref().and_then(|r| match r {
                matrix_sdk::ruma::api::error::RetryAfter::Delay(d) => Some(*d),
                _ => None,
            }),
        },
        Some(ErrorKind::NotFound) => SendError::NotFound,
        Some(ErrorKind::Unrecognized) => SendError::Unsupported,
        _ if api.status_code.is_server_error() => SendError::Transient(cause),
        _ if api.status_code.as_u16() == 404 => SendError::NotFound,
        _ => SendError::Other(cause),
    }
}

/// Where and how to join the call's LiveKit room: the SFU's WebSocket URL and a LiveKit access
/// token (JWT) for our identity there.
#[derive(Clone)]
pub struct SfuCredentials {
    pub url: String,
    pub jwt: String,
}

impl std::fmt::Debug for SfuCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SfuCredentials")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Buys LiveKit credentials for the call in `room_id` from the LiveKit service at
/// `service_url`, as Element Call does (`openIDSFU.ts`): a Matrix OpenID token
/// (`POST /user/{userId}/openid/request_token`), then `POST {service}/sfu/get` with
/// `{room, openid_token, device_id}` — what Element Call's default ("compatibility") mode uses
/// for the SFU it publishes to: the LiveKit identity it gives, `@user:hs:DEVICE`, is the one
/// other clients derive from our membership and match our audio track to us by — or, when the
/// service has no such endpoint (404/405), `POST {service}/get_token` with
/// `{room_id, slot_id, openid_token, member: {id, claimed_user_id, claimed_device_id}}`
/// (Element Call's `matrix_2_0` mode; hashed identity). Both answer `{url, jwt}`.
///
/// Errors: one line naming the step and the service's answer (never the tokens).
pub async fn sfu_credentials(
    client: &Client,
    service_url: &str,
    room_id: &str,
    member_id: &str,
) -> Result<SfuCredentials, String> {
    let user = client.user_id().ok_or("not logged in")?.to_string();
    let device = client.device_id().ok_or("not logged in")?.to_string();
    let openid = client.account().request_openid_token().await.map_err(|e| {
        format!(
            "cannot get an OpenID token: {}",
            crate::error::root_cause(&e)
        )
    })?;
    let openid_token = json!({
        "access_token": openid.access_token,
        "token_type": "Bearer",
        "matrix_server_name": openid.matrix_server_name.as_str(),
        "expires_in": openid.expires_in.as_secs(),
    });
    let http = reqwest::Client::builder()
        .timeout(SERVICE_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let base = service_url.trim_end_matches('/');
    let modern = json!({
        "room_id": room_id,
        "slot_id": ROOM_SLOT_ID,
        "openid_token": openid_token,
        "member": {"id": member_id, "claimed_user_id": user, "claimed_device_id": device},
    });
    let legacy = json!({"room": room_id, "openid_token": openid_token, "device_id": device});
    let response = post(&http, &format!("{base}/sfu/get"), &legacy).await?;
    let response = if matches!(response.status().as_u16(), 404 | 405) {
        tracing::debug!("the LiveKit service has no /sfu/get; using /get_token");
        post(&http, &format!("{base}/get_token"), &modern).await?
    } else {
        response
    };
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let why = body
            .get("error")
            .and_then(Value::as_str)
            .or_else(|| body.get("errcode").and_then(Value::as_str))
            .unwrap_or("no reason given");
        return Err(format!(
            "the LiveKit service {service_url} refused a token: HTTP {status}: {why}"
        ));
    }
    match (
        body.get("url").and_then(Value::as_str),
        body.get("jwt").and_then(Value::as_str),
    ) {
        (Some(url), Some(jwt)) if !url.is_empty() && !jwt.is_empty() => Ok(SfuCredentials {
            url: url.to_owned(),
            jwt: jwt.to_owned(),
        }),
        _ => Err(format!(
            "the LiveKit service {service_url} answered without `url` and `jwt`"
        )),
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
) -> Result<reqwest::Response, String> {
    http.post(url).json(body).send().await.map_err(|e| {
        format!(
            "cannot reach the LiveKit service at {url}: {}",
            crate::error::root_cause(&e)
        )
    })
}

/// How long an encrypted key send waits for the crypto store's cross-process lock (this process
/// usually holds it already, through its sync).
const KEY_SEND_LOCK_MAX_BACKOFF_MS: u32 = 5_000;

/// Sends a MatrixRTC media key (`content` of a [`crate::matrixrtc::keys::EVENT_TYPE`] event, to
/// which `sent_ts` is added here) Olm-encrypted to `targets` through matrix-sdk (js-sdk
/// `ToDeviceKeyTransport.sendKey`). Only devices cross-signed by their owner get it
/// (`CollectStrategy::IdentityBasedStrategy`, as Element's "exclude insecure devices").
///
/// Returns the targets it did not reach: unknown devices, withheld (unsigned) ones, failed
/// requests. `Err`: nothing was sent (one line).
pub async fn send_media_key(
    client: &Client,
    targets: &[crate::matrixrtc::keys::Device],
    mut content: Value,
) -> Result<Vec<crate::matrixrtc::keys::Device>, String> {
    use crate::matrixrtc::keys::{Device, EVENT_TYPE};
    use matrix_sdk_crypto::CollectStrategy;
    let encryption = client.encryption();
    let _guard = encryption
        .spin_lock_store(Some(KEY_SEND_LOCK_MAX_BACKOFF_MS))
        .await
        .map_err(|e| format!("the crypto store is busy: {e}"))?;
    let mut devices = Vec::new();
    let mut failed = Vec::new();
    for target in targets {
        let device_id: &matrix_sdk::ruma::DeviceId = target.device_id.as_str().into();
        match encryption.get_device(&target.user, device_id).await {
            // Pre-filtered here, not only by the strategy: matrix-sdk-crypto 0.18's
            // identity-based collection panics on a device whose owner has no cross-signing
            // identity at all (`share_strategy.rs`, "Should have verification violation").
            Ok(Some(device)) if device.is_cross_signed_by_owner() => devices.push(device),
            Ok(Some(_)) => {
                tracing::debug!(%target, "not cross-signed by its owner: no media key for it");
                failed.push(target.clone());
            }
            Ok(None) => {
                tracing::debug!(%target, "no device keys yet; the media key waits for a retry");
                failed.push(target.clone());
            }
            Err(e) => return Err(format!("cannot read the device list: {e}")),
        }
    }
    if devices.is_empty() {
        return Ok(failed);
    }
    content["sent_ts"] = json!(crate::engine::unix_ms());
    let raw = Raw::new(&content)
        .map_err(|e| e.to_string())?
        .cast_unchecked();
    let unreached = encryption
        .encrypt_and_send_raw_to_device(
            devices.iter().collect(),
            EVENT_TYPE,
            raw,
            CollectStrategy::IdentityBasedStrategy,
        )
        .await
        .map_err(|e| format!("cannot send the media key: {e}"))?;
    failed.extend(unreached.into_iter().map(|(user, device)| Device {
        user,
        device_id: device.to_string(),
    }));
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtc_foci_of_keeps_well_formed_livekit_entries() {
        let body = json!({
            "m.homeserver": {"base_url": "https://hs.example"},
            "org.matrix.msc4143.rtc_foci": [
                {"type": "livekit", "livekit_service_url": "https://lk.example/jwt"},
                {"type": "livekit"},
                "garbage",
            ],
        });
        let foci = rtc_foci_of(&body);
        assert_eq!(
            first_livekit(&foci).as_deref(),
            Some("https://lk.example/jwt")
        );
        assert!(rtc_foci_of(&json!({"org.matrix.msc4143.rtc_foci": 3})).is_empty());
        assert!(rtc_foci_of(&json!({})).is_empty());
    }
}
