"""Sound pushed while a live recording runs (a voice engine's output tap), placed by capture time."""

from __future__ import annotations

import collections
import threading

import numpy as np

from mirage_desktop.media.channels import downmix_for
from mirage_desktop.media.pcm_track import PcmTrack


class LiveAudio(PcmTrack):
    """Sound pushed while a live recording runs, e.g. from a voice engine's output tap.

    ``push(block, captured_at)`` is called from the audio side's thread with float32 samples
    (× ``channels``) and the ``time.perf_counter()`` time its first sample was *captured* (for a
    converted voice: when the microphone took it, not when the conversion finished). The recorder
    puts video frames at their capture times too, so the two land in the file as they happened,
    in sync whatever each path's latency. Gaps become silence; late overlaps are dropped.
    """

    live = True

    def __init__(self, rate: int, channels: int = 1, *, codec: str = "aac", bit_rate: int = 160_000) -> None:
        super().__init__(rate, min(2, max(1, channels)), codec, bit_rate, 0)
        self.describe = f"{codec.upper()}, live"
        #: perf_counter() time of the recording's t = 0; set by the recorder with its first frame
        self.clock_origin: float | None = None
        self._queue: collections.deque[tuple[float, int, np.ndarray]] = collections.deque()
        self._lock = threading.Lock()
        self._cursor = 0  # samples placed on the timeline
        self._finished = False
        self.dropped = 0

    def push(self, block: np.ndarray, captured_at: float) -> None:
        data = np.array(block, dtype=np.float32).reshape(len(block), -1)
        if data.shape[1] != self.channels:
            data = downmix_for(data.shape[1], None, self.channels).apply(data)
        with self._lock:
            self._queue.append((captured_at, 0, data))

    def _next(self, target: int | None) -> tuple[int, np.ndarray] | None:
        """The next queued samples that start before ``target``, and where they start."""
        assert self.clock_origin is not None
        with self._lock:
            if not self._queue:
                return None
            captured_at, offset, data = self._queue[0]
            start = round((captured_at - self.clock_origin) * self.rate) + offset
            if target is not None and start >= target:
                return None
            if target is not None and start + len(data) > target:
                n = target - start  # this part now, the rest when the picture gets there
                self._queue[0] = (captured_at, offset + n, data[n:])
                return start, data[:n]
            self._queue.popleft()
            return start, data

    def _place(self, container, target: int | None) -> None:
        if self.clock_origin is None:
            return
        while (item := self._next(target)) is not None:
            start, data = item
            if start + len(data) <= self._cursor:
                self.dropped += len(data)
                continue
            if start < self._cursor:
                self.dropped += self._cursor - start
                data = data[self._cursor - start :]
                start = self._cursor
            if start > self._cursor:
                self._encode(container, np.zeros((start - self._cursor, self.channels), np.float32))
                self._cursor = start
            self._encode(container, data)
            self._cursor += len(data)

    def write_until(self, container, t: float) -> None:
        self._place(container, round(t * self.rate))

    def finish(self, container, to_end: bool) -> None:
        if self._finished:
            return
        self._finished = True
        if to_end:
            self._place(container, None)
        self._end(container)
