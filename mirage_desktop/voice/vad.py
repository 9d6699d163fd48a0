"""Voice-activity gate: Silero VAD (ONNX, from the ``silero-vad`` wheel) on Mirage's ONNX Runtime.

Silero VAD v5/v6 takes 16 kHz audio in 512-sample windows (32 ms), each with the previous window's
last 64 samples as context, and carries a recurrent state (2×1×128) from window to window. It says
how likely the window is speech (0–1).

The ``silero-vad`` package requires torch and its ``__init__`` imports it; Mirage needs only the
ONNX file, so the package is never imported: the file is found with ``importlib.util.find_spec``
(which does not run ``__init__``) and run through ``runtime.telemetry.create_session`` like every
other Mirage model. No torch, no second runtime.

The gate delays the audio by a look-ahead (``lookahead_ms``): a window's verdict is known only after
the window is complete, so to open *before* a word starts (its first consonant is quiet and the VAD
fires a window or two later) the audio waits. The gate opens ``lookahead - 32 ms - resampler delay``
before the first window judged speech (the pre-roll) and closes ``hangover_ms`` after the last one,
with short ramps so it never clicks. Breaths, clicks and steady noise are not speech to the model,
so they stay silent — which a level gate cannot do for a loud keyboard.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from pathlib import Path
from typing import Any

import numpy as np

from mirage_desktop.voice.denoise import StageUnavailable, _Chunker, _Fifo, bundled

VAD_RATE = 16000
VAD_WINDOW = 512
VAD_CONTEXT = 64
MODEL_FILE = "silero_vad.onnx"
#: overrides where the model is looked for (tests, frozen builds)
MODEL_ENV = "MIRAGE_SILERO_VAD"
_INPUTS = {"input", "state", "sr"}
#: Measured on jfk.flac: with 40 ms the gate opened 8 ms into one word, with 48 ms right at its first
#: sample (the window holding the onset scored 0.31, the next 0.99). 64 ms lets the gate open a whole
#: window (31 ms pre-roll) before the first window judged speech: 16–34 ms before every word there.
DEFAULT_LOOKAHEAD_MS = 64.0
#: how long the gate stays open after the last speech window (short pauses, word endings)
DEFAULT_HANGOVER_MS = 200.0
#: windows a freshly switched-on gate listens to before its output is used
_WARMUP_WINDOWS = 4
_OUTPUTS = ("output", "stateN")


def find_model() -> Path:
    """``$MIRAGE_SILERO_VAD``, else ``silero_vad/data/silero_vad.onnx`` in the installed wheel."""
    override = os.environ.get(MODEL_ENV, "").strip()
    if override:
        return Path(override)
    frozen = bundled("silero_vad", "data", MODEL_FILE)
    if frozen is not None:
        return frozen
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise StageUnavailable(
            "The voice-activity gate needs Silero VAD, which is not installed: run "
            "`.venv/bin/pip install --no-deps silero-vad==6.2.3` (scripts/install.sh does this)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / MODEL_FILE


def _describe(items: Any) -> str:
    return ", ".join(f"{i.name} {i.type} {list(i.shape)}" for i in items)


class SileroVad:
    """One Silero VAD stream at 16 kHz: ``prob(window512)`` → speech probability, state carried."""

    def __init__(self, model: str | Path | None = None, session: Any = None) -> None:
        path = Path(model) if model is not None else find_model()
        self.path = path
        if session is None:
            if not path.is_file():
                raise StageUnavailable(
                    f"The voice-activity gate is off: the Silero VAD model {path} does not exist."
                )
            from mirage_desktop.runtime.onnx_session import CheckedSession, session_options
            from mirage_desktop.runtime.telemetry import create_session

            options = session_options(intra_op_threads=1)  # a tiny recurrent model: one thread is fastest
            options.inter_op_num_threads = 1
            try:
                # CPU on purpose: 32 ms windows of a 300 k-parameter net cost ~0.2 ms here, less
                # than one copy to and from a GPU, and it must not queue behind the face models there.
                session = CheckedSession(create_session(path, options, ["CPUExecutionProvider"]), str(path))
            except Exception as exc:
                raise StageUnavailable(
                    f"The voice-activity gate is off: {path} is not a loadable ONNX model ({exc})."
                ) from exc
        self._session = session
        self._check_io()
        self.reset()
        # one probe run: a model with the right names but the wrong shapes fails here, not live
        probe = self.prob(np.zeros(VAD_WINDOW, dtype=np.float32))
        if not 0.0 <= probe <= 1.0:
            raise StageUnavailable(
                f"The voice-activity gate is off: {path} returned {probe}, not a probability."
            )
        self.reset()

    def _check_io(self) -> None:
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        names = {i.name for i in inputs}
        out_names = [o.name for o in outputs]
        if names != _INPUTS or tuple(out_names[:2]) != _OUTPUTS:
            raise StageUnavailable(
                f"The voice-activity gate is off: {self.path} is not a Silero VAD v5/v6 model "
                f"(inputs: {_describe(inputs)}; outputs: {_describe(outputs)}; expected inputs "
                "input, state, sr and outputs output, stateN)."
            )

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._input = np.zeros((1, VAD_CONTEXT + VAD_WINDOW), dtype=np.float32)
        self._sr = np.array(VAD_RATE, dtype=np.int64)

    def prob(self, window: np.ndarray) -> float:
        x = self._input
        x[0, :VAD_CONTEXT] = x[0, -VAD_CONTEXT:]
        x[0, VAD_CONTEXT:] = window
        try:
            out, state = self._session.run(list(_OUTPUTS), {"input": x, "state": self._state, "sr": self._sr})
        except Exception as exc:
            raise StageUnavailable(f"The voice-activity gate is off: {exc}") from exc
        out = np.asarray(out, dtype=np.float32)
        state = np.asarray(state, dtype=np.float32)
        if out.size != 1 or state.shape != self._state.shape:
            raise StageUnavailable(
                f"The voice-activity gate is off: {self.path} returned output {list(out.shape)} and state "
                f"{list(state.shape)}; Silero VAD returns [1, 1] and [2, 1, 128]."
            )
        self._state = state
        return float(out.reshape(-1)[0])


class VadGate:
    """Silero-driven gate as a stream stage at the device rate: same-length blocks, delayed ``lookahead``.

    ``threshold`` opens, ``threshold - 0.15`` keeps open (Silero's own hysteresis); ``hangover_ms``
    holds the gate after the last speech window so word endings and short pauses are not chopped.
    """

    name = "silero-vad"

    def __init__(
        self,
        device_rate: int,
        lookahead_ms: float = DEFAULT_LOOKAHEAD_MS,
        hangover_ms: float = DEFAULT_HANGOVER_MS,
        threshold: float = 0.5,
        attack_ms: float = 5.0,
        release_ms: float = 30.0,
        model: str | Path | None = None,
        vad: SileroVad | None = None,
    ) -> None:
        self.device_rate = device_rate
        self.threshold = threshold
        self.neg_threshold = max(0.01, threshold - 0.15)
        self._vad = vad if vad is not None else SileroVad(model)
        self._chunker = _Chunker(device_rate, VAD_RATE)
        # device samples per VAD sample; 16 kHz sample m holds device-timeline audio m * ratio - delay
        self._ratio = device_rate / VAD_RATE
        self._res_delay = self._chunker.resampler.delay_s * device_rate
        window_dev = VAD_WINDOW * self._ratio
        self.lookahead = round(lookahead_ms / 1000 * device_rate)
        # A window's verdict comes once its last sample is resampled (a chunker quantum at most later);
        # by then the output has reached lookahead before that, which bounds how early the gate can open.
        least = window_dev + self._res_delay + self._chunker.resampler.quantum
        self.pre_roll = int(self.lookahead - least)
        if self.pre_roll < 0:
            raise ValueError(
                f"lookahead_ms must be at least {1000 * least / device_rate:.1f} "
                "(one 32 ms VAD window plus the resampler's delay)"
            )
        self.hangover = int(hangover_ms / 1000 * device_rate)
        self._attack = 1.0 / max(1, int(attack_ms / 1000 * device_rate))
        self._release = 1.0 / max(1, int(release_ms / 1000 * device_rate))
        self.reset()

    @property
    def latency_samples(self) -> int:
        return self.lookahead

    @property
    def latency_s(self) -> float:
        return self.lookahead / self.device_rate

    @property
    def warmup_samples(self) -> int:
        """Before a live switch hands over: the look-ahead plus a few windows, so the model has heard
        enough to judge a word already under way (its state starts from zero)."""
        return self.lookahead + int(_WARMUP_WINDOWS * VAD_WINDOW * self._ratio)

    def reset(self) -> None:
        self._vad.reset()
        self._chunker = _Chunker(self.device_rate, VAD_RATE)
        self._pending16 = _Fifo()
        self._delay = _Fifo()
        self._delay.push(np.zeros(self.lookahead, dtype=np.float32))
        self._windows = 0
        self._emitted = -self.lookahead  # input-timeline index of the next sample to leave
        self._intervals: list[list[float]] = []
        self._triggered = False
        self._gain = 0.0
        self.last_prob = 0.0
        self.speech_windows = 0

    @property
    def is_open(self) -> bool:
        return self._gain > 0.0

    @property
    def speaking(self) -> bool:
        return self._triggered

    def _analyse(self, block: np.ndarray) -> None:
        self._pending16.push(self._chunker.process(block))
        while len(self._pending16) >= VAD_WINDOW:
            p = self._vad.prob(self._pending16.pop(VAD_WINDOW))
            j = self._windows
            self._windows += 1
            self.last_prob = p
            if p >= self.threshold:
                self._triggered = True
            elif p < self.neg_threshold:
                self._triggered = False
            if not self._triggered:
                continue
            self.speech_windows += 1
            start = j * VAD_WINDOW * self._ratio - self._res_delay - self.pre_roll
            end = (j + 1) * VAD_WINDOW * self._ratio - self._res_delay + self.hangover
            if self._intervals and start <= self._intervals[-1][1]:
                self._intervals[-1][1] = max(self._intervals[-1][1], end)
            else:
                self._intervals.append([start, end])

    def _gains(self, first: int, n: int) -> np.ndarray:
        """Per-sample gain for input-timeline samples [first, first + n): slewed 0/1 speech mask."""
        target = np.zeros(n, dtype=bool)
        last = first + n
        keep = []
        for interval in self._intervals:
            start, end = interval
            if end <= first:
                continue  # over: drop it
            keep.append(interval)
            lo, hi = max(first, int(np.ceil(start))), min(last, int(np.ceil(end)))
            if hi > lo:
                target[lo - first : hi - first] = True
        self._intervals = keep
        gains = np.empty(n, dtype=np.float32)
        g = self._gain
        # piecewise: each run of constant target is a linear slew, clipped to [0, 1]
        edges = np.flatnonzero(np.diff(target)) + 1
        bounds = [0, *edges.tolist(), n]
        for a, b in itertools.pairwise(bounds):
            steps = np.arange(1, b - a + 1, dtype=np.float32)
            if target[a]:
                seg = np.minimum(1.0, g + steps * self._attack)
            else:
                seg = np.maximum(0.0, g - steps * self._release)
            gains[a:b] = seg
            g = float(seg[-1])
        self._gain = g
        return gains

    def process(self, block: np.ndarray) -> np.ndarray:
        x = np.asarray(block, dtype=np.float32)
        n = len(x)
        self._analyse(x)
        self._delay.push(x)
        out = self._delay.pop(n)
        gains = self._gains(self._emitted, n)
        self._emitted += n
        if self._gain == 0.0 and not gains.any():
            out[:] = 0.0
        else:
            out *= gains
        return out

    def close(self) -> None:
        self._intervals = []


__all__ = ["MODEL_ENV", "MODEL_FILE", "VAD_RATE", "VAD_WINDOW", "SileroVad", "VadGate", "find_model"]
