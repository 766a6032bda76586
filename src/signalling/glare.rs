//! Glare: two invites crossing in one room. The rule (spec "Glare", and the seed text):
//! - an invite received while we are still *preparing* ours (no invite sent yet) wins: we drop
//!   ours and accept theirs;
//! - an invite received *after* ours was sent: the lexicographically lesser `call_id` survives on
//!   both sides, the greater is hung up. Both clients apply the same comparison, so both keep
//!   the same call without talking about it.
//!
//! The loser is hung up with reason `replaced`, which is what js-sdk sends in both cases
//! (`CallErrorCode.Replaced` from `replacedBy()` and for the losing incoming call).

/// The hangup reason for the call that loses glare.
pub(super) const REPLACED: &str = "replaced";

/// Where our outgoing call is when their invite arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OutgoingStage {
    Preparing,
    InviteSent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resolution {
    /// Drop our call and answer theirs on the user's behalf.
    TakeTheirs,
    /// Keep ours; hang up theirs.
    KeepOurs,
}

/// Byte order of UTF-8 equals js-sdk's UTF-16 order for every id made of ASCII, which is what
/// every known client generates (and the spec's grammar allows).
pub(super) fn resolve(ours: &str, stage: OutgoingStage, theirs: &str) -> Resolution {
    match stage {
        OutgoingStage::Preparing => Resolution::TakeTheirs,
        OutgoingStage::InviteSent if theirs < ours => Resolution::TakeTheirs,
        OutgoingStage::InviteSent => Resolution::KeepOurs,
    }
}
