// Bundles the pages into dist/: src/page.js (matrix-js-sdk's MatrixCall, for peer.mjs) into
// dist/page.js behind dist/index.html, and src/rtc-page.js (a MatrixRTC session with livekit-client,
// as Element Call, for rtc-peer.mjs) into dist/rtc-page.js behind dist/rtc.html. Run by the tests
// and the benchmark before the first peer starts; dist/ is not committed.
//
// matrix-js-sdk's Rust crypto is @matrix-org/matrix-sdk-crypto-wasm. Its browser entry (index.mjs)
// fetches its .wasm at run time from `new URL("./pkg/matrix_sdk_crypto_wasm_bg.wasm",
// import.meta.url)`; esbuild keeps import.meta.url in the ESM bundle, so that is
// pkg/matrix_sdk_crypto_wasm_bg.wasm next to dist/page.js, where we copy the very .wasm of the
// bundled glue code (the two must come from the same package version).
//
// rtc-page.js's E2EE (--e2ee) needs livekit-client's E2EE worker: its `livekit-client/e2ee-worker`
// export (the ES module Element Call bundles with Vite's `?worker&inline`), copied as is to
// dist/e2ee-worker.js and started as a module worker.
import * as esbuild from "esbuild";
import { mkdirSync, copyFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, "dist/pkg"), { recursive: true });
const { metafile } = await esbuild.build({
    entryPoints: [join(here, "src/page.js"), join(here, "src/rtc-page.js")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "chrome120",
    outdir: join(here, "dist"),
    logLevel: "warning",
    metafile: true,
    define: { "process.env.NODE_ENV": '"production"' },
});
const glue = Object.keys(metafile.inputs).find((p) => /matrix-sdk-crypto-wasm\/index\.mjs$/.test(p));
if (!glue) throw new Error("build.mjs: the bundle has no @matrix-org/matrix-sdk-crypto-wasm/index.mjs");
const WASM = "pkg/matrix_sdk_crypto_wasm_bg.wasm";
copyFileSync(join(dirname(glue), WASM), join(here, "dist", WASM));
copyFileSync(join(here, "src/page.html"), join(here, "dist/index.html"));
copyFileSync(join(here, "src/rtc-page.html"), join(here, "dist/rtc.html"));
copyFileSync(fileURLToPath(import.meta.resolve("livekit-client/e2ee-worker")), join(here, "dist/e2ee-worker.js"));
