//! The JSON events of `--json`: one typed, serialisable [`Event`] per thing a script can see
//! happen, and [`DOCS`], what `--help`, the man pages and the README say about each. The
//! engine prints nothing else as an event (`engine::report::Reporter::event` takes an
//! [`Event`]); the unit tests below check that every variant is documented with exactly the
//! fields it serialises, and `tests/generated.rs` that the README's table is [`readme_table`].
//!
//! On the wire each event is one JSON object per line: `"event"` (the name), `"ts"` (Unix ms,
//! added when printed), and for call events `room_id`, `call_id` and `protocol` (`legacy` for
//! `m.call.*`, `matrixrtc` for MatrixRTC calls) — [`CallRef`].

use serde::Serialize;

use crate::media::MediaStats;

/// The fields every call event carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRef {
    pub room_id: String,
    /// The call's id: `m.call.*`'s `call_id`; for MatrixRTC the ring notification's event id
    /// (rung) or our own id (calling).
    pub call_id: String,
    /// `legacy` or `matrixrtc`.
    pub protocol: &'static str,
}

/// Who did something: this process (`local`: `mxcall hold`, a hangup of ours) or the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Local,
    Remote,
}

/// One `stats` interval of a connected call (for MatrixRTC: what we publish to the SFU and
/// what it forwards to us). Counters are totals since the call started; rates, loss and MOS
/// are over the interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntervalStats {
    /// Length of the interval (the first report's runs from `connected`).
    pub interval_ms: u64,
    /// Round-trip time from RTCP (`None` before the first report).
    pub rtt_ms: Option<f64>,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub packets_lost: u64,
    /// Lost packets over the interval, in percent of those due.
    pub loss_percent: f64,
    /// RFC 3550 interarrival jitter, ms.
    pub jitter_ms: f64,
    /// The jitter buffer's current target depth, ms.
    pub jitter_buffer_ms: u64,
    pub concealed_frames: u64,
    /// Lost frames rebuilt from Opus in-band FEC.
    pub fec_recovered: u64,
    /// Over the interval (`None` only for an interval of zero length).
    pub send_kbps: Option<f64>,
    pub recv_kbps: Option<f64>,
    /// ITU-T G.107 E-model estimate from delay and loss, 1–4.5.
    pub mos: f64,
}

/// Frame-encryption counters of a call whose media was end-to-end encrypted by us (MatrixRTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct E2eeFrames {
    pub frames_encrypted: u64,
    pub frames_decrypted: u64,
    /// `frames_without_key + frames_failed`.
    pub decrypt_failures: u64,
    pub frames_without_key: u64,
    pub frames_failed: u64,
}

/// What the `ended` event of a call (not of a `--wait` that ran out) says about its media.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndedMedia {
    /// The call's final counters (`packets_sent`: what went on the wire); absent if it never
    /// connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<MediaStats>,
    /// The whole call's MOS (absent if it never connected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mos: Option<f64>,
    /// `false`: connected, but nothing the other side sent was decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_audio: Option<bool>,
    /// The media was end-to-end encrypted: a legacy call's DTLS-SRTP always is, a MatrixRTC
    /// call's in encrypted rooms (absent if it never connected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// MatrixRTC media encryption's frame counters (absent for legacy calls and unencrypted
    /// rooms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2ee: Option<E2eeFrames>,
}

/// Every event `--json` prints. See [`DOCS`] for what each means.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The user called is invited to the room but has not joined it yet (`call @user` created
    /// the direct room and invited them): the call rings once they join.
    AwaitingJoin { room_id: String, user_id: String },
    Joined {
        #[serde(flatten)]
        call: CallRef,
        /// `null` when the server's answer named none.
        membership_event_id: Option<String>,
    },
    InviteSent {
        #[serde(flatten)]
        call: CallRef,
        callee: String,
        /// MatrixRTC: the ring notification's event id.
        #[serde(skip_serializing_if = "Option::is_none")]
        notification_id: Option<String>,
    },
    Ringing {
        #[serde(flatten)]
        call: CallRef,
        caller: String,
        /// This process answers it.
        answering: bool,
        /// MatrixRTC: the notification's call intent (`audio`, `video`), if it names one.
        #[serde(skip_serializing_if = "Option::is_none")]
        intent: Option<String>,
    },
    Connecting {
        #[serde(flatten)]
        call: CallRef,
        /// MatrixRTC: the other member's device that joined.
        #[serde(skip_serializing_if = "Option::is_none")]
        device_id: Option<String>,
    },
    Connected {
        #[serde(flatten)]
        call: CallRef,
        /// The media is end-to-end encrypted (as `ended` says): always for a legacy call
        /// (DTLS-SRTP), for MatrixRTC in encrypted rooms.
        encrypted: bool,
    },
    Media {
        #[serde(flatten)]
        call: CallRef,
    },
    Hangup {
        #[serde(flatten)]
        call: CallRef,
        reason: String,
        by: By,
    },
    Held {
        #[serde(flatten)]
        call: CallRef,
        by: By,
    },
    Resumed {
        #[serde(flatten)]
        call: CallRef,
        by: By,
    },
    Muted {
        #[serde(flatten)]
        call: CallRef,
        by: By,
    },
    Unmuted {
        #[serde(flatten)]
        call: CallRef,
        by: By,
    },
    RemoteMuted {
        #[serde(flatten)]
        call: CallRef,
    },
    RemoteUnmuted {
        #[serde(flatten)]
        call: CallRef,
    },
    Dtmf {
        #[serde(flatten)]
        call: CallRef,
        digit: String,
        duration_ms: u64,
    },
    Stats {
        #[serde(flatten)]
        call: CallRef,
        #[serde(flatten)]
        stats: IntervalStats,
    },
    Ended {
        /// `None`: no call — nothing to answer arrived within `--wait`, the callee never joined
        /// the room, or the process was interrupted before either.
        #[serde(flatten)]
        call: Option<CallRef>,
        /// `completed`, `cancelled` (we hung up, or were interrupted, before it connected),
        /// `declined`, `no_answer`,
        /// `media_failed`, `answered_elsewhere`, `error`.
        outcome: &'static str,
        duration_ms: u64,
        exit_code: u8,
        #[serde(flatten)]
        media: Option<EndedMedia>,
    },
    E2eeKey {
        #[serde(flatten)]
        call: CallRef,
        identity: String,
        index: u32,
    },
    E2eeKeyMissing {
        #[serde(flatten)]
        call: CallRef,
        user_id: String,
        device_id: String,
    },
    Undecryptable {
        room_id: String,
        sender: String,
        event_id: Option<String>,
        reason: String,
        unverified_device: bool,
    },
}

impl Event {
    /// The `"event"` name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::AwaitingJoin { .. } => "awaiting_join",
            Event::Joined { .. } => "joined",
            Event::InviteSent { .. } => "invite_sent",
            Event::Ringing { .. } => "ringing",
            Event::Connecting { .. } => "connecting",
            Event::Connected { .. } => "connected",
            Event::Media { .. } => "media",
            Event::Hangup { .. } => "hangup",
            Event::Held { .. } => "held",
            Event::Resumed { .. } => "resumed",
            Event::Muted { .. } => "muted",
            Event::Unmuted { .. } => "unmuted",
            Event::RemoteMuted { .. } => "remote_muted",
            Event::RemoteUnmuted { .. } => "remote_unmuted",
            Event::Dtmf { .. } => "dtmf",
            Event::Stats { .. } => "stats",
            Event::Ended { .. } => "ended",
            Event::E2eeKey { .. } => "e2ee_key",
            Event::E2eeKeyMissing { .. } => "e2ee_key_missing",
            Event::Undecryptable { .. } => "undecryptable",
        }
    }

    /// The JSON object as printed, with `ts` (Unix ms).
    pub fn to_json(&self, ts: u64) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("ts".into(), ts.into());
        }
        value
    }
}

/// What the documentation says about one event.
pub struct EventDoc {
    pub name: &'static str,
    /// When it is printed.
    pub meaning: &'static str,
    /// Its own fields (besides `event`, `ts` and the call's), `?` after those only some carry.
    pub fields: &'static [&'static str],
}

/// Every event, in the order a call produces them.
pub const DOCS: &[EventDoc] = &[
    EventDoc {
        name: "awaiting_join",
        meaning: "the user called is invited to the room but has not joined it (call @user \
                  just created the direct room): the call rings once they join (no_answer if \
                  they do not within --ring-timeout)",
        fields: &["room_id", "user_id"],
    },
    EventDoc {
        name: "joined",
        meaning: "MatrixRTC: our call membership is in the room",
        fields: &["membership_event_id"],
    },
    EventDoc {
        name: "invite_sent",
        meaning: "our invite (MatrixRTC: ring notification) went out",
        fields: &["callee", "notification_id?"],
    },
    EventDoc {
        name: "ringing",
        meaning: "an incoming call rings; answering: this process answers it (false for a caller \
                  that is not allowed, see `mxcall allow`, or `watch` without --answer)",
        fields: &["caller", "answering", "intent?"],
    },
    EventDoc {
        name: "connecting",
        meaning: "the call was answered (MatrixRTC: the other member joined); media is being set up",
        fields: &["device_id?"],
    },
    EventDoc {
        name: "connected",
        meaning: "media flows (MatrixRTC: our audio is on the SFU and the other member is in the \
                  call); encrypted: the media is end-to-end encrypted (legacy: always, \
                  DTLS-SRTP; MatrixRTC: in encrypted rooms)",
        fields: &["encrypted"],
    },
    EventDoc {
        name: "media",
        meaning: "the first audio from the other side was decoded",
        fields: &[],
    },
    EventDoc {
        name: "hangup",
        meaning: "the call was hung up; reason as on the wire (user_hangup, user_busy, \
                  invite_timeout, ice_failed…) or rejected, left_room, answered_elsewhere",
        fields: &["reason", "by"],
    },
    EventDoc {
        name: "held",
        meaning: "the call was put on hold, by: local (mxcall hold) or remote",
        fields: &["by"],
    },
    EventDoc {
        name: "resumed",
        meaning: "the call was resumed, by: local (mxcall resume) or remote",
        fields: &["by"],
    },
    EventDoc {
        name: "muted",
        meaning: "we muted our microphone (mxcall mute)",
        fields: &["by"],
    },
    EventDoc {
        name: "unmuted",
        meaning: "we unmuted it (mxcall unmute)",
        fields: &["by"],
    },
    EventDoc {
        name: "remote_muted",
        meaning: "the other side muted its microphone",
        fields: &[],
    },
    EventDoc {
        name: "remote_unmuted",
        meaning: "the other side unmuted its microphone",
        fields: &[],
    },
    EventDoc {
        name: "dtmf",
        meaning: "the other side sent a DTMF digit (legacy calls; RFC 4733)",
        fields: &["digit", "duration_ms"],
    },
    EventDoc {
        name: "stats",
        meaning: "every --stats-interval while a call is connected (MatrixRTC: what we publish \
                  to the SFU and what it forwards); loss, bitrates and mos (ITU-T G.107 E-model, \
                  1-4.5) over the interval",
        fields: &[
            "interval_ms",
            "rtt_ms",
            "packets_sent",
            "packets_received",
            "packets_lost",
            "loss_percent",
            "jitter_ms",
            "jitter_buffer_ms",
            "concealed_frames",
            "fec_recovered",
            "send_kbps",
            "recv_kbps",
            "mos",
        ],
    },
    EventDoc {
        name: "ended",
        meaning: "the call is over (no call fields when there was no call: nothing arrived \
                  within --wait, the callee never joined the room, or Ctrl-C came before \
                  either); duration_ms: time connected (0 if it never connected); outcome \
                  completed, cancelled (hung up or interrupted here before it connected), \
                  declined, no_answer, \
                  media_failed, answered_elsewhere or error; \
                  stats: the final counters; mos: the whole call's; remote_audio false: \
                  connected, but nothing the other side sent was heard; encrypted: as in \
                  connected; e2ee: frame counters of MatrixRTC media encryption; fields \
                  without a value (a call that never connected has no mos) are left out",
        fields: &[
            "outcome",
            "duration_ms",
            "exit_code",
            "stats?",
            "mos?",
            "remote_audio?",
            "encrypted?",
            "e2ee?",
        ],
    },
    EventDoc {
        name: "e2ee_key",
        meaning: "MatrixRTC: a media key of a participant arrived",
        fields: &["identity", "index"],
    },
    EventDoc {
        name: "e2ee_key_missing",
        meaning: "MatrixRTC: a device in the call sent no usable media key within 5 s; its \
                  audio is not played",
        fields: &["user_id", "device_id"],
    },
    EventDoc {
        name: "undecryptable",
        meaning: "an encrypted event (maybe a call) could not be decrypted (not a call event: \
                  room_id but no call_id)",
        fields: &[
            "room_id",
            "sender",
            "event_id",
            "reason",
            "unverified_device",
        ],
    },
];

fn fields_text(doc: &EventDoc) -> String {
    if doc.fields.is_empty() {
        String::new()
    } else {
        format!(" {{{}}}", doc.fields.join(", "))
    }
}

/// The `JSON EVENTS:` section of `--help` and the man pages, rendered from [`DOCS`].
pub fn help_section() -> String {
    const WIDTH: usize = 96;
    // The descriptions start in one column, two spaces after the longest name.
    let indent = DOCS.iter().map(|d| d.name.len()).max().unwrap_or(0) + 4;
    let mut text = String::from(
        "JSON EVENTS (--json; one object per line on stdout, each with \"event\" and \"ts\" in \
         Unix ms;\ncall events also carry room_id, call_id and \"protocol\": \"legacy\" \
         (m.call.*) or \"matrixrtc\";\n? marks fields only some events carry):",
    );
    for doc in DOCS {
        let mut line = format!("  {:<w$}", doc.name, w = indent - 2);
        let mut at_start = true;
        let words = format!("{}{}", doc.meaning, fields_text(doc));
        for word in words.split_whitespace() {
            if !at_start && line.len() + 1 + word.len() > WIDTH {
                text.push('\n');
                text.push_str(&line);
                line = " ".repeat(indent);
                at_start = true;
            }
            if !at_start {
                line.push(' ');
            }
            line.push_str(word);
            at_start = false;
        }
        text.push('\n');
        text.push_str(&line);
    }
    text
}

/// The README's event table (Markdown), rendered from [`DOCS`].
pub fn readme_table() -> String {
    let mut text = String::from("| event | when | fields |\n|---|---|---|\n");
    for doc in DOCS {
        let fields = doc
            .fields
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let meaning = doc.meaning.split_whitespace().collect::<Vec<_>>().join(" ");
        text.push_str(&format!("| `{}` | {meaning} | {fields} |\n", doc.name));
    }
    text
}

#[cfg(test)]
mod tests;
