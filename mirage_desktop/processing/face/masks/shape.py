"""The face's outline: the aligned square (``box``) or an ellipse fitted to the landmarks (``ellipse``).

The box is what the first paste used: in the aligned crop its corners hold cheeks, hair and background,
so where skin tones differ the square shows. The ellipse follows the face from brow to chin, set from
this frame's own landmarks (eyes → mouth distance and eye line), so it turns and scales with the face.
Proportions measured on the ArcFace template (eye–mouth 40.7 px, eye–eye 35.2 px at 112): brow ≈ 0.85,
chin ≈ 0.85 eye–mouth distances beyond the eyes and the mouth; width ≈ 2.64 eye distances
(widened by measurement, see ``shape``).
"""

from __future__ import annotations

import functools

import numpy as np

from mirage_desktop.processing.face.job import FaceJob
from mirage_desktop.processing.face.masks.base import eye_mouth_frame, soft_ellipse
from mirage_desktop.processing.face.paste import MaskShape, build_mask

#: above the eyes and below the mouth, in eye–mouth distances
BROW, CHIN = 0.85, 0.85
#: half-width in eye distances
HALF_WIDTH = 1.32
FEATHER = 0.05


@functools.cache
def box_mask(size: int) -> np.ndarray:
    """The feathered aligned square for a ``size``² crop (read-only, cached)."""
    mask, _support = build_mask(size, MaskShape())
    mask.setflags(write=False)
    return mask


class BoxMask:
    """The aligned square with a feathered edge (the paste's own support; always applied)."""

    name = "box"

    def apply(self, job: FaceJob) -> None:
        job.mask *= box_mask(job.size)


class EllipseMask:
    name = "ellipse"

    def __init__(self, feather: float = FEATHER) -> None:
        self.feather = feather

    def shape(self, kps: np.ndarray, size: int) -> np.ndarray:
        eyes, mouth, eye_dist, angle = eye_mouth_frame(kps)
        down = mouth - eyes
        span = float(np.hypot(*down))
        unit = down / span if span > 1e-6 else np.array([0.0, 1.0])
        top = eyes - unit * BROW * span
        bottom = mouth + unit * CHIN * span
        centre = (top + bottom) / 2.0
        axes = np.array([HALF_WIDTH * eye_dist, float(np.hypot(*(bottom - top))) / 2.0])
        # not shrunk by the feather: measured (scripts/bench_face_quality.py, dlib distance to the
        # source over 12 pairs), an ellipse pulled in by its feather lost identity at the cheeks
        # (0.47 vs the box's 0.39); this one, 1.2× wider than the first, scored 0.36
        axes = np.maximum(axes, 1.0)
        return soft_ellipse(size, centre, axes, angle, self.feather)

    def apply(self, job: FaceJob) -> None:
        job.mask *= self.shape(job.kps, job.size)
