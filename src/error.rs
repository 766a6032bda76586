//! The error type every command returns, and the one place that maps errors to exit codes.
//!
//! Each variant renders as one line for stderr. Nothing here may format an access token or a
//! password: variants carry only user-facing context and a cause already stripped of secrets.

use matrix_sdk::ruma::api::error::ErrorKind;

/// Exit codes: the one table (`crate::exit`), re-exported where errors are turned into codes.
pub use crate::exit;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("not logged in (profile '{profile}'); run `mxcall{flag} login` first", flag = profile_flag(profile))]
    NotLoggedIn { profile: String },
    /// Wrong password, revoked or rejected token, deactivated account.
    #[error("{message}; run `mxcall{flag} login` to log in again", flag = profile_flag(profile))]
    Auth { profile: String, message: String },
    /// A wrong or malformed recovery key (the account's secret-storage key).
    #[error("{0}")]
    RecoveryKey(String),
    /// `login` itself was refused: wrong user id or password (no "log in again" hint: the
    /// user is doing that).
    #[error("{0}")]
    Credentials(String),
    #[error("cannot reach the homeserver {homeserver}: {cause}")]
    Unreachable { homeserver: String, cause: String },
    #[error("the homeserver {homeserver} answered garbage: {cause}")]
    BadResponse { homeserver: String, cause: String },
    #[error("{0}")]
    Media(String),
    #[error("{0}")]
    Other(String),
}

pub(crate) fn profile_flag(profile: &str) -> String {
    if profile == crate::profile::DEFAULT_PROFILE {
        String::new()
    } else {
        format!(" --profile {profile}")
    }
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::NotLoggedIn { .. }
            | Error::Auth { .. }
            | Error::RecoveryKey(_)
            | Error::Credentials(_) => exit::AUTH,
            Error::Unreachable { .. } | Error::BadResponse { .. } => exit::UNREACHABLE,
            Error::Media(_) => exit::MEDIA,
            Error::Other(_) => exit::OTHER,
        }
    }

    pub fn other(context: &str, cause: impl std::fmt::Display) -> Self {
        Error::Other(format!("{context}: {cause}"))
    }

    /// Classifies a failed homeserver request. `context` says what mxcall was doing
    /// ("login failed", "whoami failed"); `homeserver` names the server for network errors.
    pub fn from_http(
        err: &matrix_sdk::HttpError,
        context: &str,
        profile: &str,
        homeserver: &str,
    ) -> Self {
        use matrix_sdk::HttpError;
        let homeserver = homeserver.to_owned();
        if let Some(api) = err.as_client_api_error() {
            let message = api_message(api);
            return match api.error_kind() {
                Some(ErrorKind::Forbidden) if context.starts_with("login") => {
                    Error::Credentials(format!("{context}: wrong user id or password ({message})"))
                }
                Some(ErrorKind::UnknownToken(_) | ErrorKind::MissingToken) => Error::Auth {
                    profile: profile.to_owned(),
                    message: format!(
                        "{context}: the homeserver rejected the stored access token ({message})"
                    ),
                },
                Some(ErrorKind::UserDeactivated) => Error::Auth {
                    profile: profile.to_owned(),
                    message: format!("{context}: the account is deactivated ({message})"),
                },
                Some(_) => Error::Other(format!("{context}: {message}")),
                None => Error::BadResponse {
                    homeserver,
                    cause: format!("{context}: HTTP {} without a Matrix error", api.status_code),
                },
            };
        }
        match err {
            HttpError::Reqwest(e) if e.is_decode() => Error::BadResponse {
                homeserver,
                cause: format!("{context}: {}", root_cause(e)),
            },
            HttpError::Reqwest(e) => Error::Unreachable {
                homeserver,
                cause: root_cause(e),
            },
            HttpError::Api(_) => Error::BadResponse {
                homeserver,
                cause: format!("{context}: the response is not a valid Matrix response"),
            },
            HttpError::Cached(inner) => Self::from_http(inner, context, profile, &homeserver),
            other => Error::Other(format!("{context}: {}", root_cause(other))),
        }
    }

    pub fn from_sdk(
        err: &matrix_sdk::Error,
        context: &str,
        profile: &str,
        homeserver: &str,
    ) -> Self {
        match err {
            matrix_sdk::Error::Http(http) => Self::from_http(http, context, profile, homeserver),
            other => Error::Other(format!("{context}: {}", root_cause(other))),
        }
    }

    pub fn from_build(err: &matrix_sdk::ClientBuildError, profile: &str, homeserver: &str) -> Self {
        use matrix_sdk::ClientBuildError as B;
        match err {
            B::Http(http) => Self::from_http(http, "connecting", profile, homeserver),
            B::AutoDiscovery(_) => Error::Unreachable {
                homeserver: homeserver.to_owned(),
                cause:
                    "no homeserver found through .well-known/matrix/client; give --homeserver URL"
                        .into(),
            },
            B::InvalidServerName | B::Url(_) => {
                Error::Usage(format!("invalid homeserver or server name: {homeserver}"))
            }
            other => Error::Other(format!(
                "cannot open the client store: {}",
                root_cause(other)
            )),
        }
    }
}

fn api_message(api: &matrix_sdk::ruma::api::error::Error) -> String {
    use matrix_sdk::ruma::api::error::ErrorBody;
    match &api.body {
        ErrorBody::Standard(s) => format!("{}: {}", s.kind.errcode(), s.message),
        _ => format!("HTTP {}", api.status_code),
    }
}

/// The innermost cause of an error chain, which is what a user can act on
/// ("Connection refused (os error 111)") rather than the wrapper text.
pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let text = cur.to_string();
    // Keep to one line whatever the library put in.
    text.lines().next().unwrap_or_default().to_owned()
}

/// The process's exit status for a command's result (`exit`'s codes); an error is printed as
/// the one line `mxcall: …` on stderr.
pub fn exit_status(result: Result<u8, Error>) -> u8 {
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mxcall: {err}");
            err.exit_code()
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
