//! Emoji (SAS, `m.sas.v1`) verification of this device with another session of the same user —
//! the alternative to typing a recovery key. matrix-sdk runs the protocol; this module shows the
//! emoji, asks the user to compare them, and waits until the other session has cross-signed us.
//!
//! Both directions work: mxcall sends a request to the user's other sessions (or one device),
//! and a request that another session sends meanwhile is accepted instead. Whoever is ready
//! starts SAS; matrix-sdk resolves a collision of two starts (spec: "Key verification framework").

use std::io::IsTerminal;
use std::time::Duration;

use futures_util::StreamExt;
use matrix_sdk::Client;
use matrix_sdk::encryption::verification::{
    SasState, SasVerification, VerificationRequest, VerificationRequestState,
};
use matrix_sdk::ruma::events::key::verification::request::ToDeviceKeyVerificationRequestEvent;
use matrix_sdk::ruma::{OwnedDeviceId, OwnedUserId};
use serde_json::json;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::output::Output;

/// How long a sync inside the verification may wait on the server.
const POLL: Duration = Duration::from_secs(5);

/// How the emoji are confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// Ask on the terminal.
    Ask,
    /// `--yes`: a script compares them elsewhere.
    Yes,
}

/// Runs one emoji verification with another session of our own user, until both sides confirmed.
///
/// Errors: [`Error::Usage`] without a terminal to ask on (and no `--yes`); [`Error::Other`] when
/// the other side cancels, the emoji do not match, or nothing happens within `timeout`.
pub async fn verify(
    client: &Client,
    out: Output,
    device: Option<OwnedDeviceId>,
    confirm: Confirm,
    timeout: Duration,
) -> Result<()> {
    if confirm == Confirm::Ask && !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "no terminal to confirm the emoji on; pass --yes when a script compares them".into(),
        ));
    }
    let own: OwnedUserId = client
        .user_id()
        .ok_or_else(|| Error::Other("no session".into()))?
        .to_owned();

    let own_device = client
        .device_id()
        .ok_or_else(|| Error::Other("no session".into()))?
        .to_owned();
    // Requests other sessions send us while we wait (not the echo of our own request, which
    // the server also delivers to this device).
    let (incoming_tx, mut incoming_rx) = mpsc::unbounded_channel();
    let handle = client.add_event_handler(move |ev: ToDeviceKeyVerificationRequestEvent| {
        let tx = incoming_tx.clone();
        let from_us = ev.content.from_device == own_device;
        async move {
            if !from_us {
                let _ = tx.send((ev.sender, ev.content.transaction_id.to_string()));
            }
        }
    });
    let syncing = tokio::spawn(keep_syncing(client.clone()));
    let result = tokio::time::timeout(timeout, async {
        crate::transport::sync::sync_now(client)
            .await
            .map_err(|e| Error::other("sync failed", crate::error::root_cause(&e)))?;
        if device.is_none() && !has_other_devices(client, &own).await? {
            return Err(Error::Other(
                "your account has no other session to compare emoji with; use `mxcall verify \
                 --recovery-key`, or sign in to Element first"
                    .into(),
            ));
        }
        let mut request = send_request(client, &own, device.as_ref()).await?;
        out.note("verification request sent: accept it in your other session (Element: the \"Verify\" prompt)…");
        loop {
            let mut changes = request.changes();
            let state = tokio::select! {
                state = changes.next() => state,
                Some((sender, flow_id)) = incoming_rx.recv() => {
                    if sender != own {
                        continue;
                    }
                    let Some(theirs) = client.encryption().get_verification_request(&sender, &flow_id).await else {
                        continue;
                    };
                    let _ = request.cancel().await;
                    theirs.accept().await.map_err(|e| Error::other("cannot accept the verification request", crate::error::root_cause(&e)))?;
                    out.note("accepted the verification request of your other session");
                    request = theirs;
                    continue;
                }
            };
            match state {
                Some(VerificationRequestState::Ready { .. }) => {
                    if let Some(sas) = request.start_sas().await.map_err(|e| Error::other("cannot start the emoji verification", crate::error::root_cause(&e)))? {
                        return run_sas(sas, out, confirm).await;
                    }
                }
                Some(VerificationRequestState::Transitioned { verification }) => {
                    if let Some(sas) = verification.sas() {
                        return run_sas(sas, out, confirm).await;
                    }
                    return Err(Error::Other("the other session chose a verification method mxcall does not offer (use the emoji)".into()));
                }
                Some(VerificationRequestState::Cancelled(info)) => {
                    return Err(Error::Other(format!("verification cancelled: {}", info.reason())));
                }
                Some(VerificationRequestState::Done) => return Ok(()),
                Some(_) => {}
                None => return Err(Error::Other("the verification request ended".into())),
            }
        }
    })
    .await;
    syncing.abort();
    client.remove_event_handler(handle);
    match result {
        Ok(r) => r,
        Err(_) => Err(Error::Other(format!(
            "no verification within {} s: was the request accepted in the other session?",
            timeout.as_secs()
        ))),
    }
}

/// Whether the account has a device besides this one (fresh from the server).
async fn has_other_devices(client: &Client, own: &OwnedUserId) -> Result<bool> {
    let enc = client.encryption();
    enc.request_user_identity(own)
        .await
        .map_err(|e| Error::other("cannot query your devices", crate::error::root_cause(&e)))?;
    let devices = enc
        .get_user_devices(own)
        .await
        .map_err(|e| Error::other("cannot read your devices", crate::error::root_cause(&e)))?;
    let ours = client.device_id();
    Ok(devices.devices().any(|d| Some(d.device_id()) != ours))
}

async fn keep_syncing(client: Client) {
    loop {
        if let Err(e) = crate::transport::sync::sync_waiting(&client, POLL).await {
            tracing::warn!(
                "sync failed during verification: {}",
                crate::error::root_cause(&e)
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn send_request(
    client: &Client,
    own: &OwnedUserId,
    device: Option<&OwnedDeviceId>,
) -> Result<VerificationRequest> {
    let enc = client.encryption();
    let fail = |e: &dyn std::error::Error| Error::other("cannot send the verification request", e);
    match device {
        Some(id) => {
            let device = enc
                .get_device(own, id)
                .await
                .map_err(|e| fail(&e))?
                .ok_or_else(|| Error::Usage(format!("your account has no device {id}")))?;
            device.request_verification().await.map_err(|e| fail(&e))
        }
        None => {
            let identity = enc
                .request_user_identity(own)
                .await
                .map_err(|e| fail(&e))?
                .ok_or_else(|| {
                    Error::Other(
                        "your account has no cross-signing identity yet, so no session can vouch for \
                         this one; log in again with mxcall (it creates one) or set up Element first"
                            .into(),
                    )
                })?;
            identity.request_verification().await.map_err(|e| fail(&e))
        }
    }
}

async fn run_sas(sas: SasVerification, out: Output, confirm: Confirm) -> Result<()> {
    let mut changes = sas.changes();
    // The state may have moved before we subscribed.
    let mut state = Some(sas.state());
    loop {
        match state {
            Some(SasState::Started { .. }) if !sas.we_started() => {
                sas.accept().await.map_err(|e| {
                    Error::other(
                        "cannot accept the emoji verification",
                        crate::error::root_cause(&e),
                    )
                })?;
            }
            Some(SasState::KeysExchanged { .. }) => {
                let emoji = sas.emoji().ok_or_else(|| {
                    Error::Other(
                        "the other session offers no emoji; mxcall compares emoji only".into(),
                    )
                })?;
                show(out, &emoji, sas.decimals());
                if confirmed(confirm)? {
                    sas.confirm().await.map_err(|e| {
                        Error::other("cannot confirm", crate::error::root_cause(&e))
                    })?;
                    out.note("confirmed; waiting for the other session…");
                } else {
                    let _ = sas.mismatch().await;
                    return Err(Error::Other(
                        "the emoji do not match: verification cancelled (someone may be intercepting)".into(),
                    ));
                }
            }
            Some(SasState::Done { .. }) => return Ok(()),
            Some(SasState::Cancelled(info)) => {
                return Err(Error::Other(format!(
                    "verification cancelled: {}",
                    info.reason()
                )));
            }
            Some(_) => {}
            None => return Err(Error::Other("the emoji verification ended".into())),
        }
        state = changes.next().await;
    }
}

fn show(
    out: Output,
    emoji: &[matrix_sdk::encryption::verification::Emoji; 7],
    decimals: Option<(u16, u16, u16)>,
) {
    let list: Vec<_> = emoji
        .iter()
        .map(|e| json!({"symbol": e.symbol, "description": e.description}))
        .collect();
    if out.json {
        let decimals = decimals.map(|(a, b, c)| vec![a, b, c]);
        out.result(
            "",
            &json!({"event": "sas", "emoji": list, "decimals": decimals}),
        );
    }
    let symbols: Vec<String> = emoji.iter().map(|e| format!("{:^12}", e.symbol)).collect();
    let names: Vec<String> = emoji
        .iter()
        .map(|e| format!("{:^12}", e.description))
        .collect();
    eprintln!(
        "Compare these emoji with the ones your other session shows:\n\n{}\n{}\n",
        symbols.join(""),
        names.join("")
    );
}

fn confirmed(confirm: Confirm) -> Result<bool> {
    if confirm == Confirm::Yes {
        return Ok(true);
    }
    eprint!("Do they match? [y/N] ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::other("cannot read the answer", e))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}
