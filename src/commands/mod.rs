//! One module per subcommand; `dispatch` routes the parsed command line to it.

mod allow;
mod call;
mod call_control;
mod devices;
mod hangup;
mod login;
mod logout;
mod verify;
mod whoami;

use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::output::Output;
use crate::profile::{Profile, SessionStore};

/// What every command gets: the resolved profile and where to print.
pub struct Context {
    pub profile: Profile,
    pub out: Output,
}

pub async fn dispatch(cli: Cli) -> Result<u8> {
    let store = SessionStore::from_env()?;
    let ctx = Context {
        profile: store.profile(&cli.profile)?,
        out: Output::new(cli.json, cli.quiet),
    };
    match cli.command {
        Command::Login(args) => login::run(&ctx, args).await,
        Command::Logout(args) => logout::run(&ctx, args).await,
        Command::Whoami => whoami::run(&ctx).await,
        Command::Verify(args) => verify::run(&ctx, args).await,
        Command::Call(args) => call::call(&ctx, args).await,
        Command::Answer(args) => call::answer(&ctx, args).await,
        Command::Watch(args) => call::watch(&ctx, args).await,
        Command::Hangup(args) => hangup::run(&ctx, args).await,
        Command::Devices => devices::run(&ctx),
        Command::Allow(args) => allow::run(&ctx, args),
        Command::Hold(args) => call_control::hold(&ctx, args, true).await,
        Command::Resume(args) => call_control::hold(&ctx, args, false).await,
        Command::Mute(args) => call_control::mute(&ctx, args, true).await,
        Command::Unmute(args) => call_control::mute(&ctx, args, false).await,
        Command::Dtmf(args) => call_control::dtmf(&ctx, args).await,
    }
}
