//! Writing our own `m.call.*` contents, with ruma's typed contents so the wire format is ruma's,
//! not ours. Every event carries `call_id`, our `party_id` and `version: "1"` — also towards a
//! version-0 peer, as js-sdk does; where version 0 needs different *behaviour* (hangup instead of
//! reject, no `user_hangup` reason, no select_answer/negotiate) the machine decides.

use std::collections::BTreeMap;
use std::time::Duration;

use matrix_sdk::ruma::events::call::{
    SessionDescription, StreamMetadata, StreamPurpose,
    answer::CallAnswerEventContent,
    candidates::{CallCandidatesEventContent, Candidate},
    hangup::{CallHangupEventContent, Reason},
    invite::CallInviteEventContent,
    negotiate::CallNegotiateEventContent,
    reject::CallRejectEventContent,
    select_answer::CallSelectAnswerEventContent,
};
use matrix_sdk::ruma::{OwnedVoipId, UInt, UserId, VoipVersionId};
use serde::Serialize;
use serde_json::Value;

use super::IceCandidate;
use super::event::SdpKind;

pub(super) const INVITE: &str = "m.call.invite";
pub(super) const ANSWER: &str = "m.call.answer";
pub(super) const CANDIDATES: &str = "m.call.candidates";
pub(super) const SELECT_ANSWER: &str = "m.call.select_answer";
pub(super) const REJECT: &str = "m.call.reject";
pub(super) const HANGUP: &str = "m.call.hangup";
pub(super) const NEGOTIATE: &str = "m.call.negotiate";
pub(super) const STREAM_METADATA_CHANGED: &str = "m.call.sdp_stream_metadata_changed";

/// Who we are in a call: the fields every event of ours carries.
#[derive(Clone, Copy)]
pub(super) struct Ids<'a> {
    pub call_id: &'a str,
    pub party_id: &'a str,
}

impl Ids<'_> {
    fn call(&self) -> OwnedVoipId {
        self.call_id.into()
    }
    fn party(&self) -> OwnedVoipId {
        self.party_id.into()
    }
}

fn millis(d: Duration) -> UInt {
    UInt::new_saturating(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `sdp_stream_metadata` naming our one stream as user media: js-sdk drops remote audio whose
/// stream is not listed once the field is present.
fn stream_metadata(stream_id: &str) -> BTreeMap<String, StreamMetadata> {
    BTreeMap::from([(
        stream_id.to_owned(),
        StreamMetadata::new(StreamPurpose::UserMedia),
    )])
}

fn to_value(content: impl Serialize) -> Value {
    // ruma's call contents are plain structs with string keys; serialising them cannot fail.
    // Should it ever, an empty object is caught by the peer's validation instead of a panic here.
    serde_json::to_value(content).unwrap_or_else(|e| {
        tracing::error!("cannot serialise call content: {e}");
        Value::Object(Default::default())
    })
}

pub(super) fn invite(
    ids: Ids<'_>,
    lifetime: Duration,
    sdp: &str,
    invitee: &UserId,
    stream_id: &str,
) -> Value {
    let offer = SessionDescription::new("offer".to_owned(), sdp.to_owned());
    let mut c = CallInviteEventContent::version_1(ids.call(), ids.party(), millis(lifetime), offer);
    c.invitee = Some(invitee.to_owned());
    c.sdp_stream_metadata = stream_metadata(stream_id);
    to_value(c)
}

pub(super) fn answer(ids: Ids<'_>, sdp: &str, stream_id: &str) -> Value {
    let answer = SessionDescription::new("answer".to_owned(), sdp.to_owned());
    let mut c = CallAnswerEventContent::version_1(answer, ids.call(), ids.party());
    c.sdp_stream_metadata = stream_metadata(stream_id);
    to_value(c)
}

/// A batch of candidates; `end` appends the end-of-candidates entry (`candidate: ""`).
pub(super) fn candidates(ids: Ids<'_>, list: &[IceCandidate], end: bool) -> Value {
    let mut out: Vec<Candidate> = list
        .iter()
        .map(|c| {
            let mut r = Candidate::new(c.candidate.clone());
            r.sdp_mid = c.sdp_mid.clone();
            r.sdp_m_line_index = c.sdp_mline_index.map(UInt::from);
            r
        })
        .collect();
    if end {
        // js-sdk sends the bare `{candidate: ""}` too.
        out.push(Candidate::new(String::new()));
    }
    to_value(CallCandidatesEventContent::version_1(
        ids.call(),
        ids.party(),
        out,
    ))
}

pub(super) fn select_answer(ids: Ids<'_>, selected_party_id: &str) -> Value {
    to_value(CallSelectAnswerEventContent::version_1(
        ids.call(),
        ids.party(),
        selected_party_id.into(),
    ))
}

pub(super) fn reject(ids: Ids<'_>) -> Value {
    to_value(CallRejectEventContent::version_1(ids.call(), ids.party()))
}

/// A hangup; `reason: None` leaves the field out (how js-sdk spares version-0 peers the
/// `user_hangup` they do not know; for them a missing reason means exactly that).
pub(super) fn hangup(ids: Ids<'_>, reason: Option<&str>) -> Value {
    let c = CallHangupEventContent::version_1(
        ids.call(),
        ids.party(),
        Reason::from(reason.unwrap_or("user_hangup")),
    );
    let mut v = to_value(c);
    if reason.is_none()
        && let Some(obj) = v.as_object_mut()
    {
        obj.remove("reason");
    }
    v
}

/// Our stream's metadata with `audio_muted` (MSC3077), as js-sdk's `setMicrophoneMuted` sends it.
pub(super) fn stream_metadata_changed(ids: Ids<'_>, stream_id: &str, audio_muted: bool) -> Value {
    serde_json::json!({
        "call_id": ids.call_id,
        "party_id": ids.party_id,
        "version": "1",
        "sdp_stream_metadata": {
            stream_id: {"purpose": "m.usermedia", "audio_muted": audio_muted, "video_muted": true},
        },
    })
}

pub(super) fn negotiate(
    ids: Ids<'_>,
    kind: SdpKind,
    sdp: &str,
    lifetime: Duration,
    stream_id: &str,
) -> Value {
    let kind = match kind {
        SdpKind::Offer => "offer",
        SdpKind::Answer => "answer",
    };
    let description = SessionDescription::new(kind.to_owned(), sdp.to_owned());
    let mut c = CallNegotiateEventContent::new(
        ids.call(),
        ids.party(),
        VoipVersionId::V1,
        millis(lifetime),
        description,
    );
    c.sdp_stream_metadata = stream_metadata(stream_id);
    to_value(c)
}
