#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (see fuzz/Cargo.toml and each target's header) and prints
# one line per target:
#   jitter_buffer   the jitter buffer fed arbitrary RTP streams and playout ticks
#   dtmf_receiver   the DTMF receiver fed arbitrary telephone-event payloads
#   call_event      the m.call.* content parser (every call event type, SDP stream metadata,
#                   candidates): raw JSON, valid contents with arbitrary values, our own contents
#   call_machine    the call signalling machine fed arbitrary sequences of remote events (peer,
#                   ourselves, strangers), commands, media reports and timeouts
#   rtc_parse       the MatrixRTC membership, ring notification and decline parsers
#   rtc_machine     the MatrixRTC call machine fed arbitrary events, commands, send results and
#                   timeouts (a twin without the strangers' events must say the same)
#
#   scripts/fuzz.sh                 10^6 inputs per target (the README's figure)
#   scripts/fuzz.sh --runs N        N inputs per target
#   scripts/fuzz.sh --seconds S     S seconds per target (what the test command runs)
#
# Needs a nightly toolchain (rustup's `nightly`); cargo-fuzz is installed into .cache/tools
# (ignored) on first use. Exit status: 0 when no target found a crash; a crash leaves its input
# in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=(-runs=1000000)
case "${1:-}" in
    --runs) limit=("-runs=$2") ;;
    --seconds) limit=("-max_total_time=$2") ;;
    "") ;;
    *) echo "usage: scripts/fuzz.sh [--runs N | --seconds S]" >&2; exit 2 ;;
esac

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz.sh: SKIPPED: no nightly toolchain (rustup toolchain install nightly)" >&2
    exit 0
fi
tools="$PWD/.cache/tools"
if ! [ -x "$tools/bin/cargo-fuzz" ]; then
    echo "fuzz.sh: installing cargo-fuzz into $tools" >&2
    if ! cargo install --quiet --locked --root "$tools" cargo-fuzz@0.13.2; then
        echo "fuzz.sh: SKIPPED: cargo-fuzz could not be installed (see above)" >&2
        exit 0
    fi
fi
export PATH="$tools/bin:$PATH"

cargo +nightly fuzz build >/dev/null 2>&1 || cargo +nightly fuzz build
status=0
for target in $(cargo +nightly fuzz list); do
    log=$(mktemp)
    start=$(date +%s)
    # Inputs that once crashed a target (committed) run first, with the generated corpus.
    corpora=("fuzz/corpus/$target")
    mkdir -p "fuzz/corpus/$target"
    [ -d "fuzz/regressions/$target" ] && corpora+=("fuzz/regressions/$target")
    if cargo +nightly fuzz run "$target" "${corpora[@]}" -- "${limit[@]}" -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result="CRASH (see fuzz/artifacts/$target/)"
        status=1
        tail -30 "$log" >&2
    fi
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    echo "fuzz: $target: ${runs:-?} inputs in $(( $(date +%s) - start )) s: $result"
    rm -f "$log"
done
exit $status
