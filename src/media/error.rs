//! The one error type of the media engine and the audio endpoints.
//!
//! Every variant means "media failed" (the CLI maps all of them to exit code 7) and prints as a
//! single line that names the device, file or step involved, so the user can act on it without
//! a backtrace.

use std::path::PathBuf;

/// What went wrong below the signalling: audio endpoints, codec, or the WebRTC peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// An audio spec string that names no known kind of source or sink.
    #[error("invalid audio spec '{spec}': {reason}")]
    Spec { spec: String, reason: String },

    /// A spec that is valid, but not in this direction (e.g. `tone:` as an output).
    #[error("'{spec}' cannot be used as an audio {direction}")]
    WrongDirection {
        spec: String,
        direction: &'static str,
    },

    /// No cpal device matches the requested name.
    #[error("no audio {direction} device named '{name}' (see `mxcall devices`)")]
    NoSuchDevice {
        name: String,
        direction: &'static str,
    },

    /// A device exists but cannot be opened or configured, or stopped working.
    #[error("audio device '{name}': {reason}")]
    Device { name: String, reason: String },

    /// An input file that cannot be read as WAV.
    #[error("cannot read WAV file '{}': {reason}", path.display())]
    WavInput { path: PathBuf, reason: String },

    /// An output file that cannot be created or written.
    #[error("cannot write '{}': {reason}", path.display())]
    Output { path: PathBuf, reason: String },

    /// Standard input or output (`raw:-`) failed.
    #[error("raw audio on {stream}: {reason}")]
    Stdio {
        stream: &'static str,
        reason: String,
    },

    /// The Opus encoder or decoder refused to work.
    #[error("Opus codec: {0}")]
    Codec(String),

    /// The remote SDP (offer or answer) could not be applied.
    #[error("cannot apply remote {kind}: {reason}")]
    RemoteDescription { kind: &'static str, reason: String },

    /// A remote ICE candidate could not be added.
    #[error("cannot add remote ICE candidate '{candidate}': {reason}")]
    Candidate { candidate: String, reason: String },

    /// Any other failure of the WebRTC stack, with the step that failed.
    #[error("WebRTC {step}: {reason}")]
    WebRtc { step: &'static str, reason: String },

    /// The session was closed, or its background tasks are gone.
    #[error("media session is closed")]
    Closed,
}

impl MediaError {
    pub(crate) fn webrtc(step: &'static str, err: impl std::fmt::Display) -> Self {
        MediaError::WebRtc {
            step,
            reason: one_line(err),
        }
    }
}

/// Collapses a multi-line error message (cpal and ALSA produce them) into one line.
pub(crate) fn one_line(err: impl std::fmt::Display) -> String {
    let text = err.to_string();
    let mut out = String::with_capacity(text.len());
    for part in text
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_subject() {
        let e = MediaError::Device {
            name: "hw:9".into(),
            reason: one_line("busy\n  really\n"),
        };
        assert_eq!(e.to_string(), "audio device 'hw:9': busy; really");
        let e = MediaError::WavInput {
            path: "/tmp/x.wav".into(),
            reason: "not a WAV".into(),
        };
        assert!(e.to_string().contains("/tmp/x.wav"));
        assert!(!e.to_string().contains('\n'));
    }
}
