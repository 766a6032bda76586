#!/usr/bin/env bash
# End-to-end benchmark against Element's call engines: N calls each of js↔js (two headless
# Chromiums), mxcall→js and mxcall↔mxcall through throw-away servers on 127.0.0.1, and a table of
# medians with ratios to js↔js (place → connected, place → first remote audio, CPU seconds per
# call-minute of all processes of the call, peak RSS per side) — one table for legacy calls
# (matrix-js-sdk's MatrixCall, one Synapse) and one for MatrixRTC (Element Call's engine:
# matrix-js-sdk's MatrixRTC session + livekit-client, on Synapse in its MatrixRTC configuration
# with livekit-server and the LiveKit JWT service).
#
#   scripts/bench-interop.sh [-n CALLS] [-d SECONDS] [--bin MXCALL] [--protocol P] [--json]
#                            [--compare MXCALL_B] [--mxcall-only]
#
#   -n CALLS     calls of each kind (default 3)
#   -d SECONDS   how long each call stays connected (default 10)
#   --bin PATH   the mxcall binary to measure (default: `cargo build --release`, then that binary)
#   --protocol P legacy, matrixrtc or both (default both)
#   --json       print one JSON object per protocol (medians and every run) instead of the tables
#   --compare B  also CALLS mxcall↔mxcall calls with the binary B (column "B↔B"), interleaved:
#                an A/B of two builds in one run (this machine's speed drifts between runs)
#   --mxcall-only  no js calls (ratios then to the first mxcall↔mxcall column); with --compare
#
# Needs what the tests need (scripts/install-deps.sh, scripts/install-interop.sh, and
# scripts/livekit.sh install for MatrixRTC). Per-call lines go to stderr, the tables to stdout.
# Not a test: it asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

calls=3 duration=10 bin="" json=() protocol=both extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        -n) calls=$2; shift 2 ;;
        -d) duration=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --json) json=(--json); shift ;;
        --protocol) protocol=$2; shift 2 ;;
        --compare) [ -x "$2" ] || { echo "bench-interop: $2 is not an executable" >&2; exit 1; }
                   extra+=(--mxcall-b "$(realpath "$2")"); shift 2 ;;
        --mxcall-only) extra+=(--mxcall-only); shift ;;
        -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

case "$protocol" in legacy|matrixrtc|both) ;; *) echo "bench-interop: --protocol legacy|matrixrtc|both" >&2; exit 2 ;; esac

scripts/synapse.sh install
[ "$protocol" = legacy ] || scripts/livekit.sh install
dir=$(mktemp -d "${TMPDIR:-/tmp}/mxcall-bench.XXXXXX")
cleanup() {
    scripts/livekit.sh stop "$dir/lk" >/dev/null 2>&1 || true
    for hs in "$dir"/hs*; do scripts/synapse.sh stop "$hs" >/dev/null 2>&1 || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
echo "bench-interop: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); mxcall $("$bin" --version); $(/usr/bin/chromium --version 2>/dev/null)" >&2
bench() { node tests/interop/bench.mjs --hs "$1" --mxcall "$(realpath "$bin")" --calls "$calls" --duration "$duration" "${json[@]}" "${extra[@]}" "${@:2}"; }

if [ "$protocol" != matrixrtc ]; then
    bench "$(scripts/synapse.sh start "$dir/hs-legacy")"
    scripts/synapse.sh stop "$dir/hs-legacy" >/dev/null 2>&1 || true
fi
if [ "$protocol" != legacy ]; then
    [ "$protocol" = matrixrtc ] || echo
    port=$(scripts/livekit.sh free-port)
    hs=$(MXCALL_HS_RTC_SERVICE_URL="http://127.0.0.1:$port" scripts/synapse.sh start "$dir/hs-rtc")
    scripts/livekit.sh start "$dir/lk" "$hs" >/dev/null
    bench "$hs" --rtc
fi
