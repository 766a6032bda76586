#!/usr/bin/env node
// The Element Call engine as a test peer: runs src/rtc-page.js (dist/rtc.html, built by build.mjs)
// — matrix-js-sdk's MatrixRTC session and livekit-client, doing what Element Call does in a 1:1
// voice call in an unencrypted room, and with --e2ee in an encrypted one — in Debian's headless
// Chromium (browser.mjs, shared with peer.mjs) and prints every event as one JSON object per line on
// stdout.
//
//   node rtc-peer.mjs --hs URL --user @u:hs --token TOKEN --device DEV
//                     (--room !room:hs | --auto-join | --create-dm @other:hs)
//                     [--mode call|answer|decline|join|ignore|listen]
//                     [--tone FILE.wav | --tone-hz HZ] [--expect HZ] [--hangup-after S]
//                     [--answer-after S] [--ring-lifetime S] [--jwt legacy|matrix2|both]
//                     [--service-url URL] [--timeout S] [--chromium PATH] [--verbose]
//                     [--crypto] [--isolation all|only-signed] [--bootstrap | --recovery-key KEY]
//                     [--e2ee | --e2ee-keyless]
//
//   --mode call      join the room's MatrixRTC session and ring: the membership state event (with
//                    its delayed leave event), then an org.matrix.msc4075.rtc.notification
//                    "ring" relating to it, sent by matrix-js-sdk as Element Call's "start DM voice
//                    call"; ends on a decline ("declined") or when nobody joined within the ring's
//                    lifetime ("ring_timeout")
//          answer    (the default) wait for a ring from another user, then join
//          decline   wait for a ring, then send org.matrix.msc4310.rtc.decline relating to it
//          join      join the session without ringing (e.g. one that is already going on)
//          ignore    report rings, do nothing; ends when the ring expires or the caller leaves
//          listen    no membership: only the SFU (a JWT from the authorisation service as for a
//                    join), publishes nothing, hears every audio track; ends when nobody (but us)
//                    is left in the session ("remote_left") or --hangup-after S after "connected".
//                    With --e2ee-keyless: the SFU's view of an encrypted call (below)
//   --auto-join      join every room we are invited to; without --room the first one is the room
//   --tone FILE / --tone-hz HZ   the fake microphone (default 880 Hz)
//   --expect HZ      the tone we should hear: "heard" tells the share of the time it dominated
//   --hangup-after S leave S seconds after "connected" (in the session with the other member and
//                    hearing their audio on the SFU)
//   --answer-after S wait S seconds between a ring and the answer or decline (default 0)
//   --republish-after S  S seconds after publishing, unpublish the microphone track and publish a
//                    new one (a new track sid, as livekit-client's full reconnect or a page that
//                    restarts its microphone): "republished" {track_sid, previous_track_sid}
//   --ring-lifetime S  the lifetime of our ring (default: matrix-js-sdk's 90 s, as Element Call)
//   --jwt E          how the LiveKit JWT is fetched with an OpenID token: legacy (the default, as
//                    Element Call's default compatibility mode: POST {service}/sfu/get), matrix2
//                    (POST {service}/get_token only, its matrix_2_0 mode), both (/get_token, then
//                    /sfu/get if that fails, as Element Call for SFUs it does not publish to)
//   --service-url URL  the authorisation service; default: MSC4143 rtc/transports of the
//                    homeserver, then its .well-known org.matrix.msc4143.rtc_foci
// 1:1 semantics (Element Call in a DM, Element X): once the other user was in the call and their
// last membership goes, we leave too ("remote_left").
//
// End-to-end encryption (matrix-js-sdk's Rust crypto, set up as Element Web does; src/crypto.js,
// the same code as peer.mjs's):
//   --crypto         turn it on (implied by --create-dm and --e2ee): device keys uploaded at start
//   --isolation M    all (the default) or only-signed: Element's "exclude insecure devices"
//   --bootstrap      a new cross-signing identity, secret storage under a new recovery key (printed
//                    as "recovery_key") and key backup; for a user's first device
//   --recovery-key KEY  (or env MXPEER_RECOVERY_KEY) a later device: import the identity with it
//                    The password (cross-signing's user-interactive auth) comes from env
//                    MXPEER_PASSWORD only. Secrets reach the page through an exposed function.
//   --create-dm USER create an encrypted DM with USER (trusted_private_chat, m.room.encryption in
//                    initial_state, as Element), wait for their join: it is the room
//   --auto-join      (as above) with crypto, once our identity is set up
//   --e2ee           media E2EE as Element Call in an encrypted room (the room must be one): the
//                    session joined with manageMediaKeys: true; js-sdk's RTCEncryptionManager makes
//                    our key and sends it to every member's device as to-device
//                    io.element.call.encryption_keys, Olm-encrypted (m.room.encrypted); livekit-client
//                    with E2EE ({e2ee: {keyProvider, worker}}, the e2ee worker served from dist/) and
//                    Element Call's MatrixKeyProvider (ratchetWindowSize 10, keyringSize 256, each key
//                    imported as HKDF material for its member's LiveKit identity). js-sdk rotates our
//                    key (next index) when a member leaves, and when one joins more than 10 s after
//                    the key was made; a new key is used 1 s after it went out. In an encrypted room
//                    rings and declines come encrypted: they count once js-sdk decrypted them (so
//                    without --e2ee too). With --mode listen: livekit's E2EE without any key (every
//                    frame dropped, MissingKey)
//   --e2ee-keyless   (--mode listen only) no keys ever: livekit-client without E2EE, so frames reach
//                    the decoder as the SFU forwards them, and a frame tap counts the frames that
//                    carry livekit's E2EE trailer; "heard" tells what came out of the decoder.
//                    Needs no crypto; nobody sends keys to a device without a membership.
//
// Events (each with "event" and "ts"): browser {launch_ms, driver_pid}; start {mode, user, device};
// joined {room_id, inviter} (--auto-join); ready {room_id, livekit_service_url, transport_source,
// members: [{user, device}]} (synced, the session's members known); member_joined {user, device,
// member_id, identity (their LiveKit identity as js-sdk derives it), event_id, intent, transport,
// content}; member_left {user, device, member_id}; ring {sender, notification_id,
// notification_type, lifetime, sender_ts, intent, membership_event_id, slot_id, mentions, content,
// before_ready, expired, sdk_valid, sdk_invalid_reason (js-sdk 43's MSC4075 receiving rules)};
// jwt {endpoint, url, identity, livekit_room, tried: [{endpoint, status, errcode}], delegation};
// rtc_join {transport, notification_type} (joinRTCSession called); rtc_joined {event_id,
// state_key, content, delay_id} (our membership came back through sync); delayed_leave {delay_id};
// ring_sent {notification_id, content}; sfu_connected {url, identity, livekit_room,
// server_version}; published {kind, source, track_sid}; participant_connected {identity};
// participant_disconnected {identity}; track_subscribed {identity, kind, source, track_sid, user,
// device}; track_unsubscribed {identity, kind}; first_audio {identity, rms}; connected {user,
// device, identity, identity_matched}; declined_sent {notification_id, event_id};
// decline_received {sender, event_id, notification_id, rel_type, content}; left {reason,
// leave_sent, membership_gone, ms, connected_ms}; rtc_left; heard {identity, user, device,
// dominant_hz, tone_share, loud_share, heard_ms, longest_gap_ms, longest_tick_ms, dtmf_heard,
// started_ts, tone_by_second} (one per remote audio track, at the end; the last three as in
// peer.mjs, from src/ear.js);
// ended {reason: hangup | remote_left | declined | ring_timeout | decline_sent | caller_left |
// shutdown}; done; warning {message}; error {message, fatal?}; probably_left; sfu_reconnecting,
// sfu_reconnected.
// With crypto: crypto {version, isolation}; recovery_key {key}; cross_signing_ready {…} (as peer.mjs);
// room {room_id}, dm_joined {room_id, user}, devices_known {user, devices} (--create-dm).
// With --e2ee: e2ee_key_sent {to: [{user, device}], index, encrypted_for: [{user, device}] (the
// devices js-sdk had keys of), wire_type ("m.room.encrypted"), algorithm, key_len, key_hash (16 hex
// digits of its SHA-256), content (the key replaced by "<16 bytes>")}; e2ee_key_received {user,
// device, index, member_id, room_id, olm (it came Olm-encrypted), sender_device, sender_verified,
// key_len, key_hash, age_ms, used, content}; e2ee_key_set {identity, index, user, device, own,
// key_hash} (a key given to livekit-client); e2ee_enabled {identity} (our media is encrypted);
// participant_encryption {identity, enabled}; decryption_failed {identity, count, message}
// (livekit-client's EncryptionError: MissingKey, InvalidKey …; count per identity; rate-limited by
// livekit); track_subscribed and published get "encrypted"; heard gets encrypted (the publisher's
// track is E2EE), decrypted (encrypted and audio came out: livekit drops frames it cannot decrypt),
// decryption_errors, key_indexes.
// With --e2ee-keyless: track_subscribed {encrypted}, decryption_failed (livekit's "encrypted track
// but the room has no encryption"), heard {encrypted, decrypted: false, decryption_errors, frames,
// e2ee_trailer_share (of the frames), key_indexes_seen (in their trailers), injected_frames (the
// SFU's own silence frames, not in frames), untrailed_heads (first bytes/length of up to 5 frames
// without the trailer)}.
//
// Exit status: 0 after "ended" (the page's "done"), 1 at once on a fatal error, or at --timeout
// (default 120 s) and on SIGTERM/SIGINT — after leaving the session cleanly (up to 6 s).
// SIGUSR1 hangs up at once ("ended" {reason: "hangup"}, exit status 0), as --hangup-after would.
// Give each run a fresh device (a new login), as for peer.mjs.
import { parseArgs } from "node:util";
import { runPage } from "./browser.mjs";

const { values: a } = parseArgs({
    options: {
        hs: { type: "string" },
        user: { type: "string" },
        token: { type: "string" },
        device: { type: "string" },
        room: { type: "string" },
        "auto-join": { type: "boolean", default: false },
        mode: { type: "string", default: "answer" },
        tone: { type: "string" },
        "tone-hz": { type: "string" },
        expect: { type: "string" },
        "hangup-after": { type: "string" },
        "answer-after": { type: "string" },
        "ring-lifetime": { type: "string" },
        jwt: { type: "string", default: "legacy" },
        "service-url": { type: "string" },
        timeout: { type: "string", default: "120" },
        chromium: { type: "string", default: process.env.MXCALL_CHROMIUM || "/usr/bin/chromium" },
        verbose: { type: "boolean", default: false },
        crypto: { type: "boolean", default: false },
        isolation: { type: "string", default: "all" },
        bootstrap: { type: "boolean", default: false },
        "recovery-key": { type: "string" },
        "create-dm": { type: "string" },
        e2ee: { type: "boolean", default: false },
        "e2ee-keyless": { type: "boolean", default: false },
        "republish-after": { type: "string" },
    },
});

const note = (msg) => process.stderr.write(`rtc-peer: ${msg}\n`);
const fail = (msg) => {
    note(msg);
    process.exit(2);
};
for (const k of ["hs", "user", "token", "device"]) if (!a[k]) fail(`--${k} is required`);
if (!a.room && !a["auto-join"] && !a["create-dm"]) fail("--room (or --auto-join, --create-dm) is required");
if (a.room && a["create-dm"]) fail("--create-dm makes the room: not with --room");
if (!["call", "answer", "decline", "join", "ignore", "listen"].includes(a.mode)) {
    fail("--mode is call, answer, decline, join, ignore or listen");
}
if (!["all", "only-signed"].includes(a.isolation)) fail("--isolation is all or only-signed");
if (a.bootstrap && a["recovery-key"]) fail("--bootstrap makes a new identity; --recovery-key joins an existing one: not both");
if (a.e2ee && a["e2ee-keyless"]) fail("--e2ee and --e2ee-keyless exclude each other");
if (a["e2ee-keyless"] && a.mode !== "listen") fail("--e2ee-keyless is for --mode listen");
if (!["legacy", "matrix2", "both"].includes(a.jwt)) fail("--jwt is legacy, matrix2 or both");
for (const k of ["tone-hz", "expect", "hangup-after", "answer-after", "ring-lifetime", "timeout", "republish-after"]) {
    if (a[k] !== undefined && !(Number(a[k]) >= 0)) fail(`--${k} takes a number`);
}

const q = new URLSearchParams({ hs: a.hs, user: a.user, token: a.token, device: a.device });
q.set("mode", a.mode);
q.set("jwt", a.jwt);
if (a.room) q.set("room", a.room);
if (a["auto-join"]) q.set("auto_join", "");
if (a.expect) q.set("expect", a.expect);
if (a["hangup-after"]) q.set("hangup_after", a["hangup-after"]);
if (a["answer-after"]) q.set("answer_after", a["answer-after"]);
if (a["republish-after"]) q.set("republish_after", a["republish-after"]);
if (a["ring-lifetime"]) q.set("ring_lifetime", a["ring-lifetime"]);
if (a["service-url"]) q.set("service_url", a["service-url"]);
if (a.crypto) q.set("crypto", "");
if (a.isolation !== "all") q.set("isolation", a.isolation);
if (a.bootstrap) q.set("bootstrap", "");
if (a["create-dm"]) q.set("create_dm", a["create-dm"]);
if (a.e2ee) q.set("e2ee", "");
if (a["e2ee-keyless"]) q.set("e2ee_keyless", "");
// What the page may ask for: never in the URL (or argv, where avoidable), which other users see.
const secrets = {
    password: process.env.MXPEER_PASSWORD ?? null,
    recoveryKey: a.bootstrap ? null : (a["recovery-key"] ?? process.env.MXPEER_RECOVERY_KEY ?? null),
};
// SIGUSR1: hang up now, as --hangup-after would (a test's "now" instead of a fixed time). Node
// starts its inspector on SIGUSR1 only without a listener: this one is there from the start.
let page;
process.on("SIGUSR1", () => page?.evaluate(() => window.mxpeerHangup?.()).catch(() => {}));
page = await runPage({
    name: "rtc-peer",
    html: "rtc.html",
    script: "rtc-page.js",
    query: q,
    tone: a.tone,
    toneHz: a["tone-hz"],
    chromium: a.chromium,
    timeout: a.timeout,
    verbose: a.verbose,
    exposed: { mxpeerSecrets: () => secrets },
    // Leave the session (and the SFU) before the browser goes: the others see us go at once
    // instead of when the delayed leave event fires.
    shutdown: (page) =>
        Promise.race([
            page.evaluate(() => window.mxpeerShutdown?.()),
            new Promise((resolve) => setTimeout(resolve, 6000)),
        ]),
});
