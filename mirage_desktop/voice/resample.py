"""Streaming polyphase resampling between the device rate and a converter's rate.

Block-wise ``resample_poly`` would treat every block edge as silence and leave a filter transient at
each join; this resampler keeps the input history, so chunked output equals one-shot output sample
for sample. It is causal: its cost in latency is the filter's group delay (``delay_s``, < 1 ms).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal


class StreamResampler:
    def __init__(self, src_rate: int, dst_rate: int) -> None:
        if src_rate <= 0 or dst_rate <= 0:
            raise ValueError("sample rates must be positive")
        g = math.gcd(src_rate, dst_rate)
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self.up = dst_rate // g
        self.down = src_rate // g
        self.identity = self.up == self.down
        half_len = 10 * max(self.up, self.down)
        if self.identity:
            self._taps = np.ones(1)
            self.delay_s = 0.0
        else:
            # Same Kaiser design scipy's resample_poly uses, scaled by `up` to keep unit gain.
            cutoff = 1.0 / max(self.up, self.down)
            self._taps = signal.firwin(2 * half_len + 1, cutoff, window=("kaiser", 5.0)) * self.up
            self.delay_s = half_len / (self.up * src_rate)
        hist = math.ceil(len(self._taps) / self.up) + 1
        self._hist_len = int(math.ceil(hist / self.down) * self.down)
        self._history = np.zeros(self._hist_len, dtype=np.float64)

    @property
    def quantum(self) -> int:
        """Input chunks must be a multiple of this many samples (so output lengths are whole)."""
        return self.down

    def output_length(self, n_in: int) -> int:
        return n_in * self.up // self.down

    def reset(self) -> None:
        self._history[:] = 0.0

    def process(self, chunk: np.ndarray) -> np.ndarray:
        n = len(chunk)
        if self.identity:
            return np.asarray(chunk, dtype=np.float32).copy()
        if n % self.down:
            raise ValueError(f"chunk of {n} samples is not a multiple of {self.down}")
        data = np.concatenate([self._history, chunk])
        y = signal.upfirdn(self._taps, data, self.up, self.down)
        start = self._hist_len * self.up // self.down
        out = y[start : start + n * self.up // self.down].astype(np.float32)
        self._history = data[-self._hist_len :].copy()
        return out


def resample(audio: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """One-shot resampling of a whole signal (files, test media)."""
    if src_rate == dst_rate:
        return np.asarray(audio, dtype=np.float32)
    g = math.gcd(src_rate, dst_rate)
    return signal.resample_poly(audio, dst_rate // g, src_rate // g).astype(np.float32)
