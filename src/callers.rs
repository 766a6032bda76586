//! Who may reach the audio devices: the allowed callers of a profile and the rule that uses them.
//!
//! A Matrix account can be invited to a room and called by anyone on the federation, and
//! `answer` / `watch --answer` answer with the microphone open. So (issue 11, "Strangers"):
//!
//! - The **allowed callers** are the profile's list (`allowed-callers` in the profile directory,
//!   one user id per line, managed by `mxcall allow`) plus `--from @user` of this run.
//! - A **direct-chat invite** is joined only when its inviter is allowed; with nobody allowed,
//!   mxcall never joins a room by itself.
//! - A call is **answered automatically** only from an allowed caller; with nobody allowed,
//!   only in rooms the user has already joined (which, by the rule above, mxcall never joined
//!   on a stranger's invite). Other calls still ring (printed, `--exec` hooks run) but are not
//!   answered.
//!
//! The rule is pure ([`CallerPolicy`]); the file is read and written by [`AllowList`].

use std::collections::BTreeSet;
use std::path::PathBuf;

use matrix_sdk::ruma::{OwnedUserId, UserId};

use crate::error::{Error, Result};
use crate::profile::{Profile, write_private_atomic};

/// The file in the profile directory.
pub const FILE_NAME: &str = "allowed-callers";

/// The profile's allowed callers, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    users: BTreeSet<OwnedUserId>,
}

impl AllowList {
    fn path(profile: &Profile) -> PathBuf {
        profile.dir.join(FILE_NAME)
    }

    /// Reads the profile's list; a missing file is an empty list. Blank lines and `#` comments
    /// are ignored; a line that is not a user id is an error naming the file and line.
    pub fn load(profile: &Profile) -> Result<Self> {
        let path = Self::path(profile);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::other(&format!("cannot read {}", path.display()), e)),
        };
        let mut users = BTreeSet::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let user = parse_user(line)
                .map_err(|e| Error::Usage(format!("{}, line {}: {e}", path.display(), n + 1)))?;
            users.insert(user);
        }
        Ok(AllowList { users })
    }

    /// Writes the list (0600, atomically), creating the profile directory if needed.
    pub fn save(&self, profile: &Profile) -> Result<()> {
        profile.ensure_dir()?;
        let mut text = String::from(
            "# Callers mxcall may answer automatically; `mxcall allow` edits this file.\n",
        );
        for u in &self.users {
            text.push_str(u.as_str());
            text.push('\n');
        }
        write_private_atomic(&Self::path(profile), text.as_bytes())
    }

    pub fn insert(&mut self, user: OwnedUserId) -> bool {
        self.users.insert(user)
    }

    pub fn remove(&mut self, user: &UserId) -> bool {
        self.users.remove(user)
    }

    pub fn users(&self) -> impl Iterator<Item = &OwnedUserId> {
        self.users.iter()
    }
}

/// A user id from the command line or the file (`@user:server`).
pub fn parse_user(raw: &str) -> std::result::Result<OwnedUserId, String> {
    OwnedUserId::try_from(raw.trim())
        .map_err(|_| format!("'{raw}' is not a user id (expected @user:server)"))
}

/// The rule of the module documentation, for one run.
#[derive(Debug, Clone, Default)]
pub struct CallerPolicy {
    allowed: BTreeSet<OwnedUserId>,
}

impl CallerPolicy {
    /// The profile's list and this run's `--from` users.
    pub fn new(list: AllowList, from: impl IntoIterator<Item = OwnedUserId>) -> Self {
        let mut allowed = list.users;
        allowed.extend(from);
        CallerPolicy { allowed }
    }

    /// Whether anybody is allowed explicitly.
    pub fn has_allowed(&self) -> bool {
        !self.allowed.is_empty()
    }

    /// Whether a direct-chat invite from `inviter` may be joined.
    pub fn may_join_invite(&self, inviter: Option<&UserId>) -> bool {
        inviter.is_some_and(|u| self.allowed.contains(u))
    }

    /// Whether a call from `caller` in a room the user has joined may be answered automatically.
    pub fn may_answer(&self, caller: &UserId) -> bool {
        self.allowed.is_empty() || self.allowed.contains(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(s: &str) -> OwnedUserId {
        parse_user(s).unwrap()
    }

    fn profile() -> (tempfile::TempDir, Profile) {
        let dir = tempfile::tempdir().unwrap();
        let profile = Profile {
            name: "p".into(),
            dir: dir.path().join("profiles/p"),
        };
        (dir, profile)
    }

    #[test]
    fn nobody_allowed_joins_no_invite_and_answers_only_in_joined_rooms() {
        let p = CallerPolicy::new(AllowList::default(), []);
        assert!(!p.has_allowed());
        assert!(!p.may_join_invite(Some(&user("@alice:hs"))));
        assert!(!p.may_join_invite(None));
        assert!(p.may_answer(&user("@alice:hs")));
    }

    #[test]
    fn with_allowed_callers_only_they_are_joined_and_answered() {
        let mut list = AllowList::default();
        list.insert(user("@alice:hs"));
        let p = CallerPolicy::new(list, [user("@bob:hs")]);
        for ok in ["@alice:hs", "@bob:hs"] {
            assert!(p.may_join_invite(Some(&user(ok))));
            assert!(p.may_answer(&user(ok)));
        }
        assert!(!p.may_join_invite(Some(&user("@mallory:evil"))));
        assert!(!p.may_answer(&user("@mallory:evil")));
    }

    #[test]
    fn the_list_round_trips_privately_and_bad_lines_are_named() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, profile) = profile();
        assert_eq!(AllowList::load(&profile).unwrap(), AllowList::default());
        let mut list = AllowList::default();
        assert!(list.insert(user("@b:hs")));
        assert!(list.insert(user("@a:hs")));
        assert!(!list.insert(user("@a:hs")));
        list.save(&profile).unwrap();
        let path = profile.dir.join(FILE_NAME);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = AllowList::load(&profile).unwrap();
        assert_eq!(back, list);
        assert!(list.remove(&user("@a:hs")));
        assert_eq!(list.users().count(), 1);

        std::fs::write(&path, "# mine\n@a:hs  # a friend\n\nnot-a-user\n").unwrap();
        let err = AllowList::load(&profile).unwrap_err().to_string();
        assert!(
            err.contains("line 4") && err.contains("not-a-user"),
            "{err}"
        );
    }
}
