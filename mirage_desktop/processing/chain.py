"""Runs frame processors in order, timing each, and isolates the loop from their failures."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from mirage_desktop.frame import Frame
from mirage_desktop.processing.base import FrameProcessor, ProcessorError
from mirage_desktop.processing.privacy_cover import PrivacyGuard, PrivacyPolicy, StageReport

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ProcessorState:
    processor: FrameProcessor
    enabled: bool = True
    started: bool = False
    failed: str | None = None  # user-facing reason, set when the processor was disabled


class ProcessorChain:
    """An ordered list of processors with per-stage timing.

    A processor that fails to start or raises while processing is switched off and its
    message kept for the UI; the frame goes on unchanged, so the video never stops
    because one model misbehaved (pass-through rather than a frozen camera).

    Pass-through must never mean the user's real face, though: the first face stage
    (``face_stage = True``, the face swap) is watched by a PrivacyGuard that the chain owns and
    runs right after that stage on every frame, whether the stage ran, was disabled for failing,
    never started, or raised on this very frame (see privacy_cover). ``privacy`` is its policy
    (default: the cover on).
    """

    def __init__(
        self, processors: list[FrameProcessor] | None = None, privacy: PrivacyPolicy | None = None
    ) -> None:
        self._states = [ProcessorState(p) for p in (processors or [])]
        self._lock = threading.Lock()
        self.guard = PrivacyGuard(privacy or PrivacyPolicy())
        self._face_state = next((s for s in self._states if s.processor.face_stage), None)

    @property
    def processors(self) -> list[FrameProcessor]:
        return [s.processor for s in self._states]

    def start(self) -> None:
        for state in self._states:
            self._start_one(state)

    def _start_one(self, state: ProcessorState) -> None:
        try:
            state.processor.start()
            state.started = True
        except ProcessorError as exc:
            self._disable(state, str(exc))
        except Exception as exc:  # a plug-in bug must not take the loop down
            log.debug("processor %s failed to start", state.processor.name, exc_info=True)
            self._disable(state, f"{state.processor.name} failed to start: {_one_line(exc)}")

    def set_enabled(self, name: str, enabled: bool) -> None:
        with self._lock:
            for state in self._states:
                if state.processor.name == name:
                    state.enabled = enabled

    def set_privacy_cover(self, enabled: bool) -> None:
        """The user's switch for the privacy cover (FaceSettings.privacy_cover), live."""
        self.guard.set_enabled(enabled)

    def prepare(self, frame: Frame) -> None:
        """The look-ahead part of each processor that has one (``prepare``: the face stage's
        detection), run on the pipeline's prepare thread one frame ahead of ``process``. A failure
        here only means ``process`` does that work itself."""
        for state in self._states:
            prepare = getattr(state.processor, "prepare", None)
            if prepare is None or not state.enabled or state.failed or not state.started:
                continue
            t0 = time.perf_counter()
            try:
                prepare(frame)
            except Exception:
                log.debug("prepare of %s failed", state.processor.name, exc_info=True)
            frame.stage_ms[f"{state.processor.name}.prepare"] = (time.perf_counter() - t0) * 1000.0

    def process(self, frame: Frame) -> Frame:
        for state in self._states:
            guarded = state is self._face_state
            if guarded:
                frame.face_outcome = None  # only the stage's result for this very frame counts
            if not state.enabled or state.failed or not state.started:
                if guarded:
                    frame = self._guard_frame(frame, state, ran=False)
                continue
            t0 = time.perf_counter()
            try:
                frame = state.processor.process(frame)
            except Exception as exc:
                # The traceback is for the log file; the console and the window get one line.
                log.debug("processor %s failed; passing frames through", state.processor.name, exc_info=True)
                self._disable(state, f"{state.processor.name} stopped: {_one_line(exc)}")
            frame.stage_ms[state.processor.name] = (time.perf_counter() - t0) * 1000.0
            if guarded:
                frame = self._guard_frame(frame, state, ran=state.failed is None)
        return frame

    def _guard_frame(self, frame: Frame, state: ProcessorState, ran: bool) -> Frame:
        t0 = time.perf_counter()
        try:
            chosen = state.enabled and bool(state.processor.face_chosen)
        except Exception:  # cannot tell whether a face is chosen: assume it is (fail closed)
            log.debug("face_chosen of %s failed", state.processor.name, exc_info=True)
            chosen = True
        if state.failed:
            reason = state.failed
        elif not state.started:
            reason = f"{state.processor.name} has not started"
        else:
            reason = ""
        frame = self.guard.apply(frame, StageReport(chosen=chosen, working=ran, reason=reason))
        frame.stage_ms["privacy_cover"] = (time.perf_counter() - t0) * 1000.0
        return frame

    def _disable(self, state: ProcessorState, reason: str) -> None:
        state.failed = reason
        log.warning("%s (continuing in pass-through)", reason)

    def problems(self) -> list[str]:
        return [s.failed for s in self._states if s.failed]

    def counters(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for state in self._states:
            try:
                out.update(state.processor.counters())
            except Exception:  # counters are best effort, never fatal
                log.debug("counters() of %s failed", state.processor.name, exc_info=True)
        # last, so no processor's counter can shadow what the window reads about the real face
        out.update(self.guard.counters())
        return out

    def close(self) -> None:
        for state in self._states:
            try:
                state.processor.close()
            except Exception:
                log.exception("closing processor %s failed", state.processor.name)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
