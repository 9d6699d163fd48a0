"""Occlusion fallback: where the swapped face disagrees wildly with what the camera sees, keep the camera.

A hand, a cup or a microphone in front of the face is redrawn by the swapper as more face. Without a
segmentation model (XSeg) the tell is disagreement: a swap changes a face's features a little
everywhere, an occluder makes the swap differ a lot in one region. So the low-passed colour
difference between the swapped and the original crop is compared with its own typical level inside
the face, and where it is far above that (and above an absolute floor) the original is kept.
"""

from __future__ import annotations

import cv2
import numpy as np

from mirage_desktop.processing.face.job import FaceJob

#: work at this size (the decision is coarse by nature)
WORK = 64
#: "far above typical": median + K × MAD of the difference inside the mask, and at least FLOOR (0–255)
K = 4.0
FLOOR = 40.0


class OcclusionMask:
    name = "occlusion"

    def occluded(self, job: FaceJob) -> np.ndarray:
        size = job.size
        small = (WORK, WORK) if size > WORK else (size, size)
        a = cv2.resize(job.result, small, interpolation=cv2.INTER_AREA).astype(np.float32)
        b = cv2.resize(job.original, small, interpolation=cv2.INTER_AREA).astype(np.float32)
        diff = np.abs(cv2.GaussianBlur(a - b, (0, 0), 1.5)).max(axis=2)
        weight = cv2.resize(job.mask, small, interpolation=cv2.INTER_AREA)
        inside = diff[weight > 0.5]
        if inside.size < 16:
            return np.zeros((size, size), np.float32)
        median = float(np.median(inside))
        mad = float(np.median(np.abs(inside - median))) + 1e-3
        limit = max(FLOOR, median + K * mad)
        hit = (diff > limit).astype(np.uint8)
        hit = cv2.morphologyEx(hit, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
        soft = cv2.GaussianBlur(hit.astype(np.float32), (0, 0), 1.5)
        soft = np.clip(soft * 2.0, 0.0, 1.0)
        return cv2.resize(soft, (size, size), interpolation=cv2.INTER_LINEAR)

    def apply(self, job: FaceJob) -> None:
        job.mask *= 1.0 - self.occluded(job)
