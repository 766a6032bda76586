//! Building matrix-sdk clients for mxcall: for a new login, or from a stored session.
//!
//! Every request made through these clients is bounded (a timeout and at most one retry) so
//! that an unreachable homeserver turns into exit code 4 in seconds, not minutes.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use matrix_sdk::config::RequestConfig;
use matrix_sdk::cross_process_lock::CrossProcessLockConfig;
use matrix_sdk::encryption::{BackupDownloadStrategy, EncryptionSettings};
use matrix_sdk::ruma::UserId;
use matrix_sdk::{Client, ClientBuilder, SqliteStoreConfig};

use crate::error::{Error, Result};
use crate::profile::{Profile, StoreSecret, StoredSession};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

fn request_config() -> RequestConfig {
    RequestConfig::new()
        .timeout(REQUEST_TIMEOUT)
        .retry_limit(1)
        .max_retry_time(Duration::from_secs(10))
}

/// Where to find the homeserver for a login: an explicit URL, or discovery from the user id's
/// server name through `.well-known/matrix/client`.
pub fn login_builder(
    user_id: &UserId,
    homeserver: Option<&str>,
) -> Result<(ClientBuilder, String)> {
    let builder = Client::builder().request_config(request_config());
    match homeserver {
        Some(url) => {
            let parsed = url::Url::parse(url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "invalid --homeserver '{url}': expected a URL such as https://matrix.example.org"
                    ))
                })?;
            Ok((builder.homeserver_url(parsed.as_str()), url.to_owned()))
        }
        None => {
            let server = user_id.server_name();
            Ok((builder.server_name(server), server.to_string()))
        }
    }
}

/// This process's name in the store's cross-process locks: two mxcall processes of one profile
/// (a running `call` and a `hangup` from another shell) must hold different names, so that the
/// lock tells them apart and each reloads its Olm machine after the other wrote.
fn lock_holder() -> String {
    format!("mxcall-{}", std::process::id())
}

/// What every store-backed client gets: its own lock name, and keys looked up in the server-side
/// key backup when an event cannot be decrypted (a room key from before this device existed).
fn with_store_settings(builder: ClientBuilder) -> ClientBuilder {
    builder
        .cross_process_store_config(CrossProcessLockConfig::multi_process(lock_holder()))
        .with_encryption_settings(EncryptionSettings {
            backup_download_strategy: BackupDownloadStrategy::AfterDecryptionFailure,
            ..Default::default()
        })
}

/// Whether this process turned on the store lock (see [`let_go_of_store_lock`]).
static STORE_LOCK_ENABLED: AtomicBool = AtomicBool::new(false);

/// How long matrix-sdk takes to give up the store lock once its last guard is dropped: its
/// lease task looks every 50 ms (`EXTEND_LEASE_EVERY_MS` in matrix-sdk-common's
/// `cross_process_lock`) and then writes a zero lease.
const LOCK_RELEASE_TICK: Duration = Duration::from_millis(80);

/// Called once as a command ends, with the runtime still running: if this process turned on the
/// crypto store's cross-process lock, waits for matrix-sdk's lease task to release it (every
/// guard is gone by then). A process that exits before that leaves a lease of up to 500 ms
/// behind (`LEASE_DURATION_MS`), which the profile's next process — a script's next call, an
/// `answer` started right after `login` — waits out before its first sync. Without the lock
/// (whoami, logout, a failed start) it returns at once.
pub async fn let_go_of_store_lock() {
    if STORE_LOCK_ENABLED.load(Ordering::Relaxed) {
        tokio::time::sleep(LOCK_RELEASE_TICK).await;
    }
}

/// Turns on the crypto store's cross-process lock (matrix-sdk takes it around encrypted sends;
/// `transport::sync` around each sync).
async fn enable_store_lock(client: &Client, profile: &str) -> Result<()> {
    STORE_LOCK_ENABLED.store(true, Ordering::Relaxed);
    client
        .encryption()
        .enable_cross_process_store_lock(lock_holder())
        .await
        .map_err(|e| {
            Error::other(
                &format!("cannot lock the store of profile '{profile}'"),
                crate::error::root_cause(&e),
            )
        })
}

/// A client for a stored session. With `store` the profile's SQLite store is opened (needed for
/// sync state and end-to-end keys); without it the client is in-memory, which is enough for
/// one-shot requests such as whoami and logout and avoids the store's key derivation.
pub async fn restore(profile: &Profile, session: &StoredSession, store: bool) -> Result<Client> {
    let mut builder = Client::builder()
        .homeserver_url(&session.homeserver)
        .request_config(request_config());
    if store {
        builder = with_store_settings(builder).sqlite_store_with_config_and_cache_path(
            store_config(&profile.store_dir(), &session.store_secret, &profile.name)?,
            None::<&Path>,
        );
    }
    let client = builder
        .build()
        .await
        .map_err(|e| Error::from_build(&e, &profile.name, &session.homeserver))?;
    client
        .restore_session(session.matrix.clone())
        .await
        .map_err(|e| {
            Error::from_sdk(
                &e,
                "cannot restore the session",
                &profile.name,
                &session.homeserver,
            )
        })?;
    if store {
        enable_store_lock(&client, &profile.name).await?;
    }
    Ok(client)
}

/// The SQLite store in `dir`, opened with `secret`: a key directly, a passphrase through
/// matrix-sdk's PBKDF2 (see [`StoreSecret`]).
fn store_config(dir: &Path, secret: &StoreSecret, profile: &str) -> Result<SqliteStoreConfig> {
    // matrix-sdk's low-memory settings (a connection per core, 0.5 MB page cache instead of
    // 2 MB per connection): a call process reads little of its store.
    let config = SqliteStoreConfig::with_low_memory_config(dir);
    Ok(match secret {
        StoreSecret::Passphrase(passphrase) => config.passphrase(Some(passphrase)),
        StoreSecret::Key(_) => config.key(secret.key_bytes(profile)?.as_ref()),
    })
}

/// Opens a fresh SQLite store in `dir` for a login.
pub async fn build_for_login(
    builder: ClientBuilder,
    dir: &Path,
    secret: &StoreSecret,
    profile: &str,
    homeserver: &str,
) -> Result<Client> {
    with_store_settings(builder)
        .sqlite_store_with_config_and_cache_path(store_config(dir, secret, profile)?, None::<&Path>)
        .build()
        .await
        .map_err(|e| Error::from_build(&e, profile, homeserver))
}

/// After the login of a new client from [`build_for_login`]: the store lock, as for a restored
/// session (the Olm machine exists only once logged in).
pub async fn after_login(client: &Client, profile: &str) -> Result<()> {
    enable_store_lock(client, profile).await
}
