#!/usr/bin/env bash
# Installs what the interop tests (tests/interop.rs) and scripts/bench-interop.sh need:
# Debian's chromium (and node/npm where missing) through apt — as root, or with sudo available —
# and the js peer's npm packages from the committed lock file (npm ci in tests/interop).
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed" || missing+=(chromium)
# node and npm may come from elsewhere (e.g. a newer nodejs that bundles npm): only the commands count.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-interop: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "install-interop: chromium, node and npm present" >&2
fi

cd tests/interop
# Current: npm's record of the install is newer than the lock file (git gives a changed lock file a
# new mtime), and every dependency of package.json is installed at its pinned version (a copied or
# restored tree may keep an old node_modules with new mtimes).
pinned_installed() {
    node -e '
        const fs = require("fs");
        const deps = JSON.parse(fs.readFileSync("package.json", "utf8")).dependencies ?? {};
        for (const [name, want] of Object.entries(deps)) {
            let have;
            try { have = JSON.parse(fs.readFileSync(`node_modules/${name}/package.json`, "utf8")).version; } catch {}
            if (have !== want) { console.error(`install-interop: ${name} ${have ?? "missing"}, package.json pins ${want}`); process.exit(1); }
        }'
}
if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] && pinned_installed; then
    echo "install-interop: tests/interop/node_modules is current" >&2
else
    echo "install-interop: npm ci in tests/interop (node $(node --version), npm $(npm --version))" >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
fi
