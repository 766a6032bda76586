//! A participant's keys by index (livekit-client's `ParticipantKeyHandler`), decrypting with
//! them, and the sender's per-SSRC frame counter.

use super::frame::{
    FrameError, FrameKey, encrypt_audio_frame, open_audio_frame, parse_audio_frame,
};

/// Keyring size Element Call asks livekit-client for (`matrixKeyProvider.ts`:
/// `super({ ratchetWindowSize: 10, keyringSize: 256 })`); matrix-js-sdk numbers its keys
/// modulo 256 (`RTCEncryptionManager.nextKeyIndex`), so every index of the frame's key-index
/// byte has a slot.
pub const ELEMENT_CALL_KEYRING_SIZE: usize = 256;

/// Ratchet window Element Call asks livekit-client for (see [`ELEMENT_CALL_KEYRING_SIZE`]).
pub const ELEMENT_CALL_RATCHET_WINDOW: u8 = 10;

/// One participant's frame keys by key index, as livekit-client's `ParticipantKeyHandler` keeps
/// them: `size` slots (1 to 256), a current index (the key a sender encrypts with), and the ratchet
/// window used by [`Keyring::decrypt_and_ratchet`].
///
/// Storing a key puts it in slot `index % size` (`setKeyFromMaterial`); looking a frame's key up
/// uses its index unreduced (`getKeySet(keyIndex)`), so with fewer than 256 slots a frame naming
/// an index past the end has no key. With Element Call's 256 slots the two agree.
///
/// Not kept from `ParticipantKeyHandler`: the failure counts that mark a key invalid after
/// `failureTolerance` (10) failed frames and then drop that index's frames unread. Counting and
/// reacting to failures is the caller's business.
#[derive(Debug, Clone)]
pub struct Keyring {
    slots: Vec<Option<FrameKey>>,
    current: u8,
    ratchet_window: u8,
}

impl Default for Keyring {
    /// [`Keyring::element_call`].
    fn default() -> Keyring {
        Keyring::element_call()
    }
}

impl Keyring {
    /// An empty keyring of `size` slots (1 to 256, as livekit-client requires; otherwise `None`)
    /// trying up to `ratchet_window` ratchet steps when a frame does not decrypt (0: never).
    pub fn new(size: usize, ratchet_window: u8) -> Option<Keyring> {
        if !(1..=256).contains(&size) {
            return None;
        }
        Some(Keyring {
            slots: vec![None; size],
            current: 0,
            ratchet_window,
        })
    }

    /// An empty keyring with Element Call's options: 256 slots, ratchet window 10.
    pub fn element_call() -> Keyring {
        Keyring {
            slots: vec![None; ELEMENT_CALL_KEYRING_SIZE],
            current: 0,
            ratchet_window: ELEMENT_CALL_RATCHET_WINDOW,
        }
    }

    /// Number of slots.
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// Ratchet steps tried per frame by [`Keyring::decrypt_and_ratchet`].
    pub fn ratchet_window(&self) -> u8 {
        self.ratchet_window
    }

    /// Stores `key` at `index % size` and makes that the current index, as Element Call's
    /// `onSetEncryptionKey(key, identity, index)` does through livekit-client (`setKey` with
    /// `updateCurrentKeyIndex` true, since the index is given). Replaces a key stored there.
    pub fn set_key(&mut self, index: u8, key: FrameKey) {
        let slot = self.slot(index);
        self.slots[usize::from(slot)] = Some(key);
        self.current = slot;
    }

    /// Makes `index % size` the current index without changing any key.
    pub fn set_current_index(&mut self, index: u8) {
        self.current = self.slot(index);
    }

    /// The current index: the key index a sender writes into its frames.
    pub fn current_index(&self) -> u8 {
        self.current
    }

    /// The key at the current index, if one is set.
    pub fn current_key(&self) -> Option<&FrameKey> {
        self.key(self.current)
    }

    /// The key for a frame carrying `index` (not reduced modulo the size), if one is set.
    pub fn key(&self, index: u8) -> Option<&FrameKey> {
        self.slots.get(usize::from(index)).and_then(Option::as_ref)
    }

    /// Decrypts a frame like [`decrypt_audio_frame`] and, if its key does not authenticate it,
    /// tries the next keys of that key's ratchet chain ([`FrameKey::ratchet`]), up to the ratchet
    /// window. When a ratcheted key works it replaces the stored one and its index becomes the
    /// current one (`FrameCryptor.decryptFrame`: `setKeySet`, `setCurrentKeyIndex`), so later
    /// frames decrypt at once. A failed frame changes nothing.
    ///
    /// livekit-client 2.23.0 means to do the same ("ratchet the key for up to
    /// RATCHET_WINDOW_SIZE times"), but each round of its `decryptFrame` ratchets the stored key
    /// again rather than the last ratcheted one, so in effect it tries one step only: a frame
    /// two steps ahead is dropped (vector `ratchet_two_steps_at_once`). Here every step of the
    /// window is a new one, so this accepts what livekit-client accepts and more.
    ///
    /// Errors as [`decrypt_audio_frame`]; `AuthenticationFailed` once the window is used up.
    pub fn decrypt_and_ratchet(&mut self, frame: &[u8]) -> Result<Vec<u8>, FrameError> {
        let parts = parse_audio_frame(frame)?;
        let key = self
            .key(parts.key_index)
            .ok_or(FrameError::UnknownKeyIndex(parts.key_index))?;
        let failed = match open_audio_frame(key, &parts) {
            Ok(plain) => return Ok(plain),
            Err(e) => e,
        };
        let mut candidate = key.clone();
        for _ in 0..self.ratchet_window {
            candidate = candidate.ratchet();
            if let Ok(plain) = open_audio_frame(&candidate, &parts) {
                self.slots[usize::from(parts.key_index)] = Some(candidate);
                self.current = parts.key_index;
                return Ok(plain);
            }
        }
        Err(failed)
    }

    fn slot(&self, index: u8) -> u8 {
        // Below the size, which is at most 256.
        (usize::from(index) % self.slots.len()) as u8
    }
}

/// Decrypts one audio frame made by livekit-client's `encodeFunction` (or
/// [`encrypt_audio_frame`]) with the key its last byte names: the Opus frame, TOC byte first.
/// No ratcheting and no change to the keyring; see [`Keyring::decrypt_and_ratchet`].
///
/// Errors, in the order checked: [`FrameError::Empty`]; [`FrameError::TooShort`] (under 31
/// bytes); [`FrameError::UnsupportedIvLength`] (trailer byte not 12);
/// [`FrameError::UnknownKeyIndex`] (no key at the index); [`FrameError::AuthenticationFailed`].
/// Hostile input gives one of these, never a panic.
pub fn decrypt_audio_frame(keyring: &Keyring, frame: &[u8]) -> Result<Vec<u8>, FrameError> {
    let parts = parse_audio_frame(frame)?;
    let key = keyring
        .key(parts.key_index)
        .ok_or(FrameError::UnknownKeyIndex(parts.key_index))?;
    open_audio_frame(key, &parts)
}

/// A sender's state for one SSRC: the send counter of livekit-client's `makeIV`, advanced once
/// per encrypted frame.
#[derive(Debug, Clone)]
pub struct AudioFrameEncryptor {
    ssrc: u32,
    send_count: u64,
}

impl AudioFrameEncryptor {
    /// A sender for `ssrc` whose counter starts at `initial_send_count`. livekit-client starts
    /// it at a random value below 0xffff (`Math.floor(Math.random() * 0xffff)`); only
    /// `send_count % 0xffff` enters the IV. Any start keeps IVs distinct: within one SSRC two
    /// frames share an IV only if they share the RTP timestamp and the counter modulo 0xffff.
    pub fn new(ssrc: u32, initial_send_count: u64) -> AudioFrameEncryptor {
        AudioFrameEncryptor {
            ssrc,
            send_count: initial_send_count,
        }
    }

    /// The SSRC written into every IV.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The counter value the next frame's IV will use.
    pub fn send_count(&self) -> u64 {
        self.send_count
    }

    /// Encrypts `opus_frame` (RTP timestamp `rtp_timestamp`, 48 kHz units) with the keyring's
    /// current key and index: see [`encrypt_audio_frame`]. An empty frame comes back empty and is
    /// not counted, as in livekit-client.
    ///
    /// Errors: [`FrameError::UnknownKeyIndex`] with the current index when no key is set there
    /// (livekit-client drops the frame then; nothing is counted).
    pub fn encrypt(
        &mut self,
        keyring: &Keyring,
        rtp_timestamp: u32,
        opus_frame: &[u8],
    ) -> Result<Vec<u8>, FrameError> {
        if opus_frame.is_empty() {
            return Ok(Vec::new());
        }
        let index = keyring.current_index();
        let key = keyring
            .current_key()
            .ok_or(FrameError::UnknownKeyIndex(index))?;
        let frame = encrypt_audio_frame(
            key,
            index,
            self.ssrc,
            rtp_timestamp,
            self.send_count,
            opus_frame,
        );
        self.send_count = self.send_count.wrapping_add(1);
        Ok(frame)
    }
}
