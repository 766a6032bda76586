//! `mxcall hangup`: end a call that another mxcall process of this profile is running (through
//! its control socket), or else decline a ringing incoming call that no process holds.
//!
//! Declining runs the engine in `Mode::Decline`: the rooms' recent call events are read through
//! the profile's store (decrypted where the room is encrypted), fed to the signalling machine,
//! and the newest call still ringing is declined by it — `m.call.reject` for a version 1 caller,
//! `m.call.hangup` for a version 0 caller — and sent (encrypted where the room is) like any
//! call event. Another mxcall process of the profile may hold the store meanwhile: the crypto
//! store's cross-process lock keeps the two from clobbering each other's keys.

use serde_json::json;

use super::Context;
use super::call::parse_room;
use crate::audio::AudioSpec;
use crate::cli::HangupArgs;
use crate::engine::control::{self, Request};
use crate::engine::{self, CallOptions, Mode};
use crate::error::{Result, exit};

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

    // No running process holds it: decline a ringing call through the profile's store (so
    // that it works in encrypted rooms) and the same machine and send path as a live call.
    let quiet_audio = CallOptions {
        input: AudioSpec::Null,
        output: AudioSpec::Null,
        record: None,
        duration: None,
        hangup_after_input: false,
        bind: Vec::new(),
        stats_interval: None,
        dtmf: None,
        dtmf_delay: std::time::Duration::ZERO,
        hangup_on_dtmf: None,
    };
    engine::run(
        ctx,
        Mode::Decline {
            room,
            call_id: args.call_id,
            reason,
        },
        quiet_audio,
    )
    .await
}

/// `busy` is the user-facing word for the wire reason `user_busy`.
fn wire_reason(reason: &str) -> String {
    match reason {
        "busy" => "user_busy".into(),
        other => other.into(),
    }
}
