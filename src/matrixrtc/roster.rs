//! The memberships of the room's call slot as they stand: one entry per state key of our user
//! and of the other member (nobody else's are kept), each parsed once and given the `Instant` at
//! which it lapses.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use matrix_sdk::ruma::{OwnedUserId, UserId};

use super::membership::{self, Membership, NotMember};
use super::{LivekitTransport, Member, after};

/// State keys kept per user: a user has a handful of devices; more is a flood.
const MAX_KEYS_PER_USER: usize = 32;
/// Membership event ids remembered (to resolve what a ring relates to).
const MAX_KNOWN_EVENTS: usize = 256;

/// The current state at one state key.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub sender: OwnedUserId,
    pub event_id: String,
    /// `None`: left, malformed, or another call.
    pub membership: Option<Membership>,
    /// When the membership lapses (meaningless when `membership` is `None`).
    pub expires_at: Instant,
    /// The membership's creation time (Unix ms): `created_ts`, else `origin_server_ts`.
    pub created_ms: u64,
}

impl Entry {
    /// A membership that has not lapsed at `now` (js-sdk `isValidMembership`, minus the
    /// room-membership check, which the machine applies).
    pub fn is_valid(&self, now: Instant) -> bool {
        self.membership.is_some() && now < self.expires_at
    }

    pub fn member(&self, state_key: &str) -> Option<Member> {
        let m = self.membership.as_ref()?;
        Some(Member {
            user: self.sender.clone(),
            device_id: m.device_id.clone(),
            state_key: state_key.to_owned(),
            event_id: self.event_id.clone(),
            member_id: m.member_id.clone(),
            focus_selection: m.focus_selection.clone(),
            transports: m.transports.iter().map(LivekitTransport::clone).collect(),
            intent: m.intent.clone(),
        })
    }
}

#[derive(Debug, Default)]
pub(super) struct Roster {
    entries: BTreeMap<String, Entry>,
    known_events: VecDeque<(String, String)>,
}

impl Roster {
    /// Record a membership state event (the caller has checked that `sender` is one of the two
    /// users that count). Malformed content replaces the entry as "left": Element X counts a
    /// membership it cannot parse as left.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        now: Instant,
        now_ms: u64,
        sender: &UserId,
        state_key: &str,
        event_id: &str,
        content: &serde_json::Value,
        origin_server_ts: u64,
    ) {
        let parsed = membership::parse(sender, state_key, content);
        if matches!(parsed, Err(NotMember::ForeignStateKey)) {
            // Not the sender's key: it says nothing about anyone's membership, and must not
            // overwrite the owner's entry either.
            return tracing::debug!(%sender, state_key, "membership under a foreign state key");
        }
        if let Err(e) = &parsed
            && !matches!(e, NotMember::Left)
        {
            tracing::debug!(%sender, state_key, "membership counts as left: {e}");
        }
        if !self.entries.contains_key(state_key)
            && self
                .entries
                .values()
                .filter(|e| *e.sender == *sender)
                .count()
                >= MAX_KEYS_PER_USER
        {
            return tracing::debug!(%sender, "too many membership keys: ignoring");
        }
        let membership = parsed.ok();
        let created_ms = membership
            .as_ref()
            .map_or(origin_server_ts, |m| m.created_at_ms(origin_server_ts));
        let expires_ms = membership
            .as_ref()
            .map_or(0, |m| m.expires_at_ms(origin_server_ts));
        let expires_at = if expires_ms > now_ms {
            after(now, std::time::Duration::from_millis(expires_ms - now_ms))
        } else {
            now
        };
        if !event_id.is_empty() {
            self.known_events
                .push_back((event_id.to_owned(), state_key.to_owned()));
            if self.known_events.len() > MAX_KNOWN_EVENTS {
                self.known_events.pop_front();
            }
        }
        self.entries.insert(
            state_key.to_owned(),
            Entry {
                sender: sender.to_owned(),
                event_id: event_id.to_owned(),
                membership,
                expires_at,
                created_ms,
            },
        );
    }

    pub fn get(&self, state_key: &str) -> Option<&Entry> {
        self.entries.get(state_key)
    }

    /// `user`'s valid memberships at `now`, by state key.
    pub fn valid<'a>(
        &'a self,
        user: &'a UserId,
        now: Instant,
    ) -> impl Iterator<Item = (&'a str, &'a Entry)> + 'a {
        self.entries
            .iter()
            .filter(move |(_, e)| *e.sender == *user && e.is_valid(now))
            .map(|(k, e)| (k.as_str(), e))
    }

    /// The state key a membership event was seen under, if remembered.
    pub fn key_of_event(&self, event_id: &str) -> Option<&str> {
        self.known_events
            .iter()
            .rev()
            .find(|(id, _)| id == event_id)
            .map(|(_, k)| k.as_str())
    }

    /// The next moment a valid membership lapses, after `now`.
    pub fn next_expiry(&self, now: Instant) -> Option<Instant> {
        self.entries
            .values()
            .filter(|e| e.is_valid(now))
            .map(|e| e.expires_at)
            .min()
    }
}
