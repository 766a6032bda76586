//! Per-participant media keys of a MatrixRTC call in an encrypted room: which key we encrypt
//! our audio with, who must get it, and which keys of the others we accept — Element Call's
//! E2EE (`E2eeType.PER_PARTICIPANT`) as matrix-js-sdk runs it. I/O-free: the engine feeds
//! membership changes, received key events, send results and the clock; the machine answers
//! with [`KeyOutput`]s.
//!
//! The rules (matrix-js-sdk `src/matrixrtc/RTCEncryptionManager.ts`, `ToDeviceKeyTransport.ts`,
//! `types.ts` `EncryptionKeysToDeviceEventContent`):
//! - Our first key (index 0, 16 random bytes) exists from the start and is used at once.
//! - Keys travel as to-device events of type [`EVENT_TYPE`], Olm-encrypted, to every device of
//!   the session but ours; content `{keys: {index, key: base64}, member: {claimed_device_id,
//!   id}, room_id, session: {application: "m.call", call_id: "", scope: "m.room"}, sent_ts}`.
//! - Someone left: a new key (next index, modulo 256) to everyone still there, used by us
//!   [`USE_KEY_DELAY`] after it went out, so that frames the others encrypt late, or decrypt
//!   late, still find their key.
//! - Someone joined: the current key to the joiners while it is younger than
//!   [`KEY_ROTATION_GRACE`], else a new key to everyone (as a leave).
//! - One distribution at a time; changes during one are looked at when it is done. Devices the
//!   send could not reach are tried again after [`SEND_RETRY`], at most [`MAX_SEND_TRIES`] times.
//! - A key received is accepted only if the room matches, it is well formed, the Olm sender
//!   device is the `claimed_device_id`, the device is cross-signed by its owner, and the device
//!   is in the call. A key from a device whose membership we have not seen yet waits up to
//!   [`KEY_WAIT_FOR_MEMBERSHIP`] for it (js-sdk `keysWithoutMatchingRTCMembership`), then is
//!   refused. Keys come out per LiveKit identity (`@user:server:DEVICE`, Element Call's
//!   compatibility mode).
//! - A device in the call whose key has not come [`KEY_MISSING_AFTER`] after it joined is
//!   reported once ([`KeyOutput::KeyMissing`]).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use base64::Engine as _;
use matrix_sdk::ruma::{OwnedUserId, UserId};
use serde_json::{Value, json};

/// The to-device event type of MatrixRTC media keys (js-sdk `EventType.CallEncryptionKeysPrefix`).
pub const EVENT_TYPE: &str = "io.element.call.encryption_keys";

/// How long after a new key went out we start encrypting with it (js-sdk `useKeyDelay`, 1000 ms
/// unless the application sets it).
pub const USE_KEY_DELAY: Duration = Duration::from_millis(1000);

/// A joiner gets the current key while it is younger than this; else the key rotates (js-sdk
/// `keyRotationGracePeriodMs`, 10 s).
pub const KEY_ROTATION_GRACE: Duration = Duration::from_secs(10);

/// Pause before sending a key again to devices a send did not reach.
pub const SEND_RETRY: Duration = Duration::from_secs(1);

/// Sends of one key to one device, at most.
pub const MAX_SEND_TRIES: u32 = 5;

/// How long a key from a device not (yet) in the call waits for its membership.
pub const KEY_WAIT_FOR_MEMBERSHIP: Duration = Duration::from_secs(10);

/// A device in the call without a key after this long is reported.
pub const KEY_MISSING_AFTER: Duration = Duration::from_secs(5);

/// Keys waiting for a membership, at most (older ones are refused first).
const MAX_WAITING_KEYS: usize = 32;

/// A device of a member of the call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Device {
    pub user: OwnedUserId,
    pub device_id: String,
}

impl Device {
    /// Its LiveKit identity in Element Call's compatibility mode: `@user:server:DEVICE`.
    pub fn identity(&self) -> String {
        format!("{}:{}", self.user, self.device_id)
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.user, self.device_id)
    }
}

/// A key event as it came to us, decrypted by matrix-sdk. `Debug` leaves the content (the key)
/// out.
#[derive(Clone)]
pub struct ReceivedKey {
    pub sender: OwnedUserId,
    /// The device the Olm session belongs to (`None`: the event was not Olm-encrypted).
    pub sender_device: Option<String>,
    /// The sender device is cross-signed by its owner (matrix-sdk's verification state is
    /// `Verified`, or `Unverified(UnverifiedIdentity)`: signed, owner not verified by us).
    pub cross_signed: bool,
    pub content: Value,
}

impl std::fmt::Debug for ReceivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivedKey")
            .field("sender", &self.sender)
            .field("sender_device", &self.sender_device)
            .field("cross_signed", &self.cross_signed)
            .finish_non_exhaustive()
    }
}

/// What the engine must do. `Debug` shows no key bytes.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyOutput {
    /// Send `content` as an Olm-encrypted to-device event of type [`EVENT_TYPE`] to `targets`;
    /// report with [`MediaKeys::send_result`] and this `id`.
    Send {
        id: u64,
        index: u8,
        targets: Vec<Device>,
        content: Value,
    },
    /// Encrypt our frames with this key (raw key material) at this index from now on.
    UseOwnKey { index: u8, key: Vec<u8> },
    /// The frames of LiveKit participant `identity` with this index decrypt with this key.
    RemoteKey {
        identity: String,
        index: u8,
        key: Vec<u8>,
    },
    /// A key event was refused (a log line for the user).
    Refused { reason: String },
    /// A device in the call has sent no key [`KEY_MISSING_AFTER`] after it joined: its audio
    /// cannot be decrypted.
    KeyMissing { device: Device },
}

impl std::fmt::Debug for KeyOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyOutput::Send {
                id, index, targets, ..
            } => f
                .debug_struct("Send")
                .field("id", id)
                .field("index", index)
                .field("targets", targets)
                .finish_non_exhaustive(),
            KeyOutput::UseOwnKey { index, key } => f
                .debug_struct("UseOwnKey")
                .field("index", index)
                .field("key_len", &key.len())
                .finish(),
            KeyOutput::RemoteKey {
                identity,
                index,
                key,
            } => f
                .debug_struct("RemoteKey")
                .field("identity", identity)
                .field("index", index)
                .field("key_len", &key.len())
                .finish(),
            KeyOutput::Refused { reason } => {
                f.debug_struct("Refused").field("reason", reason).finish()
            }
            KeyOutput::KeyMissing { device } => f
                .debug_struct("KeyMissing")
                .field("device", device)
                .finish(),
        }
    }
}

/// Our current outbound key.
#[derive(Clone)]
struct Outbound {
    index: u8,
    key: [u8; 16],
    created: Instant,
    /// Devices that have it.
    shared_with: HashSet<Device>,
}

struct InFlight {
    id: u64,
    index: u8,
    targets: Vec<Device>,
    /// We start using the key once this send is done.
    rotation: bool,
}

struct Retry {
    at: Instant,
    targets: Vec<Device>,
}

/// The media keys of one call. See the module documentation.
pub struct MediaKeys {
    room_id: String,
    own: Device,
    new_key: Box<dyn FnMut() -> [u8; 16] + Send>,
    outbound: Outbound,
    /// The call's other devices and when each joined.
    members: HashMap<Device, Instant>,
    in_flight: Option<InFlight>,
    /// Membership changed during a send: look again when it is done.
    dirty: bool,
    retry: Option<Retry>,
    tries: HashMap<(Device, u8), u32>,
    /// A rotated key we start using at this time.
    use_at: Option<(Instant, u8, [u8; 16])>,
    /// The index of the key our frames are encrypted with.
    in_use: u8,
    /// Keys from devices we have not seen in the call yet.
    waiting: Vec<(Instant, ReceivedKey)>,
    /// Devices of which we have a key.
    keyed: HashSet<Device>,
    reported_missing: HashSet<Device>,
    next_id: u64,
    out: std::collections::VecDeque<KeyOutput>,
}

impl MediaKeys {
    /// The keys of our call in `room_id` as device `own`; `new_key` makes a fresh random key
    /// (16 bytes, as js-sdk `generateRandomKey`). Our first key (index 0) is put to use at once.
    pub fn new(
        now: Instant,
        room_id: &str,
        own: Device,
        mut new_key: Box<dyn FnMut() -> [u8; 16] + Send>,
    ) -> MediaKeys {
        let key = new_key();
        let mut keys = MediaKeys {
            room_id: room_id.to_owned(),
            own,
            new_key,
            outbound: Outbound {
                index: 0,
                key,
                created: now,
                shared_with: HashSet::new(),
            },
            members: HashMap::new(),
            in_flight: None,
            dirty: false,
            retry: None,
            tries: HashMap::new(),
            use_at: None,
            in_use: 0,
            waiting: Vec::new(),
            keyed: HashSet::new(),
            reported_missing: HashSet::new(),
            next_id: 1,
            out: Default::default(),
        };
        keys.out.push_back(KeyOutput::UseOwnKey {
            index: 0,
            key: key.to_vec(),
        });
        keys
    }

    /// The next thing to do; drain until `None` after every input.
    pub fn poll_output(&mut self) -> Option<KeyOutput> {
        self.out.pop_front()
    }

    /// When to call [`Self::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let missing = self
            .members
            .iter()
            .filter(|(d, _)| !self.keyed.contains(*d) && !self.reported_missing.contains(*d))
            .map(|(_, joined)| *joined + KEY_MISSING_AFTER)
            .min();
        let waiting = self
            .waiting
            .iter()
            .map(|(at, _)| *at + KEY_WAIT_FOR_MEMBERSHIP)
            .min();
        [
            self.use_at.map(|(at, ..)| at),
            self.retry.as_ref().map(|r| r.at),
            missing,
            waiting,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The index of the key our frames are encrypted with now.
    pub fn own_index(&self) -> u8 {
        self.in_use
    }

    /// Whether we hold a key of `device`.
    pub fn has_key_of(&self, device: &Device) -> bool {
        self.keyed.contains(device)
    }

    /// The other devices of the call are now `devices` (ours is left out if given).
    pub fn set_members(&mut self, now: Instant, devices: impl IntoIterator<Item = Device>) {
        let new: HashSet<Device> = devices.into_iter().filter(|d| *d != self.own).collect();
        self.members.retain(|d, _| new.contains(d));
        for d in new {
            self.members.entry(d).or_insert(now);
        }
        self.keyed.retain(|d| self.members.contains_key(d));
        self.reported_missing
            .retain(|d| self.members.contains_key(d));
        // Keys that waited for these memberships.
        let waiting = std::mem::take(&mut self.waiting);
        for (at, key) in waiting {
            self.accept(now, at, key);
        }
        self.distribute(now);
    }

    /// A key event arrived.
    pub fn key_received(&mut self, now: Instant, key: ReceivedKey) {
        self.accept(now, now, key);
    }

    /// The send `id` is done; `failed` are the devices it did not reach (all of them if it
    /// failed as a whole).
    pub fn send_result(&mut self, now: Instant, id: u64, failed: Vec<Device>) {
        let Some(flight) = self.in_flight.take_if(|f| f.id == id) else {
            return;
        };
        if flight.index == self.outbound.index {
            let failed_set: HashSet<&Device> = failed.iter().collect();
            for d in &flight.targets {
                if !failed_set.contains(d) {
                    self.outbound.shared_with.insert(d.clone());
                }
            }
            if flight.rotation {
                self.use_at = Some((now + USE_KEY_DELAY, self.outbound.index, self.outbound.key));
            }
            let again: Vec<Device> = failed
                .into_iter()
                .filter(|d| self.members.contains_key(d))
                .filter(|d| {
                    let tries = self.tries.entry((d.clone(), flight.index)).or_insert(0);
                    *tries += 1;
                    if *tries >= MAX_SEND_TRIES {
                        self.out.push_back(KeyOutput::Refused {
                            reason: format!(
                                "could not send our media key to {d} after {MAX_SEND_TRIES} tries \
                                 (no Olm session, or the device is not cross-signed)"
                            ),
                        });
                    }
                    *tries < MAX_SEND_TRIES
                })
                .collect();
            if !again.is_empty() {
                self.retry = Some(Retry {
                    at: now + SEND_RETRY,
                    targets: again,
                });
            }
        }
        if std::mem::take(&mut self.dirty) || flight.index != self.outbound.index {
            self.distribute(now);
        }
    }

    /// The clock reached [`Self::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some((at, index, key)) = self.use_at
            && at <= now
        {
            self.use_at = None;
            self.use_own(index, key);
        }
        if self.in_flight.is_none()
            && let Some(retry) = self.retry.take_if(|r| r.at <= now)
        {
            let targets: Vec<Device> = retry
                .targets
                .into_iter()
                .filter(|d| self.members.contains_key(d) && !self.outbound.shared_with.contains(d))
                .collect();
            if !targets.is_empty() {
                self.send(targets, false);
            }
        }
        let waiting = std::mem::take(&mut self.waiting);
        for (at, key) in waiting {
            if at + KEY_WAIT_FOR_MEMBERSHIP <= now {
                let device = format_sender(&key);
                self.out.push_back(KeyOutput::Refused {
                    reason: format!(
                        "media key from {device} refused: that device is not in the call"
                    ),
                });
            } else {
                self.waiting.push((at, key));
            }
        }
        let missing: Vec<Device> = self
            .members
            .iter()
            .filter(|(d, joined)| {
                **joined + KEY_MISSING_AFTER <= now
                    && !self.keyed.contains(*d)
                    && !self.reported_missing.contains(*d)
            })
            .map(|(d, _)| d.clone())
            .collect();
        for device in missing {
            self.reported_missing.insert(device.clone());
            self.out.push_back(KeyOutput::KeyMissing { device });
        }
    }

    // ---- distribution -------------------------------------------------------------------------

    /// js-sdk `rolloutOutboundKey`: who must get which key now.
    fn distribute(&mut self, now: Instant) {
        if self.in_flight.is_some() {
            self.dirty = true;
            return;
        }
        let shared = &self.outbound.shared_with;
        let any_left = shared.iter().any(|d| !self.members.contains_key(d));
        // Devices waiting for a retry get it then, not now.
        let retrying = |d: &Device| self.retry.as_ref().is_some_and(|r| r.targets.contains(d));
        let joined: Vec<Device> = self
            .members
            .keys()
            .filter(|d| !shared.contains(*d) && !retrying(d))
            .cloned()
            .collect();
        if any_left
            || (!joined.is_empty()
                && now.saturating_duration_since(self.outbound.created) >= KEY_ROTATION_GRACE
                && !self.outbound.shared_with.is_empty())
        {
            self.rotate(now);
            let everyone: Vec<Device> = self.members.keys().cloned().collect();
            if everyone.is_empty() {
                // Nobody to tell: use it at once.
                self.use_at = None;
                self.use_own(self.outbound.index, self.outbound.key);
            } else {
                self.send(everyone, true);
            }
        } else if !joined.is_empty() {
            self.send(joined, false);
        }
    }

    fn use_own(&mut self, index: u8, key: [u8; 16]) {
        self.in_use = index;
        self.out.push_back(KeyOutput::UseOwnKey {
            index,
            key: key.to_vec(),
        });
    }

    fn rotate(&mut self, now: Instant) {
        // A rotation not yet in use is superseded: the older key stays in use until this one is.
        self.outbound = Outbound {
            index: self.outbound.index.wrapping_add(1),
            key: (self.new_key)(),
            created: now,
            shared_with: HashSet::new(),
        };
        self.retry = None;
    }

    fn send(&mut self, mut targets: Vec<Device>, rotation: bool) {
        targets.sort_by(|a, b| (&a.user, &a.device_id).cmp(&(&b.user, &b.device_id)));
        let id = self.next_id;
        self.next_id += 1;
        let content = self.content();
        self.in_flight = Some(InFlight {
            id,
            index: self.outbound.index,
            targets: targets.clone(),
            rotation,
        });
        self.out.push_back(KeyOutput::Send {
            id,
            index: self.outbound.index,
            targets,
            content,
        });
    }

    /// `EncryptionKeysToDeviceEventContent` for our current outbound key. `sent_ts` is left for
    /// the engine to stamp (the machine has no wall clock).
    fn content(&self) -> Value {
        json!({
            "keys": {
                "index": self.outbound.index,
                "key": base64::engine::general_purpose::STANDARD.encode(self.outbound.key),
            },
            "member": {
                "claimed_device_id": self.own.device_id,
                "id": self.own.identity(),
            },
            "room_id": self.room_id,
            "session": { "application": "m.call", "call_id": "", "scope": "m.room" },
        })
    }

    // ---- receiving ----------------------------------------------------------------------------

    fn accept(&mut self, now: Instant, at: Instant, key: ReceivedKey) {
        let from = format_sender(&key);
        let refuse = |out: &mut std::collections::VecDeque<KeyOutput>, why: &str| {
            out.push_back(KeyOutput::Refused {
                reason: format!("media key from {from} refused: {why}"),
            });
        };
        let parsed = match parse_content(&key.content) {
            Ok(p) => p,
            Err(why) => return refuse(&mut self.out, why),
        };
        if parsed.room_id != self.room_id {
            // Another call's key (or another room's): not ours to judge.
            return;
        }
        let Some(sender_device) = key.sender_device.as_deref() else {
            return refuse(&mut self.out, "it was not Olm-encrypted");
        };
        if sender_device != parsed.claimed_device_id {
            return refuse(
                &mut self.out,
                &format!(
                    "it claims device {} but came from device {sender_device}",
                    parsed.claimed_device_id
                ),
            );
        }
        if !key.cross_signed {
            return refuse(&mut self.out, "the device is not cross-signed by its owner");
        }
        let device = Device {
            user: key.sender.clone(),
            device_id: sender_device.to_owned(),
        };
        if device == self.own {
            return;
        }
        if !self.members.contains_key(&device) {
            if at + KEY_WAIT_FOR_MEMBERSHIP <= now {
                return refuse(&mut self.out, "that device is not in the call");
            }
            self.waiting.push((at, key));
            if self.waiting.len() > MAX_WAITING_KEYS {
                let (_, old) = self.waiting.remove(0);
                let from = format_sender(&old);
                self.out.push_back(KeyOutput::Refused {
                    reason: format!(
                        "media key from {from} refused: that device is not in the call"
                    ),
                });
            }
            return;
        }
        self.keyed.insert(device.clone());
        self.out.push_back(KeyOutput::RemoteKey {
            identity: device.identity(),
            index: parsed.index,
            key: parsed.key,
        });
    }
}

fn format_sender(key: &ReceivedKey) -> String {
    match &key.sender_device {
        Some(d) => format!("{}:{d}", key.sender),
        None => key.sender.to_string(),
    }
}

struct Parsed {
    index: u8,
    key: Vec<u8>,
    claimed_device_id: String,
    room_id: String,
}

/// js-sdk `ToDeviceKeyTransport.getValidEventContent`, plus: the index fits a LiveKit keyring
/// (0..=255) and the key is 16 to 64 bytes of base64 (js-sdk sends 16).
fn parse_content(content: &Value) -> Result<Parsed, &'static str> {
    let room_id = content
        .get("room_id")
        .and_then(Value::as_str)
        .ok_or("no room_id")?;
    let keys = content.get("keys").ok_or("no keys")?;
    let index = keys
        .get("index")
        .and_then(Value::as_u64)
        .ok_or("no key index")?;
    let index = u8::try_from(index).map_err(|_| "key index out of range (0 to 255)")?;
    let encoded = keys.get("key").and_then(Value::as_str).ok_or("no key")?;
    let key = decode_base64(encoded).ok_or("the key is not base64")?;
    if !(16..=64).contains(&key.len()) {
        return Err("the key is not 16 to 64 bytes long");
    }
    let claimed_device_id = content
        .pointer("/member/claimed_device_id")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
        .ok_or("no member.claimed_device_id")?;
    Ok(Parsed {
        index,
        key,
        claimed_device_id: claimed_device_id.to_owned(),
        room_id: room_id.to_owned(),
    })
}

/// Standard base64, padded or not (js-sdk `encodeBase64` pads; `decodeBase64` takes both).
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .ok()
}

/// The sender of a user id, for tests and callers that hold a `&UserId`.
pub fn device(user: &UserId, device_id: &str) -> Device {
    Device {
        user: user.to_owned(),
        device_id: device_id.to_owned(),
    }
}
