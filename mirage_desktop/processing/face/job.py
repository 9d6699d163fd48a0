"""One face on its way through the per-face stages: the crop, the result and the mask, in one alignment.

Every stage of a face (swap → enhance → masks → colour → finish → paste) reads and writes the same
``FaceJob``, whose ``matrix`` is the current frame's alignment of that face: nothing is carried over
from an earlier frame, so a moving face never gets a result pasted at a stale position.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mirage_desktop.processing.face.types import DetectedFace


@dataclass(slots=True)
class FaceJob:
    face: DetectedFace
    #: side of the working crop (the swapper's size, or the enhancer's when one runs)
    size: int
    #: frame → crop (2×3)
    matrix: np.ndarray
    #: the crop of the frame as it came in (BGR uint8)
    original: np.ndarray
    #: what will be pasted (BGR uint8); starts as the swapped face
    result: np.ndarray
    #: paste weight per crop pixel (float32, 0..1); masks multiply into it
    mask: np.ndarray
    #: the 5 landmarks in crop coordinates
    kps: np.ndarray
    #: stage name → ms spent on this face
    ms: dict[str, float] = field(default_factory=dict)
    #: the alignment family of ``matrix`` (align.align_matrix), so a result can be re-aligned later
    template: str = "arcface"
