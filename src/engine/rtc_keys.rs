//! The media keys of a MatrixRTC call in an encrypted room (Element Call's per-participant
//! E2EE): the call's [`MediaKeys`] machine fed by the other member's devices joining and
//! leaving and by the keys in sync batches; its key sends run as tasks (matrix-sdk's Olm
//! to-device sending) whose results come back as `RtcNews::KeysSent`; the keys it hands out go
//! into the call's [`MediaCrypto`], which the SFU session's audio tasks use for every frame.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use crate::events::Event;
use matrix_sdk::ruma::OwnedRoomId;

use super::Engine;
use super::rtc::RtcNews;
use crate::e2ee::MediaCrypto;
use crate::matrixrtc::keys::{Device, KeyOutput, MediaKeys, ReceivedKey};

/// One call's media E2EE.
pub(super) struct RtcE2ee {
    pub keys: MediaKeys,
    pub crypto: Arc<MediaCrypto>,
    /// The other member's devices in the call.
    members: HashSet<Device>,
}

/// 16 random bytes from the operating system (js-sdk `generateRandomKey`). [`Engine::rtc_e2ee`]
/// checked that the system gives random bytes before the first key is made; should a later
/// call fail, the key is all zeros mixed with std's per-process random hasher keys — never
/// reached on Linux, where `getrandom(2)` does not fail once the pool is initialised.
fn random_key() -> [u8; 16] {
    let mut key = [0u8; 16];
    if getrandom::fill(&mut key).is_err() {
        use std::hash::{BuildHasher, Hasher};
        for (i, chunk) in key.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    key
}

impl Engine {
    /// The call's E2EE (made on first use, for a call in an encrypted room); `Ok(None)` in an
    /// unencrypted room.
    ///
    /// Errors: the system gives no random bytes for keys (one line).
    pub(super) fn rtc_e2ee(
        &mut self,
        room_id: &OwnedRoomId,
    ) -> Result<Option<Arc<MediaCrypto>>, String> {
        let own = Device {
            user: self.own_user.clone(),
            device_id: self.own_party.clone(),
        };
        let Some(room) = self.rtc_rooms.get_mut(room_id) else {
            return Ok(None);
        };
        if !room.encrypted {
            return Ok(None);
        }
        if room.e2ee.is_none() {
            getrandom::fill(&mut [0u8; 16])
                .map_err(|e| format!("no random bytes for a media key: {e}"))?;
        }
        let e2ee = room.e2ee.get_or_insert_with(|| RtcE2ee {
            keys: MediaKeys::new(Instant::now(), room_id.as_str(), own, Box::new(random_key)),
            crypto: Arc::new(MediaCrypto::default()),
            members: HashSet::new(),
        });
        Ok(Some(e2ee.crypto.clone()))
    }

    /// A device of the other member joined (`true`) or left the call: the keys follow.
    pub(super) fn rtc_e2ee_member(&mut self, room_id: &OwnedRoomId, device: Device, joined: bool) {
        let Some(e2ee) = self
            .rtc_rooms
            .get_mut(room_id)
            .and_then(|r| r.e2ee.as_mut())
        else {
            return;
        };
        let changed = if joined {
            e2ee.members.insert(device)
        } else {
            e2ee.members.remove(&device)
        };
        if changed {
            e2ee.keys
                .set_members(Instant::now(), e2ee.members.iter().cloned());
        }
    }

    /// Keys that came with a sync batch, each to the call of its room.
    pub(super) fn feed_media_keys(&mut self, keys: Vec<ReceivedKey>) {
        let now = Instant::now();
        for key in keys {
            let room_id = key
                .content
                .get("room_id")
                .and_then(|r| r.as_str())
                .unwrap_or_default();
            let e2ee = self
                .rtc_rooms
                .iter_mut()
                .find(|(id, _)| id.as_str() == room_id)
                .and_then(|(_, r)| r.e2ee.as_mut());
            match e2ee {
                Some(e2ee) => e2ee.keys.key_received(now, key),
                None => tracing::debug!(
                    room_id,
                    sender = %key.sender,
                    "a MatrixRTC media key for no call of ours; ignored"
                ),
            }
        }
    }

    pub(super) fn rtc_e2ee_deadline(&self) -> Option<Instant> {
        self.rtc_rooms
            .values()
            .filter_map(|r| r.e2ee.as_ref()?.keys.poll_timeout())
            .min()
    }

    pub(super) fn rtc_e2ee_on_timeout(&mut self, now: Instant) {
        for room in self.rtc_rooms.values_mut() {
            if let Some(e2ee) = room.e2ee.as_mut()
                && e2ee.keys.poll_timeout().is_some_and(|t| t <= now)
            {
                e2ee.keys.handle_timeout(now);
            }
        }
    }

    pub(super) fn on_keys_sent(
        &mut self,
        room_id: &OwnedRoomId,
        id: u64,
        targets: Vec<Device>,
        result: Result<Vec<Device>, String>,
    ) {
        let failed = match result {
            Ok(failed) => failed,
            Err(e) => {
                tracing::info!(%room_id, "sending our media key failed: {e}");
                targets
            }
        };
        if let Some(e2ee) = self
            .rtc_rooms
            .get_mut(room_id)
            .and_then(|r| r.e2ee.as_mut())
        {
            e2ee.keys.send_result(Instant::now(), id, failed);
        }
    }

    /// Drains every call's key machine and carries its outputs out; true if there were any.
    pub(super) fn pump_rtc_keys(&mut self) -> bool {
        let mut progressed = false;
        let room_ids: Vec<OwnedRoomId> = self.rtc_rooms.keys().cloned().collect();
        for room_id in room_ids {
            while let Some(output) = self
                .rtc_rooms
                .get_mut(&room_id)
                .and_then(|r| r.e2ee.as_mut())
                .and_then(|e| e.keys.poll_output())
            {
                progressed = true;
                self.on_key_output(&room_id, output);
            }
        }
        progressed
    }

    fn on_key_output(&mut self, room_id: &OwnedRoomId, output: KeyOutput) {
        let Some(room) = self.rtc_rooms.get(room_id) else {
            return;
        };
        let Some(e2ee) = room.e2ee.as_ref() else {
            return;
        };
        match output {
            KeyOutput::Send {
                id,
                index,
                targets,
                content,
            } => {
                tracing::debug!(%room_id, index, ?targets, "sending our media key");
                let client = self.client.clone();
                let tx = self.rtc_tx.clone();
                let room_id = room_id.clone();
                self.send_tasks.push(tokio::spawn(async move {
                    // In a task of its own, so that a panic inside matrix-sdk comes back as a
                    // failed send instead of a key distribution that never finishes.
                    let to = targets.clone();
                    let result = tokio::spawn(async move {
                        crate::transport::rtc::send_media_key(&client, &to, content).await
                    })
                    .await
                    .unwrap_or_else(|e| Err(format!("the key send failed: {e}")));
                    let _ = tx.send(RtcNews::KeysSent {
                        room_id,
                        id,
                        targets,
                        result,
                    });
                }));
            }
            KeyOutput::UseOwnKey { index, key } => {
                tracing::debug!(%room_id, index, "encrypting our audio with our key");
                e2ee.crypto.set_own_key(index, &key);
            }
            KeyOutput::RemoteKey {
                identity,
                index,
                key,
            } => {
                tracing::info!(%room_id, identity, index, "media key received");
                e2ee.crypto.set_remote_key(&identity, index, &key);
                let call = self.rtc_call(room_id);
                self.reporter.event(
                    Event::E2eeKey {
                        call,
                        identity,
                        index: u32::from(index),
                    },
                    None,
                );
            }
            KeyOutput::Refused { reason } => self.reporter.note(&format!("mxcall: {reason}")),
            KeyOutput::KeyMissing { device } => {
                let call = self.rtc_call(room_id);
                // On stderr in every output mode: the user hears nothing from that device.
                self.reporter.event(
                    Event::E2eeKeyMissing {
                        call,
                        user_id: device.user.to_string(),
                        device_id: device.device_id.clone(),
                    },
                    None,
                );
                self.reporter.note(&format!(
                    "mxcall: no media key from {device}: its audio cannot be decrypted and is \
                     not played (is that device cross-signed by its owner?)"
                ));
            }
        }
    }
}
