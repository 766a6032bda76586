#!/usr/bin/env bash
# Scale benchmark: K concurrent mxcall↔mxcall calls (2K processes) through one throw-away
# Synapse on 127.0.0.1, for each K of a list, and a table per K: setup median/p95, share of calls
# connected, share of received 20 ms frames that carried the right tone (less concealed ones),
# CPU per call-minute, total RSS and Synapse's CPU (scripts/bench-scale.py says how each is measured).
#
#   scripts/bench-scale.sh [-k 1,10,25,50] [-d SECONDS] [--bin MXCALL] [--json]
#
#   -k LIST      the numbers of concurrent calls (default 1,10,25,50)
#   -d SECONDS   how long each call stays connected (default 60)
#   --bin PATH   the mxcall binary to measure (default: `cargo build --release`, then that binary)
#   --json       one JSON object instead of the table
#
# Needs scripts/install-deps.sh (Synapse's Python). Progress goes to stderr, the table (Markdown,
# as in the README) to stdout. Not a test: it asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

ks=1,10,25,50 duration=60 bin="" json=()
while [ $# -gt 0 ]; do
    case "$1" in
        -k) ks=$2; shift 2 ;;
        -d) duration=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --json) json=(--json); shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-scale: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$bin" ]; then
    cargo build --release --locked --quiet
    bin="${CARGO_TARGET_DIR:-target}/release/mxcall"
fi
[ -x "$bin" ] || { echo "bench-scale: $bin is not an executable" >&2; exit 1; }

scripts/synapse.sh install
dir=$(mktemp -d "${TMPDIR:-/tmp}/mxcall-scale.XXXXXX")
cleanup() { scripts/synapse.sh stop "$dir/hs" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
# Enough open files for 2K processes' sockets and stores.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
hs=$(scripts/synapse.sh start "$dir/hs")
echo "bench-scale: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); mxcall $("$bin" --version)" >&2
python3 scripts/bench-scale.py --hs "$hs" --hs-pid "$(cat "$dir/hs/pid")" --mxcall "$(realpath "$bin")" \
    --calls "$ks" --duration "$duration" "${json[@]}"
