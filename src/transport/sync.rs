//! Receiving: a task that long-polls `/sync` and hands each response to the engine as one batch
//! of raw call-relevant events.
//!
//! The sync token lives in the profile's SQLite store, so a new invocation continues where the
//! last one stopped instead of doing a slow full initial sync. A filter keeps only what calls
//! need: call events, membership, and the state that says whether a room may carry a call.
//! The batch boundary matters: an invite may ring only after its whole batch was looked at
//! (a hangup later in the same batch cancels it), so events are never handed over one by one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::TimelineEvent;
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk::ruma::api::client::filter::{FilterDefinition, RoomEventFilter, RoomFilter};
use matrix_sdk::ruma::api::client::sync::sync_events::v3::Filter;
use tokio::sync::mpsc;

use super::undecryptable::{Pending, Undecryptable};
use super::{RoomEvent, store_claim, unix_ms};
use crate::error::{Error, Result};

/// How long one `/sync` request waits on the server for news.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(25);
/// How long a locked `/sync` waits on the server while a call is being set up
/// ([`SyncPace::Setup`]): news ends it at once all the same; this bounds how long the lease
/// renewals go on after every call has connected, since a locked sync is never cut short.
const SETUP_POLL_TIMEOUT: Duration = Duration::from_secs(2);
/// Failed attempts at the *first* sync before the task gives up and reports the error: with the
/// back-off (250 ms, doubling) that is ≈ 4 s for a homeserver that is restarting; a command
/// then ends with the error (exit 4 for an unreachable server) instead of waiting for it for
/// ever. After the first sync a failure is retried without end: a call in progress survives a
/// homeserver restart.
const FIRST_SYNC_ATTEMPTS: u32 = 5;

/// How the sync task waits for news; the engine says which (`engine::sync_pace`).
///
/// A change of pace cuts short only an unlocked probe (`sync_probe`, plain requests), never a
/// locked `sync_once`: matrix-sdk decrypts and stores a response's to-device messages in
/// `sync_once`, so a sync dropped between that and its return loses them for good — an Olm
/// message cannot be decrypted twice, and a MatrixRTC media key that arrived in it is never
/// seen (the call then has no audio from that member; seen when a call connected, and so
/// changed the pace, the moment Element Call's key arrived).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPace {
    /// No call: locked long-polls of [`POLL_TIMEOUT`], so a ring arrives at once.
    Idle,
    /// A call rings, connects or ends: locked long-polls of [`SETUP_POLL_TIMEOUT`].
    Setup,
    /// Every call is connected: unlocked probes of [`POLL_TIMEOUT`], then a locked sync
    /// without long-poll when one brings news.
    Relaxed,
}

#[derive(Debug, Default)]
pub struct SyncBatch {
    /// When the response arrived; event ages are measured from here.
    pub received_at: Option<Instant>,
    pub events: Vec<RoomEvent>,
    /// Rooms we were invited to in this batch (a new direct-message room, usually).
    pub invited: Vec<OwnedRoomId>,
    /// Rooms we left or were removed from.
    pub left: Vec<OwnedRoomId>,
    /// True for the first batch of this process: it may contain old events (backlog).
    pub first: bool,
    /// Encrypted events of this batch that could not be decrypted (each reported once; if
    /// their key arrives later, the decrypted event comes in a later batch's `events`).
    pub undecryptable: Vec<Undecryptable>,
    /// MatrixRTC media keys sent to this device (`io.element.call.encryption_keys`), as
    /// matrix-sdk decrypted them, with who sent them from which device.
    pub media_keys: Vec<crate::matrixrtc::keys::ReceivedKey>,
    /// The facts of the rooms with call events in this batch (`room_facts`), looked up before
    /// the batch is handed over.
    pub rooms: std::collections::HashMap<OwnedRoomId, super::room_facts::RoomFacts>,
}

/// The event types of the call filter's timeline (and of what fills a cut timeline).
fn timeline_filter() -> RoomEventFilter {
    let mut timeline = RoomEventFilter::empty();
    timeline.types = Some(vec![
        "m.call.*".into(),
        "m.room.member".into(),
        "m.room.encrypted".into(),
        "m.room.join_rules".into(),
        crate::matrixrtc::membership::EVENT_TYPE.into(),
        crate::matrixrtc::notification::EVENT_TYPE.into(),
        crate::matrixrtc::decline::EVENT_TYPE.into(),
    ]);
    timeline
}

/// A cut timeline is filled back to events this old: older ones cannot be live invites or
/// rings (js-sdk's invites live 60 s, mxcall's at most its `--ring-timeout`, MatrixRTC rings
/// at most 90 s), so nothing older is fetched.
const LIVE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// At most this many pages of [`CUT_PAGE`] events are fetched per cut timeline.
const CUT_PAGES: usize = 3;
const CUT_PAGE: u32 = 100;

fn filter() -> FilterDefinition {
    let mut timeline = timeline_filter();
    timeline.limit = Some(50u32.into());
    let mut state = RoomEventFilter::empty();
    state.types = Some(vec![
        "m.room.member".into(),
        "m.room.join_rules".into(),
        "m.room.encryption".into(),
        "m.room.create".into(),
        crate::matrixrtc::membership::EVENT_TYPE.into(),
    ]);
    let mut room = RoomFilter::empty();
    room.timeline = timeline;
    room.state = state;
    room.ephemeral = RoomEventFilter::ignore_all();
    room.account_data = RoomEventFilter::ignore_all();
    let mut def = FilterDefinition::empty();
    def.room = room;
    def.presence = matrix_sdk::ruma::api::client::filter::Filter::ignore_all();
    def
}

const FILTER_NAME: &str = "mxcall-calls-v2";

/// How long a sync waits for the crypto store's cross-process lock (another mxcall process of
/// the profile may be in the middle of its own sync): backoff doubles from 10 ms up to this.
const STORE_LOCK_MAX_BACKOFF_MS: u32 = 40_000;

/// One `/sync` right now (no long-poll) with the call filter, under the crypto store's
/// cross-process lock: uploads this device's keys and one-time keys, and takes in to-device
/// messages (room keys, verification) — what `login` and `hangup` need before they act.
///
/// Errors: whatever `sync_once` or the lock returns.
pub async fn sync_now(
    client: &Client,
) -> Result<matrix_sdk::sync::SyncResponse, matrix_sdk::Error> {
    sync_waiting(client, Duration::ZERO).await
}

/// Like [`sync_now`], but the server may hold the request up to `timeout` for news: a loop of
/// these keeps to-device messages (an emoji verification) flowing.
pub async fn sync_waiting(
    client: &Client,
    timeout: Duration,
) -> Result<matrix_sdk::sync::SyncResponse, matrix_sdk::Error> {
    let id = client.get_or_upload_filter(FILTER_NAME, filter()).await?;
    let settings = SyncSettings::new()
        .timeout(timeout)
        .filter(Filter::FilterId(id));
    locked_sync(client, settings, None).await
}

/// Starts the sync task. It ends when the receiver is dropped; a fatal error (token rejected)
/// is sent as the last item.
pub fn spawn(
    client: Client,
    profile: String,
    profile_dir: std::path::PathBuf,
    homeserver: String,
    service: super::room_facts::ServiceCache,
    mut pace: tokio::sync::watch::Receiver<SyncPace>,
) -> mpsc::Receiver<Result<SyncBatch>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let filter_id = match client.get_or_upload_filter(FILTER_NAME, filter()).await {
            Ok(id) => Some(id),
            Err(e) => {
                let err = Error::from_sdk(&e, "sync failed", &profile, &homeserver);
                if matches!(err, Error::Auth { .. }) {
                    let _ = tx.send(Err(err)).await;
                    return;
                }
                None
            }
        };
        let mut first = true;
        // Another process of the profile has waited for the store's lock (`locked_sync`).
        let contended = AtomicBool::new(false);
        // The last response's token: where a probe (`sync_probe`) starts from.
        let mut since: Option<String> = None;
        let mut backoff = Duration::from_millis(250);
        let mut first_failures = 0;
        let mut describer = super::room_facts::Describer::new(Some(service));
        let mut pending = Pending::default();
        let mut new_keys = match client.encryption().room_keys_received_stream().await {
            Some(stream) => stream.boxed(),
            None => futures_util::stream::pending().boxed(),
        };
        loop {
            // Another process of the profile needs the store for a moment (`store_claim`); from
            // then on this process probes (`locked_sync`), so a long-running one beside it gets
            // the store whenever it needs it.
            if store_claim::claimed_by_other(&profile_dir) {
                contended.store(true, Ordering::Relaxed);
                tokio::select! {
                    _ = tokio::time::sleep(store_claim::CHECK_EVERY) => continue,
                    _ = tx.closed() => return,
                }
            }
            // While the engine says nothing is urgent (every call connected) the task waits
            // for news with unlocked probes, then syncs without long-poll (`sync_probe`).
            let now_pace = *pace.borrow_and_update();
            // Once another long-running process of the profile has competed for the store,
            // this one never holds the lock through a long-poll again: it probes, whatever the
            // pace (one more round trip per piece of news; no starved process, and no locked
            // sync of the other's cut short — see `SyncPace`).
            let probe_from = since.clone().filter(|_| {
                !first && (now_pace == SyncPace::Relaxed || contended.load(Ordering::Relaxed))
            });
            let mut settings = SyncSettings::new().timeout(match now_pace {
                _ if first || probe_from.is_some() => Duration::ZERO,
                SyncPace::Setup => SETUP_POLL_TIMEOUT,
                SyncPace::Idle | SyncPace::Relaxed => POLL_TIMEOUT,
            });
            if let Some(id) = &filter_id {
                settings = settings.filter(Filter::FilterId(id.clone()));
            }
            // Set once the step holds the lock in `sync_once`: from then on a change of pace
            // waits for the next turn of the loop (see `SyncPace`).
            let locked = AtomicBool::new(false);
            // An unlocked probe leaves the store free for a claimer: no need to look for claims
            // (a read of the run directory and a wake-up every 200 ms of a connected call).
            let probing = probe_from.is_some();
            let step = async {
                if let Some(from) = probe_from {
                    super::sync_probe::until_news(
                        &client,
                        from,
                        filter_id.as_deref(),
                        POLL_TIMEOUT,
                    )
                    .await?;
                }
                locked.store(true, Ordering::Relaxed);
                locked_sync(&client, settings, Some((&profile_dir, &contended))).await
            };
            let pace_changed = async {
                loop {
                    if pace.changed().await.is_err() {
                        return futures_util::future::pending::<()>().await;
                    }
                    if !locked.load(Ordering::Relaxed) {
                        return;
                    }
                }
            };
            // The store lock is held through the request: another process of this profile
            // (a `hangup` declining a call) then waits, instead of both decrypting the same
            // to-device messages with stale copies of the Olm account.
            let result = tokio::select! {
                r = step => r,
                _ = tx.closed() => return,
                // The pace changed while probing: wait the other way.
                () = pace_changed => continue,
                // Cut the long-poll short (releasing the lock) when another process claims the
                // store; from then on this process probes too (`locked_sync`).
                _ = claimed(&profile_dir), if !probing => {
                    contended.store(true, Ordering::Relaxed);
                    continue;
                }
                // A room key arrived outside a sync (key backup, a forwarded key): retry the
                // events that were waiting for one.
                Some(_) = new_keys.next(), if !pending.is_empty() => {
                    let events = pending.retry(&client).await;
                    if !events.is_empty() {
                        let rooms = describer.describe(&client, &events).await;
                        let batch = SyncBatch { received_at: Some(Instant::now()), events, rooms, ..Default::default() };
                        if tx.send(Ok(batch)).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
            };
            match result {
                Ok(response) => {
                    backoff = Duration::from_millis(250);
                    since = Some(response.next_batch.clone());
                    let cuts = cut_timelines(&response);
                    let mut batch = to_batch(response, first, &mut pending);
                    if !cuts.is_empty() {
                        // What a `limited` timeline left out comes first: it is older.
                        let (mut cut, mut utds) = fetch_cut(&client, cuts, &mut pending).await;
                        cut.append(&mut batch.events);
                        batch.events = cut;
                        batch.undecryptable.append(&mut utds);
                    }
                    // Keys that came with this response may open events that waited before it.
                    let mut late = pending.retry(&client).await;
                    late.append(&mut batch.events);
                    batch.events = late;
                    batch.rooms = describer.describe(&client, &batch.events).await;
                    first = false;
                    if tx.send(Ok(batch)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    if tx.is_closed() {
                        // The engine is gone (the process is ending): this error is only the
                        // runtime tearing the request down, not news for the user.
                        return;
                    }
                    let err = Error::from_sdk(&e, "sync failed", &profile, &homeserver);
                    if first {
                        first_failures += 1;
                    }
                    if matches!(err, Error::Auth { .. }) || first_failures >= FIRST_SYNC_ATTEMPTS {
                        let _ = tx.send(Err(err)).await;
                        return;
                    }
                    // The homeserver may be restarting: keep trying, the call state survives.
                    // (Before the first sync the error itself ends the command: no warning.)
                    if first {
                        tracing::debug!("first sync failed, retrying in {backoff:?}: {err}");
                    } else {
                        tracing::warn!("sync failed, retrying in {backoff:?}: {err}");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
    rx
}

/// Resolves once another process of the profile claims the store.
async fn claimed(profile_dir: &std::path::Path) {
    loop {
        tokio::time::sleep(store_claim::CHECK_EVERY).await;
        if store_claim::claimed_by_other(profile_dir) {
            return;
        }
    }
}

/// One `sync_once` under the crypto store's cross-process lock. With `claim_from` (the profile
/// directory and the sync task's `contended` flag): when another process of the profile holds
/// the lock (its own long-poll: an idle `watch` beside a `call`), this process claims the store
/// while it waits (`store_claim`), so the holder cuts its long-poll short instead of keeping the
/// store for up to [`POLL_TIMEOUT`] at a time, and sets `contended` (which stays set: the sync
/// task then stops holding the lock through long-polls, see [`spawn`]). `None` for a
/// short-lived caller, which must not claim.
async fn locked_sync(
    client: &Client,
    settings: SyncSettings,
    claim_from: Option<(&std::path::Path, &AtomicBool)>,
) -> Result<matrix_sdk::sync::SyncResponse, matrix_sdk::Error> {
    let encryption = client.encryption();
    let spin = || encryption.spin_lock_store(Some(STORE_LOCK_MAX_BACKOFF_MS));
    let _guard = match claim_from {
        Some((profile_dir, contended)) => match encryption.try_lock_store_once().await? {
            Some(guard) => Some(guard),
            None => {
                let _claim = store_claim::StoreClaim::new(profile_dir);
                let guard = spin().await?;
                // `None` from both means the store has no cross-process lock: no contention.
                contended.fetch_or(guard.is_some(), Ordering::Relaxed);
                guard
            }
        },
        None => spin().await?,
    };
    client.sync_once(settings).await
}

/// Rooms whose timeline in this response was cut (`limited`: more events than the filter's
/// limit since the last sync) while its oldest event is recent enough that the cut part may
/// hold a live invite or ring: (room, the `prev_batch` token to page back from).
fn cut_timelines(response: &matrix_sdk::sync::SyncResponse) -> Vec<(OwnedRoomId, String)> {
    let now_ms = unix_ms();
    response
        .rooms
        .joined
        .iter()
        .filter(|(_, u)| u.timeline.limited)
        .filter_map(|(room_id, u)| {
            let token = u.timeline.prev_batch.clone()?;
            let oldest = u
                .timeline
                .events
                .iter()
                .find_map(|ev| room_event(room_id, ev));
            let recent = oldest.is_none_or(|ev| event_age(&ev, now_ms) < LIVE_WINDOW);
            recent.then(|| (room_id.clone(), token))
        })
        .collect()
}

/// Pages back (`/messages`, through the store so that matrix-sdk decrypts) from each cut
/// timeline's `prev_batch` until events are older than [`LIVE_WINDOW`], at most [`CUT_PAGES`]
/// pages; returns the events oldest first, and those that did not decrypt.
async fn fetch_cut(
    client: &Client,
    cuts: Vec<(OwnedRoomId, String)>,
    pending: &mut Pending,
) -> (Vec<RoomEvent>, Vec<Undecryptable>) {
    let now = Instant::now();
    let now_ms = unix_ms();
    let (mut events, mut undecryptable) = (Vec::new(), Vec::new());
    for (room_id, token) in cuts {
        let Some(room) = client.get_room(&room_id) else {
            continue;
        };
        let mut from = Some(token);
        let mut newest_first = Vec::new();
        for _ in 0..CUT_PAGES {
            let Some(token) = from.take() else { break };
            let mut options = MessagesOptions::backward().from(token.as_str());
            options.limit = CUT_PAGE.into();
            options.filter = timeline_filter();
            let page = match room.messages(options).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::debug!(%room_id, "cannot fill a cut timeline: {}", crate::error::root_cause(&e));
                    break;
                }
            };
            let old_enough = page
                .chunk
                .last()
                .and_then(|ev| room_event(&room_id, ev))
                .is_some_and(|ev| event_age(&ev, now_ms) >= LIVE_WINDOW);
            let full = page.chunk.len() >= CUT_PAGE as usize;
            newest_first.extend(page.chunk);
            if old_enough || !full {
                break;
            }
            from = page.end;
        }
        tracing::debug!(%room_id, events = newest_first.len(), "filled a cut sync timeline");
        let oldest_first = newest_first.iter().rev();
        take_events(
            &room_id,
            oldest_first,
            pending,
            now,
            &mut events,
            &mut undecryptable,
        );
    }
    (events, undecryptable)
}

/// One room's timeline events, in order, into `events`; those that did not decrypt into
/// `undecryptable` (and `pending`, which retries them when a key arrives).
pub(super) fn take_events<'a>(
    room_id: &OwnedRoomId,
    timeline: impl IntoIterator<Item = &'a TimelineEvent>,
    pending: &mut Pending,
    now: Instant,
    events: &mut Vec<RoomEvent>,
    undecryptable: &mut Vec<Undecryptable>,
) {
    for ev in timeline {
        if let Some(utd) = pending.add(room_id, ev, now) {
            undecryptable.push(utd);
        } else if let Some(event) = room_event(room_id, ev) {
            events.push(event);
        }
    }
}

/// How old an event was when the server handed it over (the signalling's rule).
fn event_age(ev: &RoomEvent, now_ms: u64) -> Duration {
    crate::signalling::event_age(ev.age, ev.origin_server_ts, now_ms)
}

fn to_batch(
    response: matrix_sdk::sync::SyncResponse,
    first: bool,
    pending: &mut Pending,
) -> SyncBatch {
    let now = Instant::now();
    let mut events = Vec::new();
    let mut undecryptable = Vec::new();
    for (room_id, update) in &response.rooms.joined {
        // MatrixRTC memberships that changed outside the timeline (a gappy sync): before the
        // timeline's events when they come before it, after them when they are the end state.
        let (state_before, state_after) = match &update.state {
            matrix_sdk::sync::State::Before(evs) => (rtc_state(room_id, evs), Vec::new()),
            matrix_sdk::sync::State::After(evs) => (Vec::new(), rtc_state(room_id, evs)),
        };
        events.extend(state_before);
        take_events(
            room_id,
            &update.timeline.events,
            pending,
            now,
            &mut events,
            &mut undecryptable,
        );
        events.extend(state_after);
    }
    SyncBatch {
        received_at: Some(now),
        events,
        invited: response.rooms.invited.keys().cloned().collect(),
        left: response.rooms.left.keys().cloned().collect(),
        first,
        undecryptable,
        media_keys: response.to_device.iter().filter_map(media_key).collect(),
        rooms: Default::default(),
    }
}

/// A MatrixRTC media key among the to-device events: the sender and its Olm device come from
/// matrix-sdk's decryption, never from the content (which only claims them). One sent in the
/// clear comes with no sender device, to be refused by the key machine.
fn media_key(
    event: &matrix_sdk::deserialized_responses::ProcessedToDeviceEvent,
) -> Option<crate::matrixrtc::keys::ReceivedKey> {
    use matrix_sdk::deserialized_responses::{
        ProcessedToDeviceEvent, VerificationLevel, VerificationState,
    };
    let json = event.as_raw().deserialize_as::<serde_json::Value>().ok()?;
    if json.get("type")?.as_str()? != crate::matrixrtc::keys::EVENT_TYPE {
        return None;
    }
    let content = json.get("content")?.clone();
    match event {
        ProcessedToDeviceEvent::Decrypted {
            encryption_info, ..
        } => Some(crate::matrixrtc::keys::ReceivedKey {
            sender: encryption_info.sender.clone(),
            sender_device: encryption_info
                .sender_device
                .as_ref()
                .map(|d| d.to_string()),
            cross_signed: matches!(
                encryption_info.verification_state,
                VerificationState::Verified
                    | VerificationState::Unverified(VerificationLevel::UnverifiedIdentity)
            ),
            content,
        }),
        ProcessedToDeviceEvent::PlainText(_) => Some(crate::matrixrtc::keys::ReceivedKey {
            sender: json.get("sender")?.as_str()?.try_into().ok()?,
            sender_device: None,
            cross_signed: false,
            content,
        }),
        _ => None,
    }
}

/// The event as the signalling machine sees it: decrypted where it was encrypted.
pub(super) fn room_event(room_id: &OwnedRoomId, ev: &TimelineEvent) -> Option<RoomEvent> {
    let json = ev.raw().deserialize_as::<serde_json::Value>().ok()?;
    let event = RoomEvent::from_json(room_id, &json);
    if event.is_none() {
        tracing::debug!(%room_id, "ignored a malformed event");
    }
    event
}

/// The MatrixRTC membership events among a sync response's state events.
fn rtc_state(
    room_id: &OwnedRoomId,
    events: &[matrix_sdk::ruma::serde::Raw<matrix_sdk::ruma::events::AnySyncStateEvent>],
) -> Vec<RoomEvent> {
    super::rtc::memberships(
        room_id,
        events
            .iter()
            .filter_map(|raw| raw.deserialize_as::<serde_json::Value>().ok()),
    )
}
