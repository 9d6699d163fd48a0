"""The plug-in shape every voice converter follows (pass-through, pitch shifter, RVC models later).

The engine hands a converter one *window* of mono float32 audio at the converter's own rate: left
context, then the newest samples. The converter returns a window of the same length, time-aligned
with its input. Windows overlap, so a converter may be stateless; the engine splices the newest part
with SOLA. A converter declares what it needs so the engine can size windows and report latency:

- ``sample_rate``: the rate it runs at (``None``: whatever rate the device runs at);
- ``context_s``: left context it wants before the newest block (quality, not latency);
- ``lookahead_s``: how much of the window's end it cannot produce well yet (it adds to latency).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


class VoiceConverter(ABC):
    #: short identifier for metrics, logs and the CLI
    name: str = "converter"
    sample_rate: int | None = None
    context_s: float = 0.0
    lookahead_s: float = 0.0

    def start(self, sample_rate: int) -> None:  # noqa: B027 - optional hook
        """Load models or precompute tables for ``sample_rate``; may raise VoiceError."""

    @abstractmethod
    def convert(self, window: np.ndarray) -> np.ndarray:
        """Convert one window; runs on the inference thread, never on the audio callback."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    def counters(self) -> dict[str, Any]:
        return {}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sample_rate": self.sample_rate,
            "context_ms": round(self.context_s * 1000, 2),
            "lookahead_ms": round(self.lookahead_s * 1000, 2),
        }
