"""Noise gate: silence stays silent between phrases, without clicks when it opens or closes."""

from __future__ import annotations

import numpy as np


def rms_db(block: np.ndarray) -> float:
    if len(block) == 0:
        return -120.0
    power = float(np.dot(block, block)) / len(block)
    return 10.0 * np.log10(power + 1e-12)


class NoiseGate:
    """Opens when the input block is above ``threshold_db`` (dBFS RMS), closes after ``hold_s`` below.

    Gain moves linearly across one block, so there is never a step in the output. A threshold of
    ``None`` disables the gate.
    """

    def __init__(self, threshold_db: float | None, sample_rate: int, hold_s: float = 0.25) -> None:
        self.threshold_db = threshold_db
        self.hold_samples = int(hold_s * sample_rate)
        self._gain = 0.0 if threshold_db is not None else 1.0
        self._below = self.hold_samples  # start closed: nothing heard yet
        self.is_open = threshold_db is None

    def apply(self, level_db: float, block: np.ndarray) -> np.ndarray:
        """Gate ``block`` in place given the input level of the same stretch of audio."""
        if self.threshold_db is None:
            return block
        if level_db >= self.threshold_db:
            self._below = 0
        else:
            self._below += len(block)
        target = 1.0 if self._below < self.hold_samples else 0.0
        start = self._gain
        self._gain = target
        self.is_open = target > 0.0
        if start == target == 1.0:
            return block
        if start == target == 0.0:
            block[:] = 0.0
            return block
        block *= np.linspace(start, target, len(block), dtype=np.float32)
        return block
