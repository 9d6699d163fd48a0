"""Gaussian noise addressed by its position in the stream: the same index always gives the same
value (overlapping calls re-synthesize the same frames and must splice without a seam), yet the
noise never repeats (RVC draws fresh noise on every call; a table that wraps every few seconds
would make a long whisper — all noise — audibly loop).

The stream is cut into fixed blocks; block ``b`` is drawn from a generator seeded with
``(seed, b)``, so any range is reproducible without keeping the past. The few blocks a call
touches are cached.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np


class IndexedNoise:
    """Standard normal float32 noise, ``rows`` values per stream index, addressable by index."""

    def __init__(self, seed: int, block: int, rows: int = 1, cached_blocks: int = 8) -> None:
        if block <= 0 or rows <= 0:
            raise ValueError("block and rows must be positive")
        self.seed = seed
        self.block = block
        self.rows = rows
        self._cached = cached_blocks
        self._blocks: OrderedDict[int, np.ndarray] = OrderedDict()

    def _get_block(self, b: int) -> np.ndarray:
        got = self._blocks.get(b)
        if got is None:
            rng = np.random.default_rng([self.seed, b])
            got = rng.standard_normal((self.rows, self.block), dtype=np.float32)
            self._blocks[b] = got
            while len(self._blocks) > self._cached:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(b)
        return got

    def take(self, start: int, stop: int) -> np.ndarray:
        """Noise for stream indices ``start`` ≤ i < ``stop`` (start ≥ 0): [rows, stop − start]."""
        if start < 0 or stop < start:
            raise ValueError(f"bad range {start}..{stop}")
        out = np.empty((self.rows, stop - start), dtype=np.float32)
        i = start
        while i < stop:
            b, off = divmod(i, self.block)
            n = min(self.block - off, stop - i)
            out[:, i - start : i - start + n] = self._get_block(b)[:, off : off + n]
            i += n
        return out
