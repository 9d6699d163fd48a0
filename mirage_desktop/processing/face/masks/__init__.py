"""The mask stages, one registry line each: name → factory taking the face look (see ``look``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mirage_desktop.processing.face.masks.base import MaskStage
from mirage_desktop.processing.face.masks.mouth import MouthMask
from mirage_desktop.processing.face.masks.occlusion import OcclusionMask
from mirage_desktop.processing.face.masks.shape import BoxMask, EllipseMask

#: the face's outline (one of them runs; the box is always applied as the paste's support)
FACE_MASKS: dict[str, Callable[[Any], MaskStage]] = {
    "box": lambda _look: BoxMask(),
    "ellipse": lambda _look: EllipseMask(),
}

#: optional masks that cut regions out of the outline, in this order
EXTRA_MASKS: dict[str, Callable[[Any], MaskStage]] = {
    "mouth": lambda look: MouthMask(look.mouth_mask_size),
    "occlusion": lambda _look: OcclusionMask(),
}

__all__ = ["EXTRA_MASKS", "FACE_MASKS", "MaskStage"]
