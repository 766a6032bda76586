// What a page hears: WebAudio analysers on a remote stream (shared by page.js and rtc-page.js).
//   new Ear(stream, { expect, report, fields })   starts listening at once
//     expect   the tone (Hz) we should hear: tone_share counts the ticks where it dominates
//     report   the page's report(event, fields); fields are added to its first_audio event
//   ear.stop()      stops listening (the stream ended): the summary covers what came before
//   ear.summary()   { dominant_hz, tone_share, loud_share, heard_ms, longest_gap_ms,
//                   longest_tick_ms }, the same keys as the "heard" event of page.js;
//                   longest_gap_ms: the longest run of ticks without the expected tone between
//                   the first and the last tick with it, times 20 ms (a dropout as the ear saw
//                   it); longest_tick_ms: the longest time between two ticks (the page's timers
//                   lag on a loaded machine, and audio between two late ticks goes unobserved)
const TICK_MS = 20;
const LOUD_RMS = 0.01; // -40 dBFS, as tests/common's tone_coverage

export class Ear {
    constructor(stream, { expect, report, fields = {} }) {
        this.expect = expect;
        this.report = report;
        this.fields = fields;
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
            this.report("first_audio", { ...this.fields, rms: Number(rms.toFixed(4)) });
        }
        const peak = this.peak(this.small, this.freqSmall);
        if (this.firstAudio !== undefined) this.ticks.push({ loud, peak, at: performance.now() });
        // The big window spans 0.68 s: take it once every 0.5 s while it is loud.
        if (loud && ++this.n % 25 === 0) this.precise.push(this.peak(this.big, this.freqBig));
    }

    stop() {
        clearInterval(this.timer);
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
        };
    }
}
