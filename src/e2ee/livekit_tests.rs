//! Byte compatibility with livekit-client: the vectors in `testdata/livekit_vectors.rs` were made
//! by livekit-client's own `FrameCryptor` and `ParticipantKeyHandler` (see
//! `testdata/livekit-vectors.mjs`, which also says how to regenerate them).

use super::*;

#[rustfmt::skip]
#[path = "testdata/livekit_vectors.rs"]
mod vectors;

use vectors::{DECRYPT, ENCRYPT, LIVEKIT_CLIENT_VERSION, MXCALL_FRAME, RATCHET, SIF, SIF_TRAILER};

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn keyring(keys: &[(u8, &str)], ratchet_window: u8) -> Keyring {
    let mut ring = Keyring::new(ELEMENT_CALL_KEYRING_SIZE, ratchet_window).expect("size");
    for &(index, key) in keys {
        ring.set_key(index, FrameKey::from_raw(&hex(key)));
    }
    ring
}

#[test]
fn vectors_are_from_the_livekit_client_in_tests_interop() {
    assert_eq!(LIVEKIT_CLIENT_VERSION, "2.23.0");
    assert!(ENCRYPT.iter().map(|v| v.frames.len()).sum::<usize>() >= 60);
}

/// (a) Same key, index, SSRC, timestamps, counter start and Opus frames: livekit-client's exact
/// bytes, both through the stateful encryptor and the pure function.
#[test]
fn encryption_gives_livekit_clients_bytes() {
    for v in ENCRYPT {
        let key = FrameKey::from_raw(&hex(v.key));
        let mut ring = Keyring::element_call();
        ring.set_key(v.key_index, key.clone());
        let mut sender = AudioFrameEncryptor::new(v.ssrc, v.send_count_start);
        let mut send_count = v.send_count_start;
        for (i, &(ts, opus, expected)) in v.frames.iter().enumerate() {
            let opus = hex(opus);
            let expected = hex(expected);
            let ours = sender.encrypt(&ring, ts, &opus).expect("key set");
            assert_eq!(ours, expected, "{} frame {i}: encryptor", v.name);
            let pure = encrypt_audio_frame(&key, v.key_index, v.ssrc, ts, send_count, &opus);
            assert_eq!(pure, expected, "{} frame {i}: encrypt_audio_frame", v.name);
            if !opus.is_empty() {
                send_count += 1;
            }
        }
        assert_eq!(sender.send_count(), send_count, "{}", v.name);
    }
}

/// (b) livekit-client's frames decrypt to the Opus frames it was given.
#[test]
fn livekit_clients_frames_decrypt_to_the_original() {
    for v in ENCRYPT {
        let ring = keyring(&[(v.key_index, v.key)], ELEMENT_CALL_RATCHET_WINDOW);
        for (i, &(_, opus, frame)) in v.frames.iter().enumerate() {
            let (opus, frame) = (hex(opus), hex(frame));
            if frame.is_empty() {
                // livekit-client passed the empty (DTX) frame through unencrypted.
                assert_eq!(decrypt_audio_frame(&ring, &frame), Err(FrameError::Empty));
                continue;
            }
            assert_eq!(
                decrypt_audio_frame(&ring, &frame).as_deref(),
                Ok(&opus[..]),
                "{} frame {i}",
                v.name
            );
        }
    }
}

/// The frame the generator fed to livekit-client's decodeFunction as ours (it decrypted it, case
/// "made_by_mxcall"): we still make exactly it. A counter past 0xffff, as a long call has.
#[test]
fn livekit_client_decrypts_our_frame() {
    let m = &MXCALL_FRAME;
    let frame = encrypt_audio_frame(
        &FrameKey::from_raw(&hex(m.key)),
        m.key_index,
        m.ssrc,
        m.rtp_timestamp,
        m.send_count,
        &hex(m.opus),
    );
    assert_eq!(frame, hex(m.frame));
    let v = DECRYPT
        .iter()
        .find(|v| v.name == "made_by_mxcall")
        .expect("vector");
    assert_eq!(v.frames[0].1.map(hex), Some(hex(m.opus)));
}

/// Where this module knowingly differs from livekit-client's verdict, and why.
fn expected_difference(name: &str) -> Option<&'static str> {
    match name {
        // livekit-client hands any IV length to WebCrypto; AES-GCM here is 96-bit IVs only.
        // livekit-client itself always writes 12.
        "iv_length_16" => Some("we reject"),
        // livekit-client's decryptFrame re-ratchets the stored key each round (one step in
        // effect); Keyring::decrypt_and_ratchet walks the chain up to the window.
        "ratchet_two_steps_at_once" => Some("we decrypt"),
        _ => None,
    }
}

/// Frames through one keyring in order: the same verdict and output as livekit-client's
/// decodeFunction (Element Call's options), except the two documented differences.
#[test]
fn decryption_agrees_with_livekit_client() {
    for v in DECRYPT {
        let mut ring = keyring(v.keys, v.ratchet_window);
        for (i, &(frame, livekit)) in v.frames.iter().enumerate() {
            let frame = hex(frame);
            let ours = ring.decrypt_and_ratchet(&frame);
            let livekit = livekit.map(hex);
            match expected_difference(v.name) {
                None => assert_eq!(
                    ours.as_ref().ok(),
                    livekit.as_ref(),
                    "{} frame {i}: {ours:?}",
                    v.name
                ),
                Some("we reject") => {
                    assert!(livekit.is_some(), "{}: livekit-client now rejects", v.name);
                    assert_eq!(ours, Err(FrameError::UnsupportedIvLength(16)), "{}", v.name);
                }
                Some(_) => {
                    assert!(livekit.is_none(), "{}: livekit-client now accepts", v.name);
                    let one_step = DECRYPT.iter().find(|v| v.name == "ratchet_one_step");
                    let payload = hex(one_step.and_then(|v| v.frames[0].1).expect("vector"));
                    assert_eq!(ours.as_deref(), Ok(&payload[..]), "{}", v.name);
                }
            }
        }
    }
}

/// The reasons for the rejections, checked in the order `decrypt_audio_frame` documents.
#[test]
fn rejections_carry_the_right_error() {
    let auth = |key_index| FrameError::AuthenticationFailed { key_index };
    let expect = [
        ("wrong_key", auth(1)),
        ("unknown_key_index", FrameError::UnknownKeyIndex(1)),
        ("tampered_toc", auth(1)),
        ("tampered_ciphertext", auth(1)),
        ("tampered_tag", auth(1)),
        ("tampered_iv", auth(1)),
        // The tag cut out: what is left is long enough, and does not authenticate.
        ("truncated_tag", auth(1)),
        ("only_trailer", FrameError::TooShort { len: 2 }),
        ("only_key_index", FrameError::TooShort { len: 1 }),
        ("ratchet_one_step_window_0", auth(2)),
    ];
    for (name, error) in expect {
        let v = DECRYPT.iter().find(|v| v.name == name).expect(name);
        let ring = keyring(v.keys, v.ratchet_window);
        assert_eq!(
            decrypt_audio_frame(&ring, &hex(v.frames[0].0)),
            Err(error),
            "{name}"
        );
    }
    // The last byte cut: the IV-length byte (12) reads as the key index, and the IV's last byte
    // as the IV length.
    let v = DECRYPT
        .iter()
        .find(|v| v.name == "truncated_last_byte")
        .expect("vector");
    let frame = hex(v.frames[0].0);
    let iv_last = frame[frame.len() - 2];
    let error = match iv_last {
        12 => auth(12),
        n => FrameError::UnsupportedIvLength(n),
    };
    assert_eq!(
        decrypt_audio_frame(&keyring(v.keys, 10), &frame),
        Err(error)
    );
}

#[test]
fn ratchet_chain_matches_participant_key_handler() {
    for v in RATCHET {
        let mut material = hex(v.key);
        for (step, expected) in v.chain.iter().enumerate() {
            let next = ratchet_material(&material);
            assert_eq!(next.to_vec(), hex(expected), "step {}", step + 1);
            material = next.to_vec();
        }
    }
}

#[test]
fn server_injected_frames_as_livekit_client() {
    let trailer = hex(SIF_TRAILER);
    for v in SIF {
        let frame = hex(v.frame);
        let livekit = v.passed.map(hex);
        assert_eq!(
            server_injected_payload(&frame, &trailer).map(<[u8]>::to_vec),
            livekit,
            "{}",
            v.name
        );
        // Frames livekit-client dropped: a SIF with an unknown payload, or a frame without the
        // trailer, which is then not a valid encrypted frame either.
        if livekit.is_none() && !is_server_injected(&frame, &trailer) {
            assert!(decrypt_audio_frame(&Keyring::element_call(), &frame).is_err());
        }
    }
}
