//! The media-key machine (`matrixrtc::keys`) on a virtual clock: distribution, rotation, and
//! which received keys are accepted.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::matrixrtc::keys::{
    Device, KEY_MISSING_AFTER, KEY_ROTATION_GRACE, KEY_WAIT_FOR_MEMBERSHIP, KeyOutput,
    MAX_SEND_TRIES, MediaKeys, ReceivedKey, SEND_RETRY, USE_KEY_DELAY, device,
};
use matrix_sdk::ruma::user_id;

const ROOM: &str = "!dm:hs";

fn own() -> Device {
    device(user_id!("@me:hs"), "MXCALL")
}
fn bob(dev: &str) -> Device {
    device(user_id!("@bob:hs"), dev)
}

/// Keys 1, 2, 3, … (each byte the key's number) so that tests can tell them apart.
fn machine(now: Instant) -> MediaKeys {
    let mut n = 0u8;
    MediaKeys::new(
        now,
        ROOM,
        own(),
        Box::new(move || {
            n += 1;
            [n; 16]
        }),
    )
}

fn drain(m: &mut MediaKeys) -> Vec<KeyOutput> {
    std::iter::from_fn(|| m.poll_output()).collect()
}

fn sends(out: &[KeyOutput]) -> Vec<(u64, u8, Vec<Device>, Value)> {
    out.iter()
        .filter_map(|o| match o {
            KeyOutput::Send {
                id,
                index,
                targets,
                content,
            } => Some((*id, *index, targets.clone(), content.clone())),
            _ => None,
        })
        .collect()
}

fn used(out: &[KeyOutput]) -> Vec<(u8, u8)> {
    out.iter()
        .filter_map(|o| match o {
            KeyOutput::UseOwnKey { index, key } => Some((*index, key[0])),
            _ => None,
        })
        .collect()
}

fn key_event(from: &Device, claimed: &str, index: u64, key: &str) -> ReceivedKey {
    ReceivedKey {
        sender: from.user.clone(),
        sender_device: Some(from.device_id.clone()),
        cross_signed: true,
        content: json!({
            "keys": {"index": index, "key": key},
            "member": {"claimed_device_id": claimed, "id": format!("{}", from)},
            "room_id": ROOM,
            "session": {"application": "m.call", "call_id": "", "scope": "m.room"},
            "sent_ts": 1,
        }),
    }
}

const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODw=="; // 0..=15

#[test]
fn first_key_is_used_at_once_and_sent_to_the_joiner_as_js_sdk_lays_it_out() {
    let t0 = Instant::now();
    let mut m = machine(t0);
    assert_eq!(used(&drain(&mut m)), vec![(0, 1)]);
    m.set_members(t0, [bob("B1"), own()]);
    let out = drain(&mut m);
    let s = sends(&out);
    assert_eq!(s.len(), 1);
    let (_, index, targets, content) = &s[0];
    assert_eq!((*index, targets.clone()), (0, vec![bob("B1")]));
    assert_eq!(content["keys"]["index"], 0);
    assert_eq!(content["keys"]["key"], "AQEBAQEBAQEBAQEBAQEBAQ==");
    assert_eq!(content["member"]["claimed_device_id"], "MXCALL");
    assert_eq!(content["member"]["id"], "@me:hs:MXCALL");
    assert_eq!(content["room_id"], ROOM);
    assert_eq!(
        content["session"],
        json!({"application": "m.call", "call_id": "", "scope": "m.room"})
    );
    assert!(used(&out).is_empty());
}

#[test]
fn a_leave_rotates_and_the_new_key_is_used_after_the_delay() {
    let t0 = Instant::now();
    let mut m = machine(t0);
    m.set_members(t0, [bob("B1"), bob("B2")]);
    let (id, ..) = sends(&drain(&mut m))[0].clone();
    m.send_result(t0, id, vec![]);
    assert!(drain(&mut m).is_empty());
    // B2 leaves: key 1 (index 1) to B1, used USE_KEY_DELAY after it went out.
    let t1 = t0 + Duration::from_secs(3);
    m.set_members(t1, [bob("B1")]);
    let s = sends(&drain(&mut m));
    assert_eq!((s[0].1, s[0].2.clone()), (1, vec![bob("B1")]));
    let t2 = t1 + Duration::from_millis(200);
    m.send_result(t2, s[0].0, vec![]);
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.own_index(), 0);
    assert_eq!(m.poll_timeout(), Some(t2 + USE_KEY_DELAY));
    m.handle_timeout(t2 + USE_KEY_DELAY);
    assert_eq!(used(&drain(&mut m)), vec![(1, 2)]);
    assert_eq!(m.own_index(), 1);
}

#[test]
fn a_joiner_gets_a_young_key_and_an_old_key_rotates() {
    let t0 = Instant::now();
    let mut m = machine(t0);
    m.set_members(t0, [bob("B1")]);
    let (id, ..) = sends(&drain(&mut m))[0].clone();
    m.send_result(t0, id, vec![]);
    // Young key: only the joiner gets it, no rotation.
    let t1 = t0 + KEY_ROTATION_GRACE - Duration::from_secs(1);
    m.set_members(t1, [bob("B1"), bob("B2")]);
    let s = sends(&drain(&mut m));
    assert_eq!((s[0].1, s[0].2.clone()), (0, vec![bob("B2")]));
    m.send_result(t1, s[0].0, vec![]);
    // Old key: a new key to everyone.
    let t2 = t0 + KEY_ROTATION_GRACE + Duration::from_secs(1);
    m.set_members(t2, [bob("B1"), bob("B2"), bob("B3")]);
    let s = sends(&drain(&mut m));
    assert_eq!(
        (s[0].1, s[0].2.clone()),
        (1, vec![bob("B1"), bob("B2"), bob("B3")])
    );
}

#[test]
fn changes_during_a_send_wait_for_it_and_unreached_devices_are_retried() {
    let t0 = Instant::now();
    let mut m = machine(t0);
    m.set_members(t0, [bob("B1")]);
    let (id, ..) = sends(&drain(&mut m))[0].clone();
    // B2 joins while the first send is out: nothing until it is done.
    m.set_members(t0, [bob("B1"), bob("B2")]);
    assert!(sends(&drain(&mut m)).is_empty());
    m.send_result(t0, id, vec![bob("B1")]);
    let s = sends(&drain(&mut m));
    assert_eq!(s[0].2, vec![bob("B2")]);
    m.send_result(t0, s[0].0, vec![]);
    // B1 was not reached: tried again after SEND_RETRY.
    assert_eq!(m.poll_timeout(), Some(t0 + SEND_RETRY));
    m.handle_timeout(t0 + SEND_RETRY);
    let s = sends(&drain(&mut m));
    assert_eq!((s[0].1, s[0].2.clone()), (0, vec![bob("B1")]));
    // ... and given up after MAX_SEND_TRIES, with a line for the user.
    let mut now = t0 + SEND_RETRY;
    let mut id = s[0].0;
    let mut refused = false;
    for _ in 1..MAX_SEND_TRIES {
        m.send_result(now, id, vec![bob("B1")]);
        refused |= drain(&mut m)
            .iter()
            .any(|o| matches!(o, KeyOutput::Refused { .. }));
        now += SEND_RETRY;
        m.handle_timeout(now);
        match sends(&drain(&mut m)).first() {
            Some(s) => id = s.0,
            None => break,
        }
    }
    assert!(refused);
}

#[test]
fn keys_of_devices_in_the_call_are_accepted_per_livekit_identity() {
    let t0 = Instant::now();
    let mut m = machine(t0);
    drain(&mut m);
    m.set_members(t0, [bob("B1")]);
    drain(&mut m);
    m.key_received(t0, key_event(&bob("B1"), "B1", 3, KEY_B64));
    let out = drain(&mut m);
    assert_eq!(
        out,
        vec![KeyOutput::RemoteKey {
            identity: "@bob:hs:B1".into(),
            index: 3,
            key: (0..16).collect(),
        }]
    );
    assert!(m.has_key_of(&bob("B1")));
}

#[test]
fn a_key_before_its_membership_waits_for_it_then_is_refused() {
    let t0 = Instant::now();
    let mut m = machine(t0);
    drain(&mut m);
    m.key_received(t0, key_event(&bob("B1"), "B1", 0, KEY_B64));
    assert!(drain(&mut m).is_empty());
    m.set_members(t0 + Duration::from_secs(1), [bob("B1")]);
    assert!(
        drain(&mut m).iter().any(
            |o| matches!(o, KeyOutput::RemoteKey { identity, .. } if identity == "@bob:hs:B1")
        )
    );
    // A stranger's key is refused once the wait is over.
    m.key_received(t0, key_event(&bob("X"), "X", 0, KEY_B64));
    m.handle_timeout(t0 + KEY_WAIT_FOR_MEMBERSHIP);
    let out = drain(&mut m);
    assert!(
        matches!(&out[..], [KeyOutput::Refused { reason }] if reason.contains("not in the call"))
    );
}

#[test]
fn forged_unsigned_malformed_and_foreign_keys_are_refused() {
    let t0 = Instant::now();
    let mut m = machine(t0);
    m.set_members(t0, [bob("B1")]);
    drain(&mut m);
    let refused = |m: &mut MediaKeys, key: ReceivedKey| {
        m.key_received(t0, key);
        let out = drain(m);
        assert!(matches!(&out[..], [KeyOutput::Refused { .. }]), "{out:?}");
    };
    // Claims another device than the Olm session's.
    refused(&mut m, key_event(&bob("B1"), "B2", 0, KEY_B64));
    // Not cross-signed.
    let mut k = key_event(&bob("B1"), "B1", 0, KEY_B64);
    k.cross_signed = false;
    refused(&mut m, k);
    // Sent in the clear.
    let mut k = key_event(&bob("B1"), "B1", 0, KEY_B64);
    k.sender_device = None;
    refused(&mut m, k);
    // Malformed.
    refused(&mut m, key_event(&bob("B1"), "B1", 256, KEY_B64));
    refused(&mut m, key_event(&bob("B1"), "B1", 0, "not base64!"));
    refused(&mut m, key_event(&bob("B1"), "B1", 0, "AAEC"));
    let mut k = key_event(&bob("B1"), "B1", 0, KEY_B64);
    k.content = json!({"keys": "x"});
    refused(&mut m, k);
    // Another room's key is not ours to judge: ignored silently.
    let mut k = key_event(&bob("B1"), "B1", 0, KEY_B64);
    k.content["room_id"] = json!("!other:hs");
    m.key_received(t0, k);
    assert!(drain(&mut m).is_empty());
    assert!(!m.has_key_of(&bob("B1")));
}

#[test]
fn a_device_without_a_key_is_reported_once() {
    let t0 = Instant::now();
    let mut m = machine(t0);
    m.set_members(t0, [bob("B1")]);
    drain(&mut m);
    assert_eq!(m.poll_timeout(), Some(t0 + KEY_MISSING_AFTER));
    m.handle_timeout(t0 + KEY_MISSING_AFTER);
    assert_eq!(
        drain(&mut m),
        vec![KeyOutput::KeyMissing { device: bob("B1") }]
    );
    m.handle_timeout(t0 + KEY_MISSING_AFTER * 2);
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.poll_timeout(), None);
}
