// What the drivers (peer.mjs: matrix-js-sdk's MatrixCall; rtc-peer.mjs: a MatrixRTC session with
// livekit-client, as Element Call) share: a page of dist/ (built by build.mjs) in Debian's headless
// Chromium through playwright-core, its microphone a fake capture device playing a tone WAV in a
// loop, every event the page reports printed as one JSON object per line on stdout. Chromium's
// diagnostics and (with verbose) the page's console go to stderr.
//
// The page reports through window.mxpeerReport(line): "done" ends the driver with status 0, an
// "error" with "fatal": true with status 1; the timeout, SIGTERM and SIGINT end it with status 1.
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const here = dirname(fileURLToPath(import.meta.url));

export const out = (event, fields = {}) =>
    process.stdout.write(JSON.stringify({ event, ts: Date.now(), ...fields }) + "\n");

/** A mono 16-bit 48 kHz WAV of one second of a sine (an integer number of periods: it loops cleanly). */
export function toneWav(dir, hz) {
    const rate = 48000, n = rate, data = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) data.writeInt16LE(Math.round(0.3 * 32767 * Math.sin((2 * Math.PI * hz * i) / rate)), i * 2);
    const h = Buffer.alloc(44);
    h.write("RIFF", 0); h.writeUInt32LE(36 + data.length, 4); h.write("WAVE", 8);
    h.write("fmt ", 12); h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22);
    h.writeUInt32LE(rate, 24); h.writeUInt32LE(rate * 2, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34);
    h.write("data", 36); h.writeUInt32LE(data.length, 40);
    const file = join(dir, `tone-${hz}.wav`);
    writeFileSync(file, Buffer.concat([h, data]));
    return file;
}

/**
 * Runs dist/`html` with `query` until the page reports "done" (or fails), then exits the process.
 *   name       the prefix of the driver's own notes on stderr; script: the bundle html loads
 *   tone       a WAV file for the fake microphone, else a generated sine of toneHz (default 880)
 *   chromium   the browser binary; timeout in seconds; verbose: the page's console on stderr
 *   exposed    more functions for the page ({name: fn}), e.g. mxpeerSecrets
 *   shutdown   async (page) => …, run when the driver ends early (timeout, SIGTERM, SIGINT, a fatal
 *              error) before the browser closes: a chance to leave a call cleanly
 * Resolves with the playwright page once it is loaded (the process exits when the page is done).
 */
export async function runPage(options) {
    const { name, html, script, query, tone, toneHz, chromium: executablePath, timeout, verbose } = options;
    const { exposed = {}, shutdown } = options;
    const note = (msg) => process.stderr.write(`${name}: ${msg}\n`);
    if (!existsSync(join(here, "dist", script))) {
        note(`dist/${script} is missing: run \`node build.mjs\` first`);
        process.exit(2);
    }
    const work = mkdtempSync(join(tmpdir(), "mxcall-peer-"));
    const toneFile = tone ?? toneWav(work, Number(toneHz ?? 880));

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

    let context, page;
    let finished = false;
    async function finish(code) {
        if (finished) return;
        finished = true;
        if (code !== 0 && shutdown && page) {
            try {
                await shutdown(page);
            } catch {}
        }
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
        out("error", { message: `timeout after ${timeout} s` });
        finish(1);
    }, Number(timeout) * 1000).unref();

    const args = [
        "--headless=new", "--no-sandbox", "--disable-gpu",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        `--use-file-for-fake-audio-capture=${toneFile}`,
        "--autoplay-policy=no-user-gesture-required",
        // Gather 127.0.0.1 host candidates, in the clear (no mDNS names).
        "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
        // Nothing leaves the machine.
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-domain-reliability", "--no-pings",
    ];
    const started = Date.now();
    context = await chromium.launchPersistentContext(join(work, "profile"), {
        executablePath,
        headless: true,
        args,
        ignoreDefaultArgs: ["--mute-audio"],
        // Our handlers close the browser (after `shutdown`), not playwright's, which would kill it at once.
        handleSIGTERM: false,
        handleSIGINT: false,
    });
    page = context.pages()[0] ?? (await context.newPage());
    await page.exposeFunction("mxpeerReport", (line) => {
        process.stdout.write(line + "\n");
        try {
            const ev = JSON.parse(line);
            if (ev.event === "done") finish(0);
            if (ev.event === "error" && ev.fatal) finish(1);
        } catch {}
    });
    for (const [fn, impl] of Object.entries(exposed)) await page.exposeFunction(fn, impl);
    page.on("console", (msg) => {
        if (verbose) process.stderr.write(`page ${msg.type()}: ${msg.text()}\n`);
    });
    page.on("pageerror", (err) => out("error", { message: "page: " + err.message }));
    page.on("crash", () => {
        out("error", { message: "page crashed" });
        finish(1);
    });
    out("browser", { launch_ms: Date.now() - started, driver_pid: process.pid });
    await page.goto(`http://127.0.0.1:${port}/${html}?${query}`);
    return page;
}
