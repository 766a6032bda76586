//! `mxcall login`: password login into a new device, stored in the profile, with the device's
//! end-to-end-encryption identity set up (`identity::setup`): cross-signed with the recovery
//! key, or a new identity and recovery key for an account that has none.
//!
//! The new device's SQLite store is built beside the old one and swapped in only after the
//! server accepted the password (and the recovery key, if one was given), so a failed login
//! never touches an existing session; a new device that cannot be set up is logged out again.

use std::io::{BufRead, IsTerminal, Write};

use matrix_sdk::ruma::OwnedUserId;
use serde_json::json;

use super::Context;
use crate::cli::LoginArgs;
use crate::error::{Error, Result, exit};
use crate::homeserver;
use crate::identity::recovery_key::{self, KeySource};
use crate::identity::setup::{self, Outcome};
use crate::profile::{StoreSecret, StoredSession};

pub async fn run(ctx: &Context, args: LoginArgs) -> Result<u8> {
    let user_id = parse_user_id(match args.user_id {
        Some(u) => u,
        None => ask_user_id(args.password_stdin)?,
    })?;
    let password = read_password(&user_id, args.password_stdin)?;
    let given_key = if args.recovery_key_stdin {
        Some(recovery_key::read(KeySource::Stdin)?)
    } else {
        None
    };
    if let Some(path) = &args.save_recovery_key {
        recovery_key::check_new_file(path)?;
    }
    let (builder, homeserver_desc) =
        homeserver::login_builder(&user_id, args.homeserver.as_deref())?;

    let profile = &ctx.profile;
    profile.ensure_dir()?;
    let staging = profile
        .dir
        .join(format!("store.new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let store_secret = StoreSecret::random_key()?;

    let attempt = async {
        let client = homeserver::build_for_login(
            builder,
            &staging,
            &store_secret,
            &profile.name,
            &homeserver_desc,
        )
        .await?;
        let homeserver = client
            .homeserver()
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        client
            .matrix_auth()
            .login_username(&user_id, &password)
            .initial_device_display_name(&args.device_name)
            .send()
            .await
            .map_err(|e| Error::from_sdk(&e, "login failed", &profile.name, &homeserver))?;
        let session = client
            .matrix_auth()
            .session()
            .ok_or_else(|| Error::Other("login failed: the server returned no session".into()))?;
        let identity = async {
            homeserver::after_login(&client, &profile.name).await?;
            let account = setup::Account {
                user_id: &user_id,
                profile: &profile.name,
                homeserver: &homeserver,
            };
            let mut outcome =
                setup::after_login(&client, &account, &password, given_key.as_deref()).await?;
            if let Outcome::NotVerified { recovery: true } = outcome
                && let Some(key) = ask_recovery_key(true)?
            {
                // At the prompt a typo gets another try; Enter skips.
                let skipped = std::cell::Cell::new(false);
                let again = |why: &str| {
                    eprintln!("{why}; try again, or press Enter to skip");
                    let next = ask_recovery_key(false)?;
                    skipped.set(next.is_none());
                    Ok(next)
                };
                match setup::recover(&client, &account, &key, again).await {
                    Ok(()) => outcome = Outcome::Recovered,
                    // Enter after a wrong key: the device stays unverified.
                    Err(Error::RecoveryKey(_)) if skipped.get() => {}
                    Err(e) => return Err(e),
                }
            }
            let status = crate::identity::status(&client, &profile.name, &homeserver).await?;
            Ok::<_, Error>((outcome, status))
        }
        .await;
        match identity {
            Ok((outcome, status)) => Ok((session, homeserver, outcome, status)),
            Err(e) => {
                // No half-set-up device left behind on the server.
                let _ = client.matrix_auth().logout().await;
                Err(e)
            }
        }
    };
    let (session, homeserver, outcome, status) = match attempt.await {
        Ok(ok) => ok,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            if !profile.has_session() {
                // Leave no empty profile directory behind after a failed first login.
                let _ = std::fs::remove_dir(&profile.dir);
            }
            return Err(e);
        }
    };

    // Swap the new store in, then write the session that points at it.
    let store = profile.store_dir();
    let old = profile
        .dir
        .join(format!("store.old-{}", std::process::id()));
    if store.exists() {
        std::fs::rename(&store, &old)
            .map_err(|e| Error::other("cannot replace the old store", e))?;
    }
    std::fs::rename(&staging, &store)
        .map_err(|e| Error::other("cannot install the new store", e))?;
    let stored = StoredSession {
        homeserver: homeserver.clone(),
        matrix: session,
        store_secret,
    };
    profile.save_session(&stored)?;
    let _ = std::fs::remove_dir_all(&old);

    let user = stored.matrix.meta.user_id.as_str();
    let device = stored.matrix.meta.device_id.as_str();
    let recovery = match &outcome {
        Outcome::Created { recovery_key } => {
            hand_out(ctx, recovery_key, args.save_recovery_key.as_deref())?;
            "created"
        }
        Outcome::Recovered => "recovered",
        Outcome::NotVerified { .. } => {
            ctx.out.note(&crate::identity::untrusted_warning(
                &crate::error::profile_flag(&profile.name),
            ));
            "not_verified"
        }
    };
    let mut value = json!({ "user_id": user, "device_id": device, "homeserver": homeserver, "profile": profile.name, "identity": recovery });
    status.add_to(&mut value);
    ctx.out.result(
        &format!(
            "logged in as {user} (device {device}) on {homeserver}, profile '{}'\n{}",
            profile.name,
            status.describe(&crate::error::profile_flag(&profile.name))
        ),
        &value,
    );
    Ok(exit::OK)
}

/// The account has an identity and a recovery key could cross-sign this device: on a terminal,
/// offer to type it now (Enter skips: `mxcall verify` later).
fn ask_recovery_key(first: bool) -> Result<Option<String>> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    if first {
        eprintln!(
            "This account already has a cross-signing identity (set up by Element or an earlier \
mxcall login). Its recovery key makes this device trusted; press Enter to skip and run \
`mxcall verify` later."
        );
    }
    let key = rpassword::prompt_password("Recovery key: ")
        .map_err(|e| Error::other("cannot read the recovery key from the terminal", e))?;
    let key = key.trim();
    Ok((!key.is_empty()).then(|| key.to_owned()))
}

/// Gives a new recovery key to the user, once: to the file they named, else on the terminal,
/// else into the profile directory (0600) with a note saying where.
fn hand_out(ctx: &Context, key: &str, file: Option<&std::path::Path>) -> Result<()> {
    if let Some(path) = file {
        recovery_key::save(path, key)?;
        // Not silenced by -q: a script must learn that a secret was written.
        eprintln!(
            "A new cross-signing identity was created; its recovery key is in {} (mode 0600). {}",
            path.display(),
            recovery_key::WHY
        );
        return Ok(());
    }
    if std::io::stderr().is_terminal() {
        eprintln!(
            "A new cross-signing identity was created. Recovery key:\n\n    {key}\n\n{} It is shown only this once.",
            recovery_key::WHY
        );
        return Ok(());
    }
    let path = (0..)
        .map(|n| {
            ctx.profile.dir.join(if n == 0 {
                "recovery-key.txt".to_owned()
            } else {
                format!("recovery-key.{n}.txt")
            })
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| ctx.profile.dir.join("recovery-key.txt"));
    recovery_key::save(&path, key)?;
    // Not silenced by -q: a script must learn that a secret was written.
    eprintln!(
        "A new cross-signing identity was created; with no terminal to show it on, its recovery key \
was saved in {} (mode 0600): store it away from this machine. {}",
        path.display(),
        recovery_key::WHY
    );
    Ok(())
}

fn parse_user_id(raw: String) -> Result<OwnedUserId> {
    let trimmed = raw.trim();
    OwnedUserId::try_from(trimmed).map_err(|_| {
        Error::Usage(format!(
            "invalid user id '{trimmed}': expected @name:server, e.g. @alice:example.org"
        ))
    })
}

fn ask_user_id(password_stdin: bool) -> Result<String> {
    if password_stdin || !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "give the user id to log in as, e.g. `mxcall login @alice:example.org`".into(),
        ));
    }
    eprint!("User id (e.g. @alice:example.org): ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::other("cannot read the user id", e))?;
    Ok(line)
}

/// The password comes from the terminal without echo, or from stdin with --password-stdin;
/// never from argv or the environment, where `ps` and /proc would show it.
fn read_password(user_id: &OwnedUserId, from_stdin: bool) -> Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::other("cannot read the password from stdin", e))?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Password for {user_id}: "))
            .map_err(|e| Error::other("cannot read the password from the terminal", e))?
    } else {
        return Err(Error::Usage(
            "no terminal to ask for the password on; pipe it in with --password-stdin".into(),
        ));
    };
    if password.is_empty() {
        return Err(Error::Usage("the password is empty".into()));
    }
    Ok(password)
}
