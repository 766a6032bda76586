#!/usr/bin/env node
// The Element Call engine as a test peer: runs src/rtc-page.js (dist/rtc.html, built by build.mjs)
// — matrix-js-sdk's MatrixRTC session and livekit-client, doing what Element Call does in a 1:1
// voice call in an unencrypted room — in Debian's headless Chromium (browser.mjs, shared with
// peer.mjs) and prints every event as one JSON object per line on stdout.
//
//   node rtc-peer.mjs --hs URL --user @u:hs --token TOKEN --device DEV
//                     (--room !room:hs | --auto-join) [--mode call|answer|decline|join|ignore]
//                     [--tone FILE.wav | --tone-hz HZ] [--expect HZ] [--hangup-after S]
//                     [--answer-after S] [--ring-lifetime S] [--jwt legacy|matrix2|both]
//                     [--service-url URL] [--timeout S] [--chromium PATH] [--verbose]
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
//   --auto-join      join every room we are invited to; without --room the first one is the room
//   --tone FILE / --tone-hz HZ   the fake microphone (default 880 Hz)
//   --expect HZ      the tone we should hear: "heard" tells the share of the time it dominated
//   --hangup-after S leave S seconds after "connected" (in the session with the other member and
//                    hearing their audio on the SFU)
//   --answer-after S wait S seconds between a ring and the answer or decline (default 0)
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
// dominant_hz, tone_share, loud_share, heard_ms} (one per remote audio track, at the end);
// ended {reason: hangup | remote_left | declined | ring_timeout | decline_sent | caller_left |
// shutdown}; done; warning {message}; error {message, fatal?}; probably_left; sfu_reconnecting,
// sfu_reconnected.
//
// Exit status: 0 after "ended" (the page's "done"), 1 at once on a fatal error, or at --timeout
// (default 120 s) and on SIGTERM/SIGINT — after leaving the session cleanly (up to 6 s).
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
    },
});

const note = (msg) => process.stderr.write(`rtc-peer: ${msg}\n`);
const fail = (msg) => {
    note(msg);
    process.exit(2);
};
for (const k of ["hs", "user", "token", "device"]) if (!a[k]) fail(`--${k} is required`);
if (!a.room && !a["auto-join"]) fail("--room (or --auto-join) is required");
if (!["call", "answer", "decline", "join", "ignore"].includes(a.mode)) {
    fail("--mode is call, answer, decline, join or ignore");
}
if (!["legacy", "matrix2", "both"].includes(a.jwt)) fail("--jwt is legacy, matrix2 or both");
for (const k of ["tone-hz", "expect", "hangup-after", "answer-after", "ring-lifetime", "timeout"]) {
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
if (a["ring-lifetime"]) q.set("ring_lifetime", a["ring-lifetime"]);
if (a["service-url"]) q.set("service_url", a["service-url"]);
await runPage({
    name: "rtc-peer",
    html: "rtc.html",
    script: "rtc-page.js",
    query: q,
    tone: a.tone,
    toneHz: a["tone-hz"],
    chromium: a.chromium,
    timeout: a.timeout,
    verbose: a.verbose,
    // Leave the session (and the SFU) before the browser goes: the others see us go at once
    // instead of when the delayed leave event fires.
    shutdown: (page) =>
        Promise.race([
            page.evaluate(() => window.mxpeerShutdown?.()),
            new Promise((resolve) => setTimeout(resolve, 6000)),
        ]),
});
