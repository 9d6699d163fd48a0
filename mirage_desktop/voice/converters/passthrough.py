"""Pass-through: measures the I/O path itself (and exercises resampling when given a rate)."""

from __future__ import annotations

import numpy as np

from mirage_desktop.voice.converters.base import VoiceConverter


class PassthroughConverter(VoiceConverter):
    name = "passthrough"

    def __init__(self, sample_rate: int | None = None) -> None:
        self.sample_rate = sample_rate

    def convert(self, window: np.ndarray) -> np.ndarray:
        return window
