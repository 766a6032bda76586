//! `mxcall call`, `answer` and `watch`: thin front-ends that turn flags into an engine mode.

use std::str::FromStr;

use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId};

use super::Context;
use crate::audio::AudioSpec;
use crate::cli::{AnswerArgs, AudioArgs, CallArgs, WatchArgs};
use crate::engine::{self, CallOptions, Mode};
use crate::error::{Error, Result};
use crate::transport::rooms::Target;

pub async fn call(ctx: &Context, args: CallArgs) -> Result<u8> {
    let target = Target::parse(&args.target)?;
    let opts = options(&args.audio)?;
    engine::run(
        ctx,
        Mode::Call {
            target,
            ring_timeout: args.ring_timeout,
            protocol: args.protocol,
        },
        opts,
    )
    .await
}

pub async fn answer(ctx: &Context, args: AnswerArgs) -> Result<u8> {
    let room = args.room.as_deref().map(parse_room).transpose()?;
    let opts = options(&args.audio)?;
    engine::run(
        ctx,
        Mode::Answer {
            room,
            wait: args.wait,
            from: from_users(&args.from)?,
        },
        opts,
    )
    .await
}

pub async fn watch(ctx: &Context, args: WatchArgs) -> Result<u8> {
    let rooms = args
        .rooms
        .iter()
        .map(|r| parse_room(r))
        .collect::<Result<Vec<_>>>()?;
    let opts = options(&args.audio)?;
    let from = from_users(&args.from)?;
    if !args.answer {
        // Watching alone never opens the audio devices.
        let opts = CallOptions {
            input: AudioSpec::Null,
            output: AudioSpec::Null,
            record: None,
            ..opts
        };
        return engine::run(
            ctx,
            Mode::Watch {
                rooms,
                answer: false,
                exec: args.exec,
                once: args.once,
                from,
            },
            opts,
        )
        .await;
    }
    engine::run(
        ctx,
        Mode::Watch {
            rooms,
            answer: true,
            exec: args.exec,
            once: args.once,
            from,
        },
        opts,
    )
    .await
}

fn from_users(raw: &[String]) -> Result<Vec<OwnedUserId>> {
    raw.iter()
        .map(|u| crate::callers::parse_user(u).map_err(|e| Error::Usage(format!("--from: {e}"))))
        .collect()
}

pub fn parse_room(raw: &str) -> Result<OwnedRoomId> {
    OwnedRoomId::try_from(raw)
        .map_err(|_| Error::Usage(format!("invalid room id '{raw}': expected !room:server")))
}

fn options(audio: &AudioArgs) -> Result<CallOptions> {
    let spec = |s: &str| AudioSpec::from_str(s).map_err(|e| Error::Usage(e.to_string()));
    Ok(CallOptions {
        input: spec(&audio.input)?,
        output: spec(&audio.output)?,
        record: audio.record.clone(),
        duration: audio.duration,
        hangup_after_input: audio.hangup_after_input,
        bind: audio.media_addr.clone(),
        stats_interval: (!audio.stats_interval.is_zero()).then_some(audio.stats_interval),
        dtmf: audio.dtmf.clone(),
        dtmf_delay: audio.dtmf_delay,
        hangup_on_dtmf: audio.hangup_on_dtmf.clone(),
    })
}
