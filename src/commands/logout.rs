//! `mxcall logout`: invalidate the token on the server, then remove the profile's local data.
//!
//! Local data goes only once the server has forgotten the token (or already had), unless
//! `--force` says to remove it anyway: otherwise a user could lose the only handle on a live
//! device.

use matrix_sdk::ruma::api::error::ErrorKind;
use serde_json::json;

use super::Context;
use crate::cli::LogoutArgs;
use crate::error::{Error, Result, exit};
use crate::homeserver;

pub async fn run(ctx: &Context, args: LogoutArgs) -> Result<u8> {
    let profile = &ctx.profile;
    let session = match profile.load_session() {
        Ok(s) => s,
        Err(Error::Auth { .. }) if args.force => {
            note_kept(&profile.remove()?);
            ctx.out.note("removed an unreadable session (--force)");
            return Ok(exit::OK);
        }
        Err(e) => return Err(e),
    };
    let server_result = match homeserver::restore(profile, &session, false).await {
        Ok(client) => client
            .matrix_auth()
            .logout()
            .await
            .map(|_| ())
            .map_err(|e| {
                let already_gone = matches!(
                    e.client_api_error_kind(),
                    Some(ErrorKind::UnknownToken(_) | ErrorKind::MissingToken)
                );
                (
                    already_gone,
                    Error::from_http(&e, "logout failed", &profile.name, &session.homeserver),
                )
            }),
        Err(e) => Err((false, e)),
    };
    let server_note = match server_result {
        Ok(()) => "token invalidated on the server",
        Err((true, _)) => "the server had already forgotten the token",
        Err((false, e)) if args.force => {
            ctx.out.note(&format!("mxcall: {e}"));
            ctx.out.note("removing the local session anyway (--force); the token may still be valid on the server");
            "server not told (--force)"
        }
        Err((false, e)) => {
            return Err(match e {
                Error::Unreachable { homeserver, cause } => Error::Unreachable {
                    homeserver,
                    cause: format!(
                        "{cause}; the local session was kept (use --force to remove it anyway)"
                    ),
                },
                other => other,
            });
        }
    };
    note_kept(&profile.remove()?);
    let user = session.matrix.meta.user_id.as_str();
    ctx.out.result(
        &format!(
            "logged out {user} from profile '{}' ({server_note})",
            profile.name
        ),
        &json!({ "user_id": user, "profile": profile.name, "server": server_note }),
    );
    Ok(exit::OK)
}

/// A recovery key login saved in the profile may be the only copy: it survives the logout.
fn note_kept(kept: &[std::path::PathBuf]) {
    for path in kept {
        // Not silenced by -q: this is about a secret the user must not lose.
        eprintln!(
            "mxcall: kept {}: it holds this account's recovery key; move it somewhere safe",
            path.display()
        );
    }
}
