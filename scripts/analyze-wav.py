#!/usr/bin/env python3
"""Prints the dominant frequency of a WAV recording and how much of it carries that tone.

Usage: analyze-wav.py FILE.wav [EXPECTED_HZ]
Exit status 1 if EXPECTED_HZ is given and the recording does not carry it (± 2 Hz, ≥ 90% of
20 ms frames after the first loud one). Standard library only, so the demo needs nothing else.
"""
import math
import struct
import sys
import wave


def goertzel(samples, rate, freq):
    w = 2 * math.pi * freq / rate
    coeff = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + coeff * s1 - s2
        s2, s1 = s1, s0
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / max(len(samples), 1)


def rms(frame):
    return math.sqrt(sum(x * x for x in frame) / max(len(frame), 1))


def main():
    path = sys.argv[1]
    expected = float(sys.argv[2]) if len(sys.argv) > 2 else None
    with wave.open(path) as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width != 2:
        sys.exit(f"{path}: expected 16-bit samples")
    data = struct.unpack(f"<{len(raw) // 2}h", raw)[::channels]
    samples = [x / 32768.0 for x in data]
    step = rate // 50
    frames = [samples[i:i + step] for i in range(0, len(samples) - step + 1, step)]
    loud = [f for f in frames if rms(f) > 0.01]
    if not loud:
        print(f"{path}: silence ({len(frames) * 20} ms)")
        sys.exit(1 if expected else 0)
    probe = [x for f in loud[:100] for x in f]
    coarse = max(range(100, 4000, 10), key=lambda f: goertzel(probe, rate, f))
    best = max(range(coarse - 10, coarse + 11), key=lambda f: goertzel(probe, rate, f))
    first = next(i for i, f in enumerate(frames) if rms(f) > 0.01)
    body = frames[first:max(first, len(frames) - 5)]
    good = sum(1 for f in body if rms(f) > 0.01
               and goertzel(f, rate, best) > 4 * goertzel(f, rate, best * 1.5)
               and goertzel(f, rate, best) > 4 * goertzel(f, rate, best / 1.5))
    share = good / max(len(body), 1)
    print(f"{path}: {best} Hz in {share:.0%} of {len(body) * 20 / 1000:.1f} s of audio")
    if expected is not None and (abs(best - expected) > 2 or share < 0.9):
        sys.exit(1)


if __name__ == "__main__":
    main()
