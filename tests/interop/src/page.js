// The page: matrix-js-sdk's MatrixCall (the call engine of Element Web) in a real browser, as the
// other party of mxcall calls. Everything it does is chosen by URL parameters; everything it sees
// goes out through window.mxpeerReport (set by the driver, peer.mjs) as one JSON object per event.
// Secrets (the account password, a recovery key) never travel in the URL: the page asks the driver
// for them through window.mxpeerSecrets.
//
// Parameters: hs, user, token, device   the account (an access token)
//             mode    call | answer | reject | ignore       a call (the default: answer)
//                     setup          only the set-up below, then done
//                     check-device   report check_user's device check_device's trust every 2 s
//                                    until check_until (default cross_signing_verified) holds
//                     verify-accept  accept an incoming SAS (emoji) verification and confirm it
//                     verify-request request one with our own device verify_device and confirm it
//             room    the room to call in (mode=call)
//             hangup_after   seconds after "connected" to hang up (optional)
//             give_up_after  seconds after placing to hang up if not connected (optional)
//             expect  the tone (Hz) we should hear: tone_share counts frames where it dominates
//             dtmf    DTMF digits (0-9 * # A-D; "," a 2 s pause) to send dtmf_at seconds (default
//                     0) after "connected", as RFC 4733 telephone-events: js-sdk's sendDtmfDigit
//                     (RTCDTMFSender.insertDTMF), each tone 100 ms with 70 ms between them
//             crypto  (present) end-to-end encryption with matrix-js-sdk's Rust crypto, as Element
//                     Web; implied by create_dm and the check-device and verify-* modes
//             isolation      only-signed: Element's "exclude insecure devices" (MSC4153); else all
//             bootstrap      (present) a new cross-signing identity, secret storage with a new
//                            recovery key, and key backup, as Element at a user's first login
//                            (a recovery key from the driver instead: import the identity from
//                            secret storage, which cross-signs this device)
//             create_dm      a user to create an encrypted DM with (as Element) before the mode runs;
//                            it becomes the room of mode=call
//             auto_join      (present) join every room we are invited to, once set up
//             stay           seconds to keep running after the task ended, before "done"

import {
    createClient,
    ClientEvent,
    CallEvent,
    CallFeedEvent,
    MatrixEventEvent,
    RoomEvent,
} from "matrix-js-sdk";
import {
    CryptoEvent,
    VerificationPhase,
    VerificationRequestEvent,
    VerifierEvent,
} from "matrix-js-sdk/lib/crypto-api/index.js";
import { cryptoKit } from "./crypto.js";
import { Ear } from "./ear.js";

const q = new URLSearchParams(location.search);
const num = (name) => (q.has(name) ? Number(q.get(name)) : undefined);
const CRYPTO_MODES = ["check-device", "verify-accept", "verify-request"];
const opts = {
    hs: q.get("hs"),
    user: q.get("user"),
    token: q.get("token"),
    device: q.get("device"),
    mode: q.get("mode") || "answer",
    room: q.get("room"),
    hangupAfter: num("hangup_after"),
    holdAt: num("hold_at"),
    resumeAt: num("resume_at"),
    holdDirection: q.get("hold_direction") || "sendonly",
    video: q.has("video"),
    upgradeVideoAt: num("upgrade_video_at"),
    muteAt: num("mute_at"),
    unmuteAt: num("unmute_at"),
    giveUpAfter: num("give_up_after"),
    expect: num("expect"),
    dtmf: q.get("dtmf"),
    dtmfAt: num("dtmf_at") ?? 0,
    // The DM is encrypted, as Element makes it: it needs crypto too.
    crypto: q.has("crypto") || q.has("create_dm") || CRYPTO_MODES.includes(q.get("mode")),
    isolation: q.get("isolation") || "all",
    bootstrap: q.has("bootstrap"),
    createDm: q.get("create_dm"),
    autoJoin: q.has("auto_join"),
    stay: num("stay") ?? 0,
    checkUser: q.get("check_user"),
    checkDevice: q.get("check_device"),
    checkUntil: q.get("check_until") || "cross_signing_verified",
    verifyDevice: q.get("verify_device"),
    // js-sdk's forceTURN (Element's "only relay calls"): RTCPeerConnection iceTransportPolicy "relay".
    forceTurn: q.has("force_turn"),
    // The microphone without Chromium's noise suppression, echo cancellation and gain control
    // (js-sdk's MediaHandler audio settings, Element's voice settings): its noise suppression
    // learns a steady test tone and plays it ever quieter.
    rawMic: q.has("raw_mic"),
};
const MODES = ["call", "answer", "reject", "ignore", "setup", ...CRYPTO_MODES];

function report(event, fields = {}) {
    const line = { event, ts: Date.now(), ...fields };
    if (window.mxpeerReport) window.mxpeerReport(JSON.stringify(line));
    else console.log("MXPEER " + JSON.stringify(line));
}

window.addEventListener("error", (e) => report("error", { message: String(e.message) }));
window.addEventListener("unhandledrejection", (e) => report("error", { message: String(e.reason?.stack || e.reason) }));

// ---- The call -------------------------------------------------------------------------------
let current = null; // the one call this page is about
let ear = null;
let earAfterResume = null;

// The candidate pair the call's media uses: ice_path {call_id, local, remote} with each side's
// candidate type (host, srflx, prflx, relay) from the peer connection's statistics.
async function reportIcePath(call) {
    try {
        const stats = await call.peerConn.getStats();
        let pairId;
        stats.forEach((s) => { if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
        const pair = pairId && stats.get(pairId);
        if (!pair) return report("error", { message: "no selected ICE candidate pair" });
        report("ice_path", {
            call_id: call.callId,
            local: stats.get(pair.localCandidateId)?.candidateType,
            remote: stats.get(pair.remoteCandidateId)?.candidateType,
        });
    } catch (e) {
        report("error", { message: "getStats: " + e });
    }
}

function watchCall(call) {
    current = call;
    let connectedAt;
    call.on(CallEvent.State, (state, old) => {
        report("state", { call_id: call.callId, state, old });
        if (state === "invite_sent") report("invite_sent", { call_id: call.callId }); // the invite is on the server
        if (state === "connected" && connectedAt === undefined) {
            connectedAt = Date.now();
            report("connected", { call_id: call.callId });
            setTimeout(() => reportIcePath(call), 1000);
            if (opts.hangupAfter !== undefined) {
                setTimeout(() => call.hangup("user_hangup", false), opts.hangupAfter * 1000);
            }
            if (opts.holdAt !== undefined) setTimeout(() => hold(call, true), opts.holdAt * 1000);
            const mute = (on) => call.setMicrophoneMuted(on)
                .then(() => report(on ? "muted" : "unmuted", { call_id: call.callId }))
                .catch((e) => report("error", { message: "setMicrophoneMuted: " + e }));
            if (opts.muteAt !== undefined) setTimeout(() => mute(true), opts.muteAt * 1000);
            if (opts.unmuteAt !== undefined) setTimeout(() => mute(false), opts.unmuteAt * 1000);
            if (opts.upgradeVideoAt !== undefined) {
                setTimeout(() => {
                    call.upgradeCall(false, true)
                        .then(() => report("upgraded", { call_id: call.callId }))
                        .catch((e) => report("error", { message: "upgradeCall: " + e }));
                }, opts.upgradeVideoAt * 1000);
            }
            if (opts.resumeAt !== undefined) setTimeout(() => hold(call, false), opts.resumeAt * 1000);
            if (opts.dtmf) setTimeout(() => sendDtmf(call, opts.dtmf), opts.dtmfAt * 1000);
        }
    });
    watchRemoteHold(call);
    const watchRemoteMute = remoteMuteWatcher(call);
    call.on(CallEvent.FeedsChanged, () => {
        watchRemoteMute();
        const stream = call.remoteUsermediaStream;
        if (!ear && stream && stream.getAudioTracks().length) {
            report("remote_stream", { call_id: call.callId, stream_id: stream.id });
            ear = new Ear(stream, { expect: opts.expect, report, dtmfFields: { call_id: call.callId } });
        }
    });
    call.on(CallEvent.Error, (err) => report("error", { call_id: call.callId, code: err.code, message: err.message }));
    call.on(CallEvent.Hangup, () => {
        const heard = ear ? ear.summary() : { dominant_hz: null, tone_share: 0, loud_share: 0, heard_ms: 0, longest_gap_ms: null, longest_tick_ms: null, dtmf_heard: "", started_ts: null, tone_by_second: [] };
        report("hangup", {
            call_id: call.callId,
            party: call.hangupParty,
            reason: call.hangupReason,
            connected_ms: connectedAt === undefined ? null : Date.now() - connectedAt,
        });
        if (earAfterResume) heard.tone_share_after_resume = earAfterResume.summary().tone_share;
        report("heard", { call_id: call.callId, ...heard });
        // Let the last events (our hangup or reject) go out before the driver closes the page.
        setTimeout(finish, 1000);
    });
}

/** remote_hold: the other side put us on hold or took us off it, as Element shows it ("X held the
 * call"). In js-sdk's words that is *local* hold: CallEvent.LocalHoldUnhold and isLocalOnHold()
 * (every transceiver's negotiated direction recvonly or inactive), emitted after a re-offer
 * (m.call.negotiate) from the other side. CallEvent.RemoteHoldUnhold / isRemoteOnHold() are the
 * reverse, our own setRemoteOnHold (the "held" and "resumed" events here). */
function watchRemoteHold(call) {
    call.on(CallEvent.LocalHoldUnhold, (onHold) => {
        report("remote_hold", { call_id: call.callId, on_hold: onHold });
    });
}

/** remote_muted: the other side's microphone mute as its SDP stream metadata (audio_muted, in the
 * invite, answer, m.call.negotiate or m.call.sdp_stream_metadata_changed) tells it, which Element
 * shows on the remote user-media feed. js-sdk's CallFeed emits MuteStateChanged at every metadata
 * update, changed or not, so only changes are reported; a feed that starts muted is reported at
 * once. The feed's own audioMuted (the event's first argument), not isAudioMuted(): that is also
 * true while the stream has no audio track (Chromium takes a held track out of its stream).
 * Returns the FeedsChanged hook that follows call.remoteUsermediaFeed. */
function remoteMuteWatcher(call) {
    let feed = null;
    let muted = false; // the last reported state; not muted until said otherwise
    const note = (audioMuted) => {
        if (audioMuted === muted) return;
        muted = audioMuted;
        report("remote_muted", { call_id: call.callId, muted });
    };
    const onMute = (audioMuted) => note(Boolean(audioMuted));
    return () => {
        const now = call.remoteUsermediaFeed ?? null;
        if (now === feed) return;
        feed?.off(CallFeedEvent.MuteStateChanged, onMute);
        feed = now;
        if (!feed) return;
        feed.on(CallFeedEvent.MuteStateChanged, onMute);
        note(Boolean(feed.audioMuted));
    };
}

/** Sends `digits` as DTMF. js-sdk's sendDtmfDigit hands its argument to RTCDTMFSender.insertDTMF,
 * which replaces the tones still queued: one call per digit at once would send only the last
 * digit. One call with all the digits queues them, each with insertDTMF's default 100 ms tone and
 * 70 ms gap. */
function sendDtmf(call, digits) {
    try {
        call.sendDtmfDigit(digits);
        report("dtmf_sent", { call_id: call.callId, digits });
    } catch (e) {
        report("error", { call_id: call.callId, message: "sendDtmfDigit: " + e });
    }
}

/** Puts the other side on hold (RFC 3264 §6.1, through js-sdk's m.call.negotiate) or resumes:
 * "sendonly" is js-sdk's own setRemoteOnHold; "inactive" is how other clients and gateways hold. */
function hold(call, on) {
    if (opts.holdDirection === "sendonly") {
        call.setRemoteOnHold(on);
    } else {
        for (const t of call.peerConn.getTransceivers()) t.direction = on ? opts.holdDirection : "sendrecv";
    }
    report(on ? "held" : "resumed", { call_id: call.callId, direction: on ? opts.holdDirection : "sendrecv" });
    // Chromium takes a held track out of its stream and puts it back on resume; a player (an
    // Element UI, this ear) attaches afresh. From 1 s after the resume (the renegotiation).
    if (!on) setTimeout(() => {
        const stream = call.remoteUsermediaStream;
        if (stream) earAfterResume = new Ear(stream, { expect: opts.expect, report: () => {} });
    }, 1000);
}

// ---- The end: "done" closes the page ------------------------------------------------------------
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let finishing = false;

/** Reports "done" (the driver then closes the browser), --stay seconds after the task ended. */
async function finish() {
    if (finishing) return;
    finishing = true;
    if (opts.stay > 0) {
        // Meanwhile the device stays online: it answers key and secret requests, shares keys.
        report("staying", { seconds: opts.stay });
        await sleep(opts.stay * 1000);
    }
    report("done");
}

// ---- End-to-end encryption, as Element Web sets it up (src/crypto.js, shared with rtc-page.js) --
const kit = cryptoKit({ user: opts.user, report });

// ---- What arrives: call events in the clear or encrypted, and what fails to decrypt -------------
const isCallEvent = (ev) => ev.getType().startsWith("m.call.");
// Our own sends (the local echo, and the remote echo that carries our transaction id) are not news.
const ours = (ev) => ev.status != null || ev.getUnsigned().transaction_id !== undefined;
const seenTimeline = new Set();
// Events of the first sync are history (earlier calls, or an invite sent before we came): they are
// reported too, marked initial_sync.
let synced = false;
const early = new Set();

function reportTimeline(ev) {
    if (ours(ev) || !isCallEvent(ev) || seenTimeline.has(ev.getId())) return;
    seenTimeline.add(ev.getId());
    report("timeline", {
        type: ev.getType(),
        sender: ev.getSender(),
        encrypted: ev.isEncrypted(),
        room_id: ev.getRoomId(),
        event_id: ev.getId(),
        initial_sync: early.has(ev.getId()),
    });
}

function watchTimeline(client) {
    client.on(ClientEvent.Sync, (state) => {
        if (state === "PREPARED") synced = true;
    });
    // Encrypted events are reported once decrypted (their type is m.room.encrypted until then).
    client.on(RoomEvent.Timeline, (ev) => {
        if (!synced) early.add(ev.getId());
        if (!ev.isEncrypted()) reportTimeline(ev);
    });
    client.on(MatrixEventEvent.Decrypted, (ev) => {
        if (ours(ev)) return;
        if (ev.isDecryptionFailure()) {
            report("decryption_failure", {
                type: ev.getWireType(),
                sender: ev.getSender(),
                code: ev.decryptionFailureReason,
                room_id: ev.getRoomId(),
                event_id: ev.getId(),
                initial_sync: early.has(ev.getId()) || !synced,
            });
        } else {
            reportTimeline(ev);
        }
    });
}

// ---- Rooms: joining invites, creating an encrypted DM -------------------------------------------
/** --auto-join: join what we are invited to, but only once our own crypto identity is set up, so
 *  the inviter encrypts for a device that is already cross-signed. */
function autoJoin(client) {
    const joining = new Set();
    const join = (room) => {
        if (room.getMyMembership() !== "invite" || joining.has(room.roomId)) return;
        joining.add(room.roomId);
        const inviter = room.getMember(opts.user)?.events.member?.getSender();
        client.joinRoom(room.roomId).then(
            () => report("joined", { room_id: room.roomId, inviter }),
            (e) => report("error", { message: `join ${room.roomId}: ${e}` }),
        );
    };
    client.on(RoomEvent.MyMembership, (room, membership) => membership === "invite" && join(room));
    for (const room of client.getRooms()) join(room);
}

// ---- Device trust ---------------------------------------------------------------------------------
async function deviceTrust(client, userId, deviceId) {
    const crypto = client.getCrypto();
    const st = await crypto.getDeviceVerificationStatus(userId, deviceId);
    return {
        user: userId,
        device: deviceId,
        known: st !== null,
        cross_signing_verified: st?.crossSigningVerified ?? false,
        local_verified: st?.localVerified ?? false,
        signed_by_owner: st?.signedByOwner ?? false,
    };
}

/** --mode check-device: the device's trust as we see it, every 2 s, until check_until holds. */
async function checkDevice(client) {
    const crypto = client.getCrypto();
    for (;;) {
        if (opts.checkUser === opts.user) {
            // A fresh /keys/query of our own user: new signatures on our devices show at once.
            await crypto.userHasCrossSigningKeys(opts.user, true);
        } else {
            // Other users' lists are kept current through sync while we share a room with them.
            await crypto.getUserDeviceInfo([opts.checkUser], true);
        }
        const trust = await deviceTrust(client, opts.checkUser, opts.checkDevice);
        report("device_trust", trust);
        if (trust[opts.checkUntil]) return;
        await sleep(2000);
    }
}

// ---- SAS (emoji) verification ---------------------------------------------------------------------
// js-sdk's verification objects hear from the Rust side only through weak references: unless
// something holds them (in Element, its UI does), they may be collected mid-verification, which
// then silently stalls. Hold them until done.
const verificationsInFlight = new Set();

/**
 * Runs one verification request to its end: accepts it if it came in, starts SAS if nobody has a
 * moment after it is ready (either side may start it), shows the SAS and confirms it, as a user
 * who compared the emoji would. `startAfterMs` differs between the sides so they rarely both start.
 */
async function runVerification(client, request, startAfterMs, otherDevice = request.otherDeviceId) {
    // js-sdk forgets the other device once the request is done (and learns it only from the answer
    // to a request we sent): keep it.
    const noteDevice = () => (otherDevice = request.otherDeviceId ?? otherDevice);
    verificationsInFlight.add(request);
    request.on(VerificationRequestEvent.Change, noteDevice);
    report("verification_request", {
        other_user: request.otherUserId,
        other_device: otherDevice ?? null,
        initiated_by_me: request.initiatedByMe,
        phase: VerificationPhase[request.phase],
    });
    if (request.phase === VerificationPhase.Requested && !request.initiatedByMe) await request.accept();
    const verifier = await new Promise((resolve, reject) => {
        let timer;
        const settle = (f, value) => {
            clearTimeout(timer);
            request.off(VerificationRequestEvent.Change, check);
            f(value);
        };
        const check = () => {
            if (request.phase === VerificationPhase.Cancelled) {
                settle(reject, new Error(`verification cancelled: ${request.cancellationCode}`));
            } else if (request.verifier && request.chosenMethod === "m.sas.v1") {
                settle(resolve, request.verifier);
            } else if (request.phase === VerificationPhase.Ready && timer === undefined) {
                // Keep listening meanwhile: the other side may start first.
                timer = setTimeout(() => {
                    if (request.phase !== VerificationPhase.Ready || request.verifier) return;
                    report("sas_start", {});
                    request.startVerification("m.sas.v1").then(
                        (v) => settle(resolve, v),
                        (e) => settle(reject, e),
                    );
                }, startAfterMs);
            }
        };
        request.on(VerificationRequestEvent.Change, check);
        check();
    });
    const confirm = (sas) => {
        report("sas", { emoji: sas.sas.emoji ?? null, decimal: sas.sas.decimal ?? null });
        sas.confirm().catch((e) => report("error", { message: "sas confirm: " + e }));
    };
    let shown = false;
    verifier.on(VerifierEvent.ShowSas, (sas) => {
        if (!shown) confirm(sas);
        shown = true;
    });
    const verified = verifier.verify();
    const already = verifier.getShowSasCallbacks();
    if (already && !shown) {
        shown = true;
        confirm(already);
    }
    await verified;
    request.off(VerificationRequestEvent.Change, noteDevice);
    verificationsInFlight.delete(request);
    // Our own devices' signatures changed: look again (other users' come in through sync).
    if (request.otherUserId === opts.user) await client.getCrypto().userHasCrossSigningKeys(opts.user, true);
    report("verified", {
        other_user: request.otherUserId,
        other_device: otherDevice ?? null,
        // How we see the other device now (verifying it marked it verified locally, and if we hold
        // our self-signing key, we cross-signed it).
        ...(otherDevice ? { trust: await deviceTrust(client, request.otherUserId, otherDevice) } : {}),
    });
}

/** --mode verify-request: ask our own device verify_device to verify, once its keys are known. */
async function requestVerification(client) {
    const crypto = client.getCrypto();
    for (;;) {
        const devices = (await crypto.getUserDeviceInfo([opts.user], true)).get(opts.user);
        if (devices?.has(opts.verifyDevice)) break;
        await crypto.userHasCrossSigningKeys(opts.user, true); // a fresh /keys/query of our own user
        await sleep(1000);
    }
    const request = await crypto.requestDeviceVerification(opts.user, opts.verifyDevice);
    await runVerification(client, request, 1500, opts.verifyDevice);
}

// ---- The page's run -------------------------------------------------------------------------------
async function main() {
    report("start", { mode: opts.mode, user: opts.user });
    if (!MODES.includes(opts.mode)) throw new Error(`unknown mode ${opts.mode}`);
    if (opts.mode === "check-device" && !(opts.checkUser && opts.checkDevice)) throw new Error("check-device needs check_user and check_device");
    if (opts.mode === "verify-request" && !opts.verifyDevice) throw new Error("verify-request needs verify_device");
    const client = createClient({
        baseUrl: opts.hs,
        accessToken: opts.token,
        userId: opts.user,
        deviceId: opts.device,
        cryptoCallbacks: kit.cryptoCallbacks,
        forceTURN: opts.forceTurn,
        // Element Web's: emoji, and QR codes it can show (and reciprocate) but not scan.
        verificationMethods: ["m.sas.v1", "m.qr_code.show.v1", "m.reciprocate.v1"],
    });
    window.mxClient = client;
    if (opts.rawMic) {
        await client.getMediaHandler().setAudioSettings({ autoGainControl: false, echoCancellation: false, noiseSuppression: false });
    }
    if (opts.crypto) {
        await kit.start(client, { isolation: opts.isolation });
        watchTimeline(client);
    }
    client.on("Call.incoming", (call) => {
        if (current) return; // one call per page
        report("incoming", { call_id: call.callId, room_id: call.roomId, caller: call.getOpponentMember()?.userId });
        watchCall(call);
        if (opts.mode === "answer") {
            call.answer(true, false).catch((e) => report("error", { message: "answer: " + e }));
        } else if (opts.mode === "reject") {
            call.reject();
        }
        // mode "ignore": let it ring.
    });
    // A verification request may come in while we still set up: take the first, but only once our
    // cross-signing keys are in, so that verifying the other device also cross-signs it.
    let setUp;
    const setUpDone = new Promise((resolve) => (setUp = resolve));
    let verifying = false;
    if (opts.mode === "verify-accept") {
        client.on(CryptoEvent.VerificationRequestReceived, (request) => {
            if (verifying) return;
            verifying = true;
            setUpDone
                .then(() => runVerification(client, request, 1000))
                .then(finish, fatal);
        });
    }
    const prepared = new Promise((resolve) => {
        client.on(ClientEvent.Sync, (state) => {
            if (state === "PREPARED") resolve();
            if (state === "ERROR") report("error", { message: "sync error" });
        });
    });
    await client.startClient({ initialSyncLimit: 1 });
    await prepared;
    if (opts.crypto) await kit.setUpIdentity(client, { bootstrap: opts.bootstrap });
    setUp();
    if (opts.autoJoin) autoJoin(client);
    if (opts.createDm) opts.room = await kit.createDm(client, opts.createDm);
    report("ready", {});
    if (opts.mode === "call") {
        const call = client.createCall(opts.room);
        watchCall(call);
        report("place", { call_id: call.callId, room_id: opts.room });
        if (opts.giveUpAfter !== undefined) {
            setTimeout(() => {
                if (call.state !== "connected" && call.state !== "ended") call.hangup("user_hangup", false);
            }, opts.giveUpAfter * 1000);
        }
        if (opts.video) await call.placeVideoCall();
        else await call.placeVoiceCall();
        report("placed", { call_id: call.callId });
    } else if (opts.mode === "setup") {
        await finish();
    } else if (opts.mode === "check-device") {
        await checkDevice(client);
        await finish();
    } else if (opts.mode === "verify-request") {
        await requestVerification(client);
        await finish();
    }
    // answer, reject, ignore: the call's hangup finishes; verify-accept: the verification does.
}

// The page cannot go on: the driver ends at once (exit status 1) instead of at its --timeout.
const fatal = (e) => report("error", { message: String(e?.stack || e), fatal: true });
main().catch(fatal);
