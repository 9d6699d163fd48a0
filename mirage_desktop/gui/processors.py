"""Small frame processors the window adds to the chain (no Qt here: they run on the processing thread).

- RawTapProcessor: hands a downscaled copy of the *camera* frame to a listener, before any processor
  changes it, for the raw picture-in-picture. The engine has a tap for the output only.
- AiLabelProcessor: stamps a small visible "AI-altered" label on the published video, so viewers
  can tell (the responsible-use option).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np

from mirage_desktop.frame import Frame
from mirage_desktop.processing.base import FrameProcessor

RawListener = Callable[[np.ndarray], None]


class RawTapProcessor(FrameProcessor):
    name = "raw_tap"

    def __init__(
        self, listener: RawListener, max_fps: float = 15.0, max_dim: int = 480, clock=time.perf_counter
    ) -> None:
        self._listener = listener
        self._interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self._max_dim = max_dim
        self._clock = clock
        self._last = -1e9

    def process(self, frame: Frame) -> Frame:
        now = self._clock()
        if now - self._last < self._interval:
            return frame
        self._last = now
        image = frame.image
        h, w = image.shape[:2]
        scale = min(1.0, self._max_dim / max(h, w))
        # resize (or copy) so the listener owns its pixels while later processors write into the frame
        small = (
            cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            if scale < 1.0
            else image.copy()
        )
        self._listener(small)
        return frame


class AiLabelProcessor(FrameProcessor):
    name = "ai_label"

    def __init__(self, text: str = "AI-altered") -> None:
        self.text = text

    def process(self, frame: Frame) -> Frame:
        img = frame.image
        if not img.flags.writeable:
            img = frame.image = img.copy()
        h, w = img.shape[:2]
        scale = max(0.35, h / 1080)
        font = cv2.FONT_HERSHEY_SIMPLEX
        (tw, th), base = cv2.getTextSize(self.text, font, 0.7 * scale, max(1, round(2 * scale)))
        pad = max(4, round(8 * scale))
        x2, y2 = w - pad, h - pad
        x1, y1 = max(0, x2 - tw - 2 * pad), max(0, y2 - th - base - 2 * pad)
        # a darkened box keeps the label readable on any background without hiding much of the picture
        img[y1:y2, x1:x2] = (img[y1:y2, x1:x2] * 0.4).astype(np.uint8)
        cv2.putText(
            img, self.text, (x1 + pad, y2 - pad - base // 2), font, 0.7 * scale, (255, 255, 255),
            max(1, round(2 * scale)), cv2.LINE_AA,
        )  # fmt: skip
        return frame
