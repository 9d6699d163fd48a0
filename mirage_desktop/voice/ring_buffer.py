"""Single-producer/single-consumer audio ring buffer shared between an audio callback and a thread.

Each side only ever advances its own counter (``_written`` by the producer, ``_read`` by the consumer),
and the counters grow monotonically, so no lock is needed in CPython: a plain int store is atomic and
the data is copied before the counter that publishes it moves. Nothing here allocates per call
beyond numpy view objects, so it is safe inside a PortAudio callback.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._buf = np.zeros(capacity, dtype=np.float32)
        self._written = 0
        self._read = 0
        #: samples the producer had to drop because the ring was full (producer-owned)
        self.overflow_samples = 0
        self.overflow_events = 0
        #: samples the consumer had to zero-fill because the ring was empty (consumer-owned)
        self.underflow_samples = 0
        self.underflow_events = 0

    def available(self) -> int:
        return self._written - self._read

    def free(self) -> int:
        return self.capacity - (self._written - self._read)

    @property
    def total_written(self) -> int:
        return self._written

    @property
    def total_read(self) -> int:
        return self._read

    def write(self, data: np.ndarray) -> int:
        """Copy as much of ``data`` as fits; the rest is dropped and counted. Returns samples written."""
        count = len(data)
        space = self.capacity - (self._written - self._read)
        n = count if count <= space else space
        if n < count:
            self.overflow_samples += count - n
            self.overflow_events += 1
        if n <= 0:
            return 0
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        self._buf[start : start + first] = data[:first]
        if first < n:
            self._buf[: n - first] = data[first:n]
        self._written += n
        return n

    def read_into(self, out: np.ndarray) -> int:
        """Fill ``out``; what the ring cannot supply is zeroed and counted. Returns samples read."""
        want = len(out)
        have = self._written - self._read
        n = want if want <= have else have
        if n > 0:
            start = self._read % self.capacity
            first = min(n, self.capacity - start)
            out[:first] = self._buf[start : start + first]
            if first < n:
                out[first:n] = self._buf[: n - first]
            self._read += n
        if n < want:
            out[n:] = 0.0
            self.underflow_samples += want - n
            self.underflow_events += 1
        return n

    def skip(self, count: int) -> int:
        """Consumer side: discard up to ``count`` of the oldest samples (used to cap latency)."""
        n = min(max(count, 0), self._written - self._read)
        self._read += n
        return n
