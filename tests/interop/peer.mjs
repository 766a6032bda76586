#!/usr/bin/env node
// The driver: runs the page (dist/, built by build.mjs) in Debian's headless Chromium through
// playwright-core and prints every event the page reports as one JSON object per line on stdout.
// Chromium's diagnostics and (with --verbose) the page's console go to stderr.
//
//   node peer.mjs --hs URL --user @u:hs --token TOKEN --device DEV
//                 --mode call|answer|reject|ignore|setup|check-device|verify-accept|verify-request
//                 [--room !room:hs] [--hangup-after S] [--give-up-after S] [--expect HZ]
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
// incoming, place, placed, invite_sent, state, connected, remote_stream, first_audio, hangup, heard.
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
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from "node:fs";
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

const out = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, ts: Date.now(), ...fields }) + "\n");
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

// The page is served from 127.0.0.1 (a secure context, so getUserMedia works). Only files of dist/
// and its pkg/ (the crypto WASM) are served: no name may start with a dot, so no "..".
// WebAssembly.instantiateStreaming insists on the application/wasm type.
const types = { ".js": "text/javascript", ".html": "text/html", ".wasm": "application/wasm" };
const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const file = path === "/" ? "index.html" : path.slice(1);
    const servable = /^(pkg\/)?[a-z0-9_-][a-z0-9_.-]*$/.test(file);
    if (!servable || !statSync(join(here, "dist", file), { throwIfNoEntry: false })?.isFile()) {
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
        if (ev.event === "error" && ev.fatal) finish(1);
    } catch {}
});
await page.exposeFunction("mxpeerSecrets", () => secrets);
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
await page.goto(`http://127.0.0.1:${port}/?${q}`);
