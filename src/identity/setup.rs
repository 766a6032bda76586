//! What `mxcall login` does for the new device's identity, right after the password was
//! accepted (matrix-sdk's encryption, recovery and cross-signing APIs; no crypto of ours):
//!
//! - the account already has a cross-signing identity (it has used Element) and a recovery key
//!   was given: import the cross-signing keys from secret storage; matrix-sdk then signs this
//!   device with the self-signing key ([`Recovery::recover`](matrix_sdk::encryption::recovery::Recovery::recover)).
//! - it has one and no key was given: nothing to do here; the device stays unverified until
//!   `mxcall verify` (emoji with another session, or the recovery key later).
//! - it has none (a fresh account made for a bot): bootstrap cross-signing (UIA with the login
//!   password), then secret storage and key backup, which yields a new recovery key.

use matrix_sdk::Client;
use matrix_sdk::encryption::recovery::RecoveryError;
use matrix_sdk::encryption::secret_storage::SecretStorageError;
use matrix_sdk::ruma::OwnedUserId;
use matrix_sdk::ruma::api::client::uiaa::{AuthData, Password};

use crate::error::{Error, Result};

/// How the identity was set up.
#[derive(Debug)]
pub enum Outcome {
    /// A new cross-signing identity, secret storage and key backup; the new recovery key is for
    /// the caller to hand to the user, once.
    Created { recovery_key: String },
    /// The cross-signing keys were imported with the recovery key; this device is cross-signed.
    Recovered,
    /// The account has an identity but no recovery key was given: this device is not
    /// cross-signed yet. `recovery` tells whether a recovery key could do it.
    NotVerified { recovery: bool },
}

/// Where the server said what, for error messages.
pub struct Account<'a> {
    pub user_id: &'a OwnedUserId,
    pub profile: &'a str,
    pub homeserver: &'a str,
}

/// Sets up the identity of the device `client` just logged in as.
///
/// `password` authenticates the upload of new cross-signing keys (UIA, where the server asks);
/// `recovery_key` is the account's secret-storage key if the user gave one.
///
/// Errors: [`Error::RecoveryKey`] for a wrong or malformed key, or a key given for an account
/// that has no secret storage; server errors as [`Error::from_sdk`] classifies them.
pub async fn after_login(
    client: &Client,
    account: &Account<'_>,
    password: &str,
    recovery_key: Option<&str>,
) -> Result<Outcome> {
    let enc = client.encryption();
    let sdk = |e: &matrix_sdk::Error, what: &str| {
        Error::from_sdk(e, what, account.profile, account.homeserver)
    };
    // The SDK's own post-login task (backup and recovery state) first, then one sync: it
    // uploads this device's keys, which must be on the server before anything can sign them.
    enc.wait_for_e2ee_initialization_tasks().await;
    crate::transport::sync::sync_now(client)
        .await
        .map_err(|e| sdk(&e, "cannot upload this device's keys"))?;

    if let Some(key) = recovery_key {
        recover(client, account, key, |_| Ok(None)).await?;
        return Ok(Outcome::Recovered);
    }

    let identity = enc
        .request_user_identity(account.user_id)
        .await
        .map_err(|e| sdk(&e, "cannot query this account's keys"))?;
    let has_secret_storage = enc
        .secret_storage()
        .is_enabled()
        .await
        .map_err(|e| sdk(&e, "cannot read the account's secret storage"))?;

    if identity.is_some() {
        return Ok(Outcome::NotVerified {
            recovery: has_secret_storage,
        });
    }

    // A fresh account: this device becomes the first of a new identity.
    let auth = AuthData::Password(Password::new(account.user_id.into(), password.to_owned()));
    enc.bootstrap_cross_signing(Some(auth))
        .await
        .map_err(|e| sdk(&e, "cannot set up cross-signing"))?;
    let recovery_key = match enc.recovery().enable().await {
        Ok(key) => key,
        // A key backup from an earlier identity is on the server: keep it, and give the new
        // identity secret storage without a backup rather than failing the login.
        Err(RecoveryError::BackupExistsOnServer) => {
            let store = enc
                .secret_storage()
                .create_secret_store()
                .await
                .map_err(|e| secret_storage_error(&e, account))?;
            store.secret_storage_key()
        }
        Err(e) => return Err(recovery_error(&e, account)),
    };
    Ok(Outcome::Created { recovery_key })
}

/// How many more keys [`recover`] asks for after a wrong one (typed at a prompt).
const RETRIES: u32 = 2;

/// Imports the cross-signing keys from secret storage with the recovery key `key`; matrix-sdk
/// then signs this device. For `login --recovery-key-stdin`, the login prompt, and `verify
/// --recovery-key`. After a wrong key `again` gets the reason and is asked for another key
/// (`Ok(None)`: give up with the error; at a prompt the user may type it again), up to
/// [`RETRIES`] times.
///
/// Errors: [`Error::RecoveryKey`] for a wrong or malformed key or an account without secret
/// storage; [`Error::Other`] when secret storage holds no self-signing key; server errors as
/// [`Error::from_sdk`] classifies them.
pub async fn recover(
    client: &Client,
    account: &Account<'_>,
    key: &str,
    mut again: impl FnMut(&str) -> Result<Option<String>>,
) -> Result<()> {
    let enc = client.encryption();
    enc.wait_for_e2ee_initialization_tasks().await;
    let has_secret_storage = enc.secret_storage().is_enabled().await.map_err(|e| {
        Error::from_sdk(
            &e,
            "cannot read the account's secret storage",
            account.profile,
            account.homeserver,
        )
    })?;
    if !has_secret_storage {
        return Err(Error::RecoveryKey(
            "this account has no secret storage, so a recovery key cannot be used; verify this \
             device with `mxcall verify` (emoji) instead"
                .into(),
        ));
    }
    let mut key = key.to_owned();
    let mut tries = 0;
    loop {
        match enc.recovery().recover(&key).await {
            Ok(()) => break,
            Err(e) => {
                let err = recovery_error(&e, account);
                let Error::RecoveryKey(why) = &err else {
                    return Err(err);
                };
                if tries >= RETRIES {
                    return Err(err);
                }
                match again(why)? {
                    Some(next) => key = next,
                    None => return Err(err),
                }
                tries += 1;
            }
        }
    }
    if !super::is_cross_signed_locally(client).await {
        return Err(Error::Other(
            "the recovery key was accepted but secret storage holds no self-signing key to \
             sign this device with; verify it with `mxcall verify` instead"
                .into(),
        ));
    }
    Ok(())
}

fn recovery_error(e: &RecoveryError, account: &Account<'_>) -> Error {
    match e {
        RecoveryError::SecretStorage(s) => secret_storage_error(s, account),
        RecoveryError::Sdk(s) => {
            Error::from_sdk(s, "recovery failed", account.profile, account.homeserver)
        }
        other => Error::other("recovery failed", crate::error::root_cause(other)),
    }
}

fn secret_storage_error(e: &SecretStorageError, account: &Account<'_>) -> Error {
    match e {
        SecretStorageError::SecretStorageKey(_) => Error::RecoveryKey(
            "wrong recovery key (or a typo): it does not open this account's secret storage".into(),
        ),
        SecretStorageError::Sdk(s) => Error::from_sdk(
            s,
            "secret storage failed",
            account.profile,
            account.homeserver,
        ),
        other => Error::other("secret storage failed", crate::error::root_cause(other)),
    }
}
