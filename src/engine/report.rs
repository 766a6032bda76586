//! What the user sees of a call: JSON events on stdout with `--json`, progress lines (and a
//! spinner on a terminal) on stderr otherwise, and a one-line summary on stdout at the end.
//! When stdout carries the call's audio (`--output raw:-`), JSON and the summary go to stderr
//! instead, so that the audio stream stays clean.
//!
//! JSON event names (documented in the man page): `invite_sent`, `ringing`, `joined`
//! (MatrixRTC: our membership is on the server), `connecting`, `connected`, `media`, `hangup`,
//! `ended`, `undecryptable`; each object has `event`, `ts` (Unix ms) and
//! `room_id`/`call_id`/`protocol` where they apply.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::output::Output;

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
    pub fn event(&mut self, name: &str, mut fields: Value, human: Option<String>) {
        if !self.events {
            return;
        }
        if self.out.json {
            if let Value::Object(map) = &mut fields {
                map.insert("event".into(), name.into());
                map.insert("ts".into(), super::unix_ms().into());
            }
            let mut results = self.results();
            let _ = writeln!(results, "{fields}");
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

/// The fields of a legacy call's event (`"protocol": "legacy"`) plus `extra`.
pub fn with_call(room_id: &str, call_id: &str, extra: Value) -> Value {
    with_call_protocol(room_id, call_id, "legacy", extra)
}

/// The fields every call event has — `room_id`, `call_id`, `protocol` (`legacy` or
/// `matrixrtc`) — plus `extra`.
pub fn with_call_protocol(room_id: &str, call_id: &str, protocol: &str, extra: Value) -> Value {
    let mut base = json!({ "room_id": room_id, "call_id": call_id, "protocol": protocol });
    if let (Value::Object(base_map), Value::Object(extra_map)) = (&mut base, extra) {
        base_map.extend(extra_map);
    }
    base
}
