use std::collections::BTreeSet;

use super::*;

fn call() -> CallRef {
    CallRef {
        room_id: "!r:hs".into(),
        call_id: "c1".into(),
        protocol: "legacy",
    }
}

/// Which variant an event is. Exhaustive: a new variant does not compile until it is given a
/// number here, and the test below then wants an example (and docs) of it.
fn variant(e: &Event) -> usize {
    match e {
        Event::Joined { .. } => 0,
        Event::InviteSent { .. } => 1,
        Event::Ringing { .. } => 2,
        Event::Connecting { .. } => 3,
        Event::Connected { .. } => 4,
        Event::Media { .. } => 5,
        Event::Hangup { .. } => 6,
        Event::Held { .. } => 7,
        Event::Resumed { .. } => 8,
        Event::Muted { .. } => 9,
        Event::Unmuted { .. } => 10,
        Event::RemoteMuted { .. } => 11,
        Event::RemoteUnmuted { .. } => 12,
        Event::Dtmf { .. } => 13,
        Event::Stats { .. } => 14,
        Event::Ended { .. } => 15,
        Event::E2eeKey { .. } => 16,
        Event::E2eeKeyMissing { .. } => 17,
        Event::Undecryptable { .. } => 18,
        Event::AwaitingJoin { .. } => 19,
    }
}
const VARIANTS: usize = 20;

/// One of each variant, every optional field present.
fn examples() -> Vec<Event> {
    vec![
        Event::AwaitingJoin {
            room_id: "!r:hs".into(),
            user_id: "@b:hs".into(),
        },
        Event::Joined {
            call: call(),
            membership_event_id: Some("$m".into()),
        },
        Event::InviteSent {
            call: call(),
            callee: "@b:hs".into(),
            notification_id: Some("$n".into()),
        },
        Event::Ringing {
            call: call(),
            caller: "@a:hs".into(),
            answering: true,
            intent: Some("audio".into()),
        },
        Event::Connecting {
            call: call(),
            device_id: Some("DEV".into()),
        },
        Event::Connected {
            call: call(),
            encrypted: true,
        },
        Event::Media { call: call() },
        Event::Hangup {
            call: call(),
            reason: "user_hangup".into(),
            by: By::Remote,
        },
        Event::Held {
            call: call(),
            by: By::Local,
        },
        Event::Resumed {
            call: call(),
            by: By::Remote,
        },
        Event::Muted {
            call: call(),
            by: By::Local,
        },
        Event::Unmuted {
            call: call(),
            by: By::Local,
        },
        Event::RemoteMuted { call: call() },
        Event::RemoteUnmuted { call: call() },
        Event::Dtmf {
            call: call(),
            digit: "5".into(),
            duration_ms: 100,
        },
        Event::Stats {
            call: call(),
            stats: IntervalStats {
                interval_ms: 5000,
                rtt_ms: Some(0.5),
                packets_sent: 250,
                packets_received: 249,
                packets_lost: 1,
                loss_percent: 0.4,
                jitter_ms: 1.2,
                jitter_buffer_ms: 40,
                concealed_frames: 1,
                fec_recovered: 0,
                send_kbps: Some(32.0),
                recv_kbps: Some(31.9),
                mos: 4.4,
            },
        },
        Event::Ended {
            call: Some(call()),
            outcome: "completed",
            duration_ms: 6000,
            exit_code: crate::exit::OK,
            media: Some(EndedMedia {
                stats: Some(MediaStats::default()),
                mos: Some(4.4),
                remote_audio: Some(true),
                encrypted: Some(true),
                e2ee: Some(E2eeFrames {
                    frames_encrypted: 1,
                    frames_decrypted: 1,
                    decrypt_failures: 0,
                    frames_without_key: 0,
                    frames_failed: 0,
                }),
            }),
        },
        Event::E2eeKey {
            call: call(),
            identity: "@a:hs:DEV".into(),
            index: 0,
        },
        Event::E2eeKeyMissing {
            call: call(),
            user_id: "@b:hs".into(),
            device_id: "DEV".into(),
        },
        Event::Undecryptable {
            room_id: "!r:hs".into(),
            sender: "@b:hs".into(),
            event_id: Some("$e".into()),
            reason: "no room key".into(),
            unverified_device: false,
        },
    ]
}

#[test]
fn there_is_an_example_of_every_variant() {
    let seen: BTreeSet<usize> = examples().iter().map(variant).collect();
    assert_eq!(seen, (0..VARIANTS).collect());
}

#[test]
fn every_event_is_documented_with_exactly_the_fields_it_prints() {
    let documented: Vec<&str> = DOCS.iter().map(|d| d.name).collect();
    let printed: Vec<&str> = examples().iter().map(Event::name).collect();
    assert_eq!(
        documented, printed,
        "DOCS lists the events in the order of the enum"
    );
    for event in examples() {
        let json = event.to_json(1);
        assert_eq!(json["event"], event.name());
        assert_eq!(json["ts"], 1);
        let doc = DOCS.iter().find(|d| d.name == event.name()).unwrap();
        let call_event = !matches!(
            event,
            Event::Undecryptable { .. } | Event::AwaitingJoin { .. }
        );
        let keys: BTreeSet<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| !["event", "ts"].contains(k))
            .filter(|k| !call_event || !["room_id", "call_id", "protocol"].contains(k))
            .collect();
        let fields: BTreeSet<&str> = doc.fields.iter().map(|f| f.trim_end_matches('?')).collect();
        assert_eq!(keys, fields, "{}", event.name());
        if call_event {
            assert_eq!(json["call_id"], "c1", "{}", event.name());
            assert_eq!(json["protocol"], "legacy", "{}", event.name());
        }
    }
}

#[test]
fn optional_fields_without_a_value_are_left_out() {
    let keys = |json: &serde_json::Value| -> BTreeSet<String> {
        json.as_object().unwrap().keys().cloned().collect()
    };
    // The end of a --wait with nothing to answer: no call, no media fields.
    let waited = Event::Ended {
        call: None,
        outcome: "no_answer",
        duration_ms: 0,
        exit_code: crate::exit::NO_ANSWER,
        media: None,
    };
    assert_eq!(
        keys(&waited.to_json(0)),
        ["event", "ts", "outcome", "duration_ms", "exit_code"]
            .map(String::from)
            .into()
    );
    // A call that never connected: no stats, mos, remote_audio, encrypted or e2ee — not nulls.
    let unconnected = Event::Ended {
        call: Some(call()),
        outcome: "no_answer",
        duration_ms: 0,
        exit_code: crate::exit::NO_ANSWER,
        media: Some(EndedMedia {
            stats: None,
            mos: None,
            remote_audio: None,
            encrypted: None,
            e2ee: None,
        }),
    };
    let json = unconnected.to_json(0);
    assert!(
        json.as_object().unwrap().values().all(|v| !v.is_null()),
        "{json}"
    );
    for absent in ["stats", "mos", "remote_audio", "encrypted", "e2ee"] {
        assert!(json.get(absent).is_none(), "{absent}: {json}");
    }
    assert_eq!(json["exit_code"], 6);
}

#[test]
fn the_help_section_lists_every_event_within_the_width() {
    let text = help_section();
    for doc in DOCS {
        assert!(text.contains(&format!("\n  {} ", doc.name)), "{}", doc.name);
    }
    for line in text.lines().skip(2) {
        assert!(line.len() <= 96, "{line:?}");
    }
}

#[test]
fn every_event_description_starts_in_one_column() {
    let text = help_section();
    let mut columns = std::collections::BTreeSet::new();
    for line in text.lines().skip(3) {
        let name_end = line
            .trim_start()
            .find(' ')
            .map(|i| i + line.len() - line.trim_start().len());
        let starts_with_name = DOCS
            .iter()
            .any(|d| line.starts_with(&format!("  {} ", d.name)));
        let column = if starts_with_name {
            let rest = &line[name_end.unwrap()..];
            name_end.unwrap() + rest.len() - rest.trim_start().len()
        } else {
            line.len() - line.trim_start().len()
        };
        columns.insert(column);
    }
    assert_eq!(columns.len(), 1, "description columns {columns:?}:\n{text}");
}
