#!/usr/bin/env node
// End-to-end benchmark (run through scripts/bench-interop.sh): N calls each of js↔js, mxcall→js
// and mxcall↔mxcall through one Synapse, interleaved, and a table of medians with ratios to js↔js.
//
//   node bench.mjs --hs URL --mxcall BIN [--calls N] [--duration S] [--rtc] [--json]
//                  [--mxcall-b BIN_B] [--mxcall-only]
//
// --mxcall-b: also N mxcall↔mxcall calls with a second build (column "B↔B"), interleaved with the
// others — an A/B of two builds in one run, since this machine's speed drifts between runs.
// --mxcall-only: no js calls; ratios are then to the first mxcall↔mxcall column.
//
// --rtc: MatrixRTC calls (the homeserver must be in its MatrixRTC configuration, with LiveKit):
// js is Element Call's engine (rtc-peer.mjs: matrix-js-sdk's MatrixRTC session + livekit-client)
// and mxcall calls with --protocol matrixrtc. Without it: legacy calls (peer.mjs, MatrixCall).
//
// Per call, on the caller's side: place → connected and place → first remote audio ("place" is
// placeVoiceCall() for legacy js, the call to joinRTCSession for MatrixRTC js, the process start
// for `mxcall call`: what a user of each waits for); on the callee's side: the call reaching it
// (mxcall's "ringing", js-sdk's Call.incoming, Element Call's ring) → connected; CPU seconds per call-minute of
// every process of both sides (the Chromium trees, not the node drivers; the mxcall processes)
// between the caller's "connected" and its hangup; peak RSS of each side (sum over its processes,
// sampled every 250 ms;
// PSS too, which splits shared pages among the processes that map them, so its sum is fair).
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const { values: a } = parseArgs({
    options: {
        hs: { type: "string" },
        mxcall: { type: "string" },
        calls: { type: "string", default: "3" },
        duration: { type: "string", default: "10" },
        rtc: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        "mxcall-b": { type: "string" },
        "mxcall-only": { type: "boolean", default: false },
    },
});
const N = Number(a.calls);
const RTC = a.rtc;
const D = Number(a.duration);
const note = (m) => process.stderr.write(`bench: ${m}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const HZ = 100; // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s on Linux

// ---- /proc: process trees, CPU and memory ----------------------------------------------------

function procStat(pid) {
    try {
        const s = readFileSync(`/proc/${pid}/stat`, "utf8");
        const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
        return { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / HZ };
    } catch {
        return undefined;
    }
}

/** VmRSS, and the proportional set size (shared pages split among their users: sums fairly). */
function memKb(pid) {
    const field = (file, re) => {
        try {
            const m = readFileSync(`/proc/${pid}/${file}`, "utf8").match(re);
            return m ? Number(m[1]) : 0;
        } catch {
            return 0;
        }
    };
    return { rss: field("status", /VmRSS:\s+(\d+)/), pss: field("smaps_rollup", /Pss:\s+(\d+)/) };
}

/** The pids of `root`'s process tree; without `root` itself when `withRoot` is false. */
function tree(root, withRoot) {
    const children = new Map();
    for (const name of readdirSync("/proc")) {
        if (!/^\d+$/.test(name)) continue;
        const st = procStat(name);
        if (!st) continue;
        if (!children.has(st.ppid)) children.set(st.ppid, []);
        children.get(st.ppid).push(Number(name));
    }
    const out = withRoot ? [root] : [];
    const stack = [root];
    while (stack.length) {
        for (const c of children.get(stack.pop()) ?? []) {
            out.push(c);
            stack.push(c);
        }
    }
    return out;
}

/** One side of a call: a process (mxcall) or a node driver whose Chromium tree is measured. */
class Side {
    constructor(kind, child) {
        this.kind = kind; // "js" | "mx"
        this.child = child;
        this.peakKb = 0;
        this.peakPssKb = 0;
        this.timer = setInterval(() => this.sample(), 250);
    }
    pids() {
        return tree(this.child.pid, this.kind === "mx");
    }
    sample() {
        const mem = this.pids().map(memKb);
        this.peakKb = Math.max(this.peakKb, mem.reduce((s, m) => s + m.rss, 0));
        this.peakPssKb = Math.max(this.peakPssKb, mem.reduce((s, m) => s + m.pss, 0));
    }
    cpu() {
        return this.pids().reduce((s, p) => s + (procStat(p)?.cpu ?? 0), 0);
    }
    stop() {
        clearInterval(this.timer);
    }
}

// ---- Processes and their JSON events ---------------------------------------------------------

function run(cmd, args, opts = {}) {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], ...opts });
    child.startedAt = Date.now();
    child.events = [];
    child.waiters = [];
    child.errText = "";
    child.stderr.on("data", (d) => (child.errText += d));
    createInterface({ input: child.stdout }).on("line", (line) => {
        let ev;
        try {
            ev = JSON.parse(line);
        } catch {
            return;
        }
        child.events.push(ev);
        for (const w of [...child.waiters]) w(ev);
    });
    child.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
    return child;
}

function waitEvent(child, name, ms = 60000) {
    const have = child.events.find((e) => e.event === name);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${name} within ${ms} ms; stderr:\n${child.errText.slice(-2000)}`)), ms);
        const w = (ev) => {
            if (ev.event === name) {
                clearTimeout(t);
                child.waiters.splice(child.waiters.indexOf(w), 1);
                resolve(ev);
            }
        };
        child.waiters.push(w);
    });
}

async function api(method, path, token, body) {
    const res = await fetch(`${a.hs}/_matrix/client/v3${path}`, {
        method,
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const v = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(v)}`);
    return v;
}

let serial = 0;
async function account(prefix) {
    const name = `${prefix}${process.pid}x${serial++}x${Date.now() % 100000}`;
    const password = `pw-${name}-bench`;
    const v = await api("POST", "/register", undefined, { username: name, password, auth: { type: "m.login.dummy" } });
    return { user: v.user_id, token: v.access_token, device: v.device_id, password };
}

async function room(x, y) {
    // MatrixRTC: a DM as Element makes one (both may send call memberships).
    const preset = RTC ? "trusted_private_chat" : "private_chat";
    const { room_id } = await api("POST", "/createRoom", x.token, { preset, invite: [y.user], is_direct: true });
    await api("POST", `/join/${encodeURIComponent(room_id)}`, y.token, {});
    return room_id;
}

function mxLogin(bin, home, profile, acct) {
    const p = run(bin, ["--profile", profile, "login", acct.user, "--homeserver", a.hs, "--password-stdin"], {
        env: { ...process.env, MXCALL_HOME: home },
    });
    p.stdin.end(acct.password + "\n");
    return p.exited.then((code) => {
        if (code !== 0) throw new Error(`mxcall login failed: ${p.errText}`);
    });
}

const jsPeer = (acct, args) =>
    run("node", [join(here, RTC ? "rtc-peer.mjs" : "peer.mjs"), "--hs", a.hs, "--user", acct.user, "--token", acct.token, "--device", acct.device, "--timeout", String(D + 90), ...args]);

const mx = (bin, home, args) =>
    run(bin, ["--json", ...args, "--output", "null", "--media-addr", "127.0.0.1"], { env: { ...process.env, MXCALL_HOME: home } });

// ---- One call ----------------------------------------------------------------------------------

async function oneCall(kind) {
    const home = mkdtempSync(join(tmpdir(), "mxcall-bench-"));
    try {
        const x = await account("bx");
        const y = await account("by");
        const roomId = await room(x, y);
        let callee, caller, calleeSide, callerSide;
        // The callee first, synced, as a person's client would be.
        // The mxcall build of this kind ("mx-mx-b": the second one).
        const bin = kind === "mx-mx-b" ? a["mxcall-b"] : a.mxcall;
        const mxMx = kind.startsWith("mx-mx");
        if (mxMx) {
            await mxLogin(bin, home, "b", y);
            callee = mx(bin, home, ["--profile", "b", "answer", "--wait", String(D + 60), "--input", "tone:880"]);
            calleeSide = new Side("mx", callee);
            await sleep(1500);
        } else {
            callee = jsPeer(y, ["--mode", "answer", "--tone-hz", "880", "--expect", "440", ...(RTC ? ["--room", roomId] : [])]);
            calleeSide = new Side("js", callee);
            await waitEvent(callee, "ready");
        }
        let place;
        if (kind === "js-js") {
            caller = jsPeer(x, ["--mode", "call", "--room", roomId, "--hangup-after", String(D), "--tone-hz", "440", "--expect", "880"]);
            callerSide = new Side("js", caller);
            place = (await waitEvent(caller, RTC ? "rtc_join" : "place")).ts;
        } else {
            await mxLogin(bin, home, "a", x);
            const protocol = ["--protocol", RTC ? "matrixrtc" : "legacy"];
            caller = mx(bin, home, ["--profile", "a", "call", roomId, "--duration", String(D), "--input", "tone:440", ...protocol]);
            callerSide = new Side("mx", caller);
            place = caller.startedAt;
        }
        const connected = await waitEvent(caller, "connected");
        // The callee's own view: from the call reaching it (mxcall "ringing", js-sdk
        // "Call.incoming", Element Call's ring) to its "connected".
        const rang = await waitEvent(callee, mxMx ? "ringing" : RTC ? "ring" : "incoming");
        const calleeConnected = await waitEvent(callee, "connected");
        const invited = caller.events.find((e) => e.event === (kind === "js-js" && RTC ? "ring_sent" : "invite_sent"));
        const cpu0 = callerSide.cpu() + calleeSide.cpu();
        const heard = await waitEvent(caller, kind === "js-js" ? "first_audio" : "media");
        // The caller's own hangup (after D s connected): legacy js and mxcall say "hangup" (a
        // MatrixRTC mxcall call just ends), MatrixRTC js "left".
        const end = RTC ? (kind === "js-js" ? "left" : "ended") : "hangup";
        await waitEvent(caller, end, (D + 30) * 1000);
        const cpu1 = callerSide.cpu() + calleeSide.cpu();
        const hungUp = Date.now();
        callerSide.sample();
        calleeSide.sample();
        const codes = await Promise.all([caller.exited, callee.exited]);
        callerSide.stop();
        calleeSide.stop();
        if (codes.some((c) => c !== 0)) throw new Error(`exit codes ${codes}: ${caller.errText.slice(-1000)} ${callee.errText.slice(-1000)}`);
        for (const [side, p] of [["caller", caller], ["callee", callee]]) {
            const line = p.errText.split("\n").find((l) => l.includes("panicked"));
            if (line) note(`${label[kind]} ${side} printed a panic on stderr: ${line}`);
        }
        return {
            kind,
            invite_ms: invited ? invited.ts - place : NaN,
            connect_ms: connected.ts - place,
            callee_connect_ms: calleeConnected.ts - rang.ts,
            audio_ms: heard.ts - place,
            cpu_per_min: (cpu1 - cpu0) / ((hungUp - connected.ts) / 60000),
            rss_caller_mb: callerSide.peakKb / 1024,
            rss_callee_mb: calleeSide.peakKb / 1024,
            pss_caller_mb: callerSide.peakPssKb / 1024,
            pss_callee_mb: calleeSide.peakPssKb / 1024,
        };
    } finally {
        rmSync(home, { recursive: true, force: true });
    }
}

// ---- The run and the table ----------------------------------------------------------------------

const kinds = [...(a["mxcall-only"] ? [] : ["js-js", "mx-js"]), "mx-mx", ...(a["mxcall-b"] ? ["mx-mx-b"] : [])];
const label = RTC
    ? { "js-js": "EC↔EC", "mx-js": "mxcall→EC", "mx-mx": "mxcall↔mxcall", "mx-mx-b": "B↔B" }
    : { "js-js": "js↔js", "mx-js": "mxcall→js", "mx-mx": "mxcall↔mxcall", "mx-mx-b": "B↔B" };
const results = [];
for (let i = 1; i <= N; i++) {
    for (const kind of kinds) {
        const r = await oneCall(kind);
        results.push(r);
        note(
            `${i}/${N} ${label[kind].padEnd(14)} connected ${r.connect_ms} ms, audio ${r.audio_ms} ms, ` +
                `${r.cpu_per_min.toFixed(2)} CPU-s/min, RSS ${r.rss_caller_mb.toFixed(0)}/${r.rss_callee_mb.toFixed(0)} MB, ` +
                `PSS ${r.pss_caller_mb.toFixed(0)}/${r.pss_callee_mb.toFixed(0)} MB`,
        );
        await sleep(500);
    }
}

const median = (xs) => {
    const s = [...xs].sort((p, q) => p - q);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const metrics = [
    ["invite_ms", "place → invite sent (ms)", 0],
    ["connect_ms", "place → connected (ms)", 0],
    ["audio_ms", "place → first remote audio (ms)", 0],
    ["callee_connect_ms", "callee: incoming → connected (ms)", 0],
    ["cpu_per_min", "CPU s per call-minute, both sides", 2],
    ["rss_caller_mb", "peak RSS caller (MB)", 0],
    ["rss_callee_mb", "peak RSS callee (MB)", 0],
    ["pss_caller_mb", "peak PSS caller (MB)", 0],
    ["pss_callee_mb", "peak PSS callee (MB)", 0],
];
const med = {};
for (const k of kinds) {
    med[k] = {};
    for (const [m] of metrics) med[k][m] = median(results.filter((r) => r.kind === k).map((r) => r[m]));
}
if (a.json) {
    process.stdout.write(JSON.stringify({ protocol: RTC ? "matrixrtc" : "legacy", calls: N, duration_s: D, medians: med, runs: results }) + "\n");
} else {
    const w0 = 36, w = 22;
    const lines = [];
    lines.push(
        RTC
            ? `MatrixRTC (LiveKit SFU; EC = Element Call's engine: matrix-js-sdk MatrixRTC + livekit-client): medians of ${N} call(s) each, ${D} s connected; (×) = ratio to ${label[kinds[0]]}`
            : `legacy m.call.* (js = matrix-js-sdk MatrixCall): medians of ${N} call(s) each, ${D} s connected; (×) = ratio to ${label[kinds[0]]}`,
    );
    lines.push("".padEnd(w0) + kinds.map((k) => label[k].padStart(w)).join(""));
    for (const [m, title, digits] of metrics) {
        const base = med[kinds[0]][m];
        const cells = kinds.map((k) => {
            const v = med[k][m];
            const ratio = k === kinds[0] ? "" : ` (${(v / base).toFixed(2)}×)`;
            return (v.toFixed(digits) + ratio).padStart(w);
        });
        lines.push(title.padEnd(w0) + cells.join(""));
    }
    process.stdout.write(lines.join("\n") + "\n");
}
process.exit(0);
