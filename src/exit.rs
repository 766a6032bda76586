//! The exit-code table: every code a command ends with and what it means. The constants are
//! what the code returns (`error::Error::exit_code`, a call's `signalling::Outcome`), and
//! [`TABLE`] is what `--help`, the man pages and the README say about them: one table, so the
//! two cannot drift apart. Scripts depend on these codes; never renumber one.
//!
//! Pure (no dependencies), so the fuzz crate can include the signalling machine by path.

/// Success; for calls: the call connected and then ended normally.
pub const OK: u8 = 0;
/// Any other error (also a call whose final hangup never reached the homeserver).
pub const OTHER: u8 = 1;
/// A usage error (clap's own code for bad arguments).
pub const USAGE: u8 = 2;
/// Not logged in, wrong password or recovery key, or a rejected token.
pub const AUTH: u8 = 3;
/// The homeserver is unreachable or answers garbage.
pub const UNREACHABLE: u8 = 4;
/// The call was declined (reject, busy).
pub const DECLINED: u8 = 5;
/// Nobody answered, or nothing to answer arrived within `--wait`.
pub const NO_ANSWER: u8 = 6;
/// Media failed: ICE, the LiveKit SFU, an audio device or file.
pub const MEDIA: u8 = 7;
/// The call was answered elsewhere or replaced.
pub const ELSEWHERE: u8 = 8;
/// Interrupted: the call was hung up here (Ctrl-C, SIGTERM, `mxcall hangup`) before it
/// connected (`signalling::Outcome::Cancelled`), or Ctrl-C came while no call was in progress,
/// or a second Ctrl-C did not wait for the hangup. 128 + SIGINT, as shells report an
/// interrupted command. (Ctrl-C in a connected call hangs it up normally: 0.)
pub const INTERRUPTED: u8 = 130;

/// Each code with its one-line (or wrapped: `\n`, no indent) description, in the order the help lists them.
pub const TABLE: &[(u8, &str)] = &[
    (
        OK,
        "success; for calls: the call connected and then ended normally",
    ),
    (
        OTHER,
        "any other error (also a call whose final hangup never reached the homeserver)",
    ),
    (USAGE, "usage error"),
    (
        AUTH,
        "not logged in, wrong password or recovery key, or token rejected: run `mxcall login`",
    ),
    (UNREACHABLE, "homeserver unreachable or answering garbage"),
    (DECLINED, "the call was declined (reject / busy)"),
    (
        NO_ANSWER,
        "nobody answered (ring timeout, invite expired) / nothing to answer within --wait",
    ),
    (
        MEDIA,
        "media failed (ICE failure, LiveKit SFU unreachable, audio device or file unusable;\n\
         --protocol matrixrtc on a homeserver without a MatrixRTC transport)",
    ),
    (ELSEWHERE, "the call was answered elsewhere or replaced"),
    (
        INTERRUPTED,
        "interrupted: the call was hung up here (Ctrl-C, SIGTERM, `mxcall hangup`) before it\n\
         connected, Ctrl-C while no call was in progress, or a second Ctrl-C",
    ),
];

/// The `EXIT CODES:` section of `--help` and the man pages, rendered from [`TABLE`].
pub fn help_section() -> String {
    let mut text = String::from("EXIT CODES:");
    for (code, meaning) in TABLE {
        // Codes right-aligned in three columns; a meaning's wrapped lines under its first.
        let meaning = meaning.replace('\n', "\n       ");
        text.push_str(&format!("\n  {code:>3}  {meaning}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once() {
        let consts = [
            OK,
            OTHER,
            USAGE,
            AUTH,
            UNREACHABLE,
            DECLINED,
            NO_ANSWER,
            MEDIA,
            ELSEWHERE,
            INTERRUPTED,
        ];
        for c in consts {
            assert_eq!(TABLE.iter().filter(|(t, _)| *t == c).count(), 1, "code {c}");
        }
        assert_eq!(TABLE.len(), consts.len());
    }

    #[test]
    fn the_help_section_lists_the_codes_in_order() {
        let text = help_section();
        assert!(text.starts_with("EXIT CODES:\n    0  success"));
        assert!(text.contains("\n    7  media failed"));
        assert!(text.contains("\n  130  interrupted"));
        assert!(text.ends_with("or a second Ctrl-C"));
        // Every line of a meaning starts in the same column.
        for line in text.lines().skip(1) {
            assert_eq!(
                line.find(|c: char| c.is_alphabetic() || c == '-'),
                Some(7),
                "{line}"
            );
        }
    }
}
