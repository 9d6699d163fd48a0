"""Keeps video flowing when the real source is missing or disappears.

A call should never see a frozen or black camera because a USB cable wiggled: while the
primary source is unavailable the test pattern (with the reason on it) is shown, and the
primary is retried in the background of the capture loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from mirage_desktop.frame import Frame
from mirage_desktop.sources.base import FrameSource, SourceError, SourceInfo
from mirage_desktop.sources.test_pattern import TestPatternSource

log = logging.getLogger(__name__)


class FallbackSource(FrameSource):
    def __init__(
        self,
        primary: Callable[[], FrameSource],
        width: int,
        height: int,
        fps: float,
        retry_interval_s: float = 2.0,
        on_problem: Callable[[str], None] | None = None,
        clock=time.perf_counter,
    ) -> None:
        self._make_primary = primary
        self._retry_interval = retry_interval_s
        self._on_problem = on_problem or (lambda msg: None)
        self._clock = clock
        self._fallback = TestPatternSource(width, height, fps, clock=clock)
        self._active: FrameSource | None = None
        self._using_fallback = False
        self._next_retry = 0.0
        self._info: SourceInfo | None = None
        self._index = 0
        self.reconnects = 0
        self.problem: str | None = None

    @property
    def using_fallback(self) -> bool:
        return self._using_fallback

    @property
    def info(self) -> SourceInfo | None:
        return self._info

    @property
    def notes(self) -> list[str]:
        """What the real source did to the picture (a video file turned upright), if it says."""
        return list(getattr(self._active, "notes", ())) if self._active is not None else []

    def open(self) -> SourceInfo:
        if not self._try_primary():
            self._fallback.open()
            self._info = self._fallback.info
        return self._info  # type: ignore[return-value]

    def _try_primary(self) -> bool:
        source = self._make_primary()
        try:
            info = source.open()
        except SourceError as exc:
            source.close()
            self._switch_to_fallback(str(exc))
            return False
        if self._using_fallback:
            self.reconnects += 1
            log.info("video source is back: %s", info.name)
            self._on_problem("")  # an empty message clears the shown problem
        self._active = source
        self._using_fallback = False
        self.problem = None
        # Keep the pattern at the real source's size so sinks never change size mid-call.
        self._fallback = TestPatternSource(info.width, info.height, info.fps, clock=self._clock)
        self._info = info
        return True

    def _switch_to_fallback(self, reason: str) -> None:
        if self.problem != reason:
            self._on_problem(f"{reason} Showing the test pattern; retrying every {self._retry_interval:g} s.")
        self.problem = reason
        self._using_fallback = True
        self._fallback.message = reason[:120]
        self._next_retry = self._clock() + self._retry_interval

    def read(self) -> Frame:
        if self._using_fallback and self._clock() >= self._next_retry and self._try_primary():
            pass
        if not self._using_fallback and self._active is not None:
            try:
                frame = self._active.read()
            except SourceError as exc:
                self._active.close()
                self._active = None
                self._switch_to_fallback(str(exc))
            else:
                return self._renumber(frame)
        if self._fallback.info is None:
            self._fallback.open()
        return self._renumber(self._fallback.read())

    def _renumber(self, frame: Frame) -> Frame:
        # Downstream expects one monotonic sequence whatever the active source.
        frame.index = self._index
        self._index += 1
        return frame

    def close(self) -> None:
        if self._active is not None:
            self._active.close()
            self._active = None
        self._fallback.close()
