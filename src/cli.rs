//! The command-line contract: every flag and subcommand, parsed by clap and nothing else.
//!
//! Kept pure (no I/O) so that completions and the man page can be generated from
//! [`command()`], and so tests can check parsing without running anything.

use clap::{Args, CommandFactory, Parser, Subcommand};

// The environment table is a macro so that `concat!` can join it into static help text; the exit
// codes come from `crate::exit`, the JSON events from `crate::events`.
macro_rules! environment_table {
    () => {
        "ENVIRONMENT:
  MXCALL_PROFILE  profile to use (same as --profile)
  MXCALL_HOME     data directory holding all profiles
                  (default: $XDG_DATA_HOME/mxcall or ~/.local/share/mxcall)
  RUST_LOG        overrides the log filter chosen by -v/-q"
    };
}

/// The long help's closing sections: the exit codes (from `crate::exit::TABLE`), the JSON
/// events (from `crate::events::DOCS`) and the environment.
fn after_help() -> String {
    format!(
        "{}\n\n{}\n\n{}",
        crate::exit::help_section(),
        crate::events::help_section(),
        environment_table!()
    )
}

/// `mxcall --version`: the version and the git commit the binary was built from (`build.rs`).
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MXCALL_GIT_COMMIT"),
    ")"
);

/// The help heading of the options every command takes, after each command's own.
const GLOBAL: &str = "Global options";

/// Place and answer Matrix voice calls from the command line.
#[derive(Debug, Parser)]
#[command(
    name = "mxcall",
    version,
    long_version = LONG_VERSION,
    about = "Place and answer Matrix voice calls from the command line",
    long_about = "mxcall places and answers Matrix 1:1 voice calls — MatrixRTC (Element Call, \
Element X; LiveKit SFU) and legacy m.call.* (Element Web, Nheko, FluffyChat), WebRTC audio — \
from a terminal, a script or a test rig. Each invocation runs to completion and exits with a code \
that tells a script what happened.",
    after_long_help = after_help(),
    propagate_version = true,
    disable_help_subcommand = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Profile (one login) to use; profiles live side by side in the data directory
    #[arg(long, global = true, help_heading = GLOBAL, env = "MXCALL_PROFILE", default_value = crate::profile::DEFAULT_PROFILE, value_name = "NAME")]
    pub profile: String,

    /// Print machine-readable JSON on stdout
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,

    /// More detail on stderr (repeat for more)
    #[arg(short, long, global = true, help_heading = GLOBAL, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print nothing but errors
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to a homeserver and store the session in the profile
    #[command(
        long_about = "Log in to a homeserver and store the session in the profile, and make \
the new device trusted: Element ignores devices their owner has not cross-signed, so their calls \
never ring in encrypted DMs.\n\n\
On a fresh account, login creates the cross-signing identity, secret storage and key backup, and \
hands out the new recovery key once: on the terminal, in the file --save-recovery-key names, or \
(with neither) in recovery-key.txt in the profile directory. Keep it.\n\n\
On an account that already has an identity (Element, or an earlier mxcall login), give its \
recovery key (Element: Settings > Encryption) at the prompt or with --recovery-key-stdin, or log \
in without it and run `mxcall verify` afterwards. A wrong recovery key is exit 3 and leaves any \
stored session as it was.\n\n\
Example: printf '%s\\n%s\\n' \"$PASSWORD\" \"$RECOVERY_KEY\" | mxcall login @bot:example.org \
--password-stdin --recovery-key-stdin"
    )]
    Login(LoginArgs),
    /// Log out: invalidate the token on the server and remove the profile's local data
    Logout(LogoutArgs),
    /// Show who the profile is logged in as, after checking the token with the server, and
    /// whether this device is cross-signed (trusted by Element) and backs up its keys
    Whoami,
    /// Make this device trusted: emoji verification with another session of your account, or
    /// the account's recovery key
    #[command(
        long_about = "Make this device trusted (cross-signed by its owner), for a device \
that was logged in without the recovery key. Element ignores devices their owner has not \
cross-signed: their calls never ring in encrypted DMs.\n\n\
Without options: sends a verification request to your other sessions; accept it in Element \
(\"Verify session\"), compare the seven emoji both sides show, and confirm on both. mxcall only \
starts verifications: the other side must be Element or another client that verifies. \
--yes confirms without asking (a script that compares the emoji itself: with --json they are \
printed as {\"event\":\"sas\",\"emoji\":[{\"symbol\",\"description\"}…]}).\n\n\
With --recovery-key (asked without echo) or --recovery-key-stdin: imports the account's \
cross-signing keys from secret storage, which signs this device. A wrong key is exit 3.\n\n\
Exit 0 once the device is cross-signed; 1 when the other side cancels, the emoji do not match, \
or nothing happens within --timeout."
    )]
    Verify(VerifyArgs),
    /// Place a call and run it until either side hangs up
    #[command(long_about = "Place a call and run it until either side hangs up.\n\n\
Two protocols: MatrixRTC (Element Call; the only one Element X rings on, and Element Web's \
default where the homeserver advertises LiveKit) and legacy 1:1 calls (m.call.*; Element Web, \
Nheko, FluffyChat). With --protocol auto (the default) mxcall joins the room's MatrixRTC session \
if the other member is in one; otherwise it uses MatrixRTC when the \
homeserver advertises a LiveKit transport (MSC4143 rtc/transports, or org.matrix.msc4143.rtc_foci in \
.well-known/matrix/client), else legacy. A MatrixRTC call writes our call membership \
(org.matrix.msc3401.call.member, withdrawn by a delayed leave within seconds if mxcall is \
killed), rings the other member with an org.matrix.msc4075.rtc.notification (at most 90 s), and \
carries the audio through the homeserver's LiveKit SFU; it ends when the other member leaves. \
In an encrypted room the audio is end-to-end encrypted as Element Call does it (per-participant \
keys sent Olm-encrypted to cross-signed devices only; the SFU sees ciphertext).\n\n\
To reach someone on Element X: make sure your homeserver advertises a LiveKit service (Element X \
needs one too) and call their DM: mxcall call @them:example.org.")]
    Call(CallArgs),
    /// Answer an incoming call (waiting for one if none is ringing): legacy or MatrixRTC
    Answer(AnswerArgs),
    /// Hang up a call running in another mxcall process, or decline a ringing call
    Hangup(HangupArgs),
    /// Report incoming calls as they happen; optionally answer them or run a command for each
    Watch(WatchArgs),
    /// List the audio devices usable with --input/--output device:NAME
    Devices,
    /// Show or edit the profile's allowed callers: who `answer` and `watch --answer` may answer
    /// automatically, and whose direct-chat invites they join
    #[command(
        long_about = "Show or edit the profile's allowed callers (the file allowed-callers in \
the profile directory, one user id per line; kept by logout).\n\n\
Two modes. With nobody allowed (this list empty and no --from), `answer` and `watch --answer` \
answer calls only in rooms the account has already joined (people it chose to talk to) and never \
join a room by themselves. As soon as anybody is allowed (this list, or --from of that run), they \
answer only calls from allowed callers — in joined rooms too — and join a direct-chat invite \
(`answer` and `watch`, with or without --answer) only from them. Other calls still ring (printed, \
--exec runs, the ringing event says answering: false) but are not answered. A caller whose DM \
invite is never joined waits up to its --ring-timeout (exit 6).\n\n\
Examples: mxcall allow @alice:example.org @bob:example.org; mxcall allow --remove @bob:example.org; \
mxcall allow (lists them)"
    )]
    Allow(AllowArgs),
    /// Put the call a running mxcall process of this profile holds on hold
    #[command(
        long_about = "Put the connected legacy call that a running `mxcall call`, `answer` \
or `watch --answer` of this profile holds on hold: an m.call.negotiate offer saying sendonly \
(RFC 3264, as Element's hold), silence to the other side, nothing from it. `mxcall resume` ends \
the hold. Legacy (m.call.*) calls only. Exit 1 when no running process has a connected legacy \
call (a MatrixRTC call, a version-0 peer: the error says so).\n\n\
Example: mxcall hold; sleep 30; mxcall resume"
    )]
    Hold(CallControlArgs),
    /// Resume a call this profile's running mxcall process put on hold
    #[command(
        long_about = "Resume the call `mxcall hold` put on hold (an m.call.negotiate offer \
saying sendrecv again). Legacy calls only; exit 1 when no running process has a connected legacy \
call.\n\nExample: mxcall resume '!room:example.org'"
    )]
    Resume(CallControlArgs),
    /// Mute the microphone of the call a running mxcall process of this profile holds
    #[command(
        long_about = "Mute our audio in the connected legacy call that a running mxcall \
process of this profile holds: silence goes out, and the other side is told \
(m.call.sdp_stream_metadata_changed with audio_muted, as Element's mute button). Legacy calls \
only; exit 1 when no running process has a connected legacy call.\n\n\
Example: mxcall mute && sleep 10 && mxcall unmute"
    )]
    Mute(CallControlArgs),
    /// Unmute the microphone of the call a running mxcall process of this profile holds
    #[command(
        long_about = "Unmute our audio after `mxcall mute`. Legacy calls only; exit 1 when \
no running process has a connected legacy call.\n\nExample: mxcall unmute"
    )]
    Unmute(CallControlArgs),
    /// Send DTMF digits (touch tones) on the call a running mxcall process of this profile holds
    #[command(
        long_about = "Send DTMF digits on the connected legacy call that a running mxcall \
process of this profile holds, as RFC 4733 telephone-events in its audio (what Element's dial \
pad and SIP gateways send): each digit a 100 ms tone, 70 ms (one frame more: 80 ms) between \
digits, a comma a 2 s pause. Digits: 0-9, *, #, A-D. The digits received from the other side \
are printed by the process that holds the call (with --json: dtmf events). Legacy calls only; \
exit 1 when no running process has a connected legacy call or the other side's client did not \
offer DTMF, exit 2 for a character that is not a digit.\n\n\
Example: mxcall dtmf '1234#'; mxcall dtmf '9,,1' '!room:example.org'"
    )]
    Dtmf(DtmfArgs),
}

#[derive(Debug, Args)]
pub struct DtmfArgs {
    /// The digits: 0-9, *, #, A-D; a comma pauses 2 s
    #[arg(value_name = "DIGITS", value_parser = parse_dtmf)]
    pub digits: String,

    #[command(flatten)]
    pub call: CallControlArgs,
}

#[derive(Debug, Args)]
pub struct CallControlArgs {
    /// Only the call in this room (default: the running process's connected call)
    #[arg(value_name = "ROOM_ID")]
    pub room: Option<String>,
}

#[derive(Debug, Args)]
pub struct AllowArgs {
    /// Users to add (or, with --remove, to remove); none: list the allowed callers
    #[arg(value_name = "@user:server")]
    pub users: Vec<String>,

    /// Remove the users instead of adding them
    #[arg(long)]
    pub remove: bool,
}

/// Where a call's audio comes from and goes to.
#[derive(Debug, Clone, Args)]
pub struct AudioArgs {
    /// Audio to send: default, device:NAME, FILE.wav, wav:FILE, raw:- (s16le 48 kHz mono on stdin), tone:FREQ, null
    #[arg(long, value_name = "SPEC", default_value = "default")]
    pub input: String,

    /// Where received audio goes: default, device:NAME, FILE.wav, wav:FILE, raw:- (stdout), null
    #[arg(long, value_name = "SPEC", default_value = "default")]
    pub output: String,

    /// Also record the received audio to this WAV file (48 kHz mono)
    #[arg(long, value_name = "FILE.wav")]
    pub record: Option<std::path::PathBuf>,

    /// Hang up this many seconds after the call connected (0: as soon as it connects)
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<std::time::Duration>,

    /// Hang up when the input ends (end of a WAV file, stdin closed)
    #[arg(long)]
    pub hangup_after_input: bool,

    /// Local IP address for media (repeatable; default: every interface except loopback)
    #[arg(long, value_name = "IP")]
    pub media_addr: Vec<std::net::IpAddr>,

    /// With --json: a `stats` event (RTT, loss, jitter, bitrates, MOS) this often while a
    /// call is connected; 0 turns them off
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    pub stats_interval: std::time::Duration,

    /// Send these DTMF digits (0-9, *, #, A-D; a comma pauses 2 s) --dtmf-delay seconds after
    /// a legacy call connected
    #[arg(long, value_name = "DIGITS", value_parser = parse_dtmf)]
    pub dtmf: Option<String>,

    /// How long after `connected` --dtmf starts
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_secs, requires = "dtmf")]
    pub dtmf_delay: std::time::Duration,

    /// Hang up when the other side sends one of these DTMF digits (e.g. '#')
    #[arg(long, value_name = "DIGITS", value_parser = parse_dtmf)]
    pub hangup_on_dtmf: Option<String>,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// Room id (!room:server), alias (#room:server), or user (@user:server: their direct room, created if needed)
    #[arg(value_name = "ROOM_ID|#alias|@user")]
    pub target: String,

    /// Give up ringing after this many seconds (also the invite's lifetime; a MatrixRTC ring
    /// lasts at most 90 s)
    #[arg(long, value_name = "SECS", default_value = "90", value_parser = parse_positive_secs)]
    pub ring_timeout: std::time::Duration,

    /// Which call protocol to use. auto: join the room's MatrixRTC session if the other member
    /// is in one; else MatrixRTC (Element Call, Element X; media end-to-end encrypted in
    /// encrypted rooms) when the homeserver advertises a LiveKit transport; else legacy
    /// m.call.* (Element Web's 1:1 calls, Nheko, FluffyChat).
    /// matrixrtc fails with exit 7 when the homeserver advertises no LiveKit transport.
    #[arg(long, value_enum, default_value_t = Protocol::Auto)]
    pub protocol: Protocol,

    #[command(flatten)]
    pub audio: AudioArgs,
}

/// The call protocol of `mxcall call --protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// MatrixRTC when the room has a session or the homeserver a LiveKit transport, else legacy
    Auto,
    /// Matrix VoIP 1:1 calls (`m.call.invite`…)
    Legacy,
    /// MatrixRTC with a LiveKit SFU, as Element Call and Element X
    Matrixrtc,
}

#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// Only answer a call in this room
    #[arg(value_name = "ROOM_ID")]
    pub room: Option<String>,

    /// Wait this long for a call to arrive; exit 6 if none does
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    pub wait: std::time::Duration,

    /// Also answer calls from this user (repeatable), and join their direct-chat invites;
    /// see `mxcall allow`
    #[arg(long = "from", value_name = "@user:server")]
    pub from: Vec<String>,

    #[command(flatten)]
    pub audio: AudioArgs,
}

#[derive(Debug, Args)]
pub struct HangupArgs {
    /// Only a call in this room
    #[arg(value_name = "ROOM_ID")]
    pub room: Option<String>,

    /// Only the call with this id
    #[arg(long, value_name = "ID")]
    pub call_id: Option<String>,

    /// Reason sent to the other side: busy (user_busy), or any hangup reason such as user_hangup
    #[arg(long, value_name = "REASON")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only calls in these rooms (default: every room)
    #[arg(value_name = "ROOM_ID")]
    pub rooms: Vec<String>,

    /// Exit after the first call has ended
    #[arg(long)]
    pub once: bool,

    /// Run this shell command for each incoming call, with MXCALL_ROOM_ID, MXCALL_CALL_ID, MXCALL_CALLER and MXCALL_PROFILE set
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,

    /// Answer each incoming call (one at a time) from an allowed caller; see `mxcall allow`
    #[arg(long)]
    pub answer: bool,

    /// Also allow this user (repeatable): answer their calls with --answer, and join their
    /// direct-chat invites
    #[arg(long = "from", value_name = "@user:server")]
    pub from: Vec<String>,

    #[command(flatten)]
    pub audio: AudioArgs,
}

fn parse_dtmf(s: &str) -> Result<String, String> {
    crate::media::dtmf::parse_digits(s)
}

/// Seconds, possibly fractional ("2.5"), as a duration: 0 up to one week.
fn parse_secs(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(secs.is_finite() && (0.0..=7.0 * 24.0 * 3600.0).contains(&secs)) {
        return Err(format!("'{s}' is out of range (0 to one week)"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Like [`parse_secs`], without 0: for a limit that 0 would make meaningless (a ring that
/// gives up before it starts).
fn parse_positive_secs(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_secs(s)?;
    if d.is_zero() {
        return Err(format!("'{s}' must be more than 0 seconds"));
    }
    Ok(d)
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

    /// Read the account's recovery key from standard input (the line after the password with
    /// --password-stdin) and use it to cross-sign the new device
    #[arg(long)]
    pub recovery_key_stdin: bool,

    /// For an account without cross-signing: write the new recovery key to this new file (0600)
    /// instead of showing it on the terminal
    #[arg(long, value_name = "FILE")]
    pub save_recovery_key: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Cross-sign this device with the account's recovery key, asked for without echo
    #[arg(long, conflicts_with = "recovery_key_stdin")]
    pub recovery_key: bool,

    /// Like --recovery-key, reading the key from the first line of standard input
    #[arg(long)]
    pub recovery_key_stdin: bool,

    /// Emoji verification only with this device of your account (default: ask all of them)
    #[arg(long, value_name = "DEVICE_ID", conflicts_with_all = ["recovery_key", "recovery_key_stdin"])]
    pub device: Option<String>,

    /// Confirm the emoji without asking (a script that compares them elsewhere)
    #[arg(long)]
    pub yes: bool,

    /// Give up after this many seconds
    #[arg(long, value_name = "SECS", default_value = "120", value_parser = parse_positive_secs)]
    pub timeout: std::time::Duration,
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
        let cli =
            Cli::try_parse_from(["mxcall", "whoami", "--profile", "bob", "--json", "-vv"]).unwrap();
        assert_eq!(cli.profile, "bob");
        assert!(cli.json);
        assert_eq!(cli.verbose, 2);
    }

    #[test]
    fn quiet_and_verbose_conflict() {
        assert!(Cli::try_parse_from(["mxcall", "-q", "-v", "whoami"]).is_err());
    }

    #[test]
    fn a_ring_timeout_of_zero_is_refused_and_a_duration_of_zero_is_not() {
        let err = Cli::try_parse_from(["mxcall", "call", "@b:hs", "--ring-timeout", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be more than 0 seconds"), "{err}");
        assert!(Cli::try_parse_from(["mxcall", "call", "@b:hs", "--ring-timeout", "0.5"]).is_ok());
        assert!(Cli::try_parse_from(["mxcall", "call", "@b:hs", "--duration", "0"]).is_ok());
        assert!(Cli::try_parse_from(["mxcall", "call", "@b:hs", "--duration", "-1"]).is_err());
    }

    #[test]
    fn password_is_not_an_argument() {
        assert!(Cli::try_parse_from(["mxcall", "login", "@a:b", "--password", "x"]).is_err());
    }
}
