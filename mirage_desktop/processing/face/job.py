"""One face on its way through the per-face stages: the crop, the result and the mask, in one alignment.

Every stage of a face (swap → enhance → masks → colour → finish → paste) reads and writes the same
``FaceJob``, whose ``matrix`` is the current frame's alignment of that face: nothing is carried over
from an earlier frame, so a moving face never gets a result pasted at a stale position.

The one exception is what depends on the swapped result alone, not on where the face is: colour
transfer and sharpening. When frames show an earlier swap (temporal reuse), that work is done on the
first frame that shows the swap and kept in the swap's own ``SwapFinish`` (``FaceJob.finish``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mirage_desktop.processing.face.types import DetectedFace


@dataclass(slots=True)
class SwapFinish:
    """The colour-matched (and sharpened) result of one swap, made once for every frame that shows it.

    Colour statistics change slowly: a swap shown for a second of frames keeps the match computed on
    the first of them. One belongs to exactly one swap (a new swap comes with a new, empty one), and
    ``key`` holds the look's fields it was made with, so a changed look makes it again.
    """

    key: tuple[Any, ...] | None = None
    result: np.ndarray | None = None
    #: how often it was made (once per swap and look: the tests count it)
    made: int = 0

    def get(self, key: tuple[Any, ...]) -> np.ndarray | None:
        return self.result if self.key == key else None

    def put(self, key: tuple[Any, ...], result: np.ndarray) -> None:
        result.setflags(write=False)  # shared by the frames that show it: nobody may change it
        self.key, self.result = key, result
        self.made += 1


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
    #: an earlier swap shown again: its colour match made once (None: made on this frame)
    finish: SwapFinish | None = None
