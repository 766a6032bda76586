//! Where mxcall prints: results and JSON on stdout, progress and notes on stderr.
//!
//! stdout carries only what a script consumes (one JSON object per line with `--json`, or the
//! final one-line result), so `mxcall --json … | jq` always works.

use std::io::Write;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
}

impl Output {
    pub fn new(json: bool, quiet: bool) -> Self {
        Output { json, quiet }
    }

    /// The command's result: `value` as one JSON line with `--json`, else `human`.
    pub fn result(&self, human: &str, value: &serde_json::Value) {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(stdout, "{value}");
        } else if !self.quiet {
            let _ = writeln!(stdout, "{human}");
        }
    }

    /// A progress line or note for a person, on stderr.
    pub fn note(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }
}
