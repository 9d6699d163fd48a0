"""Runs frame processors in order, timing each, and isolates the loop from their failures."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from mirage_desktop.frame import Frame
from mirage_desktop.processing.base import FrameProcessor, ProcessorError

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
    """

    def __init__(self, processors: list[FrameProcessor] | None = None) -> None:
        self._states = [ProcessorState(p) for p in (processors or [])]
        self._lock = threading.Lock()

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

    def process(self, frame: Frame) -> Frame:
        for state in self._states:
            if not state.enabled or state.failed or not state.started:
                continue
            t0 = time.perf_counter()
            try:
                frame = state.processor.process(frame)
            except Exception as exc:
                # The traceback is for the log file; the console and the window get one line.
                log.debug("processor %s failed; passing frames through", state.processor.name, exc_info=True)
                self._disable(state, f"{state.processor.name} stopped: {_one_line(exc)}")
            frame.stage_ms[state.processor.name] = (time.perf_counter() - t0) * 1000.0
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
