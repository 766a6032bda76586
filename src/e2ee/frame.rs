//! One frame: key derivation, the IV, sealing and opening. Pure functions of their inputs.

use aes_gcm::{AeadInPlace, Aes128Gcm, Key, KeyInit, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;

/// HKDF salt of livekit-client's key derivation and ratchet (`constants.ts`: `SALT`, which is
/// also `KEY_PROVIDER_DEFAULTS.ratchetSalt`; Element Call does not change it).
pub const RATCHET_SALT: &[u8] = b"LKFrameEncryptionKey";

/// HKDF info: 128 zero bytes (`utils.ts` `getAlgoOptions`: `info: new ArrayBuffer(128)`).
const HKDF_INFO: [u8; 128] = [0; 128];

/// Length of the IV carried in every frame, in bytes (`constants.ts`: `IV_LENGTH = 12`).
pub const IV_LENGTH: usize = 12;

/// Length of the AES-GCM authentication tag, in bytes (WebCrypto's default `tagLength` of 128
/// bits; livekit-client does not set one).
pub const TAG_LENGTH: usize = 16;

/// Bytes of an audio frame left unencrypted at its start: the Opus TOC byte
/// (`constants.ts`: `UNENCRYPTED_BYTES.audio = 1`). They are the AES-GCM additional data.
pub const UNENCRYPTED_AUDIO_BYTES: usize = 1;

/// Length of the frame trailer after the IV, in bytes: `[IV_LENGTH, key index]`.
pub const TRAILER_LENGTH: usize = 2;

/// Shortest frame that can decrypt: TOC byte, tag, IV and trailer (an Opus frame of the TOC byte
/// alone encrypts to this), in bytes.
pub const MIN_ENCRYPTED_FRAME_LEN: usize =
    UNENCRYPTED_AUDIO_BYTES + TAG_LENGTH + IV_LENGTH + TRAILER_LENGTH;

/// The Opus payload the LiveKit SFU injects into an encrypted audio track (a "server-injected
/// frame"), unencrypted and followed by the session's SIF trailer: livekit-client's
/// `sifPayload.ts` `OpusSilenceFrame` (80 bytes: `f8 ff fe` and 77 zeros).
pub const OPUS_SILENCE_FRAME: [u8; 80] = {
    let mut frame = [0u8; 80];
    frame[0] = 0xf8;
    frame[1] = 0xff;
    frame[2] = 0xfe;
    frame
};

/// Why a frame did not decrypt (or, for [`FrameError::UnknownKeyIndex`], could not be
/// encrypted). Every variant is an ordinary outcome on a network that carries other people's
/// bytes: count them, drop the frame, go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame has no bytes. livekit-client forwards empty (DTX) frames unchanged rather than
    /// decrypting them; there is nothing to decode either way.
    #[error("empty frame")]
    Empty,
    /// Shorter than [`MIN_ENCRYPTED_FRAME_LEN`] (31) bytes, so it cannot hold the TOC byte, the
    /// tag, the IV and the trailer. `len` is the frame's length in bytes.
    #[error("frame of {len} bytes is too short to be encrypted (at least 31)")]
    TooShort { len: usize },
    /// The trailer's IV-length byte is not 12. livekit-client always writes 12; it would hand
    /// another length to WebCrypto, which takes IVs of any length, but AES-GCM here takes 96-bit
    /// IVs only, so such a frame (never seen from livekit-client) is refused.
    #[error("IV length {0} in the frame trailer (livekit-client writes 12)")]
    UnsupportedIvLength(u8),
    /// No key is set at this index of the keyring (decryption: the frame's last byte; encryption:
    /// the keyring's current index).
    #[error("no key at index {0}")]
    UnknownKeyIndex(u8),
    /// AES-GCM authentication failed: wrong key (also after ratcheting, if enabled), or the TOC
    /// byte, ciphertext, tag or IV was altered.
    #[error("frame does not authenticate with the key at index {key_index}")]
    AuthenticationFailed { key_index: u8 },
}

/// An AES-128-GCM frame key together with the key material it was derived from.
///
/// livekit-client imports the raw key bytes as HKDF key material (`createKeyMaterialFromBuffer`;
/// Element Call does the same `importKey("raw", key, "HKDF", ...)` in `matrixKeyProvider.ts`)
/// and derives the AES-GCM key from it (`deriveKeys`): HKDF-SHA-256 with salt
/// `"LKFrameEncryptionKey"`, info 128 zero bytes, output `keySize` = 128 bits. The material is
/// kept for [`FrameKey::ratchet`].
///
/// `Debug` does not show key bytes.
#[derive(Clone)]
pub struct FrameKey {
    material: Box<[u8]>,
    cipher: Aes128Gcm,
}

impl std::fmt::Debug for FrameKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameKey(..)")
    }
}

impl FrameKey {
    /// Derives the frame key from raw key bytes of any length (Element Call's per-participant
    /// keys are matrix-js-sdk's 16 random bytes, sent base64 in `io.element.call.encryption_keys`
    /// events).
    pub fn from_raw(raw: &[u8]) -> FrameKey {
        let mut okm = [0u8; 16];
        hkdf_expand(raw, &mut okm);
        FrameKey {
            material: raw.into(),
            cipher: Aes128Gcm::new(&Key::<Aes128Gcm>::from(okm)),
        }
    }

    /// The next key of the ratchet chain: `FrameKey::from_raw(&ratchet_material(material))`, as
    /// `ParticipantKeyHandler.ratchetKey` does.
    pub fn ratchet(&self) -> FrameKey {
        FrameKey::from_raw(&ratchet_material(&self.material))
    }
}

/// One ratchet step of key material (livekit-client `utils.ts` `ratchet`): HKDF-SHA-256 of the
/// material with salt `"LKFrameEncryptionKey"` and info 128 zero bytes, 256 bits out. The result
/// (livekit-client's `chainKey`) is the next key's raw material.
pub fn ratchet_material(material: &[u8]) -> [u8; 32] {
    let mut chain = [0u8; 32];
    hkdf_expand(material, &mut chain);
    chain
}

fn hkdf_expand(ikm: &[u8], out: &mut [u8]) {
    let hkdf = Hkdf::<Sha256>::new(Some(RATCHET_SALT), ikm);
    // Only outputs over 255 * 32 bytes are refused; ours are 16 or 32.
    if hkdf.expand(&HKDF_INFO, out).is_err() {
        unreachable!("HKDF-SHA-256 refused an output of {} bytes", out.len());
    }
}

/// The 12-byte IV of a frame (livekit-client `FrameCryptor.makeIV`), all big-endian:
///
/// ```text
/// bytes 0..4   SSRC
/// bytes 4..8   RTP timestamp
/// bytes 8..12  RTP timestamp − (send_count mod 0xffff), modulo 2^32
/// ```
///
/// `send_count` counts the frames encrypted before this one on the SSRC, from a random start
/// (livekit-client: `Math.floor(Math.random() * 0xffff)` on the SSRC's first frame). The modulus
/// is 0xffff, not 0x10000, as in livekit-client. No XOR with a salt. An SSRC missing from the
/// frame metadata counts as −1, i.e. 0xffffffff.
pub fn make_iv(ssrc: u32, rtp_timestamp: u32, send_count: u64) -> [u8; IV_LENGTH] {
    // The remainder is below 0xffff, so it fits.
    let offset = (send_count % 0xffff) as u32;
    let mut iv = [0u8; IV_LENGTH];
    iv[0..4].copy_from_slice(&ssrc.to_be_bytes());
    iv[4..8].copy_from_slice(&rtp_timestamp.to_be_bytes());
    iv[8..12].copy_from_slice(&rtp_timestamp.wrapping_sub(offset).to_be_bytes());
    iv
}

/// Encrypts one Opus frame as livekit-client's `FrameCryptor.encodeFunction` does for audio.
///
/// - `key`, `key_index`: the sender's current key and its index in the keyring (written as the
///   frame's last byte);
/// - `ssrc`, `rtp_timestamp`, `send_count`: the IV's inputs, see [`make_iv`]; the caller counts
///   frames per SSRC (or uses [`AudioFrameEncryptor`](super::AudioFrameEncryptor));
/// - `opus_frame`: one encoded Opus frame as it goes into the RTP packetizer.
///
/// Returns `TOC byte ‖ AES-128-GCM(rest, AAD = TOC byte) ‖ tag(16) ‖ IV(12) ‖ 12 ‖ key_index`,
/// `opus_frame.len() + 30` bytes. An empty `opus_frame` (DTX) is returned empty, as
/// livekit-client passes it through unencrypted (and does not count it).
pub fn encrypt_audio_frame(
    key: &FrameKey,
    key_index: u8,
    ssrc: u32,
    rtp_timestamp: u32,
    send_count: u64,
    opus_frame: &[u8],
) -> Vec<u8> {
    if opus_frame.is_empty() {
        return Vec::new();
    }
    let iv = make_iv(ssrc, rtp_timestamp, send_count);
    let (header, body) = opus_frame.split_at(UNENCRYPTED_AUDIO_BYTES);
    let mut out = Vec::with_capacity(opus_frame.len() + MIN_ENCRYPTED_FRAME_LEN - 1);
    out.extend_from_slice(opus_frame);
    let tag = match key.cipher.encrypt_in_place_detached(
        Nonce::from_slice(&iv),
        header,
        &mut out[UNENCRYPTED_AUDIO_BYTES..],
    ) {
        Ok(tag) => tag,
        // AES-GCM refuses only plaintexts over 2^36 bytes.
        Err(_) => unreachable!("AES-GCM refused a frame of {} bytes", body.len()),
    };
    out.extend_from_slice(&tag);
    out.extend_from_slice(&iv);
    out.push(IV_LENGTH as u8);
    out.push(key_index);
    out
}

/// The parts of an encrypted frame, borrowed from it; see the layout in the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameParts<'a> {
    /// The unencrypted Opus TOC byte (also the AES-GCM additional data), 1 byte.
    pub header: &'a [u8],
    /// The ciphertext without the tag, as long as the Opus frame minus its TOC byte.
    pub ciphertext: &'a [u8],
    /// The AES-GCM tag, 16 bytes.
    pub tag: &'a [u8],
    /// The IV, 12 bytes.
    pub iv: &'a [u8],
    /// The key index (the frame's last byte).
    pub key_index: u8,
}

/// Splits an encrypted audio frame into its parts, as livekit-client's `decryptFrame` reads it
/// (key index from the last byte, IV length from the one before it, the IV before that).
///
/// Errors: [`FrameError::Empty`], [`FrameError::TooShort`], [`FrameError::UnsupportedIvLength`].
pub fn parse_audio_frame(frame: &[u8]) -> Result<FrameParts<'_>, FrameError> {
    let len = frame.len();
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len < MIN_ENCRYPTED_FRAME_LEN {
        return Err(FrameError::TooShort { len });
    }
    let (body, trailer) = frame.split_at(len - TRAILER_LENGTH);
    let (iv_length, key_index) = (trailer[0], trailer[1]);
    if usize::from(iv_length) != IV_LENGTH {
        return Err(FrameError::UnsupportedIvLength(iv_length));
    }
    // At least TOC + tag + IV bytes are left, as checked above.
    let (rest, iv) = body.split_at(body.len() - IV_LENGTH);
    let (rest, tag) = rest.split_at(rest.len() - TAG_LENGTH);
    let (header, ciphertext) = rest.split_at(UNENCRYPTED_AUDIO_BYTES);
    Ok(FrameParts {
        header,
        ciphertext,
        tag,
        iv,
        key_index,
    })
}

/// Decrypts a parsed frame with one key: the Opus frame (TOC byte and plaintext), or
/// [`FrameError::AuthenticationFailed`]. `parts` must come from [`parse_audio_frame`], which
/// guarantees the IV and tag lengths (hence not public: its fields are).
pub(super) fn open_audio_frame(
    key: &FrameKey,
    parts: &FrameParts<'_>,
) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(parts.header.len() + parts.ciphertext.len());
    out.extend_from_slice(parts.header);
    out.extend_from_slice(parts.ciphertext);
    key.cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(parts.iv),
            parts.header,
            &mut out[parts.header.len()..],
            Tag::from_slice(parts.tag),
        )
        .map_err(|_| FrameError::AuthenticationFailed {
            key_index: parts.key_index,
        })?;
    Ok(out)
}

/// A server-injected frame (SIF): if `frame` ends with the session's non-empty `sif_trailer`
/// (the SFU's `JoinResponse.sif_trailer`) and what comes before it is the Opus silence frame,
/// returns that payload, which is not encrypted and must not be decrypted.
///
/// livekit-client (`FrameCryptor.decodeFunction`, `isFrameServerInjected`, `sifPayload.ts`)
/// cuts the trailer and forwards the rest if it hashes to one of its known payloads (for audio:
/// [`OPUS_SILENCE_FRAME`]), else drops the frame; a frame that does not end with the trailer is
/// decrypted as usual. Returns `None` when the frame is not a SIF or its payload is unknown; in
/// the second case livekit-client drops the frame, and [`is_server_injected`] tells the two apart.
pub fn server_injected_payload<'a>(frame: &'a [u8], sif_trailer: &[u8]) -> Option<&'a [u8]> {
    if !is_server_injected(frame, sif_trailer) {
        return None;
    }
    let payload = &frame[..frame.len() - sif_trailer.len()];
    (payload == OPUS_SILENCE_FRAME).then_some(payload)
}

/// Whether `frame` ends with the non-empty `sif_trailer` (livekit-client
/// `isFrameServerInjected`). Such a frame is never decrypted: livekit-client forwards it without
/// the trailer if its payload is known ([`server_injected_payload`]) and drops it otherwise.
pub fn is_server_injected(frame: &[u8], sif_trailer: &[u8]) -> bool {
    !sif_trailer.is_empty() && frame.ends_with(sif_trailer)
}
