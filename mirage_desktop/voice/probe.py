"""Loopback latency probe: what the voice path adds between the microphone and the virtual microphone.

It plays a click train into a sink that acts as the microphone and records, at the same time, that
sink's monitor (the reference: what the "mic" delivered) and the virtual microphone (what a call
app receives). Every fragment read is stamped with the server's own latency figure, so both
recordings are placed on one clock and each click's lag is reference-to-output, measured by
cross-correlating envelopes (so pitch shifting does not hide the click). No PortAudio is involved:
the probe cannot add drift of its own, and ``--self-check`` (output = the reference source) must
give ~0 ms.

Run it in its own process, like a call app would be: ``python -m mirage_desktop.voice.probe
--sink MIC_SINK --output mirage_mic --seconds 20``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import numpy as np

RATE = 48000
_FRAGMENT = 480
_BURST_S = 0.01


def click_train(seconds: float) -> tuple[np.ndarray, list[int]]:
    """Clicks 0.4-0.6 s apart in a pattern that repeats only every 2.5 s, so a lag up to 2 s is found
    without the ambiguity of an even train (where 514 ms reads as 14 ms)."""
    signal_ = np.zeros(int(seconds * RATE), dtype=np.float32)
    t = np.arange(int(_BURST_S * RATE)) / RATE
    # A short 1 kHz burst with a Hann envelope: survives pitch shifting and gates, easy to locate.
    burst = (0.5 * np.sin(2 * np.pi * 1000 * t) * np.hanning(len(t))).astype(np.float32)
    starts = []
    pos, k = int(0.5 * RATE), 0
    while pos + int(0.6 * RATE) < len(signal_):
        starts.append(pos)
        signal_[pos : pos + len(burst)] = burst
        pos += int((0.4 + 0.05 * ((k * 3) % 5)) * RATE)
        k += 1
    return signal_, starts


class _StampedRecorder(threading.Thread):
    """Records one source; after each read notes (samples so far, monotonic time, server latency)."""

    def __init__(self, source: str, seconds: float) -> None:
        super().__init__(daemon=True)
        from mirage_desktop.voice.pulse_simple import PA_STREAM_RECORD, PulseSimpleStream

        self.stream = PulseSimpleStream(
            PA_STREAM_RECORD, source, RATE, app_name="Mirage probe", stream_name=f"probe {source}"
        )
        self.audio = np.zeros(int((seconds + 4) * RATE), dtype=np.float32)
        self.stamps: list[tuple[int, float, float]] = []
        self.stop = threading.Event()
        self.error = ""

    def run(self) -> None:
        pos = 0
        try:
            while not self.stop.is_set() and pos + _FRAGMENT <= len(self.audio):
                view = self.audio[pos : pos + _FRAGMENT]
                self.stream.read(view)
                now = time.monotonic()
                pos += _FRAGMENT
                self.stamps.append((pos, now, self.stream.latency_s()))
        except Exception as exc:
            self.error = str(exc)
        finally:
            self.samples = pos

    def start_time(self) -> float:
        """Monotonic time of sample 0: the median over fragments of (read time - latency - index/rate)."""
        values = [t - lat - pos / RATE for pos, t, lat in self.stamps[20:] if np.isfinite(lat)]
        return float(np.median(values))


def _envelope(x: np.ndarray) -> np.ndarray:
    win = np.ones(int(0.002 * RATE), dtype=np.float32)
    return np.convolve(np.abs(x), win / len(win), mode="same")


def _onsets(env: np.ndarray, threshold: float, min_gap: int) -> list[int]:
    above = np.flatnonzero(env > threshold)
    out: list[int] = []
    for i in above:
        if not out or i - out[-1] > min_gap:
            out.append(int(i))
    return out


def measure(sink: str, reference: str, output: str, seconds: float, max_lag_s: float = 2.0) -> dict:
    from mirage_desktop.voice.pulse_simple import PA_STREAM_PLAYBACK, PulseSimpleStream

    stim, starts = click_train(seconds)
    ref = _StampedRecorder(reference, seconds)
    out = _StampedRecorder(output, seconds)
    player = PulseSimpleStream(PA_STREAM_PLAYBACK, sink, RATE, app_name="Mirage probe", buffer_s=0.05)
    try:
        ref.start()
        out.start()
        time.sleep(0.5)
        for pos in range(0, len(stim), _FRAGMENT):
            player.write(stim[pos : pos + _FRAGMENT])
        time.sleep(max_lag_s + 0.5)
    finally:
        ref.stop.set()
        out.stop.set()
        ref.join(3)
        out.join(3)
        player.close()
        ref.stream.close()
        out.stream.close()
    if ref.error or out.error:
        return {"error": ref.error or out.error}
    offset = out.start_time() - ref.start_time()  # seconds between the two recordings' sample 0
    shift = round(offset * RATE)  # reference index i is output index i - shift
    env_ref, env_out = _envelope(ref.audio[: ref.samples]), _envelope(out.audio[: out.samples])
    peak = float(env_ref.max()) if len(env_ref) else 0.0
    if peak <= 0:
        return {"error": "the reference recording is silent: the probe's clicks never reached the mic sink"}
    clicks = _onsets(env_ref, 0.3 * peak, int(0.2 * RATE))
    # 1) one lag for the whole run, from the irregular pattern (unambiguous up to max_lag_s)
    decim = 48  # 1 ms resolution is plenty for the coarse search
    coarse_ref = env_ref[::decim]
    index = np.arange(len(coarse_ref)) * decim - shift  # the same instants in the output recording
    valid = (index >= 0) & (index < len(env_out))
    aligned = np.zeros_like(coarse_ref)
    aligned[valid] = env_out[index[valid]]
    max_lag = int(max_lag_s * RATE / decim)
    from scipy import signal

    full = signal.correlate(aligned, coarse_ref, mode="full", method="fft")
    scores = full[len(coarse_ref) - 1 : len(coarse_ref) - 1 + max_lag]  # output later than reference by k
    if not len(scores) or scores.max() <= 0:
        return {"error": "no click came out of the virtual microphone", "clicks": len(starts)}
    expected = int(np.argmax(scores)) * decim
    # 2) each click on its own, tracked within +-60 ms of the previous one (so drift shows)
    width = int(2 * _BURST_S * RATE)
    window = int(0.06 * RATE)
    lags = []
    for onset in clicks:
        template = env_ref[max(0, onset - width // 2) : onset + width]
        start = onset - width // 2 - shift + expected - window
        seg = env_out[max(0, start) : start + 2 * window + len(template)]
        if len(seg) < len(template) or seg.max() < 0.2 * template.max():
            continue
        corr = np.correlate(seg, template, mode="valid")
        lag_samples = expected - window + int(np.argmax(corr)) + max(0, start) - start
        lags.append(lag_samples / RATE * 1000)
        expected = lag_samples
    return {
        "lags_ms": lags,
        "clicks": len(starts),
        "clicks_in_reference": len(clicks),
        "offset_ms": round(offset * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sink", required=True, help="the sink acting as the microphone")
    parser.add_argument("--output", help="the source to measure (default: the sink's monitor)")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    reference = f"{args.sink}.monitor"
    print(json.dumps(measure(args.sink, reference, args.output or reference, args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
