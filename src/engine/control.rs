//! The control socket: how `mxcall hangup` (and `hold`, `resume`, `mute`, `unmute`, `dtmf`) reaches a
//! call running in another mxcall process of the same profile.
//!
//! Each running `call` / `answer` / `watch` listens on `<profile dir>/run/<pid>.sock` (mode 0600
//! inside a 0700 directory, so only the user can connect). The protocol is one JSON request line
//! and one JSON reply line: `{"op":"hangup","room_id":…,"call_id":…,"reason":…}`,
//! `{"op":"hold","room_id":…,"held":true}`, `{"op":"mute","room_id":…,"muted":true}` or
//! `{"op":"dtmf","room_id":…,"digits":"12#"}` →
//! `{"ok":true,"call_id":…}` or `{"ok":false,"error":…}`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::profile::{Profile, create_private_dir};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Hangup {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// `mxcall hold` / `resume`.
    Hold {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<String>,
        held: bool,
    },
    /// `mxcall mute` / `unmute`.
    Mute {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<String>,
        muted: bool,
    },
    /// `mxcall dtmf`.
    Dtmf {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<String>,
        digits: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A request from another process, with the channel to answer it on.
pub struct Incoming {
    pub request: Request,
    pub reply: oneshot::Sender<Reply>,
}

fn run_dir(profile: &Profile) -> PathBuf {
    profile.dir.join("run")
}

/// Listens for control requests until dropped (the socket file is removed then).
pub struct ControlServer {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ControlServer {
    pub fn start(profile: &Profile) -> Result<(ControlServer, mpsc::Receiver<Incoming>)> {
        let dir = run_dir(profile);
        create_private_dir(&dir)?;
        let path = dir.join(format!("{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .map_err(|e| Error::other(&format!("cannot listen on {}", path.display()), e))?;
        let (tx, rx) = mpsc::channel(8);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, tx).await;
                });
            }
        });
        Ok((ControlServer { path, task }, rx))
    }
}

async fn serve(stream: UnixStream, tx: mpsc::Sender<Incoming>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    // A request is small; anything longer is not ours.
    BufReader::new(read.take(64 * 1024))
        .read_line(&mut line)
        .await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            let (reply_tx, reply_rx) = oneshot::channel();
            if tx
                .send(Incoming {
                    request,
                    reply: reply_tx,
                })
                .await
                .is_err()
            {
                Reply {
                    ok: false,
                    call_id: None,
                    error: Some("the call is ending".into()),
                }
            } else {
                reply_rx.await.unwrap_or(Reply {
                    ok: false,
                    call_id: None,
                    error: Some("the call is ending".into()),
                })
            }
        }
        Err(e) => Reply {
            ok: false,
            call_id: None,
            error: Some(format!("bad request: {e}")),
        },
    };
    let mut text = serde_json::to_string(&reply).unwrap_or_default();
    text.push('\n');
    write.write_all(text.as_bytes()).await
}

use tokio::io::AsyncReadExt as _;

/// Sends `request` to every running mxcall process of the profile; returns the first reply
/// with `ok`, else the list of refusals. Stale sockets (a killed process) are removed.
pub async fn send_to_running(profile: &Profile, request: &Request) -> (Option<Reply>, Vec<String>) {
    let mut refusals = Vec::new();
    let Ok(entries) = std::fs::read_dir(run_dir(profile)) else {
        return (None, refusals);
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .collect();
    paths.sort();
    for path in paths {
        match ask(&path, request).await {
            Ok(reply) if reply.ok => return (Some(reply), refusals),
            Ok(reply) => refusals.push(reply.error.unwrap_or_default()),
            Err(e) if is_stale(&e) => {
                let _ = std::fs::remove_file(&path);
            }
            Err(e) => refusals.push(format!("{}: {e}", path.display())),
        }
    }
    (None, refusals)
}

fn is_stale(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
    )
}

async fn ask(path: &Path, request: &Request) -> std::io::Result<Reply> {
    let exchange = async {
        let stream = UnixStream::connect(path).await?;
        let (read, mut write) = stream.into_split();
        let mut text = serde_json::to_string(request).map_err(std::io::Error::other)?;
        text.push('\n');
        write.write_all(text.as_bytes()).await?;
        let mut line = String::new();
        BufReader::new(read).read_line(&mut line).await?;
        serde_json::from_str::<Reply>(&line).map_err(std::io::Error::other)
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no reply",
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::SessionStore;

    #[tokio::test]
    async fn a_request_reaches_the_running_process_and_is_answered() {
        let tmp = tempfile::tempdir().unwrap();
        let profile = SessionStore::at(tmp.path()).profile("p").unwrap();
        let (server, mut rx) = ControlServer::start(&profile).unwrap();
        tokio::spawn(async move {
            let incoming = rx.recv().await.unwrap();
            let Request::Hangup { reason, .. } = &incoming.request else {
                panic!("not a hangup: {:?}", incoming.request);
            };
            assert_eq!(reason.as_deref(), Some("busy"));
            let _ = incoming.reply.send(Reply {
                ok: true,
                call_id: Some("c1".into()),
                error: None,
            });
        });
        let request = Request::Hangup {
            room_id: None,
            call_id: None,
            reason: Some("busy".into()),
        };
        let (reply, refusals) = send_to_running(&profile, &request).await;
        assert_eq!(reply.unwrap().call_id.as_deref(), Some("c1"));
        assert!(refusals.is_empty());
        drop(server);
        // The socket is gone with the server; nobody answers now.
        let (reply, _) = send_to_running(&profile, &request).await;
        assert!(reply.is_none());
    }

    #[tokio::test]
    async fn stale_sockets_are_cleaned_up() {
        let tmp = tempfile::tempdir().unwrap();
        let profile = SessionStore::at(tmp.path()).profile("p").unwrap();
        create_private_dir(&run_dir(&profile)).unwrap();
        let stale = run_dir(&profile).join("999999.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let request = Request::Hangup {
            room_id: None,
            call_id: None,
            reason: None,
        };
        let (reply, _) = send_to_running(&profile, &request).await;
        assert!(reply.is_none());
        assert!(!stale.exists());
    }
}
