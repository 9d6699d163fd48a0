"""Draws what the processors found (boxes, labels, landmarks) and the live fps/latency,
so it is visible at a glance that the loop is alive and what it is doing."""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np

from mirage_desktop.engine.metrics import MetricsSnapshot
from mirage_desktop.frame import Frame
from mirage_desktop.processing.base import FrameProcessor

HUD_REFRESH_S = 0.25


class DebugOverlayProcessor(FrameProcessor):
    name = "debug_overlay"

    def __init__(
        self, stats: Callable[[], MetricsSnapshot | None] | None = None, clock=time.perf_counter
    ) -> None:
        self._stats = stats
        self._clock = clock
        self._hud = "Mirage"
        self._hud_at = -1e9

    def _hud_text(self) -> str:
        # Snapshots sort the latency window; refreshing a few times a second is plenty for eyes.
        now = self._clock()
        if self._stats is not None and now - self._hud_at >= HUD_REFRESH_S:
            self._hud_at = now
            snap = self._stats()
            if snap is not None:
                lat = "--" if snap.latency_ms_p50 is None else f"{snap.latency_ms_p50:.0f}"
                p95 = "--" if snap.latency_ms_p95 is None else f"{snap.latency_ms_p95:.0f}"
                self._hud = (
                    f"Mirage  in {snap.fps_in:4.1f} fps  out {snap.fps_out:4.1f} fps  "
                    f"latency p50 {lat} ms p95 {p95} ms  dropped {snap.dropped_total}"
                )
        return self._hud

    def process(self, frame: Frame) -> Frame:
        img = frame.image
        if not img.flags.writeable:
            img = img.copy()
            frame.image = img
        h = img.shape[0]
        scale = max(0.4, h / 720)
        thick = max(1, round(2 * scale))
        for ann in frame.annotations:
            x1, y1, x2, y2 = (round(float(v)) for v in ann.box)
            cv2.rectangle(img, (x1, y1), (x2, y2), ann.color, thick, cv2.LINE_AA)
            if ann.label:
                cv2.putText(
                    img, ann.label, (x1, max(12, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6 * scale, ann.color, thick, cv2.LINE_AA,
                )  # fmt: skip
            if ann.points is not None:
                for px, py in np.asarray(ann.points, dtype=np.float32).reshape(-1, 2):
                    cv2.circle(img, (int(px), int(py)), thick + 1, (0, 200, 255), -1, cv2.LINE_AA)
        text = f"{self._hud_text()}  #{frame.index}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, 1)
        pad = int(6 * scale)
        x2 = min(img.shape[1], tw + 2 * pad)
        y2 = min(h, th + base + 2 * pad)
        # Darken the HUD box so the text reads on any background.
        img[0:y2, 0:x2] = (img[0:y2, 0:x2] * 0.35).astype(np.uint8)
        cv2.putText(
            img, text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (255, 255, 255), 1, cv2.LINE_AA
        )  # fmt: skip
        return frame
