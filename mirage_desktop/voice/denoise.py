"""Noise suppression on the input: RNNoise, from the ``pyrnnoise`` wheel's ``librnnoise.so`` via ctypes.

RNNoise (Xiph, BSD; the wheel is Apache-2.0) is a small recurrent network with its weights compiled
into the library. It works on 48 kHz mono in 480-sample (10 ms) frames, on samples scaled like 16-bit
PCM. Measured here (pyrnnoise 0.4.5): its output is the input delayed by 960 samples (20 ms: one frame
of analysis window plus one of overlap-add), ~0.3–0.9 ms per 10 ms frame on one core (2 busy cores).

Why ctypes and not ``import pyrnnoise``: that package's ``__init__`` imports its file helpers, which
need ``audiolab`` (PyAV, smart_open, soxr, humanize, click) and matplotlib — ~60 MB Mirage never uses.
Only the library file is needed, so the wheel is installed with ``--no-deps`` and the library is found
with ``importlib.util.find_spec`` (which does not run the package's ``__init__``).

The stage is stateful: it must see every input sample once, in order. The engine runs it in
``BlockPipeline.push`` on its scheduler thread (never in the audio callback), see pipeline.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import math
import os
import sys
from pathlib import Path

import numpy as np

from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.resample import StreamResampler

RNNOISE_RATE = 48000
RNNOISE_FRAME = 480
#: the library's own delay, measured (cross-correlation of clean speech in and out: exactly 960 samples)
RNNOISE_DELAY = 960
#: overrides where the library is looked for (tests, frozen builds, a user's own build)
LIB_ENV = "MIRAGE_RNNOISE_LIB"
_PCM_SCALE = 32768.0


class StageUnavailable(VoiceError):
    """An optional input stage (noise suppression, VAD gate) cannot run; the voice goes on without it."""


def _library_name() -> str:
    if sys.platform == "darwin":
        return "librnnoise.dylib"
    if sys.platform == "win32":
        return "rnnoise.dll"
    return "librnnoise.so"


def bundled(*parts: str) -> Path | None:
    """A file mirage.spec copied into a frozen app (PyInstaller's folder), or None."""
    base = getattr(sys, "_MEIPASS", None)
    if base and getattr(sys, "frozen", False):
        path = Path(base).joinpath(*parts)
        if path.is_file():
            return path
    return None


def find_library() -> Path:
    """The RNNoise library: $MIRAGE_RNNOISE_LIB, else the one inside the installed ``pyrnnoise`` wheel
    (or its copy in a frozen app)."""
    override = os.environ.get(LIB_ENV, "").strip()
    if override:
        return Path(override)
    frozen = bundled("pyrnnoise", _library_name())
    if frozen is not None:
        return frozen
    spec = importlib.util.find_spec("pyrnnoise")
    if spec is None or not spec.submodule_search_locations:
        raise StageUnavailable(
            "Noise suppression needs RNNoise, which is not installed: run "
            "`.venv/bin/pip install --no-deps pyrnnoise==0.4.5` (scripts/install.sh does this)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / _library_name()


class RNNoise:
    """One RNNoise state: ``process_frame`` denoises 480 samples (48 kHz, float in [-1, 1]) in place."""

    def __init__(self, library: str | Path | None = None) -> None:
        path = Path(library) if library is not None else find_library()
        if not path.is_file():
            raise StageUnavailable(f"Noise suppression is off: the RNNoise library {path} does not exist.")
        try:
            lib = ctypes.CDLL(str(path))
            create, destroy = lib.rnnoise_create, lib.rnnoise_destroy
            process, frame_size = lib.rnnoise_process_frame, lib.rnnoise_get_frame_size
        except (OSError, AttributeError) as exc:
            raise StageUnavailable(
                f"Noise suppression is off: {path} is not a usable RNNoise library ({exc})."
            ) from exc
        create.restype, create.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
        destroy.restype, destroy.argtypes = None, [ctypes.c_void_p]
        process.restype = ctypes.c_float
        process.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        frame_size.restype, frame_size.argtypes = ctypes.c_int, []
        frames = frame_size()
        if frames != RNNOISE_FRAME:
            raise StageUnavailable(
                f"Noise suppression is off: {path} works on {frames}-sample frames, Mirage expects "
                f"{RNNOISE_FRAME} (48 kHz, 10 ms)."
            )
        state = create(None)
        if not state:
            raise StageUnavailable(f"Noise suppression is off: {path} could not create its state.")
        self.path = path
        self._lib, self._process, self._destroy, self._state = lib, process, destroy, state
        self._frame = np.zeros(RNNOISE_FRAME, dtype=np.float32)
        self._ptr = self._frame.ctypes.data
        #: RNNoise's own voice probability for the last frame
        self.speech_prob = 0.0

    def process_frame(self, frame: np.ndarray) -> None:
        if self._state is None:
            raise StageUnavailable("Noise suppression is off: the RNNoise state was closed.")
        np.multiply(frame, _PCM_SCALE, out=self._frame)
        self.speech_prob = float(self._process(self._state, self._ptr, self._ptr))
        np.multiply(self._frame, 1.0 / _PCM_SCALE, out=frame)

    def close(self) -> None:
        state, self._state = self._state, None
        if state is not None:
            self._destroy(state)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class _Fifo:
    """A growable FIFO of float32 samples (numpy, amortised O(1) per sample)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._buf = np.zeros(capacity, dtype=np.float32)
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    def push(self, data: np.ndarray) -> None:
        n = len(data)
        if self._end + n > len(self._buf):
            live = self._buf[self._start : self._end]
            size = max(len(self._buf), 2 * (len(live) + n))
            buf = np.zeros(size, dtype=np.float32) if size > len(self._buf) else self._buf
            buf[: len(live)] = live
            self._buf, self._start, self._end = buf, 0, len(live)
        self._buf[self._end : self._end + n] = data
        self._end += n

    def peek(self, n: int) -> np.ndarray:
        return self._buf[self._start : self._start + n]

    def pop(self, n: int) -> np.ndarray:
        out = self._buf[self._start : self._start + n].copy()
        self._start += len(out)
        return out

    def pop_into(self, out: np.ndarray) -> None:
        n = len(out)
        out[:] = self._buf[self._start : self._start + n]
        self._start += n


class _Chunker:
    """Feeds a StreamResampler whole quanta only, keeping the remainder for the next call."""

    def __init__(self, src: int, dst: int) -> None:
        self.resampler = StreamResampler(src, dst)
        self._pending = _Fifo()

    def process(self, data: np.ndarray) -> np.ndarray:
        self._pending.push(data)
        q = self.resampler.quantum
        n = len(self._pending) // q * q
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        return self.resampler.process(self._pending.pop(n))


class Denoiser:
    """RNNoise as a stream stage at the device rate: ``process(block)`` returns a block of the same length.

    The output is the denoised input ``latency_samples`` later. At 48 kHz with blocks that are whole
    10 ms frames (Mirage's default 10 and 20 ms blocks) that is exactly RNNoise's 20 ms; other block
    lengths wait for a frame to fill (up to 10 ms more), other device rates add the resamplers' delays
    (< 1 ms each). The wait is found, not configured: the first blocks that find too little denoised
    output are padded with silence, which becomes the stage's fixed delay from then on.
    """

    name = "rnnoise"

    def __init__(self, device_rate: int, library: str | Path | None = None) -> None:
        self.device_rate = device_rate
        self._library = library
        self._rnnoise = RNNoise(library)
        self._reset_streams()

    def _reset_streams(self) -> None:
        rate = self.device_rate
        self._to48 = _Chunker(rate, RNNOISE_RATE) if rate != RNNOISE_RATE else None
        self._from48 = _Chunker(RNNOISE_RATE, rate) if rate != RNNOISE_RATE else None
        self._frames = _Fifo()
        self._out = _Fifo()
        self._work = np.zeros(RNNOISE_FRAME, dtype=np.float32)
        self.padded_samples = 0
        #: times a block needed more padding after the first one (a block length change mid-stream)
        self.late_pads = 0
        self._blocks = 0
        self.frames = 0

    @property
    def latency_samples(self) -> int:
        """Device samples between a sample going in and coming out (the model + the frame wait)."""
        model = RNNOISE_DELAY * self.device_rate / RNNOISE_RATE
        extra = 0.0
        if self._to48 is not None and self._from48 is not None:
            extra = (self._to48.resampler.delay_s + self._from48.resampler.delay_s) * self.device_rate
        return round(model + extra) + self.padded_samples

    @property
    def latency_s(self) -> float:
        return self.latency_samples / self.device_rate

    def reset(self) -> None:
        """Forget everything (a fresh RNNoise state); used when the stage is switched on again."""
        self._rnnoise.close()
        self._rnnoise = RNNoise(self._library)
        self._reset_streams()

    def process(self, block: np.ndarray) -> np.ndarray:
        x = np.asarray(block, dtype=np.float32)
        n = len(x)
        if self._blocks == 0:
            self._prime(n)
        data = self._to48.process(x) if self._to48 is not None else x
        self._frames.push(data)
        work = self._work
        produced = []
        while len(self._frames) >= RNNOISE_FRAME:
            self._frames.pop_into(work)
            self._rnnoise.process_frame(work)
            self.frames += 1
            if self._from48 is None:
                self._out.push(work)
            else:
                produced.append(work.copy())
        if produced:
            self._out.push(self._from48.process(np.concatenate(produced)))
        missing = n - len(self._out)
        if missing > 0:
            # Silence goes in front of what is queued: at the start of the stream it is just the
            # stage's fixed delay; after a block length change mid-stream it is a one-off gap (counted).
            queued = self._out.pop(len(self._out))
            self._out.push(np.zeros(missing, dtype=np.float32))
            self._out.push(queued)
            self.padded_samples += missing
            if self._blocks > 2:
                self.late_pads += 1
        self._blocks += 1
        return self._out.pop(n)

    def _prime(self, n: int) -> None:
        """Queue the frame wait the block length needs, once, so it is not found block by block.

        Whole frames need none; at 48 kHz, blocks of n samples leave at most 480 - gcd(n, 480) waiting.
        """
        if self._from48 is None:
            pad = RNNOISE_FRAME - math.gcd(n, RNNOISE_FRAME) if n % RNNOISE_FRAME else 0
        else:
            pad = math.ceil(RNNOISE_FRAME * self.device_rate / RNNOISE_RATE) + 2
        if pad:
            self._out.push(np.zeros(pad, dtype=np.float32))
            self.padded_samples += pad

    @property
    def speech_prob(self) -> float:
        return self._rnnoise.speech_prob

    def close(self) -> None:
        self._rnnoise.close()


__all__ = [
    "LIB_ENV",
    "RNNOISE_DELAY",
    "RNNOISE_FRAME",
    "RNNOISE_RATE",
    "Denoiser",
    "RNNoise",
    "StageUnavailable",
    "find_library",
]
