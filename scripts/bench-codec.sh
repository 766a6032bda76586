#!/usr/bin/env bash
# Codec benchmark: the Opus encoder settings mxcall could use, scored for speech quality and CPU,
# with the libopus mxcall links (the copy `opusic-sys` built under target/). For each complexity
# and widest band it encodes and decodes the speech of /usr/share/sounds/alsa (48 kHz mono,
# 32 kbit/s, 20 ms frames, VOIP, FEC allowed but planned for 0% loss, DTX off: src/media/codec.rs),
# and prints PESQ-WB (ITU-T P.862.2: the band up to 8 kHz, 1.04–4.64) and the encoder's CPU in
# percent of a core, with each setting's ratio to mxcall's own (read from src/media/codec.rs).
#
#   scripts/bench-codec.sh [-c 0,1,2,3,5,9] [-b FB,WB]
#
# Needs a build of mxcall (any profile) for libopus, a C compiler, python3-venv and the
# alsa-utils sample sounds; installs pesq, numpy and scipy into .tmp/bench-codec-venv.
# Not a test: it asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
lib=$(ls -t target/*/build/opusic-sys-*/out/lib/libopus.a 2>/dev/null | head -1 || true)
if [ -z "$lib" ]; then
    echo "bench-codec: no libopus.a under target/: build mxcall first (cargo build --release)" >&2
    exit 1
fi
ls /usr/share/sounds/alsa/*.wav >/dev/null 2>&1 ||
    { echo "bench-codec: no speech samples in /usr/share/sounds/alsa (Debian: alsa-utils)" >&2; exit 1; }
out=.tmp/bench-codec
venv=.tmp/bench-codec-venv
mkdir -p "$out"
cc -shared -o "$out/libopus.so" -Wl,--whole-archive "$lib" -Wl,--no-whole-archive -lm
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q pesq==0.0.4 numpy==2.4.6 scipy==1.17.1 >&2
fi
exec "$venv/bin/python" scripts/bench-codec.py "$out/libopus.so" "$@"
