//! `mxcall verify`: make this device trusted — cross-signed by its owner — for a device that was
//! logged in without a recovery key: emoji verification with another session of the account, or
//! the recovery key (`--recovery-key`, `--recovery-key-stdin`).

use std::time::{Duration, Instant};

use matrix_sdk::ruma::OwnedDeviceId;
use serde_json::json;

use super::Context;
use crate::cli::VerifyArgs;
use crate::error::{Error, Result, exit};
use crate::homeserver;
use crate::identity::recovery_key::{self, KeySource};
use crate::identity::sas::{self, Confirm};
use crate::identity::setup;

/// How long to wait for the other session's signature on this device after the emoji matched.
const SIGNATURE_WAIT: Duration = Duration::from_secs(15);

pub async fn run(ctx: &Context, args: VerifyArgs) -> Result<u8> {
    let profile = &ctx.profile;
    let session = profile.load_session()?;
    // Read the key before any network: a bad input fails at once.
    let source = if args.recovery_key_stdin {
        Some(KeySource::Stdin)
    } else if args.recovery_key {
        Some(KeySource::Prompt)
    } else {
        None
    };
    let key = source.map(recovery_key::read).transpose()?;
    let device = args
        .device
        .as_deref()
        .map(|d| OwnedDeviceId::from(d.trim()));
    let client = homeserver::restore(profile, &session, true).await?;
    // Syncs here take in to-device messages: other processes of the profile pause theirs.
    let _claim = crate::transport::store_claim::StoreClaim::new(&profile.dir);
    let homeserver = session.homeserver.trim_end_matches('/');
    let account = setup::Account {
        user_id: &session.matrix.meta.user_id,
        profile: &profile.name,
        homeserver,
    };
    let method = match &key {
        Some(key) => {
            crate::transport::sync::sync_now(&client)
                .await
                .map_err(|e| Error::from_sdk(&e, "sync failed", &profile.name, homeserver))?;
            // At the prompt a typo gets another try.
            let again = |why: &str| {
                if source != Some(KeySource::Prompt) {
                    return Ok(None);
                }
                eprintln!("{why}; try again");
                recovery_key::read(KeySource::Prompt).map(Some)
            };
            setup::recover(&client, &account, key, again).await?;
            "recovery_key"
        }
        None if crate::identity::status(&client, &profile.name, homeserver)
            .await?
            .cross_signed =>
        {
            ctx.out
                .note("this device is already cross-signed by its owner; nothing to verify");
            "already"
        }
        None => {
            let confirm = if args.yes { Confirm::Yes } else { Confirm::Ask };
            sas::verify(&client, ctx.out, device, confirm, args.timeout).await?;
            "emoji"
        }
    };

    // The other session signs us once it has confirmed too: give its signature time to arrive.
    let started = Instant::now();
    let status = loop {
        let status = crate::identity::status(&client, &profile.name, homeserver).await?;
        if status.cross_signed || started.elapsed() >= SIGNATURE_WAIT {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    if !status.cross_signed {
        return Err(Error::Other(
            "verification finished but this device is still not cross-signed: the other session did \
             not sign it (is that session itself verified?)"
                .into(),
        ));
    }
    let mut value = json!({
        "verified": true,
        "method": method,
        "user_id": session.matrix.meta.user_id.as_str(),
        "device_id": session.matrix.meta.device_id.as_str(),
        "profile": profile.name,
    });
    status.add_to(&mut value);
    ctx.out.result(
        &format!(
            "this device is now cross-signed by its owner\n{}",
            status.describe(&crate::error::profile_flag(&profile.name))
        ),
        &value,
    );
    Ok(exit::OK)
}
