"""The input stages in front of every converter: noise suppression, then the voice-activity gate.

Both are stateful stream filters that must see every input sample once, in order, so they run in
``BlockPipeline.push`` on the engine's scheduler thread — the thread that already runs the other
stateful per-block DSP (resamplers, SOLA, level gate) — and never in the audio callback. They are
not put on the inference thread: that thread refuses a new window while the converter is still busy
(a slow RVC block), which would punch holes in a denoiser's input, and the dry fallback the scheduler
plays for such a block would carry the raw noise.

Each stage can be switched on and off while streaming. Loading (an ONNX session, a ctypes library)
happens in the caller's thread; the scheduler only flips between two time-aligned paths: when a
stage is switched on it first runs silently until its output is valid (its own delay), then the
output crossfades from the direct path to the stage's over ``XFADE_S``; switching off crossfades
back. The two paths differ by the stage's delay (20 ms for RNNoise, the look-ahead for the gate), so
a switch repeats or skips that much once, inside a crossfade: no step, no gap. A stage that fails
to load or to run is switched off with a message, and the voice goes on without it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from mirage_desktop.voice.denoise import Denoiser, StageUnavailable
from mirage_desktop.voice.vad import DEFAULT_HANGOVER_MS, DEFAULT_LOOKAHEAD_MS

log = logging.getLogger(__name__)

#: crossfade between the direct path and a stage's path when it is switched
XFADE_S = 0.010
DEFAULT_VAD_LOOKAHEAD_MS = DEFAULT_LOOKAHEAD_MS
DEFAULT_VAD_HANGOVER_MS = DEFAULT_HANGOVER_MS


class Stage(Protocol):
    name: str

    @property
    def latency_samples(self) -> int: ...

    def process(self, block: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


_OFF, _WARMING, _ACTIVE = "off", "warming", "active"


class SwitchedStage:
    """One optional stage with a live on/off switch (see the module doc for how a switch sounds)."""

    def __init__(self, label: str, factory: Callable[[], Stage], device_rate: int) -> None:
        self.label = label
        self._factory = factory
        self._lock = threading.Lock()  # loading vs. another control call; the scheduler never waits on it
        self.stage: Stage | None = None
        self._closed = False
        self.requested = False
        self.state = _OFF
        self._mix = 0.0
        self._step = 1.0 / max(1, int(XFADE_S * device_rate))
        self._warm = 0
        self.error = ""
        self.seconds = 0.0
        self.blocks = 0

    # --- control side (any thread but the scheduler) -----------------------------------------------
    def set_enabled(self, on: bool) -> str:
        """Ask for the stage on or off; loads it first when needed. Returns "" or why it stays off."""
        if not on:
            self.requested = False
            return ""
        if self._closed:
            return ""
        with self._lock:
            if self.stage is None:
                try:
                    self.stage = self._factory()
                except (StageUnavailable, OSError, ValueError) as exc:
                    self.error = str(exc)
                    self.requested = False
                    log.warning("%s", exc)
                    return self.error
            self.error = ""
            self.requested = True
            return ""

    def engage_now(self) -> None:
        """Before streaming starts: a stage that is on from the first sample needs no warm-up or
        crossfade (the stream starts from silence anyway), and its delay counts from the start."""
        if self.requested and self.stage is not None:
            self.state, self._mix = _ACTIVE, 1.0

    # --- scheduler side ---------------------------------------------------------------------------
    @property
    def engaged(self) -> bool:
        """The stage's output is (at least partly) what leaves: after warm-up, until faded out."""
        return self.state == _ACTIVE

    @property
    def full(self) -> bool:
        """Only the stage's output leaves (switched on and the crossfade done)."""
        return self.state == _ACTIVE and self._mix == 1.0

    @property
    def latency_samples(self) -> int:
        stage = self.stage
        return stage.latency_samples if stage is not None and self.state == _ACTIVE else 0

    def _fail(self, exc: BaseException) -> None:
        self.error = (
            str(exc) if isinstance(exc, StageUnavailable) else f"{self.label} failed and is off: {exc}"
        )
        log.warning("%s", self.error)
        self.requested = False
        self.state = _OFF
        self._mix = 0.0

    def process(self, x: np.ndarray) -> np.ndarray:
        stage = self.stage
        if self._closed:
            return x
        if self.state == _OFF:
            if not self.requested or stage is None:
                return x
            self.state, self._warm = _WARMING, 0
        assert stage is not None
        start = time.perf_counter()
        try:
            y = stage.process(x)
        except Exception as exc:
            self._fail(exc)
            return x
        finally:
            self.seconds += time.perf_counter() - start
            self.blocks += 1
        n = len(x)
        if self.state == _WARMING:
            if not self.requested:
                self._switch_off(stage)
                return x
            self._warm += n
            # a stage may need longer than its delay to settle (the VAD: a few windows of context)
            warmup = getattr(stage, "warmup_samples", stage.latency_samples)
            if self._warm >= warmup + n:
                self.state = _ACTIVE  # its output is valid from the next block on
            return x
        target = 1.0 if self.requested else 0.0
        if self._mix == target:
            if target == 1.0:
                return y
            self._switch_off(stage)
            return x
        direction = self._step if target > self._mix else -self._step
        ramp = np.clip(self._mix + direction * np.arange(1, n + 1, dtype=np.float32), 0.0, 1.0)
        self._mix = float(ramp[-1])
        out = x + (y - x) * ramp
        if self._mix == 0.0 and not self.requested:
            self._switch_off(stage)
        return out.astype(np.float32, copy=False)

    def _switch_off(self, stage: Stage) -> None:
        self.state = _OFF
        self._mix = 0.0
        try:
            stage.reset()  # the next switch-on starts from a clean state
        except Exception as exc:
            self._fail(exc)
            self.stage = None

    def cost_ms(self) -> float:
        return 1000.0 * self.seconds / self.blocks if self.blocks else 0.0

    def close(self) -> None:
        """Release the stage's resources. Its state and delay stay readable (the engine's final
        metrics are taken after it stopped); it passes audio straight through from now on."""
        stage = self.stage
        self.requested = False
        if stage is not None and not self._closed:
            self._closed = True
            stage.close()


class InputFrontEnd:
    """Denoise → voice-activity gate, each switchable live; ``process`` keeps block lengths."""

    def __init__(
        self,
        device_rate: int,
        denoise: bool = False,
        vad: bool = False,
        vad_lookahead_ms: float = DEFAULT_VAD_LOOKAHEAD_MS,
        vad_hangover_ms: float = DEFAULT_VAD_HANGOVER_MS,
        denoise_factory: Callable[[], Stage] | None = None,
        vad_factory: Callable[[], Stage] | None = None,
    ) -> None:
        self.device_rate = device_rate

        def make_vad() -> Stage:
            from mirage_desktop.voice.vad import VadGate

            return VadGate(device_rate, lookahead_ms=vad_lookahead_ms, hangover_ms=vad_hangover_ms)

        self.denoiser = SwitchedStage(
            "noise suppression", denoise_factory or (lambda: Denoiser(device_rate)), device_rate
        )
        self.vad = SwitchedStage("voice-activity gate", vad_factory or make_vad, device_rate)
        for stage, on in ((self.denoiser, denoise), (self.vad, vad)):
            if on:
                stage.set_enabled(True)
                stage.engage_now()

    def set_denoise(self, on: bool) -> str:
        return self.denoiser.set_enabled(on)

    def set_vad(self, on: bool) -> str:
        return self.vad.set_enabled(on)

    @property
    def vad_engaged(self) -> bool:
        return self.vad.engaged

    @property
    def vad_full(self) -> bool:
        """The VAD gate alone decides what is heard (the level gate then only keeps its state current)."""
        return self.vad.full

    @property
    def vad_open(self) -> bool:
        stage = self.vad.stage
        return bool(stage is not None and getattr(stage, "is_open", False))

    @property
    def latency_samples(self) -> int:
        return self.denoiser.latency_samples + self.vad.latency_samples

    @property
    def latency_s(self) -> float:
        return self.latency_samples / self.device_rate

    def process(self, block: np.ndarray) -> np.ndarray:
        return self.vad.process(self.denoiser.process(block))

    def notes(self) -> str:
        return "; ".join(s.error for s in (self.denoiser, self.vad) if s.error)

    def describe(self) -> dict[str, Any]:
        return {
            "denoise": self.denoiser.engaged,
            "vad": self.vad.engaged,
            "denoise_ms": round(self.denoiser.cost_ms(), 4),
            "vad_ms": round(self.vad.cost_ms(), 4),
            "latency_ms": round(self.latency_s * 1000, 2),
        }

    def close(self) -> None:
        self.denoiser.close()
        self.vad.close()


__all__ = ["XFADE_S", "InputFrontEnd", "Stage", "SwitchedStage"]
