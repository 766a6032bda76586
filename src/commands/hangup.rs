//! `mxcall hangup`: end a call that another mxcall process of this profile is running (through
//! its control socket), or else decline a ringing incoming call that no process holds.
//!
//! Declining needs no sync and no store (a running process may hold the store): the recent
//! call events of the room(s) are read with `/messages`, and the newest invite that is still
//! live, not ours and not yet answered or ended is declined — with `m.call.reject` for a
//! version 1 caller, with `m.call.hangup` for a version 0 caller.

use std::collections::HashSet;
use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::ruma::api::client::membership::joined_rooms;
use matrix_sdk::ruma::api::client::message::{get_message_events, send_message_event};
use matrix_sdk::ruma::events::AnyMessageLikeEventContent;
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{OwnedRoomId, TransactionId, UInt};
use serde_json::{Value, json};

use super::Context;
use super::call::parse_room;
use crate::cli::HangupArgs;
use crate::engine::control::{self, Request};
use crate::error::{Error, Result, exit};
use crate::homeserver;

pub async fn run(ctx: &Context, args: HangupArgs) -> Result<u8> {
    let room = args.room.as_deref().map(parse_room).transpose()?;
    let reason = args.reason.as_deref().map(wire_reason);
    let request = Request::Hangup {
        room_id: room.as_ref().map(|r| r.to_string()),
        call_id: args.call_id.clone(),
        reason: reason.clone(),
    };
    let (reply, _refusals) = control::send_to_running(&ctx.profile, &request).await;
    if let Some(reply) = reply {
        let call_id = reply.call_id.unwrap_or_default();
        ctx.out.result(
            &format!("hung up call {call_id}"),
            &json!({"call_id": call_id, "action": "hangup"}),
        );
        return Ok(exit::OK);
    }

    let session = ctx.profile.load_session()?;
    let client = homeserver::restore(&ctx.profile, &session, false).await?;
    let own_user = session.matrix.meta.user_id.to_string();
    let own_party = session.matrix.meta.device_id.to_string();
    let http = |e: &matrix_sdk::HttpError| {
        Error::from_http(e, "hangup failed", &ctx.profile.name, &session.homeserver)
    };
    let rooms = match room {
        Some(room) => vec![room],
        None => {
            client
                .send(joined_rooms::v3::Request::new())
                .await
                .map_err(|e| http(&e))?
                .joined_rooms
        }
    };
    for room_id in rooms {
        let Some(invite) =
            ringing_invite(&client, &room_id, &own_user, args.call_id.as_deref()).await
        else {
            continue;
        };
        let (event_type, content) = if invite.v0 {
            (
                "m.call.hangup",
                json!({"call_id": invite.call_id, "party_id": own_party, "version": "1", "reason": reason.clone().unwrap_or_else(|| "user_hangup".into())}),
            )
        } else {
            (
                "m.call.reject",
                json!({"call_id": invite.call_id, "party_id": own_party, "version": "1"}),
            )
        };
        let raw: Raw<AnyMessageLikeEventContent> = Raw::new(&content)
            .map_err(|e| Error::other("cannot encode the event", e))?
            .cast_unchecked();
        let request = send_message_event::v3::Request::new_raw(
            room_id.clone(),
            TransactionId::new(),
            event_type.into(),
            raw,
        );
        client.send(request).await.map_err(|e| http(&e))?;
        ctx.out.result(
            &format!("declined call {} from {} in {room_id}", invite.call_id, invite.caller),
            &json!({"call_id": invite.call_id, "room_id": room_id, "caller": invite.caller, "action": "reject"}),
        );
        return Ok(exit::OK);
    }
    Err(Error::Other(
        "no call to hang up: no mxcall process runs one and nothing is ringing".into(),
    ))
}

/// `busy` is the user-facing word for the wire reason `user_busy`.
fn wire_reason(reason: &str) -> String {
    match reason {
        "busy" => "user_busy".into(),
        other => other.into(),
    }
}

struct RingingInvite {
    call_id: String,
    caller: String,
    v0: bool,
}

/// The newest live invite in `room_id` from someone else that nothing has answered or ended.
async fn ringing_invite(
    client: &Client,
    room_id: &OwnedRoomId,
    own_user: &str,
    only_call: Option<&str>,
) -> Option<RingingInvite> {
    let mut request = get_message_events::v3::Request::backward(room_id.clone());
    request.limit = UInt::from(50u32);
    let mut filter = matrix_sdk::ruma::api::client::filter::RoomEventFilter::empty();
    filter.types = Some(vec!["m.call.*".into()]);
    request.filter = filter;
    let Ok(response) = client.send(request).await else {
        return None;
    };
    // Newest first: anything that settles a call is seen before its invite.
    let mut settled: HashSet<String> = HashSet::new();
    for raw in &response.chunk {
        let Ok(event) = raw.deserialize_as::<Value>() else {
            continue;
        };
        let kind = event["type"].as_str().unwrap_or_default();
        let Some(call_id) = event["content"]["call_id"].as_str() else {
            continue;
        };
        if kind != "m.call.invite" {
            if matches!(
                kind,
                "m.call.answer" | "m.call.hangup" | "m.call.reject" | "m.call.select_answer"
            ) {
                settled.insert(call_id.to_owned());
            }
            continue;
        }
        let sender = event["sender"].as_str().unwrap_or_default();
        if sender == own_user
            || settled.contains(call_id)
            || only_call.is_some_and(|c| c != call_id)
        {
            continue;
        }
        let lifetime = event["content"]["lifetime"].as_u64().unwrap_or(60_000);
        let age = event["unsigned"]["age"].as_u64().unwrap_or(u64::MAX);
        if Duration::from_millis(age) >= Duration::from_millis(lifetime.min(3_600_000)) {
            continue;
        }
        let v0 = matches!(&event["content"]["version"], Value::Number(n) if n.as_u64() == Some(0));
        return Some(RingingInvite {
            call_id: call_id.to_owned(),
            caller: sender.to_owned(),
            v0,
        });
    }
    None
}
