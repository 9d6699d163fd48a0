"""Loopback latency probe: plays clicks and records them back through ONE duplex stream of its own.

Run it in its own process (`python -m mirage_desktop.voice.probe`) with PULSE_SINK / PULSE_SOURCE set:
one process per stream is what PortAudio through PulseAudio handled reliably here. Each click's
round-trip lag is found by cross-correlation, so the numbers are measured, not estimated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

RATE = 48000


def click_train(seconds: float, period_s: float = 0.5) -> tuple[np.ndarray, list[int]]:
    signal_ = np.zeros(int(seconds * RATE), dtype=np.float32)
    t = np.arange(int(0.01 * RATE)) / RATE
    # A short 1 kHz burst with a Hann envelope: survives pitch shifting and gates, easy to locate.
    burst = (0.5 * np.sin(2 * np.pi * 1000 * t) * np.hanning(len(t))).astype(np.float32)
    starts = list(range(int(0.5 * RATE), len(signal_) - int(period_s * RATE), int(period_s * RATE)))
    for s in starts:
        signal_[s : s + len(burst)] = burst
    return signal_, starts


def measure(seconds: float, max_lag_s: float = 0.45) -> dict:
    import sounddevice as sd

    stim, ref_starts = click_train(seconds)
    rec = np.zeros(len(stim) + RATE, dtype=np.float32)
    pos = {"play": 0, "rec": 0, "calls": 0}

    def callback(indata, outdata, frames, time_info, status):
        pos["calls"] += 1
        p = pos["play"]
        n = max(0, min(frames, len(stim) - p))
        outdata[:n, 0] = stim[p : p + n]
        outdata[n:, 0] = 0
        pos["play"] = p + frames
        r = pos["rec"]
        m = max(0, min(frames, len(rec) - r))
        rec[r : r + m] = indata[:m, 0]
        pos["rec"] = r + frames

    for _attempt in range(3):
        pos.update(play=0, rec=0, calls=0)
        with sd.Stream(
            device=("pulse", "pulse"),
            samplerate=RATE,
            blocksize=480,
            channels=1,
            dtype="float32",
            latency=0.03,
            callback=callback,
        ) as stream:
            deadline = time.monotonic() + 4
            while pos["calls"] == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            if pos["calls"] == 0:
                continue
            io_latency = stream.latency
            end = time.monotonic() + seconds + 1.0
            last, last_t = -1, time.monotonic()
            while time.monotonic() < end:
                time.sleep(0.05)
                if pos["calls"] != last:
                    last, last_t = pos["calls"], time.monotonic()
                elif time.monotonic() - last_t > 0.5:
                    break
            if pos["play"] < len(stim):
                continue  # stalled mid-way: measure again rather than report a broken run
        lags = []
        burst = stim[ref_starts[0] : ref_starts[0] + int(0.01 * RATE)]
        for s in ref_starts:
            seg = rec[s : s + int(max_lag_s * RATE) + len(burst)]
            if np.max(np.abs(seg)) < 0.02:
                continue
            corr = np.abs(np.correlate(seg, burst, mode="valid"))
            lags.append(float(np.argmax(corr)) / RATE * 1000)
        return {
            "lags_ms": lags,
            "clicks": len(ref_starts),
            "stream_latency_ms": [x * 1000 for x in io_latency],
        }
    return {"error": "the probe stream did not run (no callbacks or stalled, 3 tries)"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
