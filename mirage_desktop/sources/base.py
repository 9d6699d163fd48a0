"""What every frame source provides, and the errors it may raise."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from mirage_desktop.frame import Frame


class SourceError(RuntimeError):
    """The source cannot be opened; the message says what to do."""


class SourceLost(SourceError):
    """A source that was delivering frames stopped (camera unplugged, driver crash)."""


class SourceExhausted(Exception):
    """A finite source (a video file that does not loop) has no more frames."""


@dataclass(slots=True)
class SourceInfo:
    name: str
    kind: str  # "camera" | "file" | "test"
    width: int
    height: int
    fps: float
    detail: str = ""


class FrameSource(ABC):
    """Produces frames, each stamped with ``time.perf_counter()`` when it was captured.

    ``read`` blocks until the next frame is due (a camera blocks on the device, a file or
    the test pattern on their own clock when paced), so the capture thread never spins.
    """

    @abstractmethod
    def open(self) -> SourceInfo: ...

    @abstractmethod
    def read(self) -> Frame: ...

    @abstractmethod
    def close(self) -> None: ...

    @property
    @abstractmethod
    def info(self) -> SourceInfo | None: ...


class Pacer:
    """Releases callers at a fixed rate without bursting to catch up after a stall.

    Catching up would deliver a run of frames at once, which downstream only drops; a
    late frame instead moves the schedule.
    """

    def __init__(self, fps: float, clock=time.perf_counter, sleep=time.sleep) -> None:
        self.period = 1.0 / fps if fps > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        if self.period <= 0:
            return
        now = self._clock()
        if self._next is None:
            self._next = now
        delay = self._next - now
        if delay > 0:
            self._sleep(delay)
            self._next += self.period
        else:
            # Late by more than a frame: restart the schedule from now instead of bursting.
            self._next = (self._next + self.period) if -delay < self.period else now + self.period
