// The MatrixRTC page: what Element Call does in a 1:1 voice call — matrix-js-sdk's MatrixRTCSession
// (membership state events with a delayed leave event, MSC4140; the ring notification, MSC4075;
// declines, MSC4310) and livekit-client on the SFU the homeserver advertises — as the other party
// of mxcall's MatrixRTC calls. Element Call's default "compatibility" mode: legacy state-event
// memberships (org.matrix.msc3401.call.member) with focus_selection "multi_sfu", and the JWT of the
// publishing connection from the legacy endpoint (/sfu/get), whose LiveKit identity
// "@user:server:DEVICE" is the one other clients derive from a state-event membership.
// Without e2ee, no media keys (an unencrypted room, as Element Call there). With e2ee: Element Call's
// per-participant media encryption in an encrypted room (its MatrixKeyProvider, js-sdk's
// RTCEncryptionManager and ToDeviceKeyTransport, livekit-client's E2EE worker). Everything it sees
// goes out through window.mxpeerReport (set by the driver, rtc-peer.mjs) as one JSON object per
// event. Secrets (the account password, a recovery key) come from the driver through
// window.mxpeerSecrets, never the URL (src/crypto.js).
//
// Parameters: hs, user, token, device   the account (an access token)
//             mode    call     join the room's session, ring the other member (as Element Call's
//                              "start DM voice call"), leave on decline or when nobody answers
//                              within the ring's lifetime
//                     answer   (the default) wait for a ring, then join
//                     decline  wait for a ring, then decline it
//                     join     join the session without ringing
//                     ignore   report rings, do nothing
//                     listen   no membership: only the SFU (a JWT from the authorisation service),
//                              publishes nothing, hears every audio track; ends when the session's
//                              members are gone (or hangup_after)
//             room           the room (joined already; or invited, with auto_join)
//             auto_join      (present) join every room we are invited to; without room, the first
//                            becomes the room
//             expect         the tone (Hz) we should hear from the others
//             hangup_after   seconds after "connected" to leave
//             answer_after   seconds between a ring and our answer or decline (default 0)
//             republish_after  seconds after publishing: unpublish the microphone track and
//                            publish a new one (a new track sid)
//             ring_lifetime  seconds: the lifetime of our ring (default: js-sdk's 90, as Element Call)
//             jwt            legacy (the default: /sfu/get, as Element Call's compatibility mode),
//                            matrix2 (/get_token only, as its matrix_2_0 mode), both (/get_token,
//                            then /sfu/get when that fails, as Element Call for remote SFUs)
//             service_url    the MatrixRTC authorisation service; default: the homeserver's
//                            MSC4143 rtc/transports, then .well-known org.matrix.msc4143.rtc_foci
//             crypto         (present) matrix-js-sdk's Rust crypto as Element Web (src/crypto.js,
//                            shared with page.js); implied by create_dm and e2ee
//             isolation      only-signed: Element's "exclude insecure devices"; else all
//             bootstrap      (present) a new cross-signing identity (else: a recovery key from the
//                            driver makes this device join the existing one), as page.js
//             create_dm      a user to create an encrypted DM with (as Element), the room
//             e2ee           (present) media E2EE as Element Call in an encrypted room: the session
//                            joined with manageMediaKeys, our key sent to-device (Olm) to every
//                            member's device, the others' keys into livekit-client's E2EE (needs an
//                            encrypted room)
//             e2ee_keyless   (present; mode listen) no media keys and livekit-client without E2EE:
//                            frames go to the decoder as the SFU forwards them, and a frame tap
//                            counts those that carry livekit's E2EE trailer
// 1:1 semantics, as Element Call in a DM and Element X: once the other user was in the call and no
// membership of another user is left, we leave too.

import { createClient, ClientEvent, RoomEvent, EventType, EventTimeline, MatrixEventEvent } from "matrix-js-sdk";
import {
    MatrixRTCSessionEvent,
    MembershipManagerEvent,
    getCallNotificationExpiry,
    isLivekitTransportConfig,
    parseCallNotificationContent,
} from "matrix-js-sdk/lib/matrixrtc/index.js";
import {
    AudioPresets,
    BaseKeyProvider,
    DefaultReconnectPolicy,
    Room as LivekitRoom,
    RoomEvent as LkEvent,
    Track,
    VideoPresets,
} from "livekit-client";
import { cryptoKit } from "./crypto.js";
import { Ear } from "./ear.js";

const q = new URLSearchParams(location.search);
const num = (name) => (q.has(name) && q.get(name) !== "" ? Number(q.get(name)) : undefined);
const opts = {
    hs: q.get("hs"),
    user: q.get("user"),
    token: q.get("token"),
    device: q.get("device"),
    mode: q.get("mode") || "answer",
    room: q.get("room"),
    autoJoin: q.has("auto_join"),
    expect: num("expect"),
    hangupAfter: num("hangup_after"),
    answerAfter: num("answer_after") ?? 0,
    republishAfter: num("republish_after"),
    ringLifetime: num("ring_lifetime"),
    jwt: q.get("jwt") || "legacy",
    serviceUrl: q.get("service_url"),
    // The DM is encrypted, as Element makes it, and media keys go Olm-encrypted: both need crypto.
    crypto: q.has("crypto") || q.has("create_dm") || q.has("e2ee"),
    isolation: q.get("isolation") || "all",
    bootstrap: q.has("bootstrap"),
    createDm: q.get("create_dm"),
    e2ee: q.has("e2ee"),
    keyless: q.has("e2ee_keyless"),
};
const MODES = ["call", "answer", "decline", "join", "ignore", "listen"];
const listening = opts.mode === "listen"; // only the SFU: no membership, nothing published
const JWT_MODES = ["legacy", "matrix2", "both"];

function report(event, fields = {}) {
    const line = { event, ts: Date.now(), ...fields };
    if (window.mxpeerReport) window.mxpeerReport(JSON.stringify(line));
    else console.log("MXPEER " + JSON.stringify(line));
}

window.addEventListener("error", (e) => report("error", { message: String(e.message) }));
window.addEventListener("unhandledrejection", (e) => report("error", { message: String(e.reason?.stack || e.reason) }));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// The page cannot go on: the driver ends at once (exit status 1) instead of at its timeout.
const fatal = (e) => report("error", { message: String(e?.stack || e), fatal: true });

// ---- Element Call's configuration (config/ConfigOptions.ts DEFAULT_CONFIG, UrlParams.ts) ---------
const EC = {
    delayed_leave_event_delay_ms: 10000,
    network_error_retry_ms: 1000,
    sync_disconnect_grace_period_ms: 10000,
    // What goes into the local connection's JWT request once the membership manager has a delayed
    // leave event (lk-jwt-service v0.5.0 refuses the fields: Element Call then asks again without).
    leaveDelegation: true,
};
// Element Call's LiveKit room options (livekit/options.ts buildLiveKitOptions, and
// ConnectionFactory.ts generateRoomOption with the default settings: no E2EE in an unencrypted room).
const LIVEKIT_OPTIONS = {
    adaptiveStream: true,
    dynacast: true,
    videoCaptureDefaults: { resolution: VideoPresets.h720.resolution },
    publishDefaults: {
        audioPreset: AudioPresets.music,
        dtx: true,
        red: false,
        forceStereo: false,
        simulcast: true,
        videoSimulcastLayers: [VideoPresets.h180, VideoPresets.h360],
        stopMicTrackOnMute: false,
        videoCodec: "vp8",
        videoEncoding: { maxBitrate: 1_700_000, maxFramerate: 30 },
        backupCodec: { codec: "vp8", encoding: VideoPresets.h720.encoding },
    },
    stopLocalTrackOnUnpublish: true,
    reconnectPolicy: new DefaultReconnectPolicy(),
    disconnectOnPageLeave: true,
    webAudioMix: false,
    audioCaptureDefaults: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
};

// ---- State -------------------------------------------------------------------------------------
let client, room, session, transport, lk;
const memberId = crypto.randomUUID(); // Element Call's ownMembershipIdentity.memberId (uuidv4)
let joinRequested = false; // joinRTCSession was called
let ownMembershipSeen = false; // our membership came back through sync
let othersWereInCall = false; // another user's membership was there while we were in the call
let connectedAt; // the other member is in the session and we have their audio
let ending = false;
const ears = new Map(); // LiveKit identity -> Ear
let ringTimer; // call mode: our ring's lifetime
let sentNotification; // call mode: {event_id, content} of our ring
let ringing; // answer/decline/ignore: the ring we act on {id, sender, expiresAt}
let hangupTimer;
const seenInvites = new Set(); // rooms we were invited to (the room of auto_join without room)
const kit = cryptoKit({ user: opts.user, report }); // src/crypto.js (with crypto)

const key = (m) => `${m.userId}|${m.deviceId}|${m.memberId}`;
const isOwn = (m) => m.userId === opts.user && m.deviceId === opts.device;
const others = () => session.memberships.filter((m) => m.userId !== opts.user);

/** The state event of our own membership, as the homeserver returned it through sync. */
function ownMembershipEvent() {
    const state = room.getLiveTimeline().getState(EventTimeline.FORWARDS);
    return state
        ?.getStateEvents(EventType.GroupCallMemberPrefix)
        .find((e) => e.getSender() === opts.user && e.getContent().device_id === opts.device);
}

/** The content of a membership's state event, as it came through sync. */
function membershipContent(m) {
    const state = room.getLiveTimeline().getState(EventTimeline.FORWARDS);
    const ev = state?.getStateEvents(EventType.GroupCallMemberPrefix).find((e) => e.getId() === m.eventId);
    return ev?.getContent() ?? null;
}

/** The session membership (another member's) whose LiveKit identity this is. */
const membershipOf = (identity) => session.memberships.find((m) => m.rtcBackendIdentity === identity);
// Every LiveKit identity of a membership we saw: {user, device} (the membership may be gone).
const identities = new Map();

// ---- Transport discovery and the JWT (Element Call's RtcTransportAutoDiscovery, openIDSFU.ts) ----
async function discoverTransport() {
    const livekit = (url) => ({ type: "livekit", livekit_service_url: url });
    if (opts.serviceUrl) return { transport: livekit(opts.serviceUrl), source: "service_url" };
    try {
        const list = await client._unstable_getRTCTransports();
        const found = list.find(isLivekitTransportConfig);
        if (found) return { transport: found, source: "rtc_transports" };
    } catch (e) {
        report("warning", { message: "rtc/transports: " + e });
    }
    // Older Element Call and Element X: the homeserver's .well-known.
    const wk = await fetch(new URL("/.well-known/matrix/client", opts.hs)).then(
        (r) => (r.ok ? r.json() : null),
        () => null,
    );
    const focus = wk?.["org.matrix.msc4143.rtc_foci"]?.find(isLivekitTransportConfig);
    if (focus) return { transport: livekit(focus.livekit_service_url), source: "well_known" };
    throw new Error("the homeserver advertises no LiveKit transport (rtc/transports, .well-known rtc_foci)");
}

function jwtClaims(jwt) {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
}

async function postJson(url, body) {
    const res = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
    });
    let json = null;
    try {
        json = await res.json();
    } catch {}
    return { status: res.status, ok: res.ok, json };
}

/**
 * An OpenID token from the homeserver, then a LiveKit url and JWT from the authorisation service:
 * getSFUConfigWithOpenID with forceJwtEndpoint Legacy (jwt=legacy), Matrix_2_0 (matrix2) or none
 * (both). With a delay id, Element Call adds the leave delegation fields, and on the legacy
 * endpoint asks again without them when the service answers 400 M_BAD_JSON.
 */
async function fetchSfuConfig(delayId) {
    const openid = await client.getOpenIdToken();
    const url = transport.livekit_service_url;
    const delegation =
        delayId && EC.leaveDelegation
            ? {
                  delay_id: delayId,
                  delay_timeout: EC.delayed_leave_event_delay_ms,
                  delay_cs_api_url: client.baseUrl,
              }
            : {};
    const tried = [];
    const done = (endpoint, res) => {
        const claims = jwtClaims(res.json.jwt);
        return {
            endpoint,
            url: res.json.url,
            jwt: res.json.jwt,
            identity: claims.sub,
            livekit_room: claims.video?.room,
            tried,
        };
    };
    if (opts.jwt === "matrix2" || opts.jwt === "both") {
        const res = await postJson(url + "/get_token", {
            room_id: room.roomId,
            slot_id: "m.call#ROOM",
            openid_token: openid,
            member: { id: memberId, claimed_user_id: opts.user, claimed_device_id: opts.device },
            ...delegation,
        });
        tried.push({ endpoint: "/get_token", status: res.status, errcode: res.json?.errcode });
        if (res.ok) return done("/get_token", res);
        if (opts.jwt === "matrix2") throw new Error(`/get_token: HTTP ${res.status} ${JSON.stringify(res.json)}`);
    }
    const legacy = (extra) =>
        postJson(url + "/sfu/get", { room: room.roomId, openid_token: openid, device_id: opts.device, ...extra });
    let res = await legacy(delegation);
    const delegated = Object.keys(delegation).length > 0;
    tried.push({ endpoint: "/sfu/get", status: res.status, errcode: res.json?.errcode, delegation: delegated });
    if (res.status === 400 && delegated && res.json?.errcode === "M_BAD_JSON") {
        res = await legacy({});
        tried.push({ endpoint: "/sfu/get", status: res.status, errcode: res.json?.errcode, delegation: false });
    }
    if (!res.ok) throw new Error(`/sfu/get: HTTP ${res.status} ${JSON.stringify(res.json)}`);
    return done("/sfu/get", res);
}

const reportJwt = (sfu, delegation) =>
    report("jwt", {
        endpoint: sfu.endpoint,
        url: sfu.url,
        identity: sfu.identity,
        livekit_room: sfu.livekit_room,
        tried: sfu.tried,
        delegation,
    });

// ---- Media end-to-end encryption (Element Call in an encrypted room) -----------------------------
// Element Call (src/state/CallViewModel/CallViewModel.ts getE2eeKeyProvider) makes a MatrixKeyProvider
// for E2eeType.PER_PARTICIPANT (rooms with an m.room.encryption state event), joins the session with
// manageMediaKeys: true (LocalMember.ts enterRTCSession: encryptMedia = a key provider exists), and
// gives each LiveKit room {e2ee: {keyProvider, worker: new E2EEWorker()}} (ConnectionFactory.ts),
// then room.setE2EEEnabled(true) (Publisher.ts). js-sdk 43's RTCEncryptionManager makes our 16-byte
// key (index 0, then index+1 mod 256 on each rotation), ToDeviceKeyTransport sends it as
// io.element.call.encryption_keys through client.encryptAndSendToDevice (Olm: m.room.encrypted on
// the wire) to every member's device, and both emit EncryptionKeyChanged for our own and the others'
// keys, which the key provider hands to livekit-client per LiveKit identity.
const MEDIA_KEYS = EventType.CallEncryptionKeysPrefix; // io.element.call.encryption_keys
let keyProvider; // e2ee: the MatrixKeyProvider
const keysSet = new Map(); // LiveKit identity -> Set of key indexes given to livekit-client
const decryptErrors = new Map(); // LiveKit identity ("" when livekit names none) -> EncryptionError count
const trackEncrypted = new Map(); // LiveKit identity -> its audio publication is E2EE (TrackInfo.encryption)
const taps = new Map(); // LiveKit identity -> the frame tap's counts of its audio (e2ee_keyless)

function b64bytes(s) {
    const std = s.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(std + "=".repeat((4 - (std.length % 4)) % 4));
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
}
/** The first 16 hex digits of the key's SHA-256: which key it is, without showing it. */
async function keyHash(bytes) {
    const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return [...d.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
/** A key event's content with its key replaced by "<N bytes>". */
const redacted = (content, len) => ({ ...content, keys: { ...content.keys, key: `<${len} bytes>` } });

/** Element Call's MatrixKeyProvider (src/e2ee/matrixKeyProvider.ts), with reports. */
class MatrixKeyProvider extends BaseKeyProvider {
    constructor() {
        super({ ratchetWindowSize: 10, keyringSize: 256 });
    }

    setRTCSession(rtcSession) {
        rtcSession.on(MatrixRTCSessionEvent.EncryptionKeyChanged, this.onEncryptionKeyChanged);
        // The session may know keys already.
        rtcSession.reemitEncryptionKeys();
    }

    onEncryptionKeyChanged = (encryptionKey, encryptionKeyIndex, membershipParts, rtcBackendIdentity) => {
        crypto.subtle.importKey("raw", encryptionKey, "HKDF", false, ["deriveBits", "deriveKey"]).then(
            async (keyMaterial) => {
                this.onSetEncryptionKey(keyMaterial, rtcBackendIdentity, encryptionKeyIndex);
                if (!keysSet.has(rtcBackendIdentity)) keysSet.set(rtcBackendIdentity, new Set());
                keysSet.get(rtcBackendIdentity).add(encryptionKeyIndex);
                report("e2ee_key_set", {
                    identity: rtcBackendIdentity,
                    index: encryptionKeyIndex,
                    user: membershipParts.userId,
                    device: membershipParts.deviceId,
                    own: isOwn(membershipParts),
                    key_hash: await keyHash(encryptionKey),
                });
            },
            (e) => report("error", { message: `importKey for ${rtcBackendIdentity}: ${e}` }),
        );
    };
}

/**
 * Reports the media keys we send and receive (with crypto). Sending: js-sdk's own
 * client.encryptAndSendToDevice (client.ts) in its two steps — Olm-encrypt for each device, queue
 * the batch — so that we see the batch that goes on the wire. Receiving: the to-device message as
 * js-sdk decrypted it, with its Olm encryption info (none: it came in the clear).
 */
function watchMediaKeys() {
    const send = client.encryptAndSendToDevice.bind(client);
    client.encryptAndSendToDevice = async (type, devices, payload) => {
        if (type !== MEDIA_KEYS) return send(type, devices, payload);
        const batch = await client.getCrypto().encryptToDeviceMessages(type, devices, payload);
        await client.queueToDevice(batch);
        const bytes = b64bytes(payload.keys.key);
        report("e2ee_key_sent", {
            to: devices.map((d) => ({ user: d.userId, device: d.deviceId })),
            index: payload.keys.index,
            // The devices js-sdk could encrypt for (it leaves out devices it knows no keys of).
            encrypted_for: batch.batch.map((m) => ({ user: m.userId, device: m.deviceId })),
            wire_type: batch.eventType,
            algorithm: batch.batch[0]?.payload?.algorithm ?? null,
            key_len: bytes.length,
            key_hash: await keyHash(bytes),
            content: redacted(payload, bytes.length),
        });
    };
    client.on(ClientEvent.ReceivedToDeviceMessage, async ({ message, encryptionInfo }) => {
        if (message.type !== MEDIA_KEYS) return;
        const c = message.content ?? {};
        const bytes = typeof c.keys?.key === "string" ? b64bytes(c.keys.key) : new Uint8Array();
        report("e2ee_key_received", {
            user: message.sender,
            device: c.member?.claimed_device_id ?? null,
            index: c.keys?.index ?? null,
            member_id: c.member?.id ?? null,
            room_id: c.room_id ?? null,
            olm: encryptionInfo !== null && encryptionInfo !== undefined,
            sender_device: encryptionInfo?.senderDevice ?? null,
            sender_verified: encryptionInfo?.senderVerified ?? null,
            key_len: bytes.length,
            key_hash: await keyHash(bytes),
            age_ms: typeof c.sent_ts === "number" ? Date.now() - c.sent_ts : null,
            // Whether js-sdk takes it (we joined with manageMediaKeys, for this room).
            used: opts.e2ee && joinRequested && c.room_id === room?.roomId,
            content: c.keys ? redacted(c, bytes.length) : c,
        });
    });
}

// e2ee_keyless: the frame tap on every received audio track, which looks at each encoded frame as
// the SFU forwarded it and passes it on unchanged to the decoder. A frame encrypted by
// livekit-client's E2EE (what Element Call sends in encrypted rooms) ends in a trailer [IV (12
// bytes), IV_LENGTH = 12, key index] after its AES-GCM ciphertext (with its 16-byte tag) and the one
// clear Opus TOC byte: at least 31 bytes whose next-to-last is 12. A plain Opus frame has that by
// chance in ~1/256 frames. The SFU's own frames (LiveKit injects its Opus silence frame, `f8 ff fe`
// and zeros, followed by the session's SIF trailer, e.g. around a track's start or end) are no
// sender's and are counted apart (`injected`); the first bytes of the first few other frames
// without the trailer are kept for the report (`untrailed_heads`). Chromium runs a receiver's
// encoded transform only when it is there as the track arrives (an RTCRtpScriptTransform set at
// livekit's TrackSubscribed is silently bypassed), so our RTCPeerConnection subclass — installed
// before livekit-client makes its peer connections — asks for encoded streams
// (encodedInsertableStreams, as livekit-client itself does for E2EE on Chromium) and pipes every
// receiver's frames through the tap in its "track" event.
const IV_LENGTH = 12;
const MIN_ENCRYPTED_FRAME = 1 + 16 + IV_LENGTH + 2;
const OPUS_SILENCE_HEAD = [0xf8, 0xff, 0xfe]; // livekit's sifPayload.ts OpusSilenceFrame
/** Counts one received audio frame `d` (non-empty) in a tap's `counts`. */
function countAudioFrame(counts, d) {
    if (OPUS_SILENCE_HEAD.every((b, i) => d[i] === b)) {
        counts.injected++;
        return;
    }
    counts.frames++;
    counts.bytes += d.length;
    if (d.length >= MIN_ENCRYPTED_FRAME && d[d.length - 2] === IV_LENGTH) {
        counts.trailer++;
        const k = d[d.length - 1];
        counts.key_indexes[k] = (counts.key_indexes[k] ?? 0) + 1;
    } else if (counts.untrailed_heads.length < 5) {
        const hex = [...d.slice(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join("");
        counts.untrailed_heads.push(`${hex}/${d.length}`);
    }
}
const tapOf = new WeakMap(); // RTCRtpReceiver -> its tap's counts (see countAudioFrame)
function installFrameTap() {
    const tap = (receiver, kind) => {
        if (tapOf.has(receiver)) return;
        const counts = { frames: 0, trailer: 0, bytes: 0, key_indexes: {}, injected: 0, untrailed_heads: [] };
        tapOf.set(receiver, counts);
        const { readable, writable } = receiver.createEncodedStreams();
        const count = (frame, controller) => {
            const d = new Uint8Array(frame.data);
            if (kind === "audio" && d.length > 0) countAudioFrame(counts, d);
            controller.enqueue(frame);
        };
        readable
            .pipeThrough(new TransformStream({ transform: count }))
            .pipeTo(writable)
            .catch(() => {});
    };
    const Native = window.RTCPeerConnection;
    const withStreams = (config) => ({ ...(config ?? {}), encodedInsertableStreams: true });
    window.RTCPeerConnection = class extends Native {
        constructor(config, ...rest) {
            super(withStreams(config), ...rest);
            this.addEventListener("track", (ev) => {
                try {
                    tap(ev.receiver, ev.track.kind);
                } catch (e) {
                    report("warning", { message: "frame tap: " + e });
                }
            });
        }

        // livekit-client sets its configuration again later: the flag cannot change.
        setConfiguration(config) {
            return super.setConfiguration(withStreams(config));
        }
    };
}

/** What "heard" adds with e2ee or e2ee_keyless about the track of `identity`. */
function heardCrypto(identity, summary) {
    const fields = {
        encrypted: trackEncrypted.get(identity) ?? null,
        decryption_errors: decryptErrors.get(identity) ?? 0,
    };
    if (opts.e2ee) {
        // livekit-client's FrameCryptor drops the frames it cannot decrypt: audio out of an E2EE
        // track was decrypted.
        fields.decrypted = fields.encrypted === true && summary.loud_share > 0;
        fields.key_indexes = [...(keysSet.get(identity) ?? [])].sort((a, b) => a - b);
    }
    if (opts.keyless) {
        const t = taps.get(identity);
        fields.decrypted = false;
        fields.frames = t?.frames ?? 0;
        fields.e2ee_trailer_share = t?.frames ? Number((t.trailer / t.frames).toFixed(3)) : 0;
        fields.key_indexes_seen = t ? Object.keys(t.key_indexes).map(Number) : [];
        fields.injected_frames = t?.injected ?? 0;
        fields.untrailed_heads = t?.untrailed_heads ?? [];
    }
    return fields;
}

// ---- LiveKit -----------------------------------------------------------------------------------
async function connectSfu(sfu) {
    // Element Call's room options, and with E2EE its key provider and a worker for this room.
    lk = new LivekitRoom(
        opts.e2ee
            ? { ...LIVEKIT_OPTIONS, e2ee: { keyProvider, worker: new Worker("e2ee-worker.js", { type: "module" }) } }
            : LIVEKIT_OPTIONS,
    );
    if (opts.e2ee) {
        lk.on(LkEvent.ParticipantEncryptionStatusChanged, (enabled, participant) => {
            if (participant?.isLocal) {
                if (enabled) report("e2ee_enabled", { identity: participant.identity });
            } else {
                report("participant_encryption", { identity: participant?.identity ?? null, enabled });
            }
        });
    }
    if (opts.e2ee || opts.keyless) {
        lk.on(LkEvent.EncryptionError, (error, participant) => {
            const identity = participant?.identity ?? "";
            const count = (decryptErrors.get(identity) ?? 0) + 1;
            decryptErrors.set(identity, count);
            report("decryption_failed", { identity: participant?.identity ?? null, count, message: String(error?.message ?? error) });
        });
        // As Element Call's Publisher: E2EE on for what we publish (before we publish it).
        if (opts.e2ee) await lk.setE2EEEnabled(true);
    }
    lk.on(LkEvent.ParticipantConnected, (p) => report("participant_connected", { identity: p.identity }));
    lk.on(LkEvent.ParticipantDisconnected, (p) => {
        report("participant_disconnected", { identity: p.identity });
        ears.get(p.identity)?.stop();
    });
    lk.on(LkEvent.TrackSubscribed, (track, publication, participant) => {
        const m = membershipOf(participant.identity);
        report("track_subscribed", {
            identity: participant.identity,
            kind: track.kind,
            source: publication.source,
            track_sid: publication.trackSid,
            user: m?.userId ?? null,
            device: m?.deviceId ?? null,
            ...(opts.e2ee || opts.keyless ? { encrypted: publication.isEncrypted } : {}),
        });
        if (track.kind === Track.Kind.Audio && !ears.has(participant.identity)) {
            if (opts.e2ee || opts.keyless) trackEncrypted.set(participant.identity, publication.isEncrypted);
            if (opts.keyless) taps.set(participant.identity, tapOf.get(track.receiver));
            ears.set(
                participant.identity,
                new Ear(new MediaStream([track.mediaStreamTrack]), {
                    expect: opts.expect,
                    report,
                    fields: { identity: participant.identity },
                }),
            );
            checkConnected();
        }
    });
    lk.on(LkEvent.TrackUnsubscribed, (track, _publication, participant) => {
        report("track_unsubscribed", { identity: participant.identity, kind: track.kind });
        if (track.kind === Track.Kind.Audio) ears.get(participant.identity)?.stop();
    });
    lk.on(LkEvent.Reconnecting, () => report("sfu_reconnecting", {}));
    lk.on(LkEvent.Reconnected, () => report("sfu_reconnected", {}));
    lk.on(LkEvent.Disconnected, (reason) => {
        if (!ending) report("error", { message: `the SFU connection ended (DisconnectReason ${reason})` });
    });
    lk.on(LkEvent.MediaDevicesError, (e) => report("error", { message: "media devices: " + e }));
    await lk.connect(sfu.url, sfu.jwt);
    report("sfu_connected", {
        url: sfu.url,
        identity: lk.localParticipant.identity,
        livekit_room: lk.name,
        server_version: lk.serverInfo?.version ?? null,
    });
    if (listening) return;
    const pub = await lk.localParticipant.setMicrophoneEnabled(true);
    report("published", {
        kind: "audio",
        source: pub?.source ?? null,
        track_sid: pub?.trackSid ?? null,
        ...(opts.e2ee ? { encrypted: pub?.isEncrypted ?? null } : {}),
    });
    if (opts.republishAfter !== undefined && pub?.track) {
        setTimeout(async () => {
            try {
                await lk.localParticipant.unpublishTrack(pub.track, true);
                const again = await lk.localParticipant.setMicrophoneEnabled(true);
                report("republished", { track_sid: again?.trackSid ?? null, previous_track_sid: pub.trackSid });
            } catch (e) {
                report("error", { message: "republish: " + String(e?.stack || e) });
            }
        }, opts.republishAfter * 1000);
    }
}

// ---- The session -------------------------------------------------------------------------------
function watchSession() {
    const known = new Map(); // key -> membership
    const update = () => {
        const now = new Map(session.memberships.map((m) => [key(m), m]));
        for (const m of session.memberships) {
            identities.set(m.rtcBackendIdentity, { user: m.userId, device: m.deviceId });
        }
        for (const [k, m] of now) {
            if (known.has(k)) continue;
            if (isOwn(m)) {
                if (!ownMembershipSeen) {
                    ownMembershipSeen = true;
                    const ev = ownMembershipEvent();
                    report("rtc_joined", {
                        event_id: ev?.getId() ?? m.eventId,
                        state_key: ev?.getStateKey() ?? null,
                        content: ev?.getContent() ?? null,
                        delay_id: session.delayId ?? null,
                    });
                }
                continue;
            }
            report("member_joined", {
                user: m.userId,
                device: m.deviceId,
                member_id: m.memberId,
                identity: m.rtcBackendIdentity,
                event_id: m.eventId,
                intent: m.callIntent ?? null,
                transport: m.getTransport(session.getOldestMembership() ?? m) ?? null,
                content: membershipContent(m),
            });
        }
        for (const [k, m] of known) {
            if (now.has(k)) continue;
            if (isOwn(m)) report("rtc_left", {});
            else report("member_left", { user: m.userId, device: m.deviceId, member_id: m.memberId });
        }
        known.clear();
        for (const [k, m] of now) known.set(k, m);
        afterMembershipChange();
    };
    session.on(MatrixRTCSessionEvent.MembershipsChanged, update);
    session.on(MatrixRTCSessionEvent.MembershipManagerError, (e) =>
        fatal("membership manager: " + (e?.message ?? e)),
    );
    session.on(MembershipManagerEvent.DelayIdChanged, (delayId) => {
        report("delayed_leave", { delay_id: delayId ?? null });
        // Element Call asks for the local connection's JWT again whenever the delay id changes
        // (LocalTransport.ts: preferredTransport$ combines the transport with delayId$); the SFU
        // connection keeps the first JWT.
        if (delayId && lk && !ending) {
            fetchSfuConfig(delayId).then(
                (sfu) => reportJwt(sfu, true),
                (e) => report("warning", { message: "JWT with leave delegation: " + e }),
            );
        }
    });
    session.on(MembershipManagerEvent.ProbablyLeft, (probablyLeft) =>
        report("probably_left", { probably_left: probablyLeft }),
    );
    session.on(MatrixRTCSessionEvent.DidSendCallNotification, (n) => {
        const { event_id: eventId, ...content } = n;
        sentNotification = { event_id: eventId, content };
        report("ring_sent", { notification_id: eventId, content });
        // Element Call's CallNotificationLifecycle: the ring times out after its lifetime unless the
        // recipient joins (or declines).
        if (content.notification_type === "ring" && content.lifetime > 0) {
            ringTimer = setTimeout(() => {
                if (!othersWereInCall && !others().length) end("ring_timeout");
            }, content.lifetime);
        }
    });
    update();
}

function afterMembershipChange() {
    if (listening) {
        // Without a membership of our own: the call is over once nobody (but us) is in the session.
        if (connectedAt !== undefined && !session.memberships.some((m) => !isOwn(m))) end("remote_left");
        else checkConnected();
        return;
    }
    if (ownMembershipSeen && others().length) othersWereInCall = true;
    // Element Call's autoLeaveWhenOthersLeft (DM calls) and Element X: the other side hung up.
    if (ownMembershipSeen && othersWereInCall && !others().length) {
        end("remote_left");
        return;
    }
    // A ring we have not answered yet: the caller gave up (left the session they rang from).
    if (ringing && !joinRequested) {
        const present = session.memberships.some((m) => m.userId === ringing.sender);
        if (present) ringing.callerSeen = true;
        else if (ringing.callerSeen) {
            end("caller_left");
            return;
        }
    }
    checkConnected();
}

/** "connected": we are in the session with another member, and hear them on the SFU. */
function checkConnected() {
    if (connectedAt !== undefined || !(ownMembershipSeen || listening) || ending) return;
    // listen: anybody in the session (another device of our user too).
    const remote = listening ? session.memberships.filter((m) => !isOwn(m)) : others();
    if (!remote.length || !ears.size) return;
    const matched = remote.find((m) => ears.has(m.rtcBackendIdentity));
    const identity = matched ? matched.rtcBackendIdentity : [...ears.keys()][0];
    const m = matched ?? remote[0];
    connectedAt = Date.now();
    report("connected", { user: m.userId, device: m.deviceId, identity, identity_matched: !!matched });
    if (opts.hangupAfter !== undefined) hangupTimer = setTimeout(() => end("hangup"), opts.hangupAfter * 1000);
}

/** Joins the session and the SFU as Element Call's enterRTCSession + its local connection. */
async function join(ring) {
    if (joinRequested) return;
    joinRequested = true;
    const sfu = await fetchSfuConfig(undefined);
    reportJwt(sfu, false);
    if (ending) return;
    // Compatibility mode: multi-SFU (no preferred foci, our transport as the active one) with the
    // room id as livekit_alias, for Element Call versions before Matrix 2.0.
    const advertised = { livekit_alias: room.roomId, ...transport };
    const maxWait = Math.min(EC.sync_disconnect_grace_period_ms, EC.delayed_leave_event_delay_ms);
    const retries = Math.ceil(maxWait / EC.network_error_retry_ms) + 1;
    session.joinRTCSession({ userId: opts.user, deviceId: opts.device, memberId }, [], advertised, {
        notificationType: ring ? "ring" : undefined,
        callIntent: "audio",
        manageMediaKeys: opts.e2ee,
        useLegacyMemberEvents: false,
        delayedLeaveEventRestartMs: undefined,
        delayedLeaveEventDelayMs: EC.delayed_leave_event_delay_ms,
        delayedLeaveEventRestartLocalTimeoutMs: undefined,
        networkErrorRetryMs: EC.network_error_retry_ms,
        makeKeyDelay: undefined,
        membershipEventExpiryMs: undefined,
        unstableSendStickyEvents: false,
        maximumNetworkErrorRetryCount: retries,
        ...(opts.ringLifetime !== undefined ? { notificationLifetimeMs: opts.ringLifetime * 1000 } : {}),
    });
    report("rtc_join", { transport: advertised, notification_type: ring ? "ring" : null });
    await connectSfu(sfu);
}

/** listen: only the SFU, with a JWT as for a join (the authorisation service wants no membership). */
async function listen() {
    const sfu = await fetchSfuConfig(undefined);
    reportJwt(sfu, false);
    if (ending) return;
    await connectSfu(sfu);
}

// ---- Rings and declines ------------------------------------------------------------------------
const seenRings = new Set();
let live = false; // ready: rings and declines are handled as they come

/** A notification from another user; `early`: it came before we were ready (e.g. with the first sync). */
async function onNotification(ev, early) {
    const id = ev.getId();
    if (seenRings.has(id)) return;
    seenRings.add(id);
    const c = ev.getContent();
    // What js-sdk's MSC4075 receiving rules say (schema, an open m.rtc.slot, mentions, lifetime, not
    // declined …). Informational: Element Call's own rings fail them (it opens no slot), and the
    // page rings on any unexpired notification_type "ring", as Element Web and Element X.
    let sdkValid = true, sdkInvalidReason = null;
    try {
        await parseCallNotificationContent(ev, { room, userId: opts.user });
    } catch (e) {
        sdkValid = false;
        sdkInvalidReason = e.message;
    }
    let expiresAt = null;
    if (Number.isInteger(c.sender_ts) && Number.isInteger(c.lifetime)) {
        expiresAt = getCallNotificationExpiry(c, ev.getTs(), Date.now());
    }
    const expired = expiresAt === null || Date.now() >= expiresAt;
    report("ring", {
        sender: ev.getSender(),
        notification_id: id,
        notification_type: c.notification_type ?? null,
        lifetime: c.lifetime ?? null,
        sender_ts: c.sender_ts ?? null,
        intent: c["m.call.intent"] ?? null,
        membership_event_id: c["m.relates_to"]?.rel_type === "m.reference" ? c["m.relates_to"].event_id : null,
        slot_id: c.slot_id ?? null,
        mentions: c["m.mentions"] ?? null,
        content: c,
        before_ready: early,
        expired,
        sdk_valid: sdkValid,
        sdk_invalid_reason: sdkInvalidReason,
    });
    // Element Web and Element X ring (and offer to decline) for notification_type "ring" only.
    if (expired || c.notification_type !== "ring" || ringing || joinRequested) return;
    if (!["answer", "decline", "ignore"].includes(opts.mode)) return;
    const sender = ev.getSender();
    ringing = { id, sender, expiresAt, callerSeen: session.memberships.some((m) => m.userId === sender) };
    const expiry = setTimeout(() => {
        if (!joinRequested && !ending) end("ring_timeout");
    }, expiresAt - Date.now());
    if (opts.mode === "ignore") return;
    if (opts.answerAfter > 0) await sleep(opts.answerAfter * 1000);
    if (ending) return;
    clearTimeout(expiry);
    if (opts.mode === "answer") {
        await join(false);
    } else {
        // Element Web's decline: the decline event relating to the notification (a sticky event
        // where the server supports MSC4354).
        const res = await client.sendRtcDecline(room.roomId, id);
        report("declined_sent", { notification_id: id, event_id: res.event_id });
        end("decline_sent");
    }
}

function onDecline(ev) {
    const rel = ev.getRelation();
    report("decline_received", {
        sender: ev.getSender(),
        event_id: ev.getId(),
        notification_id: rel?.event_id ?? null,
        rel_type: rel?.rel_type ?? null,
        content: ev.getContent(),
    });
    // Element Call's CallNotificationLifecycle: a decline of our ring by its recipient ends the call.
    if (
        opts.mode === "call" &&
        sentNotification &&
        rel?.rel_type === "m.reference" &&
        rel.event_id === sentNotification.event_id &&
        !othersWereInCall
    ) {
        end("declined");
    }
}

const seenDeclines = new Set();
function watchTimeline() {
    const onEvent = (ev) => {
        if (!live || ev.getRoomId() !== room.roomId || ev.getSender() === opts.user) return;
        if (ev.getType() === EventType.RTCNotification) {
            onNotification(ev, false).catch(fatal);
        } else if (ev.getType() === EventType.RTCDecline && !seenDeclines.has(ev.getId())) {
            seenDeclines.add(ev.getId());
            onDecline(ev);
        }
    };
    client.on(RoomEvent.Timeline, onEvent);
    // In an encrypted room rings and declines come as m.room.encrypted: they count once decrypted
    // (whichever of the two comes last sees their type).
    client.on(MatrixEventEvent.Decrypted, (ev) => !ev.isDecryptionFailure() && onEvent(ev));
}

// ---- Rooms -------------------------------------------------------------------------------------
/** --auto-join: join what we are invited to (as peer.mjs). */
function autoJoin() {
    const joining = new Set();
    const joinInvite = (r) => {
        if (r.getMyMembership() !== "invite" || joining.has(r.roomId)) return;
        joining.add(r.roomId);
        const inviter = r.getMember(opts.user)?.events.member?.getSender();
        client.joinRoom(r.roomId).then(
            () => report("joined", { room_id: r.roomId, inviter }),
            (e) => report("error", { message: `join ${r.roomId}: ${e}` }),
        );
    };
    client.on(RoomEvent.MyMembership, (r, membership) => membership === "invite" && joinInvite(r));
    for (const r of client.getRooms()) joinInvite(r);
}

/** Resolves with the room once we are joined to it (the first joined invite without --room). */
function joinedRoom() {
    return new Promise((resolve) => {
        const check = () => {
            const r = opts.room
                ? client.getRoom(opts.room)
                : client.getRooms().find((x) => x.getMyMembership() === "join" && seenInvites.has(x.roomId));
            if (r?.getMyMembership() !== "join") return false;
            client.off(RoomEvent.MyMembership, check);
            resolve(r);
            return true;
        };
        client.on(RoomEvent.MyMembership, check);
        check();
    });
}

// ---- The end -----------------------------------------------------------------------------------
/** Leaves the session (as Element Call: leaveRoomSession(1000)) and the SFU; reports what we heard. */
async function end(reason) {
    if (ending) return;
    ending = true;
    clearTimeout(ringTimer);
    clearTimeout(hangupTimer);
    for (const ear of ears.values()) ear.stop();
    if (joinRequested) {
        const started = Date.now();
        let sent = false;
        try {
            sent = await session.leaveRoomSession(1000);
        } catch (e) {
            report("warning", { message: "leaveRoomSession: " + e });
        }
        // Wait for our membership to go (the leave comes back through sync), for up to 5 s.
        while (ownMembershipSeen && session.memberships.some(isOwn) && Date.now() - started < 5000) {
            await sleep(100);
        }
        try {
            await lk?.disconnect();
        } catch {}
        report("left", {
            reason,
            leave_sent: sent,
            membership_gone: !session.memberships.some(isOwn),
            ms: Date.now() - started,
            connected_ms: connectedAt === undefined ? null : Date.now() - connectedAt,
        });
    } else if (lk) {
        try {
            await lk.disconnect(); // listen: only the SFU to leave
        } catch {}
    }
    const extra = (identity, summary) => (opts.e2ee || opts.keyless ? heardCrypto(identity, summary) : {});
    if (ears.size) {
        for (const [identity, ear] of ears) {
            const who = identities.get(identity);
            const summary = ear.summary();
            report("heard", {
                identity,
                user: who?.user ?? null,
                device: who?.device ?? null,
                ...summary,
                ...extra(identity, summary),
            });
        }
    } else if (joinRequested || listening) {
        const nothing = { dominant_hz: null, tone_share: 0, loud_share: 0, heard_ms: 0, longest_gap_ms: null, longest_tick_ms: null };
        report("heard", { identity: null, user: null, device: null, ...nothing, ...extra(null, nothing) });
    }
    report("ended", { reason });
    client?.stopClient();
    // Let the last requests go out before the driver closes the page.
    setTimeout(() => report("done"), 500);
}
// The driver's way out at its timeout or on SIGTERM: leave cleanly first.
window.mxpeerShutdown = () => end("shutdown");
// The driver's SIGUSR1: hang up now (as hangup_after would).
window.mxpeerHangup = () => end("hangup");

// ---- The page's run ----------------------------------------------------------------------------
async function main() {
    report("start", { mode: opts.mode, user: opts.user, device: opts.device });
    if (!MODES.includes(opts.mode)) throw new Error(`unknown mode ${opts.mode}`);
    if (!JWT_MODES.includes(opts.jwt)) throw new Error(`unknown jwt ${opts.jwt}`);
    if (!opts.room && !opts.autoJoin && !opts.createDm) throw new Error("room (or auto_join, create_dm) is required");
    if (opts.e2ee && opts.keyless) throw new Error("e2ee and e2ee_keyless exclude each other");
    if (opts.keyless && !listening) throw new Error("e2ee_keyless is for mode listen");
    client = createClient({
        baseUrl: opts.hs,
        accessToken: opts.token,
        userId: opts.user,
        deviceId: opts.device,
        ...(opts.crypto ? { cryptoCallbacks: kit.cryptoCallbacks } : {}),
    });
    window.mxClient = client;
    if (opts.crypto) {
        await kit.start(client, { isolation: opts.isolation });
        watchMediaKeys();
    }
    if (opts.keyless) installFrameTap();
    watchTimeline();
    client.on(RoomEvent.MyMembership, (r, membership) => membership === "invite" && seenInvites.add(r.roomId));
    const prepared = new Promise((resolve) => {
        client.on(ClientEvent.Sync, (state) => {
            if (state === "PREPARED") resolve();
            if (state === "ERROR") report("error", { message: "sync error" });
        });
    });
    // A ring sent just before we came is in the last few events of the room.
    await client.startClient({ initialSyncLimit: 10 });
    await prepared;
    // With crypto, as page.js: our identity first; then invites are joined (the inviter encrypts for
    // a device that is set up).
    if (opts.crypto) await kit.setUpIdentity(client, { bootstrap: opts.bootstrap });
    for (const r of client.getRooms()) if (r.getMyMembership() === "invite") seenInvites.add(r.roomId);
    if (opts.autoJoin) autoJoin();
    if (opts.createDm) opts.room = await kit.createDm(client, opts.createDm, "dm_joined");
    room = await joinedRoom();
    // Element Call encrypts media in rooms with an m.room.encryption state event (E2eeType.PER_PARTICIPANT).
    if (opts.e2ee && !room.hasEncryptionStateEvent()) {
        throw new Error(`e2ee: ${room.roomId} is not an encrypted room (Element Call would not encrypt media)`);
    }
    session = client.matrixRTC.getRoomSession(room);
    await session.initialMembershipCalculated;
    if (opts.e2ee) {
        keyProvider = new MatrixKeyProvider();
        keyProvider.setRTCSession(session);
    }
    watchSession();
    const found = await discoverTransport();
    transport = found.transport;
    report("ready", {
        room_id: room.roomId,
        livekit_service_url: transport.livekit_service_url,
        transport_source: found.source,
        members: session.memberships.map((m) => ({ user: m.userId, device: m.deviceId })),
    });
    // Rings that came before (with the first sync, or while we set up).
    live = true;
    for (const ev of room.getLiveTimeline().getEvents()) {
        if (ev.getSender() === opts.user || ev.getType() !== EventType.RTCNotification) continue;
        await onNotification(ev, true);
    }
    if (opts.mode === "call") await join(true);
    else if (opts.mode === "join") await join(false);
    else if (opts.mode === "listen") await listen();
    // answer, decline, ignore: a ring decides.
}

main().catch(fatal);
