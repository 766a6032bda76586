#!/usr/bin/env node
// The driver: runs the page (dist/, built by build.mjs) in Debian's headless Chromium through
// playwright-core and prints every event the page reports as one JSON object per line on stdout.
// Chromium's diagnostics and (with --verbose) the page's console go to stderr.
//
//   node peer.mjs --hs URL --user @u:hs --token TOKEN --device DEV --mode call|answer|reject|ignore
//                 [--room !room:hs] [--hangup-after S] [--give-up-after S] [--expect HZ]
//                 [--tone FILE.wav | --tone-hz HZ] [--timeout S] [--verbose]
//
// Exit status: 0 once the page's call has ended ("done"), 1 on an error or at --timeout.
// Give each run a fresh device (a new login): the page starts without a sync token, and Synapse may
// answer a repeated initial sync of one device from its cache, whose next batch then brings the
// previous run's invite again — which js rings on, and the page takes only one call.
// The page's microphone is Chromium's fake capture device playing the tone WAV in a loop.
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const { values: a } = parseArgs({
    options: {
        hs: { type: "string" },
        user: { type: "string" },
        token: { type: "string" },
        device: { type: "string" },
        mode: { type: "string", default: "answer" },
        room: { type: "string" },
        "hangup-after": { type: "string" },
        "give-up-after": { type: "string" },
        expect: { type: "string" },
        tone: { type: "string" },
        "tone-hz": { type: "string" },
        timeout: { type: "string", default: "120" },
        chromium: { type: "string", default: process.env.MXCALL_CHROMIUM || "/usr/bin/chromium" },
        verbose: { type: "boolean", default: false },
    },
});

const out = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, ts: Date.now(), ...fields }) + "\n");
const note = (msg) => process.stderr.write(`peer: ${msg}\n`);

for (const k of ["hs", "user", "token", "device"]) {
    if (!a[k]) {
        note(`--${k} is required`);
        process.exit(2);
    }
}
if (!existsSync(join(here, "dist/page.js"))) {
    note("dist/page.js is missing: run `node build.mjs` first");
    process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), "mxcall-peer-"));

/** A mono 16-bit 48 kHz WAV of one second of a sine (an integer number of periods: it loops cleanly). */
function toneWav(hz) {
    const rate = 48000, n = rate, data = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) data.writeInt16LE(Math.round(0.3 * 32767 * Math.sin((2 * Math.PI * hz * i) / rate)), i * 2);
    const h = Buffer.alloc(44);
    h.write("RIFF", 0); h.writeUInt32LE(36 + data.length, 4); h.write("WAVE", 8);
    h.write("fmt ", 12); h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22);
    h.writeUInt32LE(rate, 24); h.writeUInt32LE(rate * 2, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34);
    h.write("data", 36); h.writeUInt32LE(data.length, 40);
    const file = join(work, `tone-${hz}.wav`);
    writeFileSync(file, Buffer.concat([h, data]));
    return file;
}
const tone = a.tone ?? toneWav(Number(a["tone-hz"] ?? 880));

// The page is served from 127.0.0.1 (a secure context, so getUserMedia works).
const types = { ".js": "text/javascript", ".html": "text/html" };
const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const file = path === "/" ? "index.html" : path.slice(1);
    if (!/^[a-z.]+$/.test(file) || !existsSync(join(here, "dist", file))) {
        res.writeHead(404).end();
        return;
    }
    res.writeHead(200, { "content-type": types[file.slice(file.lastIndexOf("."))] ?? "application/octet-stream" });
    res.end(readFileSync(join(here, "dist", file)));
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const port = server.address().port;

let context;
let finished = false;
async function finish(code) {
    if (finished) return;
    finished = true;
    try {
        await context?.close();
    } catch {}
    server.close();
    rmSync(work, { recursive: true, force: true });
    process.exit(code);
}
process.on("SIGTERM", () => finish(1));
process.on("SIGINT", () => finish(1));
setTimeout(() => {
    out("error", { message: `timeout after ${a.timeout} s` });
    finish(1);
}, Number(a.timeout) * 1000).unref();

const args = [
    "--headless=new", "--no-sandbox", "--disable-gpu",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${tone}`,
    "--autoplay-policy=no-user-gesture-required",
    // Gather 127.0.0.1 host candidates, in the clear (no mDNS names).
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
    // Nothing leaves the machine.
    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-domain-reliability", "--no-pings",
];
const started = Date.now();
context = await chromium.launchPersistentContext(join(work, "profile"), {
    executablePath: a.chromium,
    headless: true,
    args,
    ignoreDefaultArgs: ["--mute-audio"],
});
const page = context.pages()[0] ?? (await context.newPage());
await page.exposeFunction("mxpeerReport", (line) => {
    process.stdout.write(line + "\n");
    try {
        const ev = JSON.parse(line);
        if (ev.event === "done") finish(0);
    } catch {}
});
page.on("console", (msg) => {
    if (a.verbose) process.stderr.write(`page ${msg.type()}: ${msg.text()}\n`);
});
page.on("pageerror", (err) => out("error", { message: "page: " + err.message }));
page.on("crash", () => {
    out("error", { message: "page crashed" });
    finish(1);
});
out("browser", { launch_ms: Date.now() - started, driver_pid: process.pid });

const q = new URLSearchParams({ hs: a.hs, user: a.user, token: a.token, device: a.device, mode: a.mode });
if (a.room) q.set("room", a.room);
if (a["hangup-after"]) q.set("hangup_after", a["hangup-after"]);
if (a["give-up-after"]) q.set("give_up_after", a["give-up-after"]);
if (a.expect) q.set("expect", a.expect);
await page.goto(`http://127.0.0.1:${port}/?${q}`);
