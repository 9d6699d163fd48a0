"""What every sink provides."""

from __future__ import annotations

from abc import ABC, abstractmethod

import cv2
import numpy as np

from mirage_desktop.frame import Frame


class SinkError(RuntimeError):
    """The sink cannot be used; the message says what to do."""


class FrameSink(ABC):
    name: str = "sink"

    @abstractmethod
    def open(self, width: int, height: int, fps: float) -> None:
        """Prepare for frames of this size. Raises SinkError with a user-facing message."""

    @abstractmethod
    def write(self, frame: Frame) -> None:
        """Deliver one frame (BGR, any size: sinks with a fixed size fit it)."""

    @abstractmethod
    def close(self) -> None: ...

    def pace(self) -> bool:
        """Sleep until the sink wants its next frame; False when the sink does not pace."""
        return False


def fit_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Letterbox ``image`` into width×height, keeping its aspect ratio.

    Sinks like a virtual camera are opened once with a fixed size; a source that changes
    size (camera reconnected at another resolution, test pattern fallback) must not break them.
    """
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.zeros((height, width, 3), np.uint8)
    y0, x0 = (height - nh) // 2, (width - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = resized
    return out
