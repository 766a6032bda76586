//! What the user sees of a call: JSON events on stdout with `--json`, progress lines (and a
//! spinner on a terminal) on stderr otherwise, and a one-line summary on stdout at the end.
//! When stdout carries the call's audio (`--output raw:-`), JSON and the summary go to stderr
//! instead, so that the audio stream stays clean.
//!
//! The JSON events are `crate::events::Event`s (their names, fields and docs live there).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::events::{CallRef, Event};
use crate::output::Output;
use indicatif::{ProgressBar, ProgressStyle};

pub struct Reporter {
    out: Output,
    spinner: Option<ProgressBar>,
    /// stdout is the audio output: machine-readable lines go to stderr.
    stdout_is_audio: bool,
    /// Call events are shown (false when the command has a result of its own: `hangup`).
    events: bool,
}

impl Reporter {
    pub fn new(out: Output, stdout_is_audio: bool, events: bool) -> Self {
        Reporter {
            out,
            spinner: None,
            stdout_is_audio,
            events,
        }
    }

    /// Where results (JSON lines, the summary) go.
    fn results(&self) -> Box<dyn Write> {
        if self.stdout_is_audio {
            Box::new(std::io::stderr().lock())
        } else {
            Box::new(std::io::stdout().lock())
        }
    }

    /// One event: a JSON line on stdout with `--json`, else `human` on stderr (if any).
    pub fn event(&mut self, event: Event, human: Option<String>) {
        if !self.events {
            return;
        }
        if self.out.json {
            let line = event.to_json(super::unix_ms());
            let mut results = self.results();
            let _ = writeln!(results, "{line}");
            let _ = results.flush();
        } else if let Some(line) = human {
            self.note(&line);
        }
    }

    /// A line for a person on stderr, above the spinner if one runs.
    pub fn note(&self, line: &str) {
        if self.out.quiet {
            return;
        }
        match &self.spinner {
            Some(spinner) => spinner.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// "ringing @bob… 12 s" while waiting, on a terminal only.
    pub fn start_spinner(&mut self, message: String) {
        self.stop_spinner();
        if self.out.quiet || self.out.json || !std::io::stderr().is_terminal() {
            return;
        }
        let spinner = ProgressBar::new_spinner();
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        spinner.set_message(message);
        spinner.enable_steady_tick(Duration::from_millis(120));
        self.spinner = Some(spinner);
    }

    pub fn stop_spinner(&mut self) {
        if let Some(spinner) = self.spinner.take() {
            spinner.finish_and_clear();
        }
    }

    /// The final one-line summary (stdout, not in JSON mode, where `ended` says it all).
    pub fn summary(&mut self, line: &str) {
        self.stop_spinner();
        if !self.out.json && !self.out.quiet {
            let _ = writeln!(self.results(), "{line}");
        }
    }
}

/// A legacy call's reference (`"protocol": "legacy"`).
pub fn legacy_call(room_id: &str, call_id: &str) -> CallRef {
    call_ref(room_id, call_id, LEGACY)
}

/// The fields every call event has: `room_id`, `call_id`, `protocol` (`legacy` or `matrixrtc`).
pub fn call_ref(room_id: &str, call_id: &str, protocol: &'static str) -> CallRef {
    CallRef {
        room_id: room_id.to_owned(),
        call_id: call_id.to_owned(),
        protocol,
    }
}

/// The `protocol` of `m.call.*` calls.
pub const LEGACY: &str = "legacy";

/// The line `call`/`answer` print when a call ends (not in `--json` mode): "call with PEER
/// OUTCOME after S s, HOW; N packets received, L lost (P%), MOS M" plus `tail` once media
/// flowed, else "call with PEER: OUTCOME, HOW". `how` ("hung up by …") is empty for a call that
/// ended without a hangup reason (a MatrixRTC call); the line then leaves it out.
pub fn end_summary(
    peer: &str,
    words: &str,
    duration: Duration,
    how: &str,
    stats: Option<&crate::media::MediaStats>,
    tail: &str,
) -> String {
    match stats {
        Some(s) if !duration.is_zero() => {
            let how = if how.is_empty() {
                String::new()
            } else {
                format!(", {how}")
            };
            format!(
                "call with {peer} {words} after {:.1} s{how}; {} packets received, {} lost ({:.1}%), MOS {:.1}{tail}",
                duration.as_secs_f64(),
                s.packets_received,
                s.packets_lost,
                super::stats::loss_percent(s.packets_lost, s.packets_received),
                super::stats::mos(s)
            )
        }
        _ if how.is_empty() => format!("call with {peer}: {words}"),
        _ => format!("call with {peer}: {words}, {how}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::MediaStats;

    #[test]
    fn the_end_summary_names_the_hangup_only_when_there_was_one() {
        let stats = MediaStats {
            packets_received: 1500,
            ..Default::default()
        };
        let d = Duration::from_millis(30_040);
        let legacy = end_summary(
            "@b:x",
            "completed",
            d,
            "hung up by us (user_hangup)",
            Some(&stats),
            "",
        );
        assert!(
            legacy.starts_with("call with @b:x completed after 30.0 s, hung up by us (user_hangup); 1500 packets received, 0 lost (0.0%), MOS "),
            "{legacy}"
        );
        let rtc = end_summary(
            "@b:x",
            "completed",
            d,
            "",
            Some(&stats),
            ", 1 frames did not decrypt",
        );
        assert!(
            rtc.starts_with("call with @b:x completed after 30.0 s; 1500 packets received"),
            "{rtc}"
        );
        assert!(rtc.ends_with(", 1 frames did not decrypt"), "{rtc}");
        assert_eq!(
            end_summary("@b:x", "no answer", Duration::ZERO, "", None, ""),
            "call with @b:x: no answer"
        );
        assert_eq!(
            end_summary(
                "@b:x",
                "declined",
                Duration::ZERO,
                "hung up by @b:x (user_busy)",
                None,
                ""
            ),
            "call with @b:x: declined, hung up by @b:x (user_busy)"
        );
    }
}
