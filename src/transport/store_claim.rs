//! Handing the crypto store to a short-lived process of the same profile.
//!
//! A long-running `call`/`answer`/`watch` holds the store's cross-process lock through each
//! `/sync` long-poll (up to 25 s), and takes it again right after: a `hangup` from another shell
//! that waits for the lock with back-off would starve. So a process that needs the store for a
//! moment *claims* it — a file `run/claim.<pid>` in the profile directory — and every sync loop
//! that sees a live claim of another process drops its long-poll (releasing the lock) and waits
//! until the claim is gone. Cutting a `/sync` short is safe: the sync token is saved only after a
//! response was processed, so whatever was cut is delivered again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::profile::create_private_dir;

/// How often a sync loop looks for claims while it long-polls.
pub const CHECK_EVERY: Duration = Duration::from_millis(200);
/// A claim older than this is ignored (its process is stuck; the store must not stay idle).
const MAX_CLAIM_AGE: Duration = Duration::from_secs(120);

/// This process's claim on the store; dropping it gives the store back.
pub struct StoreClaim {
    path: PathBuf,
}

impl StoreClaim {
    /// Claims the store of the profile in `profile_dir`. Best effort: without a claim file the
    /// lock still protects the store, the wait is only longer.
    pub fn new(profile_dir: &Path) -> Option<StoreClaim> {
        let dir = profile_dir.join("run");
        create_private_dir(&dir).ok()?;
        let path = dir.join(format!("claim.{}", std::process::id()));
        std::fs::write(&path, b"").ok()?;
        Some(StoreClaim { path })
    }
}

impl Drop for StoreClaim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether another live process of the profile claims the store now. Claims of dead processes
/// are removed on the way.
pub fn claimed_by_other(profile_dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(profile_dir.join("run")) else {
        return false;
    };
    let own = std::process::id();
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("claim."))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            return false;
        };
        if pid == own {
            return false;
        }
        if !process_alive(pid) {
            let _ = std::fs::remove_file(entry.path());
            return false;
        }
        entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < MAX_CLAIM_AGE)
    })
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_seen_by_others_only_while_it_lives() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        // Our own claim is not "another process".
        let own = StoreClaim::new(dir.path()).unwrap();
        assert!(!claimed_by_other(dir.path()));
        drop(own);
        // A live process's claim (pid 1 always exists), and a dead one's, which is cleaned up.
        std::fs::write(run.join("claim.1"), b"").unwrap();
        assert!(claimed_by_other(dir.path()));
        std::fs::remove_file(run.join("claim.1")).unwrap();
        let dead = run.join(format!("claim.{}", i32::MAX - 7));
        std::fs::write(&dead, b"").unwrap();
        assert!(!claimed_by_other(dir.path()));
        assert!(!dead.exists());
    }
}
