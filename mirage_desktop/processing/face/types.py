"""Plain data shared by the face modules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class DetectedFace:
    """A face in one frame, in that frame's pixel coordinates."""

    box: np.ndarray  # (4,) float32: x1, y1, x2, y2
    kps: np.ndarray  # (5, 2) float32: left eye, right eye, nose, left mouth, right mouth
    score: float
    #: id kept across frames by the tracker (-1 when untracked)
    track_id: int = -1

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)
