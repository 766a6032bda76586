#!/usr/bin/env bash
# Media engine benchmark: setup time, mouth-to-ear latency, CPU per minute of two-way audio and
# peak RSS, for two sessions over 127.0.0.1 (benches/media.rs, a release build).
# Arguments go to the benchmark, e.g. `scripts/bench-media.sh --cpu-secs 60`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --locked --bench media -- "$@"
