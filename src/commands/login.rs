//! `mxcall login`: password login into a new device, stored in the profile.
//!
//! The new device's SQLite store is built beside the old one and swapped in only after the
//! server accepted the password, so a failed login never touches an existing session.

use std::io::{BufRead, IsTerminal, Write};

use matrix_sdk::ruma::OwnedUserId;
use serde_json::json;

use super::Context;
use crate::cli::LoginArgs;
use crate::error::{Error, Result, exit};
use crate::homeserver;
use crate::profile::{StoredSession, random_passphrase};

pub async fn run(ctx: &Context, args: LoginArgs) -> Result<u8> {
    let user_id = parse_user_id(match args.user_id {
        Some(u) => u,
        None => ask_user_id(args.password_stdin)?,
    })?;
    let password = read_password(&user_id, args.password_stdin)?;
    let (builder, homeserver_desc) =
        homeserver::login_builder(&user_id, args.homeserver.as_deref())?;

    let profile = &ctx.profile;
    profile.ensure_dir()?;
    let staging = profile
        .dir
        .join(format!("store.new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let passphrase = random_passphrase()?;

    let attempt = async {
        let client = homeserver::build_for_login(
            builder,
            &staging,
            &passphrase,
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
        Ok::<_, Error>((session, homeserver))
    };
    let (session, homeserver) = match attempt.await {
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
        store_passphrase: passphrase,
    };
    profile.save_session(&stored)?;
    let _ = std::fs::remove_dir_all(&old);

    let user = stored.matrix.meta.user_id.as_str();
    let device = stored.matrix.meta.device_id.as_str();
    ctx.out.result(
        &format!("logged in as {user} (device {device}) on {homeserver}, profile '{}'", profile.name),
        &json!({ "user_id": user, "device_id": device, "homeserver": homeserver, "profile": profile.name }),
    );
    Ok(exit::OK)
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
