//! Unit and property tests of the frame format and the keyring; the comparison with
//! livekit-client's own output is in `livekit_tests`.

use proptest::prelude::*;

use super::*;

const KEY: [u8; 16] = *b"0123456789abcdef";
const OTHER_KEY: [u8; 16] = *b"fedcba9876543210";
const OPUS: &[u8] = &[0x78, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09];

fn ring_with(index: u8, raw: &[u8]) -> Keyring {
    let mut ring = Keyring::element_call();
    ring.set_key(index, FrameKey::from_raw(raw));
    ring
}

fn sealed(index: u8, opus: &[u8]) -> Vec<u8> {
    encrypt_audio_frame(
        &FrameKey::from_raw(&KEY),
        index,
        0x1122_3344,
        96_000,
        7,
        opus,
    )
}

#[test]
fn round_trip_of_all_sizes() {
    let ring = ring_with(3, &KEY);
    for len in [1, 2, 3, 20, 160, 1275, 4000] {
        let opus: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
        let frame = sealed(3, &opus);
        assert_eq!(frame.len(), opus.len() + 30);
        assert_eq!(decrypt_audio_frame(&ring, &frame), Ok(opus));
    }
}

#[test]
fn layout_toc_in_clear_then_ciphertext_tag_iv_trailer() {
    let frame = sealed(9, OPUS);
    let n = OPUS.len() - 1;
    assert_eq!(frame[0], OPUS[0], "TOC byte in the clear");
    assert_ne!(&frame[1..1 + n], &OPUS[1..], "the rest is encrypted");
    assert_eq!(
        &frame[1 + n + 16..1 + n + 28],
        make_iv(0x1122_3344, 96_000, 7)
    );
    assert_eq!(&frame[frame.len() - 2..], &[12, 9]);
    let parts = parse_audio_frame(&frame).expect("parses");
    assert_eq!(parts.header, &OPUS[..1]);
    assert_eq!(parts.ciphertext.len(), n);
    assert_eq!(parts.tag.len(), TAG_LENGTH);
    assert_eq!(parts.iv, make_iv(0x1122_3344, 96_000, 7));
    assert_eq!(parts.key_index, 9);
}

#[test]
fn toc_byte_is_authenticated() {
    let ring = ring_with(0, &KEY);
    let mut frame = sealed(0, OPUS);
    frame[0] ^= 0x08;
    assert_eq!(
        decrypt_audio_frame(&ring, &frame),
        Err(FrameError::AuthenticationFailed { key_index: 0 })
    );
}

#[test]
fn iv_follows_make_iv() {
    // Big-endian SSRC, timestamp, timestamp minus the counter modulo 0xffff (not 0x10000).
    assert_eq!(
        make_iv(0x0102_0304, 0x0506_0708, 0x10),
        [1, 2, 3, 4, 5, 6, 7, 8, 0x05, 0x06, 0x06, 0xf8]
    );
    assert_eq!(make_iv(0, 100, 0xffff)[8..], 100u32.to_be_bytes());
    assert_eq!(make_iv(0, 100, 0x1_0000)[8..], 99u32.to_be_bytes());
    assert_eq!(make_iv(0, 1, 2)[8..], [0xff; 4], "wraps below zero");
    assert_eq!(make_iv(u32::MAX, 0, 0)[..4], [0xff; 4]);
}

#[test]
fn every_single_byte_change_is_rejected() {
    let ring = ring_with(5, &KEY);
    let frame = sealed(5, OPUS);
    for i in 0..frame.len() {
        for bit in 0..8 {
            let mut bad = frame.clone();
            bad[i] ^= 1 << bit;
            let expected = if i == frame.len() - 1 {
                FrameError::UnknownKeyIndex(bad[i])
            } else if i == frame.len() - 2 {
                FrameError::UnsupportedIvLength(bad[i])
            } else {
                FrameError::AuthenticationFailed { key_index: 5 }
            };
            assert_eq!(
                decrypt_audio_frame(&ring, &bad),
                Err(expected),
                "byte {i} bit {bit}"
            );
        }
    }
}

#[test]
fn wrong_key_and_wrong_index_are_rejected() {
    let frame = sealed(5, OPUS);
    assert_eq!(
        decrypt_audio_frame(&ring_with(5, &OTHER_KEY), &frame),
        Err(FrameError::AuthenticationFailed { key_index: 5 })
    );
    assert_eq!(
        decrypt_audio_frame(&ring_with(6, &KEY), &frame),
        Err(FrameError::UnknownKeyIndex(5))
    );
    // The right key at another index does not help; a different key at the frame's index fails.
    let mut ring = ring_with(6, &KEY);
    ring.set_key(5, FrameKey::from_raw(&OTHER_KEY));
    assert_eq!(
        decrypt_audio_frame(&ring, &frame),
        Err(FrameError::AuthenticationFailed { key_index: 5 })
    );
    assert_eq!(
        decrypt_audio_frame(&Keyring::element_call(), &frame),
        Err(FrameError::UnknownKeyIndex(5))
    );
}

#[test]
fn truncated_and_empty_frames_are_rejected() {
    let ring = ring_with(5, &KEY);
    let frame = sealed(5, OPUS);
    assert_eq!(decrypt_audio_frame(&ring, &[]), Err(FrameError::Empty));
    for len in 1..frame.len() {
        let result = decrypt_audio_frame(&ring, &frame[..len]);
        if len < MIN_ENCRYPTED_FRAME_LEN {
            assert_eq!(result, Err(FrameError::TooShort { len }));
        } else {
            assert!(result.is_err(), "prefix of {len} bytes decrypted");
        }
        assert!(decrypt_audio_frame(&ring, &frame[frame.len() - len..]).is_err());
    }
    // The shortest possible frame: a TOC byte alone.
    let toc_only = sealed(5, &[0xf8]);
    assert_eq!(toc_only.len(), MIN_ENCRYPTED_FRAME_LEN);
    assert_eq!(decrypt_audio_frame(&ring, &toc_only), Ok(vec![0xf8]));
}

#[test]
fn empty_frame_is_passed_through_and_not_counted() {
    let key = FrameKey::from_raw(&KEY);
    assert!(encrypt_audio_frame(&key, 0, 1, 2, 3, &[]).is_empty());
    let ring = ring_with(0, &KEY);
    let mut sender = AudioFrameEncryptor::new(1, 10);
    assert_eq!(sender.encrypt(&ring, 0, &[]), Ok(Vec::new()));
    assert_eq!(sender.send_count(), 10);
    sender.encrypt(&ring, 960, OPUS).expect("encrypts");
    assert_eq!(sender.send_count(), 11);
}

#[test]
fn encryptor_uses_the_current_key_and_counts() {
    let mut ring = Keyring::element_call();
    let mut sender = AudioFrameEncryptor::new(42, 0xfffe);
    assert_eq!(
        sender.encrypt(&ring, 0, OPUS),
        Err(FrameError::UnknownKeyIndex(0))
    );
    assert_eq!(
        sender.send_count(),
        0xfffe,
        "a dropped frame is not counted"
    );
    ring.set_key(4, FrameKey::from_raw(&KEY));
    ring.set_key(7, FrameKey::from_raw(&OTHER_KEY));
    ring.set_current_index(4);
    let a = sender.encrypt(&ring, 960, OPUS).expect("key 4");
    let b = sender.encrypt(&ring, 960, OPUS).expect("key 4");
    assert_eq!(a[a.len() - 1], 4);
    assert_ne!(a, b, "same timestamp, next counter: another IV");
    assert_eq!(
        parse_audio_frame(&b).expect("parses").iv,
        make_iv(42, 960, 0xffff)
    );
    assert_eq!(decrypt_audio_frame(&ring, &a).as_deref(), Ok(OPUS));
    assert_eq!(sender.ssrc(), 42);
}

#[test]
fn keyring_slots_as_participant_key_handler() {
    assert!(Keyring::new(0, 0).is_none());
    assert!(Keyring::new(257, 0).is_none());
    assert_eq!(Keyring::new(1, 0).map(|r| r.size()), Some(1));
    let ring = Keyring::default();
    assert_eq!((ring.size(), ring.ratchet_window()), (256, 10));
    assert_eq!(ring.current_index(), 0);
    assert!(ring.current_key().is_none());

    // Stored at index % size; looked up unreduced, as livekit-client's getKeySet.
    let mut small = Keyring::new(16, 0).expect("size");
    small.set_key(17, FrameKey::from_raw(&KEY));
    assert_eq!(small.current_index(), 1);
    assert!(small.key(1).is_some() && small.key(17).is_none());
    let frame = sealed(17, OPUS);
    assert_eq!(
        decrypt_audio_frame(&small, &frame),
        Err(FrameError::UnknownKeyIndex(17))
    );
    assert_eq!(
        decrypt_audio_frame(&small, &sealed(1, OPUS)).as_deref(),
        Ok(OPUS)
    );

    // Replacing a key.
    let mut ring = ring_with(3, &KEY);
    ring.set_key(3, FrameKey::from_raw(&OTHER_KEY));
    assert!(decrypt_audio_frame(&ring, &sealed(3, OPUS)).is_err());
}

#[test]
fn ratchet_walks_the_chain_within_the_window() {
    let key = FrameKey::from_raw(&KEY);
    let two_ahead = key.ratchet().ratchet();
    let frame = encrypt_audio_frame(&two_ahead, 2, 1, 960, 0, OPUS);
    // No ratcheting without the window, nor in the pure function.
    let mut narrow = Keyring::new(256, 1).expect("size");
    narrow.set_key(2, key.clone());
    assert_eq!(
        narrow.decrypt_and_ratchet(&frame),
        Err(FrameError::AuthenticationFailed { key_index: 2 })
    );
    assert!(
        decrypt_audio_frame(&narrow, &frame).is_err(),
        "a failure changes nothing"
    );

    let mut ring = Keyring::element_call();
    ring.set_key(2, key);
    ring.set_key(0, FrameKey::from_raw(&OTHER_KEY));
    assert_eq!(ring.current_index(), 0);
    assert!(decrypt_audio_frame(&ring, &frame).is_err());
    assert_eq!(ring.decrypt_and_ratchet(&frame).as_deref(), Ok(OPUS));
    // The ratcheted key replaced the stored one and its index is the current one.
    assert_eq!(ring.current_index(), 2);
    assert_eq!(decrypt_audio_frame(&ring, &frame).as_deref(), Ok(OPUS));
    // Ratcheting is forward only: the original key's frames no longer decrypt.
    let old = encrypt_audio_frame(&FrameKey::from_raw(&KEY), 2, 1, 0, 0, OPUS);
    assert!(ring.decrypt_and_ratchet(&old).is_err());
}

#[test]
fn ratchet_material_is_the_next_keys_raw_material() {
    let next = ratchet_material(&KEY);
    let frame = encrypt_audio_frame(&FrameKey::from_raw(&next), 0, 1, 0, 0, OPUS);
    let mut ring = ring_with(0, &KEY);
    ring.set_key(0, FrameKey::from_raw(&KEY).ratchet());
    assert_eq!(decrypt_audio_frame(&ring, &frame).as_deref(), Ok(OPUS));
    assert_ne!(&next[..16], &KEY[..]);
}

#[test]
fn server_injected_frames() {
    let trailer = b"LKROCKS";
    let mut sif = OPUS_SILENCE_FRAME.to_vec();
    sif.extend_from_slice(trailer);
    assert_eq!(
        server_injected_payload(&sif, trailer),
        Some(&OPUS_SILENCE_FRAME[..])
    );
    assert!(is_server_injected(&sif, trailer));
    // No trailer configured: never a SIF.
    assert_eq!(server_injected_payload(&sif, b""), None);
    assert!(!is_server_injected(&sif, b""));
    // Trailer but another payload: a SIF livekit-client drops.
    let mut other = OPUS.to_vec();
    other.extend_from_slice(trailer);
    assert!(is_server_injected(&other, trailer));
    assert_eq!(server_injected_payload(&other, trailer), None);
    // Shorter than the trailer.
    assert!(!is_server_injected(b"KS", trailer));
    assert_eq!(server_injected_payload(trailer, trailer), None);
}

#[test]
fn debug_shows_no_key_bytes() {
    assert_eq!(format!("{:?}", FrameKey::from_raw(&KEY)), "FrameKey(..)");
    assert!(format!("{:?}", ring_with(0, &KEY)).contains("Some(FrameKey(..))"));
}

#[test]
fn errors_read_as_sentences() {
    assert_eq!(
        FrameError::TooShort { len: 3 }.to_string(),
        "frame of 3 bytes is too short to be encrypted (at least 31)"
    );
    assert_eq!(
        FrameError::UnknownKeyIndex(7).to_string(),
        "no key at index 7"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Anything in: an error or a payload, never a panic; random bytes never authenticate.
    #[test]
    fn hostile_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut ring = ring_with(frame.last().copied().unwrap_or(0), &KEY);
        prop_assert!(decrypt_audio_frame(&ring, &frame).is_err());
        prop_assert!(ring.decrypt_and_ratchet(&frame).is_err());
        let _ = parse_audio_frame(&frame);
        let _ = server_injected_payload(&frame, b"LK");
    }

    /// Valid frames with random damage: never a panic, and a changed frame never decrypts.
    #[test]
    fn damaged_frames_never_panic(
        opus in proptest::collection::vec(any::<u8>(), 1..300),
        cut_front in 0usize..40,
        cut_back in 0usize..40,
        flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 0..4),
    ) {
        let ring = ring_with(1, &KEY);
        let frame = sealed(1, &opus);
        let end = frame.len().saturating_sub(cut_back).max(cut_front.min(frame.len()));
        let mut bad = frame[cut_front.min(frame.len())..end].to_vec();
        for (at, mask) in flips {
            if !bad.is_empty() {
                let i = at % bad.len();
                bad[i] ^= mask;
            }
        }
        let result = decrypt_audio_frame(&ring, &bad);
        if bad != frame {
            prop_assert!(result.is_err());
        } else {
            prop_assert_eq!(result, Ok(opus));
        }
    }

    /// Any key, index, SSRC, timestamp, counter and Opus frame: decrypts back; TOC in the clear.
    #[test]
    fn round_trip_of_random_inputs(
        raw in proptest::collection::vec(any::<u8>(), 0..64),
        index: u8,
        ssrc: u32,
        ts: u32,
        count: u64,
        opus in proptest::collection::vec(any::<u8>(), 1..1500),
    ) {
        let frame = encrypt_audio_frame(&FrameKey::from_raw(&raw), index, ssrc, ts, count, &opus);
        prop_assert_eq!(frame.len(), opus.len() + 30);
        prop_assert_eq!(frame[0], opus[0]);
        prop_assert_eq!(&frame[frame.len() - 2..], &[12, index][..]);
        let ring = ring_with(index, &raw);
        prop_assert_eq!(decrypt_audio_frame(&ring, &frame), Ok(opus));
    }
}
