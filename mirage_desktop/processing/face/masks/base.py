"""Mask stages: each multiplies a soft 0..1 weight into ``FaceJob.mask`` (1 = the swapped face shows)."""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from mirage_desktop.processing.face.job import FaceJob

#: masks are drawn at most this size and scaled up: a soft mask has no detail worth more pixels
DRAW_MAX = 128


class MaskStage(Protocol):
    name: str

    def apply(self, job: FaceJob) -> None: ...


def soft_ellipse(
    size: int, centre: np.ndarray, axes: np.ndarray, angle_deg: float, feather: float
) -> np.ndarray:
    """A filled ellipse (crop coordinates) feathered by ``feather`` × size, as float32 size×size."""
    draw = min(size, DRAW_MAX)
    scale = draw / size
    canvas = np.zeros((draw, draw), np.uint8)
    # cv2.ellipse takes integers; a shift of 4 bits keeps sub-pixel placement
    c = tuple(int(np.rint(v * scale * 16)) for v in centre)
    a = tuple(max(1, int(np.rint(v * scale * 16))) for v in axes)
    cv2.ellipse(canvas, c, a, float(angle_deg), 0, 360, 255, -1, cv2.LINE_AA, shift=4)
    mask = canvas.astype(np.float32) / 255.0
    sigma = max(0.5, feather * draw)
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    if draw != size:
        mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)
    return mask


def eye_mouth_frame(kps: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Eye centre, mouth centre, eye distance and the eye line's angle (degrees) from 5 landmarks."""
    pts = np.asarray(kps, np.float64).reshape(5, 2)
    eyes = (pts[0] + pts[1]) / 2.0
    mouth = (pts[3] + pts[4]) / 2.0
    dx, dy = pts[1] - pts[0]
    return eyes, mouth, float(np.hypot(dx, dy)), float(np.degrees(np.arctan2(dy, dx)))
