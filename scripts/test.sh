#!/usr/bin/env bash
# The test command: installs what is missing (system packages, Synapse), starts a throw-away
# Synapse on 127.0.0.1, runs every test against it, and stops it again. Extra arguments go to
# `cargo test` (e.g. `scripts/test.sh --test login`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/synapse.sh install
hs_dir=$(mktemp -d "${TMPDIR:-/tmp}/mxcall-hs.XXXXXX")
cleanup() { scripts/synapse.sh stop "$hs_dir" || true; rm -rf "$hs_dir"; }
trap cleanup EXIT
MXCALL_TEST_HS=$(scripts/synapse.sh start "$hs_dir")
export MXCALL_TEST_HS
echo "test.sh: Synapse at $MXCALL_TEST_HS" >&2

cargo test --locked --no-fail-fast "$@"
