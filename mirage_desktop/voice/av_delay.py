"""The voice's share of lip sync: a delay line that holds the converted voice back by the video's lead.

The virtual camera and the virtual microphone reach the call separately; the picture takes longer
through Mirage than the voice, so the voice waits for it. Audio is the master clock: the delay is
never made by stretching or resampling audio. It moves toward its target in small steps, each a
short crossfade between the old and the new read position (a few ms of the same signal at two
offsets), and in one jump when the block is silent, where nobody can hear it. Bounded: at most
``MAX_DELAY_MS`` (a video that lags more than that is dropped by the video side instead).

Runs on the voice scheduler thread (``BlockPipeline.finish``); ``set_target_ms`` is safe from any
thread (one float, read once per block).
"""

from __future__ import annotations

import numpy as np

#: the most the voice is held back for the picture
MAX_DELAY_MS = 300.0
#: the largest change of delay per block while there is sound (larger changes take several blocks)
STEP_MS = 5.0
#: below this block RMS (dBFS) the delay jumps straight to its target
SILENT_DB = -55.0


class SyncDelay:
    def __init__(self, rate: int, max_block: int, max_delay_ms: float = MAX_DELAY_MS) -> None:
        self.rate = int(rate)
        self.max_delay = round(max_delay_ms / 1000.0 * rate)
        self._step = max(1, round(STEP_MS / 1000.0 * rate))
        self._buf = np.zeros(self.max_delay + 2 * max_block + 1, dtype=np.float32)
        self._target = 0
        self.delay = 0  # samples, what the last block used
        self.changes = 0

    @property
    def delay_ms(self) -> float:
        return self.delay * 1000.0 / self.rate

    @property
    def target_ms(self) -> float:
        return self._target * 1000.0 / self.rate

    def set_target_ms(self, ms: float) -> float:
        """Aim for ``ms`` of delay (clamped to 0..max); returns what will be aimed for."""
        value = float(ms) if np.isfinite(ms) else 0.0
        limit_ms = self.max_delay * 1000.0 / self.rate
        self._target = round(min(max(value, 0.0), limit_ms) / 1000.0 * self.rate)
        return self.target_ms

    def process(self, block: np.ndarray) -> np.ndarray:
        n = len(block)
        buf = self._buf
        buf[:-n] = buf[n:]
        buf[-n:] = block
        target, old = self._target, self.delay
        if target == old == 0:
            return block
        rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64)))) if n else 0.0
        silent = rms <= 10 ** (SILENT_DB / 20.0)
        new = target if silent else old + int(np.clip(target - old, -self._step, self._step))
        end = len(buf)
        at_new = buf[end - n - new : end - new]
        if new == old:
            return at_new.copy()
        self.changes += 1
        self.delay = new
        if silent:
            return at_new.copy()
        at_old = buf[end - n - old : end - old]
        fade = np.linspace(0.0, 1.0, n, dtype=np.float32)
        return at_old * (1.0 - fade) + at_new * fade
