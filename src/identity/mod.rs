//! This device's end-to-end-encryption identity: whether its owner has cross-signed it, and the
//! account's recovery (secret storage + key backup).
//!
//! Why it matters: Element excludes devices their owner has not cross-signed (MSC4153,
//! matrix-js-sdk `OnlySignedDevicesIsolationMode`): such a device is sent no room keys, and
//! what it sends is not decrypted — in an encrypted DM its calls never ring, either way.
//!
//! Everything here goes through matrix-sdk's encryption, recovery and verification APIs; the
//! crypto is theirs. `setup` is what `login` does, `recovery_key` reads and hands out keys, `sas`
//! is the emoji verification of `mxcall verify`.

pub mod recovery_key;
pub mod sas;
pub mod setup;

use matrix_sdk::Client;
use matrix_sdk::encryption::recovery::RecoveryState;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// What `whoami` reports about this device's trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustStatus {
    /// The account has a cross-signing identity (master key) on the server.
    pub identity: bool,
    /// This device carries a valid signature of its owner's self-signing key.
    pub cross_signed: bool,
    /// This device backs room keys up to the server-side key backup.
    pub key_backup: bool,
    /// The account's secret storage holds the cross-signing keys (a recovery key can restore them).
    pub recovery: bool,
}

impl TrustStatus {
    pub fn to_json(&self) -> Value {
        json!({
            "cross_signing_identity": self.identity,
            "cross_signed": self.cross_signed,
            "key_backup": self.key_backup,
            "recovery": self.recovery,
        })
    }

    /// Adds the fields of [`TrustStatus::to_json`] to a command's JSON result object.
    pub fn add_to(&self, result: &mut Value) {
        if let (Value::Object(result), Value::Object(fields)) = (result, self.to_json()) {
            result.extend(fields);
        }
    }

    /// Lines for people; `profile_flag` is ` --profile NAME` or empty (see `error::profile_flag`).
    pub fn describe(&self, profile_flag: &str) -> String {
        let signed = if self.cross_signed {
            "cross-signed by its owner (Element users can read its calls)".to_owned()
        } else if self.identity {
            format!(
                "NOT cross-signed: run `mxcall{profile_flag} verify` (Element users cannot read its calls)"
            )
        } else {
            "NOT cross-signed: the account has no cross-signing identity yet (log in again to create one)"
                .to_owned()
        };
        format!(
            "device: {signed}\nkey backup: {}\nrecovery: {}",
            if self.key_backup { "on" } else { "off" },
            if self.recovery {
                "set up (a recovery key restores this account's identity)"
            } else {
                "not set up"
            }
        )
    }
}

/// Asks the homeserver for this account's current keys (one `/keys/query`) and reports.
///
/// Errors: network and token errors as [`Error::from_sdk`] classifies them.
pub async fn status(client: &Client, profile: &str, homeserver: &str) -> Result<TrustStatus> {
    let enc = client.encryption();
    let own = client
        .user_id()
        .ok_or_else(|| Error::Other("no session".into()))?
        .to_owned();
    let identity = enc.request_user_identity(&own).await.map_err(|e| {
        Error::from_sdk(&e, "cannot query this account's keys", profile, homeserver)
    })?;
    let cross_signed = enc
        .get_own_device()
        .await
        .map_err(|e| Error::other("cannot read the crypto store", e))?
        .is_some_and(|d| d.is_cross_signed_by_owner());
    let recovery = match enc.secret_storage().is_enabled().await {
        Ok(enabled) => enabled,
        Err(e) => {
            return Err(Error::from_sdk(
                &e,
                "cannot read the account's secret storage",
                profile,
                homeserver,
            ));
        }
    };
    Ok(TrustStatus {
        identity: identity.is_some(),
        cross_signed,
        key_backup: enc.backups().are_enabled().await,
        recovery: recovery || enc.recovery().state() == RecoveryState::Enabled,
    })
}

/// Whether this device is cross-signed, from the store alone (no request): what `call`, `answer`
/// and `watch` check before warning that Element users will not read their calls.
pub async fn is_cross_signed_locally(client: &Client) -> bool {
    client
        .encryption()
        .get_own_device()
        .await
        .ok()
        .flatten()
        .is_some_and(|d| d.is_cross_signed_by_owner())
}

/// The warning `call`/`answer`/`watch` print when this device is not cross-signed.
/// `profile_flag` as for [`TrustStatus::describe`].
pub fn untrusted_warning(profile_flag: &str) -> String {
    format!(
        "mxcall: warning: this device is not cross-signed by its owner, so Element users cannot \
read its calls in encrypted rooms nor send it theirs; run `mxcall{profile_flag} verify` (emoji, with \
another session) or `mxcall{profile_flag} verify --recovery-key`"
    )
}
