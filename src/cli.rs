//! The command-line contract: every flag and subcommand, parsed by clap and nothing else.
//!
//! Kept pure (no I/O) so that completions and the man page can be generated from
//! [`command()`], and so tests can check parsing without running anything.

use clap::{Args, CommandFactory, Parser, Subcommand};

// The tables are macros so that `concat!` can join them into clap's static help text while the
// README check and the call commands use the same words.
macro_rules! exit_codes_table {
    () => {
        "EXIT CODES:
  0  success; for calls: the call connected and then ended normally
  1  any other error
  2  usage error
  3  not logged in, wrong password, or token rejected: run `mxcall login`
  4  homeserver unreachable or answering garbage
  5  the call was declined (reject / busy)
  6  nobody answered (ring timeout, invite expired) / nothing to answer within --wait
  7  media failed (ICE failure, audio device or file unusable)
  8  the call was answered elsewhere or replaced"
    };
}

macro_rules! environment_table {
    () => {
        "ENVIRONMENT:
  MXCALL_PROFILE  profile to use (same as --profile)
  MXCALL_HOME     data directory holding all profiles
                  (default: $XDG_DATA_HOME/mxcall or ~/.local/share/mxcall)
  RUST_LOG        overrides the log filter chosen by -v/-q"
    };
}

pub const EXIT_CODES: &str = exit_codes_table!();
const AFTER_HELP: &str = concat!(exit_codes_table!(), "\n\n", environment_table!());

/// Place and answer Matrix voice calls from the command line.
#[derive(Debug, Parser)]
#[command(
    name = "mxcall",
    version,
    about = "Place and answer Matrix voice calls from the command line",
    long_about = "mxcall places and answers Matrix 1:1 voice calls (m.call.* events, WebRTC audio) \
from a terminal, a script or a test rig. Each invocation runs to completion and exits with a code \
that tells a script what happened.",
    after_long_help = AFTER_HELP,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Profile (one login) to use; profiles live side by side in the data directory
    #[arg(long, global = true, env = "MXCALL_PROFILE", default_value = crate::profile::DEFAULT_PROFILE, value_name = "NAME")]
    pub profile: String,

    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// More detail on stderr (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print nothing but errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to a homeserver and store the session in the profile
    Login(LoginArgs),
    /// Log out: invalidate the token on the server and remove the profile's local data
    Logout(LogoutArgs),
    /// Show who the profile is logged in as, after checking the token with the server
    Whoami,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Matrix user id, e.g. @alice:example.org (asked for on the terminal if omitted)
    #[arg(value_name = "USER_ID")]
    pub user_id: Option<String>,

    /// Homeserver URL; skips discovery through .well-known/matrix/client
    #[arg(long, value_name = "URL")]
    pub homeserver: Option<String>,

    /// Read the password from the first line of standard input instead of the terminal
    #[arg(long)]
    pub password_stdin: bool,

    /// Display name of the new device
    #[arg(long, value_name = "NAME", default_value = "mxcall")]
    pub device_name: String,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Remove the local data even when the homeserver cannot be told
    #[arg(long)]
    pub force: bool,
}

/// The clap command, for parsing and for generating completions and man pages.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from(["mxcall", "whoami", "--profile", "bob", "--json", "-vv"])
            .unwrap();
        assert_eq!(cli.profile, "bob");
        assert!(cli.json);
        assert_eq!(cli.verbose, 2);
    }

    #[test]
    fn quiet_and_verbose_conflict() {
        assert!(Cli::try_parse_from(["mxcall", "-q", "-v", "whoami"]).is_err());
    }

    #[test]
    fn password_is_not_an_argument() {
        assert!(Cli::try_parse_from(["mxcall", "login", "@a:b", "--password", "x"]).is_err());
    }
}
