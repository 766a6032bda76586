// Bundles src/page.js (with matrix-js-sdk) into dist/page.js. Run by the tests and the benchmark
// before the first peer starts; dist/ is not committed.
import * as esbuild from "esbuild";
import { mkdirSync, copyFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, "dist"), { recursive: true });
await esbuild.build({
    entryPoints: [join(here, "src/page.js")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "chrome120",
    outfile: join(here, "dist/page.js"),
    logLevel: "warning",
    define: { "process.env.NODE_ENV": '"production"' },
});
copyFileSync(join(here, "src/page.html"), join(here, "dist/index.html"));
