//! [`MediaCrypto`]: the frame keys of one MatrixRTC call as the media tasks use them — our
//! keyring and send counter on the way out, one keyring per LiveKit participant on the way in
//! — shared by the engine (which sets keys as the call's [`crate::matrixrtc::keys`] machine
//! hands them out) and the SFU session's audio tasks. Counts what it encrypted, decrypted and
//! dropped.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{
    AudioFrameEncryptor, FrameError, FrameKey, Keyring, is_server_injected, server_injected_payload,
};

/// Counters of a call's frame encryption, for the JSON `ended` event and the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CryptoStats {
    /// Frames we encrypted and sent.
    pub frames_encrypted: u64,
    /// Frames we could not send for want of our own key (never, once the call has one).
    pub frames_unsent: u64,
    /// Received frames that decrypted.
    pub frames_decrypted: u64,
    /// Received frames dropped because no key of their sender (at their index) was known.
    pub frames_without_key: u64,
    /// Received frames dropped because they did not decrypt (wrong key, altered, malformed).
    pub frames_failed: u64,
}

impl CryptoStats {
    /// Every received frame that was dropped instead of played.
    pub fn decrypt_failures(&self) -> u64 {
        self.frames_without_key + self.frames_failed
    }
}

/// See the module documentation. All methods take `&self`: one lock, held only for a frame.
pub struct MediaCrypto {
    inner: Mutex<Inner>,
}

struct Inner {
    own: Keyring,
    encryptor: Option<AudioFrameEncryptor>,
    /// LiveKit identity → that participant's keys.
    remote: HashMap<String, Keyring>,
    /// LiveKit participant sid → identity (the SFU names a forwarded track's stream
    /// `{participant sid}|{track sid}`).
    sids: HashMap<String, String>,
    /// The trailer the SFU appends to frames it injects (`JoinResponse.sif_trailer`).
    sif_trailer: Vec<u8>,
    stats: CryptoStats,
}

/// Why a received frame is not played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// We hold no key of its sender at its index.
    NoKey { identity: Option<String> },
    /// It did not decrypt.
    Failed(FrameError),
}

impl std::fmt::Debug for MediaCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaCrypto")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The same call's keys: identity, not content (keys are never compared).
impl PartialEq for MediaCrypto {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for MediaCrypto {}

impl Default for MediaCrypto {
    fn default() -> Self {
        MediaCrypto {
            inner: Mutex::new(Inner {
                own: Keyring::element_call(),
                encryptor: None,
                remote: HashMap::new(),
                sids: HashMap::new(),
                sif_trailer: Vec::new(),
                stats: CryptoStats::default(),
            }),
        }
    }
}

impl MediaCrypto {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Our key at `index` (raw material, 16 bytes from js-sdk's rules), used for every frame
    /// from now on.
    pub fn set_own_key(&self, index: u8, material: &[u8]) {
        self.lock().own.set_key(index, FrameKey::from_raw(material));
    }

    /// The key of participant `identity` at `index`.
    pub fn set_remote_key(&self, identity: &str, index: u8, material: &[u8]) {
        self.lock()
            .remote
            .entry(identity.to_owned())
            .or_insert_with(Keyring::element_call)
            .set_key(index, FrameKey::from_raw(material));
    }

    /// Whether any key of participant `identity` is known.
    pub fn has_remote_key(&self, identity: &str) -> bool {
        self.lock().remote.contains_key(identity)
    }

    /// LiveKit participant `sid` is `identity`.
    pub fn set_participant(&self, sid: &str, identity: &str) {
        self.lock().sids.insert(sid.to_owned(), identity.to_owned());
    }

    /// The SFU's server-injected-frame trailer.
    pub fn set_sif_trailer(&self, trailer: &[u8]) {
        self.lock().sif_trailer = trailer.to_vec();
    }

    /// Encrypts one Opus frame of ours. `ssrc` and `rtp_timestamp` only make the IV (which
    /// travels in the frame); the send counter starts at a random value (`initial_count`) the
    /// first time. `None`: no key yet, the frame is not sent (livekit-client drops it too).
    pub fn encrypt(
        &self,
        ssrc: u32,
        initial_count: u64,
        rtp_timestamp: u32,
        frame: &[u8],
    ) -> Option<Vec<u8>> {
        let mut inner = self.lock();
        let Inner {
            own,
            encryptor,
            stats,
            ..
        } = &mut *inner;
        let encryptor =
            encryptor.get_or_insert_with(|| AudioFrameEncryptor::new(ssrc, initial_count));
        match encryptor.encrypt(own, rtp_timestamp, frame) {
            Ok(out) => {
                stats.frames_encrypted += 1;
                Some(out)
            }
            Err(_) => {
                stats.frames_unsent += 1;
                None
            }
        }
    }

    /// Decrypts one received frame of the track whose stream id is `stream_id`
    /// (`{participant sid}|{track sid}`). A server-injected silence frame comes back as its
    /// Opus payload; anything else that does not decrypt is counted and dropped.
    pub fn decrypt(&self, stream_id: &str, frame: &[u8]) -> Result<Vec<u8>, Dropped> {
        let mut inner = self.lock();
        let Inner {
            remote,
            sids,
            sif_trailer,
            stats,
            ..
        } = &mut *inner;
        if is_server_injected(frame, sif_trailer) {
            return match server_injected_payload(frame, sif_trailer) {
                Some(payload) => Ok(payload.to_vec()),
                None => {
                    stats.frames_failed += 1;
                    Err(Dropped::Failed(FrameError::Empty))
                }
            };
        }
        let sid = stream_id.split('|').next().unwrap_or(stream_id);
        let identity = sids.get(sid).cloned();
        let Some(keyring) = identity.as_ref().and_then(|i| remote.get_mut(i)) else {
            stats.frames_without_key += 1;
            return Err(Dropped::NoKey { identity });
        };
        match keyring.decrypt_and_ratchet(frame) {
            Ok(plain) => {
                stats.frames_decrypted += 1;
                Ok(plain)
            }
            Err(FrameError::UnknownKeyIndex(_)) => {
                stats.frames_without_key += 1;
                Err(Dropped::NoKey { identity })
            }
            Err(e) => {
                stats.frames_failed += 1;
                Err(Dropped::Failed(e))
            }
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> CryptoStats {
        self.lock().stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_travel_between_two_participants_and_strangers_are_dropped() {
        let alice = MediaCrypto::default();
        let bob = MediaCrypto::default();
        alice.set_own_key(0, &[7; 16]);
        bob.set_participant("PA_alice", "@alice:hs:A");
        let opus = [0x78u8, 1, 2, 3, 4, 5];
        let frame = alice.encrypt(1234, 99, 960, &opus).unwrap();
        assert_ne!(&frame[1..opus.len()], &opus[1..]);
        // No key of alice yet: dropped, counted.
        assert_eq!(
            bob.decrypt("PA_alice|TR_1", &frame),
            Err(Dropped::NoKey {
                identity: Some("@alice:hs:A".into())
            })
        );
        bob.set_remote_key("@alice:hs:A", 0, &[7; 16]);
        assert_eq!(bob.decrypt("PA_alice|TR_1", &frame).unwrap(), opus);
        // A track of a participant nobody named.
        assert!(matches!(
            bob.decrypt("PA_other|TR_2", &frame),
            Err(Dropped::NoKey { identity: None })
        ));
        // The wrong key at the right index.
        bob.set_remote_key("@alice:hs:A", 0, &[8; 16]);
        assert!(matches!(
            bob.decrypt("PA_alice|TR_1", &frame),
            Err(Dropped::Failed(_))
        ));
        let s = bob.stats();
        assert_eq!(
            (s.frames_decrypted, s.frames_without_key, s.frames_failed),
            (1, 2, 1)
        );
        assert_eq!(s.decrypt_failures(), 3);
        assert_eq!(alice.stats().frames_encrypted, 1);
    }

    #[test]
    fn a_new_own_key_is_used_at_its_index() {
        let alice = MediaCrypto::default();
        let bob = MediaCrypto::default();
        bob.set_participant("PA_a", "@a:hs:A");
        bob.set_remote_key("@a:hs:A", 0, &[1; 16]);
        bob.set_remote_key("@a:hs:A", 1, &[2; 16]);
        alice.set_own_key(0, &[1; 16]);
        let f0 = alice.encrypt(1, 0, 0, &[0x78, 9, 9]).unwrap();
        alice.set_own_key(1, &[2; 16]);
        let f1 = alice.encrypt(1, 0, 960, &[0x78, 8, 8]).unwrap();
        assert_eq!(*f0.last().unwrap(), 0);
        assert_eq!(*f1.last().unwrap(), 1);
        // Late frames of the old key still decrypt.
        assert_eq!(bob.decrypt("PA_a|T", &f1).unwrap(), [0x78, 8, 8]);
        assert_eq!(bob.decrypt("PA_a|T", &f0).unwrap(), [0x78, 9, 9]);
    }

    #[test]
    fn no_own_key_sends_nothing() {
        let alice = MediaCrypto::default();
        assert_eq!(alice.encrypt(1, 0, 0, &[0x78, 1]), None);
        assert_eq!(alice.stats().frames_unsent, 1);
    }

    #[test]
    fn garbage_is_counted_never_a_panic() {
        let bob = MediaCrypto::default();
        bob.set_participant("P", "@a:hs:A");
        bob.set_remote_key("@a:hs:A", 0, &[1; 16]);
        for len in [0usize, 1, 2, 13, 30, 31, 32, 200] {
            let frame: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
            assert!(bob.decrypt("P|T", &frame).is_err());
        }
    }
}
