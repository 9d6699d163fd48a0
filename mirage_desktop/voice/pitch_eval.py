"""Judging a pitch changer: generated test voices, two independent F0 estimators, and the comparison.

Used by ``scripts/bench_voice.py --pitch-accuracy`` and ``tests/test_voice_pitch_accuracy.py``.

- Voices: espeak-ng speech at several pitches and sox-synthesised vowels (sawtooth through formant
  peaks, slow glide), each at a known median F0; ``jfk.flac`` is the real-speech case.
- Estimators: Praat's autocorrelation pitch (parselmouth, a dev dependency) and a plain YIN written here,
  independent of the converter's own tracker. Each analyses input and output with the same settings:
  the input's F0 range joined with that range times the requested ratio.
- Comparison: output aligned to input by amplitude envelope, then per 10 ms frame voiced in both,
  ``1200·log2(f_out/f_in)``; the median is the measured interval. Voiced-frame change counts every
  voiced frame of each signal, so lost (or invented) voicing shows up.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from mirage_desktop.voice.resample import resample

HOP_S = 0.01
TEXT = "Hello, this is a test of the Mirage voice conversion pipeline. How are you today?"


def have_tools() -> list[str]:
    """Names of the missing command-line tools (espeak-ng, sox) the generated voices need."""
    return [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]


def _read(path: Path, rate: int) -> np.ndarray:
    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(audio.mean(axis=1), sr, rate)


def espeak_voice(voice: str, rate: int, pitch: int | None = None, text: str = TEXT) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "v.wav"
        cmd = ["espeak-ng", "-v", voice, "-w", str(out)]
        if pitch is not None:
            cmd += ["-p", str(pitch)]
        subprocess.run([*cmd, text], check=True, capture_output=True, timeout=60)
        x = _read(out, rate)
    return (0.5 * x / max(1e-6, float(np.max(np.abs(x))))).astype(np.float32)


def sox_vowel(f0: float, rate: int, seconds: float = 2.0) -> np.ndarray:
    """A sawtooth gliding ±4 % around ``f0`` through /a/-like formant peaks, with fades."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "v.wav"
        cmd = ["sox", "-n", "-r", str(rate), "-b", "16", "-c", "1", str(out)]
        cmd += ["synth", f"{seconds}", "sawtooth", f"{0.96 * f0:.2f}:{1.04 * f0:.2f}"]
        cmd += ["equalizer", "700", "2q", "18", "equalizer", "1220", "3q", "12"]
        cmd += ["equalizer", "2600", "4q", "8", "lowpass", "5000", "fade", "0.05", f"{seconds}", "0.05"]
        cmd += ["gain", "-n", "-6"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        return _read(out, rate)


def test_voices(rate: int, testdata: Path | None = None, quick: bool = False) -> dict[str, np.ndarray]:
    """Name -> mono float32 at ``rate``. ``quick``: a smaller set (the test's)."""
    voices: dict[str, np.ndarray] = {}
    voices["espeak en-us"] = espeak_voice("en-us", rate)
    voices["espeak en-us+f3"] = espeak_voice("en-us+f3", rate)
    if not quick:
        voices["espeak en-us low"] = espeak_voice("en-us", rate, pitch=25)
        voices["espeak en-us+f3 high"] = espeak_voice("en-us+f3", rate, pitch=90)
    for f0 in (80, 150, 300) if not quick else (80, 300):
        voices[f"sox vowel {f0} Hz"] = sox_vowel(f0, rate)
    if testdata is not None:
        voices["jfk.flac"] = _read(testdata / "audio" / "jfk.flac", rate)
    return voices


# --- estimators -------------------------------------------------------------------------------------


def praat_f0(x: np.ndarray, rate: int, floor: float, ceiling: float) -> np.ndarray:
    """Praat's autocorrelation pitch (To Pitch (ac)), one value per HOP_S from t=0 (0 = unvoiced)."""
    import parselmouth

    snd = parselmouth.Sound(np.asarray(x, dtype=np.float64), sampling_frequency=rate)
    pitch = snd.to_pitch_ac(time_step=HOP_S, pitch_floor=floor, pitch_ceiling=ceiling)
    f = pitch.selected_array["frequency"]
    return _on_grid(pitch.xs(), f, len(x) / rate)


def _on_grid(times: np.ndarray, f: np.ndarray, duration: float) -> np.ndarray:
    grid = np.zeros(int(duration / HOP_S))
    idx = np.round(np.asarray(times) / HOP_S).astype(int)
    ok = (idx >= 0) & (idx < len(grid))
    grid[idx[ok]] = f[ok]
    return grid


def yin_f0(
    x: np.ndarray, rate: int, floor: float, ceiling: float, threshold: float = 0.3, silence_db: float = 30.0
) -> np.ndarray:
    """YIN (de Cheveigné & Kawahara 2002): difference function, cumulative-mean normalisation, absolute
    threshold, parabolic refinement. Frames of 2.5 periods of ``floor``; one value per HOP_S. Frames more
    than ``silence_db`` below the file's mean level are unvoiced."""
    x = np.asarray(x, dtype=np.float64)
    w = int(3 * rate / floor / 2)  # integration window: 1.5 periods of the floor
    maxlag = int(rate / floor) + 1
    minlag = max(2, int(rate / ceiling))
    hop = int(HOP_S * rate)
    frame = w + maxlag
    n_frames = int(len(x) / rate / HOP_S)
    pad = np.concatenate([np.zeros(frame // 2), x, np.zeros(frame)])
    starts = np.arange(n_frames) * hop  # frame i is centred on i*hop in x
    frames = np.stack([pad[s : s + frame] for s in starts])
    nfft = 1 << int(np.ceil(np.log2(2 * frame)))
    spec = np.conj(np.fft.rfft(frames[:, :w], nfft)) * np.fft.rfft(frames, nfft)
    r = np.fft.irfft(spec, nfft)[:, : maxlag + 1]
    c = np.concatenate([np.zeros((n_frames, 1)), np.cumsum(frames * frames, axis=1)], axis=1)
    taus = np.arange(maxlag + 1)
    d = c[:, w : w + 1] + (c[:, taus + w] - c[:, taus]) - 2 * r
    d[:, 0] = 0
    d = np.maximum(d, 0)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * taus[1:] / np.maximum(np.cumsum(d[:, 1:], axis=1), 1e-12)
    level = 10 * np.log10(c[:, w] / w + 1e-12)
    loud = level > 10 * np.log10(np.mean(x * x) + 1e-12) - silence_db
    f0 = np.zeros(n_frames)
    for i in np.flatnonzero(loud):
        row = cmnd[i]
        cand = np.flatnonzero(row[minlag:maxlag] < threshold)
        if len(cand) == 0:
            continue
        t = int(cand[0]) + minlag
        while t + 1 < maxlag and row[t + 1] < row[t]:
            t += 1
        a, b, cc = row[t - 1], row[t], row[t + 1]
        den = a - 2 * b + cc
        shift = 0.5 * (a - cc) / den if den > 0 else 0.0
        f0[i] = rate / (t + shift)
    return f0


ESTIMATORS = {"praat": praat_f0, "yin": yin_f0}


# --- comparison -------------------------------------------------------------------------------------


def align_delay(out: np.ndarray, ref: np.ndarray, rate: int, max_s: float = 0.2) -> int:
    """Samples by which ``out`` lags ``ref``, from the cross-correlation of 1 ms amplitude envelopes."""
    step = rate // 1000

    def env(a: np.ndarray) -> np.ndarray:
        n = len(a) // step
        e = np.sqrt(np.mean(a[: n * step].reshape(n, step) ** 2, axis=1))
        return e - e.mean()

    eo, er = env(out), env(ref)
    most = int(max_s * 1000)
    n = min(len(eo), len(er)) - most
    scores = [float(np.dot(eo[d : d + n], er[:n])) for d in range(most + 1)]
    return int(np.argmax(scores)) * step


@dataclass
class Accuracy:
    voice: str
    semitones: float
    estimator: str
    median_in_hz: float
    measured_cents: float
    voiced_change_pct: float
    frames_compared: int

    @property
    def error_cents(self) -> float:
        return self.measured_cents - 100 * self.semitones


def input_range(x: np.ndarray, rate: int) -> tuple[float, float, float]:
    """(median F0, floor, ceiling) of a voice, from a broad Praat-free YIN pass."""
    f = yin_f0(x, rate, 50.0, 700.0)
    med = float(np.median(f[f > 0])) if np.any(f > 0) else 150.0
    return med, max(35.0, med / 2.0), min(900.0, med * 2.2)


def measure(
    x: np.ndarray, y: np.ndarray, rate: int, semitones: float, voice: str = "", delay: int | None = None
) -> list[Accuracy]:
    """Compare input ``x`` and converted ``y`` (same rate) with every estimator."""
    ratio = 2.0 ** (semitones / 12.0)
    if delay is None:
        delay = align_delay(y, x, rate)
    y = y[delay:]
    x = x[: len(y)]
    med, lo, hi = input_range(x, rate)
    # One setting for both signals: the input's range joined with the range the output should be in.
    # (Scaling the range for the output alone would also scale the analysis window, and a longer window
    # sees more pitch movement, so it would count fewer voiced frames in a lowered voice by itself.)
    lo, hi = min(lo, lo * ratio), max(hi, hi * ratio)
    results = []
    for name, est in ESTIMATORS.items():
        f_in = est(x, rate, lo, hi)
        f_out = est(y, rate, lo, hi)
        n = min(len(f_in), len(f_out))
        f_in, f_out = f_in[:n], f_out[:n]
        both = (f_in > 0) & (f_out > 0)
        cents = float(np.median(1200 * np.log2(f_out[both] / f_in[both]))) if both.any() else float("nan")
        v_in, v_out = int(np.count_nonzero(f_in)), int(np.count_nonzero(f_out))
        change = 100.0 * (v_out - v_in) / max(1, v_in)
        results.append(Accuracy(voice, semitones, name, med, cents, change, int(both.sum())))
    return results


# --- the benchmark table ----------------------------------------------------------------------------

SHIFTS = (-12.0, -7.0, -4.0, 4.0, 7.0, 12.0)


def convert_like_live(
    x: np.ndarray, rate: int, semitones: float, formant: float = 1.0
) -> tuple[np.ndarray, float]:
    """The pitch changer driven block by block through the live pipeline (default blocks, SOLA; no
    gate), delay cut as ``mirage-cli voice --input-file`` does. Returns (output, CPU s per audio s)."""
    import time

    from mirage_desktop.voice.converters import create_converter
    from mirage_desktop.voice.file_convert import convert_audio
    from mirage_desktop.voice.pipeline import PipelineConfig

    conv = create_converter("pitch", semitones=semitones, formant=formant)
    start = time.process_time()
    y, _ = convert_audio(x, conv, PipelineConfig(gate_db=None), rate)
    return y, (time.process_time() - start) / (len(x) / rate)


def sox_pitch(x: np.ndarray, rate: int, semitones: float) -> np.ndarray:
    """Reference: sox's ``pitch`` effect (WSOLA time stretch + resampling; formants move with the
    pitch), the same length as ``x`` and lined up with it."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "i.wav", Path(tmp) / "o.wav"
        sf.write(str(src), x, rate, subtype="FLOAT")
        cmd = ["sox", str(src), str(dst), "pitch", f"{100 * semitones:g}"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        y, _ = sf.read(str(dst), dtype="float32")
    d = align_delay(y, x, rate, max_s=0.1)
    y = y[d:]
    return np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)]


def accuracy_rows(
    voices: dict[str, np.ndarray], rate: int, shifts: tuple[float, ...] = SHIFTS, sox: bool = True
) -> list[dict]:
    """One row per voice x shift: measured interval by both estimators, voiced-frame change, latency;
    with ``sox``, the voiced-frame change of sox's ``pitch`` on the same input for reference."""
    from mirage_desktop.voice.converters.pitch import PitchShiftConverter

    added_ms = PitchShiftConverter.lookahead_s * 1000
    rows = []
    for name, x in voices.items():
        for st in shifts:
            y, cost = convert_like_live(x, rate, st)
            # lined up by construction (the pipeline's fixed delay is cut; SOLA's offset stays 0)
            res = {r.estimator: r for r in measure(x, y, rate, st, name, delay=0)}
            p, q = res["praat"], res["yin"]
            row = {
                "voice": name,
                "F0 Hz": round(p.median_in_hz),
                "shift": f"{st:+g} st",
                "wanted c": round(100 * st),
                "praat c": round(p.measured_cents, 1),
                "yin c": round(q.measured_cents, 1),
                "praat err": f"{p.error_cents:+.1f}",
                "yin err": f"{q.error_cents:+.1f}",
                "voiced praat": f"{p.voiced_change_pct:+.1f}%",
                "voiced yin": f"{q.voiced_change_pct:+.1f}%",
                "added ms": round(added_ms, 1),
                "cpu x rt": round(cost, 3),
            }
            if sox:
                ref = {r.estimator: r for r in measure(x, sox_pitch(x, rate, st), rate, st, name, delay=0)}
                row["sox voiced praat/yin"] = (
                    f"{ref['praat'].voiced_change_pct:+.1f}% / {ref['yin'].voiced_change_pct:+.1f}%"
                )
            rows.append(row)
    return rows
