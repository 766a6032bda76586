//! End-to-end encryption of MatrixRTC audio frames, byte for byte as livekit-client does it
//! (the format Element Call's per-participant E2EE uses through the LiveKit SFU). No I/O: keys
//! in, frames in, frames out.
//!
//! Sources (livekit-client 2.23.0, in `tests/interop/node_modules/livekit-client/src/e2ee/`):
//!
//! | file | what is taken from it |
//! |---|---|
//! | `constants.ts` | `IV_LENGTH = 12`, `UNENCRYPTED_BYTES.audio = 1`, `SALT = "LKFrameEncryptionKey"`, `KEY_PROVIDER_DEFAULTS` (`keySize: 128`) |
//! | `utils.ts` | `createKeyMaterialFromBuffer` (raw bytes as HKDF material), `deriveKeys` (HKDF-SHA-256, salt `SALT`, info 128 zero bytes → AES-GCM 128), `ratchet` (same HKDF, 256 bits) |
//! | `worker/FrameCryptor.ts` | `encodeFunction`, `decodeFunction`, `decryptFrame`, `makeIV`, `isFrameServerInjected`: the frame layout below |
//! | `worker/ParticipantKeyHandler.ts` | the keyring: slots, current index, `setKey`, `getKeySet`, `ratchetKey` |
//! | `worker/sifPayload.ts` | `OpusSilenceFrame`, the one server-injected audio payload |
//!
//! Element Call (`src/e2ee/matrixKeyProvider.ts` in element-hq/element-call) sets up
//! livekit-client with `super({ ratchetWindowSize: 10, keyringSize: 256 })` and the defaults for
//! the rest (128-bit keys, the salt above, `failureTolerance` 10); each key from the MatrixRTC
//! session is imported with `crypto.subtle.importKey("raw", key, "HKDF", ...)` (what
//! `createKeyMaterialFromBuffer` does) and handed over with `onSetEncryptionKey(material,
//! participant, index)`. The keys are matrix-js-sdk's: 16 random bytes, indexes counting modulo
//! 256 (`RTCEncryptionManager.ts`), never ratcheted by matrix-js-sdk itself so far.
//!
//! Frame layout (an Opus frame of `n + 1` bytes becomes `n + 31`; `FrameCryptor.ts` draws the
//! trailer as `payload | IV | R | IV_LENGTH | KID` after the SFrame draft, but writes and reads
//! `R | IV_LENGTH` as one byte, 12):
//!
//! ```text
//! offset 0      1                      1+n          17+n            29+n      30+n
//!        +------+----------------------+------------+---------------+---------+-----------+
//!        | TOC  | AES-128-GCM of Opus  | GCM tag    | IV            | IV len  | key index |
//!        | byte | bytes 1..=n          | (16 bytes) | (12 bytes)    | 0x0c    | (0..=255) |
//!        +------+----------------------+------------+---------------+---------+-----------+
//!        clear,   ciphertext, same       WebCrypto    sent in clear   trailer (2 bytes)
//!        also the length as the          appends it
//!        GCM AAD  plaintext
//!
//! IV = SSRC (u32 BE) | RTP timestamp (u32 BE) | RTP timestamp - (send count mod 0xffff) (u32 BE)
//! ```
//!
//! The send count is per SSRC, starts at a random value and goes up by one per encrypted frame
//! ([`make_iv`]). An empty frame (Opus DTX) is neither encrypted nor counted. The key is
//! `HKDF-SHA-256(ikm = raw key, salt = "LKFrameEncryptionKey", info = [0; 128])`, 16 bytes
//! ([`FrameKey`]).
//!
//! | file | owns |
//! |---|---|
//! | `frame` | [`FrameKey`], [`make_iv`], [`encrypt_audio_frame`], parsing and opening a frame, server-injected frames |
//! | `keyring` | [`Keyring`], [`decrypt_audio_frame`], ratcheting, [`AudioFrameEncryptor`] (the send counter) |
//! | `testdata/livekit-vectors.mjs` | runs livekit-client's own `FrameCryptor` under node and writes `testdata/livekit_vectors.rs` |
//!
//! Checked against livekit-client itself (`livekit_tests`): the vectors' inputs encrypt to
//! livekit-client's exact bytes (the generator fixes the send counter's random start by stubbing
//! `Math.random`); livekit-client's frames decrypt to the original payload, and what it rejects
//! is rejected; a frame made here, hard-coded in the generator, is decrypted by livekit-client.
//!
//! How the media engine will use it (not wired yet): the sender encrypts each Opus frame after
//! the encoder and before the RTP packetizer, with its [`AudioFrameEncryptor`] and its own
//! [`Keyring`]; the receiver keeps one [`Keyring`] per remote participant, fed from the
//! MatrixRTC session's keys, and decrypts each frame after depacketizing and before the Opus
//! decoder (checking [`server_injected_payload`] first when the SFU gave a SIF trailer), counting
//! failures by [`FrameError`] and dropping the failed frames.
//!
//! Left out: video (VP8/VP9/H.264/H.265 header bytes, NALU escaping), livekit-client's failure
//! tolerance (marking a key invalid after 10 failed frames and then dropping its frames unread),
//! the data-channel cryptor, Element Call's shared-secret mode (`E2eeType.SHARED_KEY`: one
//! passphrase through PBKDF2 in `ExternalE2EEKeyProvider`, no per-participant keys), key sizes
//! other than 128 bits, and IVs other than 12 bytes. Ratcheting on decryption is in
//! ([`Keyring::decrypt_and_ratchet`]), with the one difference from livekit-client noted there;
//! nothing here ratchets a sender's key.

mod frame;
mod keyring;
mod media;

#[cfg(test)]
mod livekit_tests;
#[cfg(test)]
mod tests;

pub use frame::{
    FrameError, FrameKey, FrameParts, IV_LENGTH, MIN_ENCRYPTED_FRAME_LEN, OPUS_SILENCE_FRAME,
    RATCHET_SALT, TAG_LENGTH, TRAILER_LENGTH, UNENCRYPTED_AUDIO_BYTES, encrypt_audio_frame,
    is_server_injected, make_iv, parse_audio_frame, ratchet_material, server_injected_payload,
};
pub use keyring::{
    AudioFrameEncryptor, ELEMENT_CALL_KEYRING_SIZE, ELEMENT_CALL_RATCHET_WINDOW, Keyring,
    decrypt_audio_frame,
};
pub use media::{CryptoStats, Dropped, MediaCrypto};
