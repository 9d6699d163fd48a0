"""Hands output frames to a listener (the GUI), throttled to the preview's own rate.

The listener runs on the output thread: it must only hand the image over (e.g. emit a
Qt signal), never touch widgets.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from mirage_desktop.frame import Frame
from mirage_desktop.sinks.base import FrameSink

PreviewListener = Callable[[np.ndarray, Frame], None]


class PreviewSink(FrameSink):
    name = "preview"

    def __init__(self, listener: PreviewListener, max_fps: float = 30.0, clock=time.perf_counter) -> None:
        self._listener = listener
        self._min_interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self._clock = clock
        self._last = -1e9
        self.frames_shown = 0

    def open(self, width: int, height: int, fps: float) -> None:
        self._last = -1e9

    def write(self, frame: Frame) -> None:
        now = self._clock()
        if now - self._last < self._min_interval:
            return
        self._last = now
        self.frames_shown += 1
        self._listener(frame.image, frame)

    def close(self) -> None:
        pass
