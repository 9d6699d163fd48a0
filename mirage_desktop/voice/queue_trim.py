"""Keep the playback queue from carrying a standing excess: the part of latency that never drains.

A queue that filled up once (a server that woke late, a stall, a slow first block) stays full for
ever, because the device takes audio exactly as fast as the engine makes it: every later word is
heard that much later. The trimmer watches the queue's low-water mark just before each block is
queued; when, over a whole window, it never fell to the target, the surplus is cut from the next
block, with a short fade-in so the cut is a dip rather than a click.
"""

from __future__ import annotations

import numpy as np


class StandingQueueTrimmer:
    def __init__(self, target: int, window_blocks: int = 50, min_cut: int = 240, fade: int = 96) -> None:
        #: samples that may stay queued (the jitter buffer)
        self.target = target
        self.window_blocks = window_blocks
        self.min_cut = min_cut
        self.fade = fade
        self._low: int | None = None
        self._seen = 0
        self.trimmed = 0
        self.cuts = 0

    def reset(self) -> None:
        self._low, self._seen = None, 0

    def observe(self, queued: int) -> None:
        """The queue's level just before a block is added."""
        self._low = queued if self._low is None else min(self._low, queued)
        self._seen += 1

    def apply(self, block: np.ndarray) -> np.ndarray:
        """Return ``block``, shortened by the standing excess once a full window has shown one."""
        if self._seen < self.window_blocks or self._low is None:
            return block
        excess = self._low - self.target
        self.reset()
        cut = min(excess, len(block) - self.fade)
        if cut < self.min_cut:
            return block
        out = block[cut:].copy()
        out[: self.fade] *= np.linspace(0.0, 1.0, self.fade, dtype=np.float32)
        self.trimmed += cut
        self.cuts += 1
        return out
