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
    /// What the SQLite store is encrypted with.
    #[serde(flatten)]
    pub store_secret: StoreSecret,
}

/// The secret of a profile's SQLite store, as `session.json` holds it (one of two keys).
///
/// `store_key` (64 hex digits, 32 random bytes) is what `login` writes: matrix-sdk-sqlite opens
/// a store with a key directly. `store_passphrase` is what profiles made before had: opening
/// derives the key with PBKDF2 (200 000 rounds of HMAC-SHA-256, matrix-sdk-store-encryption)
/// for each of the store's databases on every start, ≈ 0.1–0.2 s of each command. Both are
/// read; a new login replaces the store and so moves a profile to a key.
#[derive(Clone, Serialize, Deserialize)]
pub enum StoreSecret {
    #[serde(rename = "store_key")]
    Key(String),
    #[serde(rename = "store_passphrase")]
    Passphrase(String),
}

impl StoreSecret {
    /// A new random key, from the kernel's CSPRNG.
    pub fn random_key() -> Result<Self> {
        random_hex().map(Self::Key)
    }

    /// The key's 32 bytes (for [`StoreSecret::Key`]); `None` for a passphrase.
    ///
    /// Errors: [`Error::Auth`] when the stored key is not 64 hex digits (a hand-edited file).
    pub fn key_bytes(&self, profile: &str) -> Result<Option<[u8; 32]>> {
        let Self::Key(hex) = self else {
            return Ok(None);
        };
        let bad = || Error::Auth {
            profile: profile.to_owned(),
            message: "session.json's store_key is not 64 hex digits".into(),
        };
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Some(key))
    }

    /// The secret text itself (only for tests that check it is never printed).
    pub fn expose(&self) -> &str {
        match self {
            Self::Key(s) | Self::Passphrase(s) => s,
        }
    }
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

/// 32 random bytes from the kernel's CSPRNG, as 64 hex digits.
fn random_hex() -> Result<String> {
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
            store_secret: StoreSecret::Key("ab".repeat(32)),
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
    fn store_keys_are_random_32_bytes() {
        let a = StoreSecret::random_key().unwrap();
        assert_eq!(a.key_bytes("p").unwrap().unwrap().len(), 32);
        assert_ne!(a.expose(), StoreSecret::random_key().unwrap().expose());
    }

    #[test]
    fn session_files_with_a_passphrase_still_load_and_keys_round_trip() {
        let mut old = serde_json::to_value(session()).unwrap();
        let obj = old.as_object_mut().unwrap();
        assert_eq!(obj["store_key"], "ab".repeat(32));
        assert!(!obj.contains_key("store_passphrase"));
        obj.remove("store_key");
        obj.insert("store_passphrase".into(), "old-pass".into());
        let loaded: StoredSession = serde_json::from_value(old).unwrap();
        assert!(matches!(&loaded.store_secret, StoreSecret::Passphrase(p) if p == "old-pass"));
        assert_eq!(loaded.store_secret.key_bytes("p").unwrap(), None);
        let key = StoreSecret::Key("0f".repeat(32));
        assert_eq!(key.key_bytes("p").unwrap(), Some([0x0f; 32]));
    }

    #[test]
    fn a_mangled_store_key_is_an_auth_error() {
        for bad in ["zz".repeat(32), "ab".repeat(31), "é".repeat(32)] {
            let e = StoreSecret::Key(bad).key_bytes("p").unwrap_err();
            assert!(matches!(e, Error::Auth { .. }), "{e}");
        }
    }
}
