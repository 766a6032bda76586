// What a page hears: WebAudio analysers on a remote stream (shared by page.js and rtc-page.js).
//   new Ear(stream, { expect, report, fields, dtmfFields })   starts listening at once
//     expect   the tone (Hz) we should hear: tone_share counts the ticks where it dominates
//     report   the page's report(event, fields); fields are added to its first_audio event,
//              dtmfFields (default: fields) to its dtmf_heard events
//   ear.stop()      stops listening (the stream ended): the summary covers what came before
//   ear.summary()   { dominant_hz, tone_share, loud_share, heard_ms, longest_gap_ms,
//                   longest_tick_ms, dtmf_heard, started_ts, tone_by_second }, the same keys as
//                   the "heard" event of page.js;
//                   longest_gap_ms: the longest run of ticks without the expected tone between
//                   the first and the last tick with it, times 20 ms (a dropout as the ear saw
//                   it); longest_tick_ms: the longest time between two ticks (the page's timers
//                   lag on a loaded machine, and audio between two late ticks goes unobserved);
//                   dtmf_heard: the DTMF digits heard, in order ("" for none);
//                   started_ts: when the ear started (new Ear), in ms since the Unix epoch: the
//                   clock of the pages' event "ts" (Date.now());
//                   tone_by_second: what the ear heard when, one number per whole second from
//                   started_ts to stop(): element i covers [started_ts + i s, started_ts + (i+1) s)
//                   and is the share (0..1, two decimals) of the ticks in it where the expected
//                   tone dominated (as tone_share counts them). Unlike tone_share it counts from
//                   the start (ticks before first_audio too: silence is 0) to the end (the last
//                   250 ms too), and ticks fall into seconds by when they ran, not by their
//                   count; a second without a tick (the page's timers stalled) is 0. To place an
//                   event with ts T: i = floor((T - started_ts) / 1000).
//
// DTMF: browsers have no API for received RFC 4733 telephone-events, but Chromium's NetEq plays
// them out as the digits' dual tones, in place of the speech (in our js <-> js runs about 50-60 ms of
// each 100 ms event, at times bent by NetEq's time stretching). Each tick looks at DTMF_WINDOWS
// windows of DTMF_WINDOW samples (23 ms at 44.1 kHz: 43 Hz resolution, the classic 205 samples at
// 8 kHz scaled) ending now, 10 ms and 20 ms ago in the analyser's time-domain data, so they cover
// the newest 43 ms however late the tick. In each, Goertzel filters measure the amplitude of the
// four row (697, 770, 852, 941 Hz) and four column (1209, 1336, 1477, 1633 Hz) frequencies; the
// window holds a digit when it is loud (RMS > LOUD_RMS), its strongest row and strongest column
// each stand at least DTMF_PEAK_DB above the runner-up of their group, lie within DTMF_TWIST_DB of
// each other, and together carry at least DTMF_SHARE of the window's energy (a window the tone
// fills in part has a share about that part; a single sine such as 440 or 880 Hz fails: it has no
// column, and it leaks into at most one group). The tick holds a digit when its windows hold that
// one and no other. A tone starts when DTMF_ON ticks in a row hold the same digit and ends at the
// first tick that does not hold it: one "dtmf_heard" {digit, duration_ms} per tone, duration_ms
// the ticks that held it times 20 ms (the windows reach 20 ms back, so about the tone's length
// plus 20-40 ms). Two tones of one digit stay apart when the pause between them is at least ~65 ms
// as played out.
const TICK_MS = 20;
const LOUD_RMS = 0.01; // -40 dBFS, as tests/common's tone_coverage
const DTMF_ROWS = [697, 770, 852, 941];
const DTMF_COLS = [1209, 1336, 1477, 1633];
const DTMF_KEYS = ["123A", "456B", "789C", "*0#D"]; // [row][column]
const DTMF_WINDOW = 1024; // samples
const DTMF_WINDOWS = [0, 10, 20]; // ms before the newest sample where each window ends
const DTMF_PEAK_DB = 6;
const DTMF_TWIST_DB = 10;
const DTMF_SHARE = 0.3;
const DTMF_ON = 2;

/** The amplitude of `hz` in samples[from..to) (a Goertzel filter: one DFT term at any frequency). */
function goertzel(samples, from, to, hz, rate) {
    const coeff = 2 * Math.cos((2 * Math.PI * hz) / rate);
    let s1 = 0, s2 = 0;
    for (let i = from; i < to; i++) {
        const s0 = samples[i] + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    const power = s1 * s1 + s2 * s2 - coeff * s1 * s2; // |X(hz)|^2
    return (2 * Math.sqrt(Math.max(0, power))) / (to - from); // a sine of amplitude A gives A
}

/** The DTMF digit in the window time[to - DTMF_WINDOW..to), or null (see the header). */
export function dtmfDigit(time, rate, to = time.length) {
    const from = Math.max(0, to - DTMF_WINDOW);
    let energy = 0;
    for (let i = from; i < to; i++) energy += time[i] * time[i];
    const ms = energy / (to - from); // mean square
    const best = (freqs) => {
        const amps = freqs.map((f) => goertzel(time, from, to, f, rate));
        const order = amps.map((_, i) => i).sort((x, y) => amps[y] - amps[x]);
        return { i: order[0], amp: amps[order[0]], next: amps[order[1]] };
    };
    if (Math.sqrt(ms) <= LOUD_RMS) return null;
    const row = best(DTMF_ROWS), col = best(DTMF_COLS);
    const db = (x, y) => 20 * Math.log10(x / y);
    if (!(db(row.amp, row.next) >= DTMF_PEAK_DB && db(col.amp, col.next) >= DTMF_PEAK_DB)) return null;
    if (!(Math.abs(db(row.amp, col.amp)) <= DTMF_TWIST_DB)) return null;
    // A sine of amplitude A has mean square A^2 / 2.
    if ((row.amp * row.amp + col.amp * col.amp) / 2 < DTMF_SHARE * ms) return null;
    return DTMF_KEYS[row.i][col.i];
}

export class Ear {
    constructor(stream, { expect, report, fields = {}, dtmfFields = fields }) {
        this.expect = expect;
        this.report = report;
        this.fields = fields;
        this.dtmfFields = dtmfFields;
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
        this.ticks = []; // {loud, peak, at}, from the first audio on
        this.allTicks = []; // {loud, peak, at}, every tick (for tone_by_second)
        this.startedTs = Date.now(); // the clock of report()'s "ts"
        this.startedAt = performance.now(); // the clock of the ticks' "at"
        this.stoppedAt = undefined;
        this.precise = []; // peak frequencies from the big analyser
        this.firstAudio = undefined;
        this.n = 0;
        this.dtmf = { digits: "", candidate: null, run: 0, active: null };
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
            this.report("first_audio", { ...this.fields, rms: Number(rms.toFixed(4)) });
        }
        const peak = this.peak(this.small, this.freqSmall);
        const tick = { loud, peak, at: performance.now() };
        this.allTicks.push(tick);
        if (this.firstAudio !== undefined) this.ticks.push(tick);
        // The big window spans 0.68 s: take it once every 0.5 s while it is loud.
        if (loud && ++this.n % 25 === 0) this.precise.push(this.peak(this.big, this.freqBig));
        this.hearDtmf(this.dtmfTick());
    }

    /** The digit this tick holds: the one its windows hold, if they hold just one. */
    dtmfTick() {
        const rate = this.ctx.sampleRate;
        let digit = null;
        for (const ms of DTMF_WINDOWS) {
            const d = dtmfDigit(this.time, rate, this.time.length - Math.round((ms * rate) / 1000));
            if (d === null) continue;
            if (digit !== null && d !== digit) return null;
            digit = d;
        }
        return digit;
    }

    /** Debounces the digit of each tick into tones: one dtmf_heard per tone (see the header). */
    hearDtmf(digit) {
        const d = this.dtmf;
        if (d.active !== null && digit === d.active) {
            d.run++;
            return;
        }
        this.endDtmf();
        if (digit === null) {
            d.candidate = null;
            return;
        }
        d.run = digit === d.candidate ? d.run + 1 : 1;
        d.candidate = digit;
        if (d.run >= DTMF_ON) {
            d.active = digit;
            d.candidate = null;
        }
    }

    endDtmf() {
        const d = this.dtmf;
        if (d.active === null) return;
        d.digits += d.active;
        this.report("dtmf_heard", { ...this.dtmfFields, digit: d.active, duration_ms: d.run * TICK_MS });
        d.active = null;
        d.run = 0;
    }

    stop() {
        clearInterval(this.timer);
        if (this.stoppedAt === undefined) this.stoppedAt = performance.now();
        this.endDtmf(); // a tone still sounding when the stream ended
    }

    summary() {
        this.stop();
        const sorted = [...this.precise].sort((x, y) => x - y);
        const dominant = sorted.length ? sorted[Math.floor(sorted.length / 2)] : undefined;
        const target = this.expect ?? dominant;
        // Leave out the last 250 ms: the call may end in the middle of them.
        const body = this.ticks.slice(0, Math.max(0, this.ticks.length - 250 / TICK_MS));
        const tol = this.ctx.sampleRate / this.small.fftSize; // one bin
        const isGood = (t) => t.loud && target !== undefined && Math.abs(t.peak - target) <= tol;
        const good = body.filter(isGood).length;
        // Ticks without the tone between two with it: the dropouts the ear saw.
        let longestGap = 0, lastGood;
        body.forEach((t, i) => {
            if (!isGood(t)) return;
            if (lastGood !== undefined) longestGap = Math.max(longestGap, (i - lastGood - 1) * TICK_MS);
            lastGood = i;
        });
        // tone_by_second: every tick, by when it ran, in the whole seconds before stop().
        const seconds = Math.max(0, Math.floor((this.stoppedAt - this.startedAt) / 1000));
        const perSecond = Array.from({ length: seconds }, () => ({ good: 0, all: 0 }));
        for (const t of this.allTicks) {
            const s = perSecond[Math.floor((t.at - this.startedAt) / 1000)];
            if (!s) continue;
            s.all++;
            if (isGood(t)) s.good++;
        }
        let longestTick = 0;
        for (let i = 1; i < body.length; i++) longestTick = Math.max(longestTick, body[i].at - body[i - 1].at);
        const loudTicks = body.filter((t) => t.loud).length;
        this.element.srcObject = null;
        if (this.ctx.state !== "closed") this.ctx.close();
        return {
            dominant_hz: dominant === undefined ? null : Number(dominant.toFixed(1)),
            tone_share: body.length ? Number((good / body.length).toFixed(3)) : 0,
            loud_share: body.length ? Number((loudTicks / body.length).toFixed(3)) : 0,
            heard_ms: body.length * TICK_MS,
            longest_gap_ms: longestGap,
            longest_tick_ms: Math.round(longestTick),
            dtmf_heard: this.dtmf.digits,
            started_ts: this.startedTs,
            tone_by_second: perSecond.map((s) => (s.all ? Number((s.good / s.all).toFixed(2)) : 0)),
        };
    }
}
