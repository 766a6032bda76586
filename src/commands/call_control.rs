//! `mxcall hold`, `resume`, `mute`, `unmute`: ask the running mxcall process of this profile
//! (its control socket, as `hangup` does) to act on its connected legacy call.

use serde_json::json;

use super::Context;
use super::call::parse_room;
use crate::cli::CallControlArgs;
use crate::engine::control::{self, Request};
use crate::error::{Error, Result, exit};

pub async fn hold(ctx: &Context, args: CallControlArgs, held: bool) -> Result<u8> {
    let room_id = room(&args)?;
    let action = if held { "held" } else { "resumed" };
    ask(ctx, Request::Hold { room_id, held }, action).await
}

pub async fn mute(ctx: &Context, args: CallControlArgs, muted: bool) -> Result<u8> {
    let room_id = room(&args)?;
    let action = if muted { "muted" } else { "unmuted" };
    ask(ctx, Request::Mute { room_id, muted }, action).await
}

fn room(args: &CallControlArgs) -> Result<Option<String>> {
    Ok(args
        .room
        .as_deref()
        .map(parse_room)
        .transpose()?
        .map(|r| r.to_string()))
}

async fn ask(ctx: &Context, request: Request, action: &str) -> Result<u8> {
    let (reply, refusals) = control::send_to_running(&ctx.profile, &request).await;
    match reply {
        Some(reply) => {
            let call_id = reply.call_id.unwrap_or_default();
            ctx.out.result(
                &format!("{action} call {call_id}"),
                &json!({"call_id": call_id, "action": action}),
            );
            Ok(exit::OK)
        }
        None if refusals.is_empty() => Err(Error::Other(
            "no running mxcall call of this profile (start one with call, answer or watch --answer)"
                .into(),
        )),
        None => Err(Error::Other(format!("not {action}: {}", refusals.join("; ")))),
    }
}
