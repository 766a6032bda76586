// The page: matrix-js-sdk's MatrixCall (the call engine of Element Web) in a real browser, as the
// other party of mxcall calls. Everything it does is chosen by URL parameters; everything it sees
// goes out through window.mxpeerReport (set by the driver, peer.mjs) as one JSON object per event.
//
// Parameters: hs, user, token, device   the account (an access token; no crypto)
//             mode    call | answer | reject | ignore
//             room    the room to call in (mode=call)
//             hangup_after   seconds after "connected" to hang up (optional)
//             give_up_after  seconds after placing to hang up if not connected (optional)
//             expect  the tone (Hz) we should hear: tone_share counts frames where it dominates
import { createClient, ClientEvent, CallEvent } from "matrix-js-sdk";

const q = new URLSearchParams(location.search);
const num = (name) => (q.has(name) ? Number(q.get(name)) : undefined);
const opts = {
    hs: q.get("hs"),
    user: q.get("user"),
    token: q.get("token"),
    device: q.get("device"),
    mode: q.get("mode") || "answer",
    room: q.get("room"),
    hangupAfter: num("hangup_after"),
    giveUpAfter: num("give_up_after"),
    expect: num("expect"),
};

function report(event, fields = {}) {
    const line = { event, ts: Date.now(), ...fields };
    if (window.mxpeerReport) window.mxpeerReport(JSON.stringify(line));
    else console.log("MXPEER " + JSON.stringify(line));
}

window.addEventListener("error", (e) => report("error", { message: String(e.message) }));
window.addEventListener("unhandledrejection", (e) => report("error", { message: String(e.reason?.stack || e.reason) }));

// ---- What we hear: WebAudio analysers on the remote stream -----------------------------------
const TICK_MS = 20;
const LOUD_RMS = 0.01; // -40 dBFS, as tests/common's tone_coverage

class Ear {
    constructor(stream) {
        // Chromium feeds a remote WebRTC stream to WebAudio only while a media element plays it.
        this.element = new Audio();
        this.element.muted = true;
        this.element.srcObject = stream;
        this.element.play().catch((e) => report("error", { message: "audio element: " + e }));
        this.ctx = new AudioContext();
        this.ctx.resume();
        const source = this.ctx.createMediaStreamSource(stream);
        this.small = this.ctx.createAnalyser(); // per-tick: level and peak (23 Hz bins)
        this.small.fftSize = 2048;
        this.small.smoothingTimeConstant = 0;
        this.big = this.ctx.createAnalyser(); // now and then: the frequency to a fraction of a Hz
        this.big.fftSize = 32768;
        this.big.smoothingTimeConstant = 0;
        source.connect(this.small);
        source.connect(this.big);
        this.time = new Float32Array(this.small.fftSize);
        this.freqSmall = new Float32Array(this.small.frequencyBinCount);
        this.freqBig = new Float32Array(this.big.frequencyBinCount);
        this.ticks = []; // {loud, peak}
        this.precise = []; // peak frequencies from the big analyser
        this.firstAudio = undefined;
        this.n = 0;
        this.timer = setInterval(() => this.tick(), TICK_MS);
    }

    peak(analyser, data) {
        analyser.getFloatFrequencyData(data);
        const binHz = this.ctx.sampleRate / analyser.fftSize;
        const lo = Math.floor(100 / binHz), hi = Math.ceil(4000 / binHz);
        let best = lo;
        for (let i = lo; i <= hi; i++) if (data[i] > data[best]) best = i;
        // Parabolic interpolation on the dB values around the peak.
        const a = data[best - 1], b = data[best], c = data[best + 1];
        const d = a - 2 * b + c;
        const shift = d !== 0 && Number.isFinite(d) ? (0.5 * (a - c)) / d : 0;
        return (best + Math.max(-0.5, Math.min(0.5, shift))) * binHz;
    }

    tick() {
        this.small.getFloatTimeDomainData(this.time);
        let sum = 0;
        for (const s of this.time) sum += s * s;
        const rms = Math.sqrt(sum / this.time.length);
        const loud = rms > LOUD_RMS;
        if (loud && this.firstAudio === undefined) {
            this.firstAudio = Date.now();
            report("first_audio", { rms: Number(rms.toFixed(4)) });
        }
        const peak = this.peak(this.small, this.freqSmall);
        if (this.firstAudio !== undefined) this.ticks.push({ loud, peak });
        // The big window spans 0.68 s: take it once every 0.5 s while it is loud.
        if (loud && ++this.n % 25 === 0) this.precise.push(this.peak(this.big, this.freqBig));
    }

    summary() {
        clearInterval(this.timer);
        const sorted = [...this.precise].sort((x, y) => x - y);
        const dominant = sorted.length ? sorted[Math.floor(sorted.length / 2)] : undefined;
        const target = opts.expect ?? dominant;
        // Leave out the last 250 ms: the call may end in the middle of them.
        const body = this.ticks.slice(0, Math.max(0, this.ticks.length - 250 / TICK_MS));
        const tol = this.ctx.sampleRate / this.small.fftSize; // one bin
        const good = body.filter((t) => t.loud && target !== undefined && Math.abs(t.peak - target) <= tol).length;
        const loudTicks = body.filter((t) => t.loud).length;
        this.element.srcObject = null;
        this.ctx.close();
        return {
            dominant_hz: dominant === undefined ? null : Number(dominant.toFixed(1)),
            tone_share: body.length ? Number((good / body.length).toFixed(3)) : 0,
            loud_share: body.length ? Number((loudTicks / body.length).toFixed(3)) : 0,
            heard_ms: body.length * TICK_MS,
        };
    }
}

// ---- The call -------------------------------------------------------------------------------
let current = null; // the one call this page is about
let ear = null;

function watchCall(call) {
    current = call;
    let connectedAt;
    call.on(CallEvent.State, (state, old) => {
        report("state", { call_id: call.callId, state, old });
        if (state === "invite_sent") report("invite_sent", { call_id: call.callId }); // the invite is on the server
        if (state === "connected" && connectedAt === undefined) {
            connectedAt = Date.now();
            report("connected", { call_id: call.callId });
            if (opts.hangupAfter !== undefined) {
                setTimeout(() => call.hangup("user_hangup", false), opts.hangupAfter * 1000);
            }
        }
    });
    call.on(CallEvent.FeedsChanged, () => {
        const stream = call.remoteUsermediaStream;
        if (!ear && stream && stream.getAudioTracks().length) {
            report("remote_stream", { call_id: call.callId, stream_id: stream.id });
            ear = new Ear(stream);
        }
    });
    call.on(CallEvent.Error, (err) => report("error", { call_id: call.callId, code: err.code, message: err.message }));
    call.on(CallEvent.Hangup, () => {
        const heard = ear ? ear.summary() : { dominant_hz: null, tone_share: 0, loud_share: 0, heard_ms: 0 };
        report("hangup", {
            call_id: call.callId,
            party: call.hangupParty,
            reason: call.hangupReason,
            connected_ms: connectedAt === undefined ? null : Date.now() - connectedAt,
        });
        report("heard", { call_id: call.callId, ...heard });
        // Let the last events (our hangup or reject) go out before the driver closes the page.
        setTimeout(() => report("done"), 1000);
    });
}

async function main() {
    report("start", { mode: opts.mode, user: opts.user });
    const client = createClient({
        baseUrl: opts.hs,
        accessToken: opts.token,
        userId: opts.user,
        deviceId: opts.device,
    });
    window.mxClient = client;
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
    const prepared = new Promise((resolve) => {
        client.on(ClientEvent.Sync, (state) => {
            if (state === "PREPARED") resolve();
            if (state === "ERROR") report("error", { message: "sync error" });
        });
    });
    await client.startClient({ initialSyncLimit: 1 });
    await prepared;
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
        await call.placeVoiceCall();
        report("placed", { call_id: call.callId });
    }
}

main().catch((e) => report("error", { message: String(e?.stack || e) }));
