#!/usr/bin/env bash
# The test command: installs what is missing (system packages, Synapse, Chromium and the js peer
# for the interop tests unless MXCALL_SKIP_INTEROP=1, the LiveKit SFU for tests/livekit_sfu.rs
# unless MXCALL_SKIP_LIVEKIT=1 — a cold build takes about 5 minutes), starts a throw-away
# Synapse on 127.0.0.1, runs every test against it, and stops it again. Extra arguments go to
# `cargo test` (e.g. `scripts/test.sh --test login`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
if [ "${MXCALL_SKIP_INTEROP:-}" != 1 ]; then
    scripts/install-interop.sh
fi
if [ "${MXCALL_SKIP_LIVEKIT:-}" != 1 ]; then
    scripts/livekit.sh install
fi
scripts/synapse.sh install
hs_dir=$(mktemp -d "${TMPDIR:-/tmp}/mxcall-hs.XXXXXX")
cleanup() { scripts/synapse.sh stop "$hs_dir" || true; rm -rf "$hs_dir"; }
trap cleanup EXIT
MXCALL_TEST_HS=$(scripts/synapse.sh start "$hs_dir")
export MXCALL_TEST_HS
echo "test.sh: Synapse at $MXCALL_TEST_HS" >&2

cargo test --locked --no-fail-fast "$@"

# A short run of each fuzz target (scripts/fuzz.sh; nightly; skipped with a note without it).
if [ $# -eq 0 ] && [ "${MXCALL_SKIP_FUZZ:-}" != 1 ]; then
    scripts/fuzz.sh --seconds 10
fi

# The Debian package (a release build, ~15 min cold): built with cargo-deb and installed into a
# throw-away dpkg root. Only with the whole suite (no arguments); MXCALL_SKIP_PACKAGE=1 skips it.
if [ $# -eq 0 ] && [ "${MXCALL_SKIP_PACKAGE:-}" != 1 ]; then
    scripts/test-package.sh
fi
