//! `mxcall whoami`: the stored identity, confirmed by the homeserver (`/account/whoami`), and
//! this device's trust: cross-signed by its owner or not, key backup on or off.

use serde_json::json;

use super::Context;
use crate::error::{Error, Result, exit};
use crate::homeserver;

pub async fn run(ctx: &Context) -> Result<u8> {
    let profile = &ctx.profile;
    let session = profile.load_session()?;
    // The store: this device's keys and its view of the account's cross-signing identity.
    let client = homeserver::restore(profile, &session, true).await?;
    let me = client
        .whoami()
        .await
        .map_err(|e| Error::from_http(&e, "whoami failed", &profile.name, &session.homeserver))?;
    let stored_user = &session.matrix.meta.user_id;
    if &me.user_id != stored_user {
        return Err(Error::Auth {
            profile: profile.name.clone(),
            message: format!(
                "the stored token belongs to {} but the profile says {stored_user}",
                me.user_id
            ),
        });
    }
    let device = session.matrix.meta.device_id.as_str();
    let homeserver = session.homeserver.trim_end_matches('/');
    let trust = crate::identity::status(&client, &profile.name, homeserver).await?;
    let mut value = json!({
        "user_id": stored_user.as_str(),
        "device_id": device,
        "homeserver": homeserver,
        "profile": profile.name,
    });
    trust.add_to(&mut value);
    ctx.out.result(
        &format!(
            "{stored_user}\nprofile: {}\ndevice id: {device}\nhomeserver: {homeserver}\n{}",
            profile.name,
            trust.describe(&crate::error::profile_flag(&profile.name))
        ),
        &value,
    );
    Ok(exit::OK)
}
