"""An animated test pattern, so the app always has something alive to show."""

from __future__ import annotations

import math
import time

import cv2
import numpy as np

from mirage_desktop.frame import Frame
from mirage_desktop.sources.base import FrameSource, Pacer, SourceInfo

_BARS_BGR = [
    (192, 192, 192),
    (0, 192, 192),
    (192, 192, 0),
    (0, 192, 0),
    (192, 0, 192),
    (0, 0, 192),
    (192, 0, 0),
]


class TestPatternSource(FrameSource):
    """Colour bars, a moving ball and a frame counter; an optional message line explains
    why the pattern is showing (e.g. "camera not found")."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        message: str = "",
        paced: bool = True,
        clock=time.perf_counter,
    ) -> None:
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.message = message
        self._paced = paced
        self._clock = clock
        self._pacer = Pacer(fps, clock=clock)
        self._background: np.ndarray | None = None
        self._index = 0
        self._info: SourceInfo | None = None

    def open(self) -> SourceInfo:
        self._background = self._make_background()
        self._info = SourceInfo("Test pattern", "test", self.width, self.height, self.fps)
        return self._info

    @property
    def info(self) -> SourceInfo | None:
        return self._info

    def _make_background(self) -> np.ndarray:
        h, w = self.height, self.width
        img = np.zeros((h, w, 3), np.uint8)
        bar_w = w / len(_BARS_BGR)
        for i, color in enumerate(_BARS_BGR):
            img[: int(h * 0.66), int(i * bar_w) : int((i + 1) * bar_w)] = color
        ramp = np.linspace(0, 255, w, dtype=np.float32).astype(np.uint8)
        img[int(h * 0.66) : int(h * 0.8)] = ramp[None, :, None]
        img[int(h * 0.8) :] = (40, 32, 24)
        return img

    def read(self) -> Frame:
        if self._background is None:
            self.open()
        if self._paced:
            self._pacer.wait()
        assert self._background is not None
        img = self._background.copy()
        h, w = self.height, self.width
        t = self._index / self.fps
        cx = int(w / 2 + (w * 0.35) * math.sin(t * 1.3))
        cy = int(h * 0.4 + (h * 0.2) * math.sin(t * 2.1))
        cv2.circle(img, (cx, cy), max(8, h // 12), (255, 255, 255), -1, cv2.LINE_AA)
        scale = max(0.4, h / 720)
        cv2.putText(
            img, "MIRAGE TEST PATTERN", (int(20 * scale), int(h * 0.87)),
            cv2.FONT_HERSHEY_SIMPLEX, 1.0 * scale, (255, 255, 255), max(1, int(2 * scale)), cv2.LINE_AA,
        )  # fmt: skip
        cv2.putText(
            img, f"frame {self._index}  t={t:7.2f}s", (int(20 * scale), int(h * 0.93)),
            cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, (200, 200, 200), max(1, int(scale)), cv2.LINE_AA,
        )  # fmt: skip
        if self.message:
            cv2.putText(
                img, self.message, (int(20 * scale), int(h * 0.98)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (80, 200, 255), max(1, int(scale)), cv2.LINE_AA,
            )  # fmt: skip
        frame = Frame(img, self._index, self._clock(), source="test")
        self._index += 1
        return frame

    def close(self) -> None:
        self._background = None
