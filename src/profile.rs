//! The per-profile session store: where mxcall keeps a login on disk.
//!
//! Layout (iamb-style): `<data>/profiles/<name>/session.json` holds the homeserver, the Matrix
//! session (user, device, access token) and the passphrase of the matrix-sdk SQLite store in
//! `<data>/profiles/<name>/store/`. `<data>` is `$MXCALL_HOME`, else `$XDG_DATA_HOME/mxcall`,
//! else `~/.local/share/mxcall`. Directories are 0700 and files 0600, and the session file is
//! replaced atomically, so a crash never leaves a half-written login behind.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use matrix_sdk::authentication::matrix::MatrixSession;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const DEFAULT_PROFILE: &str = "default";

/// What `session.json` holds. `Debug` is written by hand so that a stray `{:?}` prints no secret.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredSession {
    pub homeserver: String,
    #[serde(flatten)]
    pub matrix: MatrixSession,
    pub store_passphrase: String,
}

impl std::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSession")
            .field("homeserver", &self.homeserver)
            .field("user_id", &self.matrix.meta.user_id)
            .field("device_id", &self.matrix.meta.device_id)
            .finish_non_exhaustive()
    }
}

/// The root of all profiles.
#[derive(Debug, Clone)]
pub struct SessionStore {
    root: PathBuf,
}

impl SessionStore {
    /// Resolves the data directory from the environment (nothing is created yet).
    pub fn from_env() -> Result<Self> {
        let root = if let Some(home) = std::env::var_os("MXCALL_HOME").filter(|v| !v.is_empty()) {
            PathBuf::from(home)
        } else if let Some(xdg) = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
        {
            xdg.join("mxcall")
        } else if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            PathBuf::from(home).join(".local/share/mxcall")
        } else {
            return Err(Error::Other(
                "cannot find a data directory: set MXCALL_HOME or HOME".into(),
            ));
        };
        Ok(SessionStore { root })
    }

    pub fn at(root: impl Into<PathBuf>) -> Self {
        SessionStore { root: root.into() }
    }

    pub fn profile(&self, name: &str) -> Result<Profile> {
        validate_profile_name(name)?;
        Ok(Profile {
            name: name.to_owned(),
            dir: self.root.join("profiles").join(name),
        })
    }
}

fn validate_profile_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid profile name '{name}': use letters, digits, '-', '_' or '.' (not first)"
        )))
    }
}

/// One profile's directory.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub dir: PathBuf,
}

impl Profile {
    pub fn session_path(&self) -> PathBuf {
        self.dir.join("session.json")
    }

    /// The matrix-sdk SQLite store (state, sync token, end-to-end keys).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.join("store")
    }

    /// The stored session, or `NotLoggedIn`.
    pub fn load_session(&self) -> Result<StoredSession> {
        let path = self.session_path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotLoggedIn {
                    profile: self.name.clone(),
                });
            }
            Err(e) => return Err(Error::other(&format!("cannot read {}", path.display()), e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::Auth {
            profile: self.name.clone(),
            message: format!("the session file {} is unreadable ({e})", path.display()),
        })
    }

    pub fn has_session(&self) -> bool {
        self.session_path().exists()
    }

    /// Writes `session.json` atomically with mode 0600.
    pub fn save_session(&self, session: &StoredSession) -> Result<()> {
        self.ensure_dir()?;
        let json = serde_json::to_vec_pretty(session)
            .map_err(|e| Error::other("cannot encode the session", e))?;
        write_private_atomic(&self.session_path(), &json)
    }

    /// Creates the profile directory (and its parents) with mode 0700.
    pub fn ensure_dir(&self) -> Result<()> {
        create_private_dir(&self.dir)
    }

    /// Removes everything mxcall stored for this profile.
    /// Removes the profile's data. A recovery key that login saved here (`recovery-key*.txt`,
    /// possibly the only copy of it) and the allowed callers (`mxcall allow`, the user's own
    /// settings) are kept; their paths are returned.
    pub fn remove(&self) -> Result<Vec<PathBuf>> {
        let io =
            |e: std::io::Error| Error::other(&format!("cannot remove {}", self.dir.display()), e);
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let mut kept = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if (name.starts_with("recovery-key") && name.ends_with(".txt"))
                || name == crate::callers::FILE_NAME
            {
                kept.push(path);
                continue;
            }
            let result = if entry.file_type().map_err(io)?.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match result {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
        if kept.is_empty() {
            match fs::remove_dir(&self.dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
        Ok(kept)
    }
}

pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::other(&format!("cannot create {}", dir.display()), e))?;
    // `recursive` leaves an existing directory's mode alone; a profile directory must be private.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::other(&format!("cannot protect {}", dir.display()), e))
}

/// Write to a temporary file beside `path`, fsync, then rename over it.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let io = |e: std::io::Error| Error::other(&format!("cannot write {}", path.display()), e);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(parent) = path.parent() {
            fs::File::open(parent)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// A random passphrase for the SQLite store, from the kernel's CSPRNG.
pub fn random_passphrase() -> Result<String> {
    use std::io::Read;
    let mut buf = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| Error::other("cannot read /dev/urandom", e))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use matrix_sdk::SessionTokens;
    use matrix_sdk::ruma::{device_id, user_id};

    fn session() -> StoredSession {
        StoredSession {
            homeserver: "http://127.0.0.1:8008".into(),
            matrix: MatrixSession {
                meta: matrix_sdk::SessionMeta {
                    user_id: user_id!("@a:localhost").to_owned(),
                    device_id: device_id!("DEV").to_owned(),
                },
                tokens: SessionTokens {
                    access_token: "syt_secret".into(),
                    refresh_token: None,
                },
            },
            store_passphrase: "pass".into(),
        }
    }

    #[test]
    fn profile_names_are_validated() {
        let store = SessionStore::at("/nonexistent");
        for bad in ["", "../x", ".hidden", "a/b", "x y", &"z".repeat(65)] {
            assert!(
                matches!(store.profile(bad), Err(Error::Usage(_))),
                "{bad:?} accepted"
            );
        }
        for good in ["default", "alice", "bob-2", "work.phone", "A_1"] {
            assert!(store.profile(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn session_round_trips_with_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = SessionStore::at(tmp.path().join("data"));
        let profile = store.profile("alice").unwrap();
        assert!(matches!(
            profile.load_session(),
            Err(Error::NotLoggedIn { .. })
        ));
        profile.save_session(&session()).unwrap();
        let back = profile.load_session().unwrap();
        assert_eq!(back.matrix.tokens.access_token, "syt_secret");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&profile.session_path()), 0o600);
        assert_eq!(mode(&profile.dir), 0o700);
        // No temporary file is left beside it.
        assert_eq!(fs::read_dir(&profile.dir).unwrap().count(), 1);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let text = format!("{:?}", session());
        assert!(
            !text.contains("syt_secret") && !text.contains("pass\""),
            "{text}"
        );
    }

    #[test]
    fn corrupt_session_is_an_auth_error_and_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let profile = SessionStore::at(tmp.path()).profile("x").unwrap();
        profile.ensure_dir().unwrap();
        fs::write(profile.session_path(), b"{not json").unwrap();
        assert!(matches!(profile.load_session(), Err(Error::Auth { .. })));
        assert!(profile.session_path().exists());
    }

    #[test]
    fn passphrases_are_random() {
        let a = random_passphrase().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_passphrase().unwrap());
    }
}
