"""Test signals for the voice front end (tests/test_voice_denoise.py, tests/test_voice_vad.py).

Real speech: ``../shared/testdata/audio/jfk.flac`` (44.1 kHz stereo, 11 s, read in place), mixed to
mono at 48 kHz. Its recording has its own hiss at about -40 dBFS between phrases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from mirage_desktop.voice.resample import resample

RATE = 48000
FRAME = 480  # 10 ms


def jfk(testdata: Path, rate: int = RATE) -> np.ndarray:
    audio, sr = sf.read(testdata / "audio" / "jfk.flac", dtype="float32", always_2d=True)
    x = resample(audio.mean(axis=1), sr, rate)
    return x[: len(x) // FRAME * FRAME].astype(np.float32)


def frame_db(x: np.ndarray, frame: int = FRAME) -> np.ndarray:
    n = len(x) // frame
    f = x[: n * frame].reshape(n, frame).astype(np.float64)
    return 10.0 * np.log10(np.mean(f * f, axis=1) + 1e-12)


def db(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(10.0 * np.log10(np.mean(x * x) + 1e-12)) if len(x) else -120.0


def white(n: int, level_db: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (10 ** (level_db / 20) * rng.standard_normal(n)).astype(np.float32)


def pink(n: int, level_db: float, seed: int = 0) -> np.ndarray:
    """1/f noise (Paul Kellet's 3-pole filter on white noise), RMS ``level_db`` dBFS."""
    rng = np.random.default_rng(seed)
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1.0, -2.494956002, 2.017265875, -0.522189400]
    p = signal.lfilter(b, a, rng.standard_normal(n + RATE))[RATE:]
    return (10 ** (level_db / 20) * p / np.std(p)).astype(np.float32)


def keyboard_clicks(n: int, peak: float = 0.5, every_s: float = 0.1, seed: int = 0) -> np.ndarray:
    """Key presses: 2–8 ms band-passed (1.5–8 kHz) noise bursts with a fast decay, ~10 per second."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n, dtype=np.float32)
    b, a = signal.butter(2, [1500 / (RATE / 2), 8000 / (RATE / 2)], "band")
    t = int(0.05 * RATE)
    while t < n - 1000:
        length = int(rng.integers(2 * RATE // 1000, 8 * RATE // 1000))
        burst = signal.lfilter(b, a, rng.standard_normal(length) * np.exp(-np.arange(length) / (length / 5)))
        out[t : t + length] += (peak * burst / np.max(np.abs(burst))).astype(np.float32)
        t += int(RATE * every_s * rng.uniform(0.5, 1.5))
    return out


def breaths(n: int, level: float = 0.05, seed: int = 0) -> np.ndarray:
    """Breaths: 0.5–0.9 s of 300–3000 Hz noise under a smooth swell, one every 2 s."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n, dtype=np.float32)
    b, a = signal.butter(2, [300 / (RATE / 2), 3000 / (RATE / 2)], "band")
    for start in np.arange(0.5, n / RATE - 1.0, 2.0):
        length = int(RATE * rng.uniform(0.5, 0.9))
        env = np.sin(np.linspace(0, np.pi, length)) ** 2
        noise = signal.lfilter(b, a, rng.standard_normal(length))
        s = int(start * RATE)
        out[s : s + length] += (level * env * noise / np.std(noise)).astype(np.float32)
    return out


def word_onsets(x: np.ndarray, quiet_db: float = -34.0, loud_db: float = -30.0, min_quiet_s: float = 0.2):
    """Sample indices where a word starts after a pause: the first 10 ms frame above the pause's level
    (walked back from the first frame above ``loud_db`` to where the level left the floor)."""
    e = frame_db(x)
    onsets, quiet = [], 0
    for k, v in enumerate(e):
        if v < quiet_db:
            quiet += 1
            continue
        if quiet >= min_quiet_s * 100 and v > loud_db:
            start = k
            while start > 0 and e[start - 1] > quiet_db - 3:
                start -= 1
            onsets.append(start * FRAME)
        if v >= quiet_db:
            quiet = 0
    return onsets


def run_blocks(stage, x: np.ndarray, block: int = FRAME) -> np.ndarray:
    n = len(x) // block * block
    return np.concatenate([stage.process(x[i : i + block]) for i in range(0, n, block)])


def max_step(x: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(x)))) if len(x) > 1 else 0.0
