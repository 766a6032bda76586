//! Call ids that have ended, remembered across invocations of the profile.
//!
//! Synapse caches `/sync` responses: a second initial sync within ~2 minutes can return an old
//! invite with its old `unsigned.age`, which would make it look fresh. Remembering which calls
//! already ended means such an invite never rings twice.

use std::collections::VecDeque;
use std::path::PathBuf;

use crate::profile::{Profile, write_private_atomic};

const KEEP: usize = 500;

pub struct EndedCalls {
    path: PathBuf,
    ids: VecDeque<String>,
}

impl EndedCalls {
    pub fn load(profile: &Profile) -> Self {
        let path = profile.dir.join("ended-calls.json");
        let ids = read(&path);
        EndedCalls { path, ids }
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(String::as_str)
    }

    /// Records `call_id`, merging with what other processes of the profile wrote meanwhile.
    pub fn add(&mut self, call_id: &str) {
        let mut ids = read(&self.path);
        for id in self.ids.drain(..) {
            if !ids.contains(&id) {
                ids.push_back(id);
            }
        }
        if !ids.iter().any(|id| id == call_id) {
            ids.push_back(call_id.to_owned());
        }
        while ids.len() > KEEP {
            ids.pop_front();
        }
        self.ids = ids;
        if let Ok(json) = serde_json::to_vec(&self.ids)
            && let Err(e) = write_private_atomic(&self.path, &json)
        {
            tracing::warn!("cannot remember ended calls: {e}");
        }
    }
}

fn read(path: &PathBuf) -> VecDeque<String> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::SessionStore;

    #[test]
    fn ended_calls_survive_a_restart_and_merge() {
        let tmp = tempfile::tempdir().unwrap();
        let profile = SessionStore::at(tmp.path()).profile("p").unwrap();
        profile.ensure_dir().unwrap();
        let mut a = EndedCalls::load(&profile);
        let mut b = EndedCalls::load(&profile);
        a.add("one");
        b.add("two");
        let ids: Vec<_> = EndedCalls::load(&profile)
            .ids()
            .map(str::to_owned)
            .collect();
        assert_eq!(ids, ["one", "two"]);
    }
}
