"""Mouth mask: the user's real mouth shows through the swapped face (teeth, tongue, speech).

Swappers redraw the mouth from the source identity and lose what the mouth is doing; users of every
face-swap tool ask for the real one. An ellipse over the mouth corners, a little below their line
(the lower lip and an open jaw), cut out of the paste mask with a soft edge. ``size`` scales it.
"""

from __future__ import annotations

import numpy as np

from mirage_desktop.processing.face.job import FaceJob
from mirage_desktop.processing.face.masks.base import eye_mouth_frame, soft_ellipse

#: half-width in mouth widths (corner to corner) and height in half-widths, at size 1
HALF_WIDTH = 0.8
HEIGHT = 0.75
#: centre below the corners' line, in eye–mouth distances (open mouths drop the lower lip)
DROP = 0.12
FEATHER = 0.035


class MouthMask:
    name = "mouth"

    def __init__(self, size: float = 1.0) -> None:
        self.size = float(size)

    def shape(self, kps: np.ndarray, crop: int) -> np.ndarray:
        pts = np.asarray(kps, np.float64).reshape(5, 2)
        eyes, mouth, _eye_dist, angle = eye_mouth_frame(pts)
        width = float(np.hypot(*(pts[4] - pts[3])))
        down = mouth - eyes
        centre = mouth + down * DROP
        half = HALF_WIDTH * width * self.size
        return soft_ellipse(crop, centre, np.array([half, half * HEIGHT]), angle, FEATHER)

    def apply(self, job: FaceJob) -> None:
        if self.size <= 0:
            return
        job.mask *= 1.0 - self.shape(job.kps, job.size)
