//! `mxcall hold`, `resume`, `mute`, `unmute`, `dtmf`: ask the running mxcall process of this
//! profile (its control socket, as `hangup` does) to act on its connected legacy call.

use serde_json::json;

use super::Context;
use super::call::parse_room;
use crate::cli::{CallControlArgs, DtmfArgs};
use crate::engine::control::{self, Request};
use crate::error::{Error, Result, exit};

pub async fn hold(ctx: &Context, args: CallControlArgs, held: bool) -> Result<u8> {
    let room_id = room(&args)?;
    let action = if held { "held" } else { "resumed" };
    ask(
        ctx,
        Request::Hold { room_id, held },
        action,
        &format!("{action} call"),
    )
    .await
}

pub async fn mute(ctx: &Context, args: CallControlArgs, muted: bool) -> Result<u8> {
    let room_id = room(&args)?;
    let action = if muted { "muted" } else { "unmuted" };
    ask(
        ctx,
        Request::Mute { room_id, muted },
        action,
        &format!("{action} call"),
    )
    .await
}

pub async fn dtmf(ctx: &Context, args: DtmfArgs) -> Result<u8> {
    let room_id = room(&args.call)?;
    let request = Request::Dtmf {
        room_id,
        digits: args.digits.clone(),
    };
    let line = format!("sent DTMF {} on call", args.digits);
    ask(ctx, request, "dtmf", &line).await
}

fn room(args: &CallControlArgs) -> Result<Option<String>> {
    Ok(args
        .room
        .as_deref()
        .map(parse_room)
        .transpose()?
        .map(|r| r.to_string()))
}

/// Sends `request`; success prints "`line` <call id>" (JSON: `{call_id, action}`).
async fn ask(ctx: &Context, request: Request, action: &str, line: &str) -> Result<u8> {
    let (reply, refusals) = control::send_to_running(&ctx.profile, &request).await;
    match reply {
        Some(reply) => {
            let call_id = reply.call_id.unwrap_or_default();
            ctx.out.result(
                &format!("{line} {call_id}"),
                &json!({"call_id": call_id, "action": action}),
            );
            Ok(exit::OK)
        }
        None if refusals.is_empty() => Err(Error::Other(
            "no running mxcall call of this profile (start one with call, answer or watch --answer)"
                .into(),
        )),
        None => {
            let what = match action {
                "dtmf" => "DTMF not sent".to_owned(),
                _ => format!("not {action}"),
            };
            Err(Error::Other(format!("{what}: {}", refusals.join("; "))))
        }
    }
}
