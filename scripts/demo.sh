#!/usr/bin/env bash
# A real call, end to end, on this machine: installs what is missing, builds mxcall, starts a
# throw-away Synapse on 127.0.0.1, registers alice and bob, has alice call bob (alice sends a
# 440 Hz tone, bob an 880 Hz one), prints what each side heard, and cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*" >&2; }

say "installing system packages (if missing)"
scripts/install-deps.sh
say "installing Synapse (if missing)"
scripts/synapse.sh install
say "building mxcall"
cargo build --locked --quiet
mxcall=$(realpath "${CARGO_TARGET_DIR:-target}")/debug/mxcall

work=$(mktemp -d "${TMPDIR:-/tmp}/mxcall-demo.XXXXXX")
cleanup() { scripts/synapse.sh stop "$work/hs" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

say "starting a throw-away Synapse"
hs=$(scripts/synapse.sh start "$work/hs")
if scripts/call-pair.sh "$mxcall" "$hs" "$work"; then
    echo "demo: the call worked both ways" >&2
else
    echo "demo: FAILED" >&2
    exit 1
fi
