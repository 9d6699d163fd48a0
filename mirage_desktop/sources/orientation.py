"""A video's display matrix (phones record sideways and say how to turn the picture), applied as
players do.

FFmpeg's display matrix maps a stored pixel (x, y) to where it is shown: x' = a·x + c·y,
y' = b·x + d·y (plus a shift), with a, b, c, d its first two rows. For the turns and mirrors phones
write, each is 0 or ±1: either the axes stay (a, d = ±1: mirrored where negative) or they swap (b, c
= ±1: transposed, then mirrored where negative). Any other matrix (a turn by 30°, a scale) is left
alone and said so. Checked against OpenCV, whose reader turns such files upright on its own
(CAP_PROP_ORIENTATION_AUTO): Mirage reads files with PyAV, which does not.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import cv2
import numpy as np

_ONE = 1 << 16  # 16.16 fixed point


@dataclass(frozen=True, slots=True)
class Orientation:
    swap: bool = False  # transpose (a quarter turn, with the flips below)
    flip_rows: bool = False  # upside down, after the transpose
    flip_cols: bool = False  # mirrored left-right, after the transpose
    #: the matrix could not be applied (not a multiple of 90°): what it asked, for the message
    unsupported: str = ""

    @property
    def identity(self) -> bool:
        return not (self.swap or self.flip_rows or self.flip_cols)

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.identity:
            return image
        # the quarter and half turns through OpenCV (one pass, contiguous); the rest through numpy
        key = (self.swap, self.flip_rows, self.flip_cols)
        turn = _CV_TURNS.get(key)
        if turn is not None:
            return cv2.rotate(image, turn)
        out = image.transpose(1, 0, 2) if self.swap else image
        if self.flip_rows:
            out = out[::-1]
        if self.flip_cols:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)

    def describe(self) -> str:
        """What was done, in words: 'turned 90° clockwise', 'mirrored', ..."""
        return _WORDS[(self.swap, self.flip_rows, self.flip_cols)]


_CV_TURNS = {
    (True, True, False): cv2.ROTATE_90_COUNTERCLOCKWISE,
    (True, False, True): cv2.ROTATE_90_CLOCKWISE,
    (False, True, True): cv2.ROTATE_180,
}
_WORDS = {
    (False, False, False): "as stored",
    (True, True, False): "turned 90° counter-clockwise",
    (True, False, True): "turned 90° clockwise",
    (False, True, True): "turned 180°",
    (False, False, True): "mirrored left-right",
    (False, True, False): "flipped upside down",
    (True, False, False): "turned 90° clockwise and mirrored",
    (True, True, True): "turned 90° counter-clockwise and mirrored",
}


def from_display_matrix(raw: bytes) -> Orientation:
    """The orientation a 36-byte AV_FRAME_DATA_DISPLAYMATRIX asks for."""
    if len(raw) < 36:
        return Orientation()
    a, b, _, c, d = struct.unpack("<9i", raw[:36])[:5]

    def sign(v: int) -> int | None:
        return {_ONE: 1, -_ONE: -1, 0: 0}.get(v)

    sa, sb, sc, sd = (sign(v) for v in (a, b, c, d))
    if None not in (sa, sb, sc, sd):
        if sb == sc == 0 and sa and sd:
            return Orientation(False, sd < 0, sa < 0)
        if sa == sd == 0 and sb and sc:
            return Orientation(True, sb < 0, sc < 0)
    degrees = math.degrees(math.atan2(b, a))
    return Orientation(unsupported=f"a turn of {degrees:.0f}° (with scaling or shearing)")


def frame_orientation(frame) -> Orientation:
    """The orientation a decoded PyAV frame carries (FFmpeg copies the stream's matrix onto it)."""
    for item in frame.side_data:
        if "DISPLAYMATRIX" in str(getattr(item, "type", "")):
            return from_display_matrix(bytes(item))
    return Orientation()
