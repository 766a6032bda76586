#!/usr/bin/env node
// The driver: runs the page (dist/, built by build.mjs) in Debian's headless Chromium through
// playwright-core and prints every event the page reports as one JSON object per line on stdout.
// Chromium's diagnostics and (with --verbose) the page's console go to stderr. The browser side is
// browser.mjs, shared with rtc-peer.mjs (the MatrixRTC / Element Call peer).
//
//   node peer.mjs --hs URL --user @u:hs --token TOKEN --device DEV
//                 --mode call|answer|reject|ignore|setup|check-device|verify-accept|verify-request
//                 [--room !room:hs] [--force-turn] [--raw-mic] [--hangup-after S] [--give-up-after S] [--expect HZ]
//                 [--hold-at S --resume-at S [--hold-direction sendonly|inactive]] [--video]
//                 [--upgrade-video-at S] [--mute-at S] [--unmute-at S] [--dtmf DIGITS [--dtmf-at S]]
//                 (--video: --mode call places a video call, audio and camera; --upgrade-video-at:
//                 adds the camera S seconds after "connected", js-sdk's upgradeCall;
//                 --dtmf: sends DIGITS (0-9 * # A-D, "," a 2 s pause) as RFC 4733 telephone-events
//                 --dtmf-at S seconds (default 0) after "connected", js-sdk's sendDtmfDigit: each
//                 tone 100 ms, 70 ms apart)
//                 [--tone FILE.wav | --tone-hz HZ] [--timeout S] [--verbose]
//                 [--crypto] [--isolation all|only-signed] [--bootstrap | --recovery-key KEY]
//                 [--create-dm @other:hs] [--auto-join] [--stay S]
//                 [--check-user @u:hs --check-device DEV [--check-until cross-signing-verified|signed-by-owner]]
//                 [--verify-device DEV]
//
// End-to-end encryption (matrix-js-sdk's Rust crypto, set up as Element Web does):
//   --crypto             turn it on (implied by --create-dm, check-device and verify-*)
//   --isolation M        all (the default) or only-signed: Element's "exclude insecure devices"
//   --bootstrap          a new cross-signing identity, secret storage under a new recovery key
//                        (printed as "recovery_key") and key backup; for a user's first device
//   --recovery-key KEY   (or env MXPEER_RECOVERY_KEY, which stays out of process listings) a later
//                        device: import the identity from secret storage with the recovery key,
//                        which cross-signs this device (with crypto on and without --bootstrap)
//   The account's password (for the cross-signing upload's user-interactive auth) comes from env
//   MXPEER_PASSWORD only. Secrets reach the page through an exposed function, never its URL.
// Rooms: --create-dm USER creates an encrypted DM with USER, waits for the join, and is the room of
//   --mode call; --auto-join joins every room the account is invited to (once its crypto is set up).
// Modes besides the call ones: setup (only the set-up above), check-device (reports the trust of
//   --check-user's device --check-device every 2 s until --check-until holds), verify-accept and
//   verify-request --verify-device DEV (SAS emoji verification with another device of our user).
// --stay S keeps the page S seconds after its task ended (to answer key and secret requests).
//
// Events: every mode: start, ready (set-up done), error, done (and staying with --stay). Calls:
// incoming, place, placed, invite_sent, state, connected, remote_stream, first_audio, hangup, heard;
// held / resumed {call_id, direction} (--hold-at / --resume-at: we hold the other side);
// muted / unmuted {call_id} (--mute-at / --unmute-at: our microphone);
// ice_path {call_id, local, remote}: 1 s after "connected", the candidate types (host, srflx,
// prflx, relay) of the pair the media uses; --force-turn: js-sdk's forceTURN, relay candidates only
// (the TURN servers from the homeserver's /voip/turnServer); --raw-mic: the microphone without
// Chromium's noise suppression, echo cancellation and gain control (which learn a steady tone);
// remote_hold {call_id, on_hold} when the other side puts us on hold (true) or resumes (false), as
// Element shows it: js-sdk's CallEvent.LocalHoldUnhold / isLocalOnHold(), after its re-offer;
// remote_muted {call_id, muted} when the other side's audio_muted (its SDP stream metadata, e.g.
// m.call.sdp_stream_metadata_changed) changes on its user-media feed: js-sdk's CallFeed
// MuteStateChanged, changes only (a feed that starts muted: muted true at once);
// heard {call_id, dominant_hz, tone_share, loud_share, heard_ms, longest_gap_ms, longest_tick_ms,
// dtmf_heard, started_ts, tone_by_second[, tone_share_after_resume]} (src/ear.js): tone_by_second[i]
// is the share (0..1) of the 20 ms ticks in second i after started_ts (the ear's start, on the
// remote stream, shortly before "connected"; the clock of every event's ts) where the expected
// tone dominated; an event with ts T falls in second floor((T - started_ts) / 1000);
// dtmf_sent {call_id, digits} (--dtmf, when the digits are handed to the DTMF sender);
// dtmf_heard {call_id, digit, duration_ms} for each DTMF tone heard in the remote audio (Chromium
// plays received telephone-events out as the digits' dual tones; duration_ms in 20 ms ticks;
// src/ear.js has the detector), and "heard" carries dtmf_heard: all the digits heard, in order.
// With crypto: crypto {version, isolation}; recovery_key {key}; cross_signing_ready
// {cross_signing_ready, secret_storage_ready, backup_version, device_signed_by_owner}; warning;
// timeline {type, sender, encrypted, room_id, event_id, initial_sync} for each m.call.* event from
// others; decryption_failure {type, sender, code, room_id, event_id, initial_sync}; room {room_id},
// member_joined, devices_known {user, devices} (--create-dm); joined {room_id, inviter}
// (--auto-join); device_trust {user, device, known, cross_signing_verified, local_verified,
// signed_by_owner}; verification_request, sas_start (we started SAS), sas {emoji: [[symbol,
// description]...], decimal}, verified {other_user, other_device, trust: a device_trust snapshot}.
//
// Exit status: 0 once the page's task has ended ("done"), 1 at once on a fatal error (one with
// "fatal": true; the page goes on after others), or at --timeout.
// Give each run a fresh device (a new login): the page starts without a sync token, and Synapse may
// answer a repeated initial sync of one device from its cache, whose next batch then brings the
// previous run's invite again — which js rings on, and the page takes only one call. Each run also
// has a fresh Chromium profile, hence a fresh IndexedDB crypto store.
// The page's microphone is Chromium's fake capture device playing the tone WAV in a loop.
import { parseArgs } from "node:util";
import { runPage } from "./browser.mjs";

const { values: a } = parseArgs({
    options: {
        hs: { type: "string" },
        user: { type: "string" },
        token: { type: "string" },
        device: { type: "string" },
        mode: { type: "string", default: "answer" },
        room: { type: "string" },
        "hangup-after": { type: "string" },
        "hold-at": { type: "string" },
        "resume-at": { type: "string" },
        "hold-direction": { type: "string" },
        video: { type: "boolean" },
        "force-turn": { type: "boolean", default: false },
        "raw-mic": { type: "boolean", default: false },
        "upgrade-video-at": { type: "string" },
        "mute-at": { type: "string" },
        "unmute-at": { type: "string" },
        dtmf: { type: "string" },
        "dtmf-at": { type: "string" },
        "give-up-after": { type: "string" },
        expect: { type: "string" },
        tone: { type: "string" },
        "tone-hz": { type: "string" },
        timeout: { type: "string", default: "120" },
        chromium: { type: "string", default: process.env.MXCALL_CHROMIUM || "/usr/bin/chromium" },
        verbose: { type: "boolean", default: false },
        crypto: { type: "boolean", default: false },
        isolation: { type: "string", default: "all" },
        bootstrap: { type: "boolean", default: false },
        "recovery-key": { type: "string" },
        "create-dm": { type: "string" },
        "auto-join": { type: "boolean", default: false },
        stay: { type: "string" },
        "check-user": { type: "string" },
        "check-device": { type: "string" },
        "check-until": { type: "string", default: "cross-signing-verified" },
        "verify-device": { type: "string" },
    },
});

const note = (msg) => process.stderr.write(`peer: ${msg}\n`);

for (const k of ["hs", "user", "token", "device"]) {
    if (!a[k]) {
        note(`--${k} is required`);
        process.exit(2);
    }
}
if (!["all", "only-signed"].includes(a.isolation)) {
    note("--isolation is all or only-signed");
    process.exit(2);
}
if (!["cross-signing-verified", "signed-by-owner"].includes(a["check-until"])) {
    note("--check-until is cross-signing-verified or signed-by-owner");
    process.exit(2);
}
if (a.bootstrap && a["recovery-key"]) {
    note("--bootstrap makes a new identity; --recovery-key joins an existing one: not both");
    process.exit(2);
}
// What the page may ask for: never in the URL (or argv, where avoidable), which other users see.
const secrets = {
    password: process.env.MXPEER_PASSWORD ?? null,
    recoveryKey: a.bootstrap ? null : (a["recovery-key"] ?? process.env.MXPEER_RECOVERY_KEY ?? null),
};
const q = new URLSearchParams({ hs: a.hs, user: a.user, token: a.token, device: a.device, mode: a.mode });
if (a.room) q.set("room", a.room);
if (a["hangup-after"]) q.set("hangup_after", a["hangup-after"]);
if (a["hold-at"]) q.set("hold_at", a["hold-at"]);
if (a["resume-at"]) q.set("resume_at", a["resume-at"]);
if (a["hold-direction"]) q.set("hold_direction", a["hold-direction"]);
if (a.video) q.set("video", "");
if (a["force-turn"]) q.set("force_turn", "");
if (a["raw-mic"]) q.set("raw_mic", "");
if (a["upgrade-video-at"]) q.set("upgrade_video_at", a["upgrade-video-at"]);
if (a["mute-at"]) q.set("mute_at", a["mute-at"]);
if (a["unmute-at"]) q.set("unmute_at", a["unmute-at"]);
if (a.dtmf) q.set("dtmf", a.dtmf);
if (a["dtmf-at"]) q.set("dtmf_at", a["dtmf-at"]);
if (a["give-up-after"]) q.set("give_up_after", a["give-up-after"]);
if (a.expect) q.set("expect", a.expect);
if (a.crypto) q.set("crypto", "");
if (a.isolation !== "all") q.set("isolation", a.isolation);
if (a.bootstrap) q.set("bootstrap", "");
if (a["create-dm"]) q.set("create_dm", a["create-dm"]);
if (a["auto-join"]) q.set("auto_join", "");
if (a.stay) q.set("stay", a.stay);
if (a["check-user"]) q.set("check_user", a["check-user"]);
if (a["check-device"]) q.set("check_device", a["check-device"]);
if (a.mode === "check-device") q.set("check_until", a["check-until"].replaceAll("-", "_"));
if (a["verify-device"]) q.set("verify_device", a["verify-device"]);
await runPage({
    name: "peer",
    html: "index.html",
    script: "page.js",
    query: q,
    tone: a.tone,
    toneHz: a["tone-hz"],
    chromium: a.chromium,
    timeout: a.timeout,
    verbose: a.verbose,
    exposed: { mxpeerSecrets: () => secrets },
});
