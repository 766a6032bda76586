#!/usr/bin/env bash
# End-to-end benchmark against Element's call engine: N calls each of js↔js (matrix-js-sdk in two
# headless Chromiums), mxcall→js and mxcall↔mxcall through one throw-away Synapse on 127.0.0.1, and
# a table of medians with ratios to js↔js (place → connected, place → first remote audio, CPU
# seconds per call-minute of all processes of the call, peak RSS per side).
#
#   scripts/bench-interop.sh [-n CALLS] [-d SECONDS] [--bin MXCALL] [--json]
#
#   -n CALLS     calls of each kind (default 3)
#   -d SECONDS   how long each call stays connected (default 10)
#   --bin PATH   the mxcall binary to measure (default: `cargo build --release`, then that binary)
#   --json       print one JSON object (medians and every run) instead of the table
#
# Needs what the tests need (scripts/install-deps.sh, scripts/install-interop.sh). Per-call lines
# go to stderr, the table to stdout. Not a test: it asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

calls=3 duration=10 bin="" json=()
while [ $# -gt 0 ]; do
    case "$1" in
        -n) calls=$2; shift 2 ;;
        -d) duration=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --json) json=(--json); shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-interop: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ -z "$bin" ]; then
    cargo build --release --locked --quiet
    bin="${CARGO_TARGET_DIR:-target}/release/mxcall"
fi
[ -x "$bin" ] || { echo "bench-interop: $bin is not an executable" >&2; exit 1; }
[ -d tests/interop/node_modules ] || { echo "bench-interop: run scripts/install-interop.sh first" >&2; exit 1; }
(cd tests/interop && node build.mjs)

scripts/synapse.sh install
hs_dir=$(mktemp -d "${TMPDIR:-/tmp}/mxcall-bench-hs.XXXXXX")
cleanup() { scripts/synapse.sh stop "$hs_dir" >/dev/null 2>&1 || true; rm -rf "$hs_dir"; }
trap cleanup EXIT
hs=$(scripts/synapse.sh start "$hs_dir")
echo "bench-interop: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); mxcall $("$bin" --version); $(/usr/bin/chromium --version 2>/dev/null)" >&2
node tests/interop/bench.mjs --hs "$hs" --mxcall "$(realpath "$bin")" --calls "$calls" --duration "$duration" "${json[@]}"
