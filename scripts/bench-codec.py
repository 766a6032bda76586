"""Opus settings for speech: PESQ-WB and encoder CPU per complexity and widest band.

Run by scripts/bench-codec.sh, which builds LIBOPUS (a shared copy of the libopus mxcall links).
Each utterance of /usr/share/sounds/alsa (but Noise.wav) is resampled to 48 kHz, encoded and
decoded frame by frame; the reference and the decoded audio are resampled to 16 kHz (the decoded
one shifted by the codec's delay) and scored with PESQ in wideband mode. CPU is the encoder's
process time over the audio's duration, the best of three passes.
"""
import argparse
import ctypes
import glob
import re
import time
import wave

import numpy as np
from pesq import pesq
from scipy.signal import resample_poly

OPUS_APPLICATION_VOIP = 2048
SET_BITRATE, SET_MAX_BANDWIDTH, SET_COMPLEXITY = 4002, 4004, 4010
SET_INBAND_FEC, SET_PACKET_LOSS_PERC, SET_DTX = 4012, 4014, 4016
GET_LOOKAHEAD = 4027
BANDWIDTH = {"NB": 1101, "MB": 1102, "WB": 1103, "SWB": 1104, "FB": 1105}
FRAME = 960  # 20 ms at 48 kHz
OPUS_BANDWIDTH = {"Narrowband": "NB", "Mediumband": "MB", "Wideband": "WB", "Superwideband": "SWB", "Fullband": "FB"}


def chosen(path="src/media/codec.rs"):
    """mxcall's own setting, (complexity, band), read from the encoder's constants."""
    src = open(path).read()
    complexity = re.search(r"const COMPLEXITY: i32 = (\d+);", src)
    band = re.search(r"const MAX_BANDWIDTH: opus::Bandwidth = opus::Bandwidth::(\w+);", src)
    if not complexity or not band or band.group(1) not in OPUS_BANDWIDTH:
        raise SystemExit(f"bench-codec: cannot read the encoder's setting from {path}")
    return int(complexity.group(1)), OPUS_BANDWIDTH[band.group(1)]


def load(lib_path):
    lib = ctypes.CDLL(lib_path)
    lib.opus_encoder_create.restype = ctypes.c_void_p
    lib.opus_decoder_create.restype = ctypes.c_void_p
    lib.opus_encode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    lib.opus_decode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.opus_get_version_string.restype = ctypes.c_char_p
    return lib


def speech():
    out = []
    for path in sorted(glob.glob("/usr/share/sounds/alsa/*.wav")):
        if "Noise" in path:
            continue
        w = wave.open(path)
        if w.getsampwidth() != 2:
            continue
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)[:: w.getnchannels()]
        pcm = resample_poly(pcm.astype(np.float64), 48000, w.getframerate())
        out.append(np.clip(pcm, -32768, 32767).astype(np.int16))
    return out


def encoder(lib, complexity, band):
    err = ctypes.c_int()
    enc = ctypes.c_void_p(lib.opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, ctypes.byref(err)))
    for ctl, value in ((SET_BITRATE, 32000), (SET_COMPLEXITY, complexity), (SET_INBAND_FEC, 1),
                       (SET_PACKET_LOSS_PERC, 0), (SET_DTX, 0), (SET_MAX_BANDWIDTH, BANDWIDTH[band])):
        if lib.opus_encoder_ctl(enc, ctl, ctypes.c_int(value)) != 0:
            raise SystemExit(f"bench-codec: libopus refused ctl {ctl}={value}")
    return enc


def run(lib, utterances, complexity, band):
    scores, cpu, seconds = [], 0.0, 0.0
    packet = (ctypes.c_ubyte * 1500)()
    for pcm in utterances:
        n = len(pcm) // FRAME * FRAME
        frames = [np.ascontiguousarray(pcm[i:i + FRAME]) for i in range(0, n, FRAME)]
        frames += [np.zeros(FRAME, np.int16)] * 2  # flush the codec's delay
        best = None
        for _ in range(3):
            enc = encoder(lib, complexity, band)
            packets = []
            start = time.process_time()
            for f in frames:
                length = lib.opus_encode(enc, f.ctypes.data, FRAME, packet, 1500)
                packets.append(bytes(packet[:length]))
            took = time.process_time() - start
            best = took if best is None else min(best, took)
            delay = ctypes.c_int()
            lib.opus_encoder_ctl(enc, GET_LOOKAHEAD, ctypes.byref(delay))
            lib.opus_encoder_destroy(enc)
        err = ctypes.c_int()
        dec = ctypes.c_void_p(lib.opus_decoder_create(48000, 1, ctypes.byref(err)))
        decoded = np.zeros(len(frames) * FRAME, np.int16)
        out = np.zeros(FRAME, np.int16)
        for i, p in enumerate(packets):
            lib.opus_decode(dec, p, len(p), out.ctypes.data, FRAME, 0)
            decoded[i * FRAME:(i + 1) * FRAME] = out
        lib.opus_decoder_destroy(dec)
        decoded = decoded[delay.value:delay.value + n]
        ref16 = resample_poly(pcm[:n].astype(np.float64), 1, 3)
        deg16 = resample_poly(decoded.astype(np.float64), 1, 3)
        scores.append(pesq(16000, ref16, deg16, "wb"))
        cpu += best
        seconds += n / 48000
    return float(np.mean(scores)), float(np.min(scores)), 100 * cpu / seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("libopus")
    ap.add_argument("-c", default="0,1,2,3,5,9", help="complexities")
    ap.add_argument("-b", default="FB,WB", help="widest bands (FB = libopus's own choice)")
    args = ap.parse_args()
    lib = load(args.libopus)
    utterances = speech()
    mine = chosen()
    settings = [(int(c), b) for c in args.c.split(",") for b in args.b.split(",")]
    if mine not in settings:
        settings.append(mine)
    results = {s: run(lib, utterances, *s) for s in settings}
    base = results[mine]
    secs = sum(len(u) for u in utterances) / 48000
    print(f"{lib.opus_get_version_string().decode()}, 32 kbit/s, 20 ms frames; "
          f"{len(utterances)} utterances, {secs:.1f} s of speech; (×) = ratio to complexity {mine[0]}, {mine[1]}")
    print(f"{'complexity':>10} {'band':>4}  {'PESQ-WB mean':>12} {'min':>6}  {'encoder % core':>18}")
    for (c, b), (mean, low, cpu) in results.items():
        mark = "  ← mxcall" if (c, b) == mine else ""
        print(f"{c:>10} {b:>4}  {mean:>12.3f} {low:>6.3f}  {cpu:>7.2f} ({cpu / base[2]:.2f}×){mark}")


if __name__ == "__main__":
    main()
