"""Paste-back of a swapped face crop, touching only the face's own region of the frame.

The reference (insightface ``INSwapper.get(paste_back=True)``) warps three full-frame images and
builds its mask at full frame size on every call: 24 ms per face at 720p on a laptop CPU. Here the
feathered mask is made once in aligned (crop) space, and the crop and mask are warped straight into
the face's bounding rectangle, so the cost follows the face's size, not the frame's.

Three blends:

* ``detail``: add the swap's *change* to the frame, ``frame + mask·warp(swapped − crop)``.
  The 128² crop cannot hold the detail of a face larger than 128 px (webcam faces at 720p are
  200–300 px), so replacing the face with the upscaled crop blurs it; adding only what the swapper
  changed keeps the frame's own skin texture and sharpness above the crop's resolution. Where the
  swapper changes nothing the frame comes back bit-exact.
* ``replace`` (the face look's default, ``FaceLook.paste_mode``: ``detail`` let the original's eyes
  ghost through the swap): the classic ``frame·(1−mask) + mask·warp(swapped)`` of Deep-Live-Cam and
  insightface.
* ``mix``: ``replace`` plus a share (``detail``, 0..1) of the frame's own detail above the crop's
  resolution, ``frame − warp(crop)``: between the two (1 = ``detail``, 0 = ``replace``).

``paste`` takes an optional per-face mask (the face stages' outline, mouth, occlusion, opacity), which
must lie inside this paster's box mask: the box's support bounds the rectangle that is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: how a face is blended into the frame (see the module docstring)
PASTE_MODES = ("detail", "replace", "mix")


@dataclass(frozen=True, slots=True)
class MaskShape:
    """The blend mask in aligned space, as fractions of the crop side."""

    #: fully-transparent border: the template crop's edges hold hair/background, not face
    margin: float = 0.06
    #: width of the soft ramp from transparent to opaque (Gaussian sigma)
    feather: float = 0.06
    #: "detail" keeps the frame's detail finer than the crop; "replace" pastes the crop as is
    mode: str = "detail"


def build_mask(size: int, shape: MaskShape) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A float32 size×size mask (1 inside, soft edge, exactly 0 near the border) and its support box."""
    sigma = max(0.5, shape.feather * size)
    inset = round(shape.margin * size + 2.5 * sigma)  # the blur must die out inside the margin
    mask = np.zeros((size, size), np.float32)
    mask[inset : size - inset, inset : size - inset] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    mask[mask < 1.0 / 512.0] = 0.0  # below half a grey level: keep the original pixel exactly
    ys, xs = np.nonzero(mask)
    support = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return mask, support


class FacePaster:
    """Blends swapped crops back into frames in place; reusable across frames and faces."""

    def __init__(self, crop_size: int = 128, shape: MaskShape | None = None) -> None:
        shape = shape or MaskShape()
        if shape.mode not in PASTE_MODES:
            raise ValueError(f"paste mode must be one of {', '.join(PASTE_MODES)}, got {shape.mode!r}")
        self.crop_size = crop_size
        self.mode = shape.mode
        self.mask, self.support = build_mask(crop_size, shape)
        self._mask3 = np.repeat(self.mask[:, :, None], 3, axis=2)
        x0, y0, x1, y1 = self.support
        self._corners = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], dtype=np.float64).T

    def roi(self, matrix: np.ndarray, frame_shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
        """The frame rectangle (x0, y0, x1, y1) the mask can touch, clipped to the frame."""
        inverse = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
        pts = inverse @ self._corners
        h, w = frame_shape[:2]
        x0 = max(0, int(np.floor(pts[0].min())))
        y0 = max(0, int(np.floor(pts[1].min())))
        x1 = min(w, int(np.ceil(pts[0].max())) + 1)
        y1 = min(h, int(np.ceil(pts[1].max())) + 1)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1

    def paste(
        self,
        frame: np.ndarray,
        swapped: np.ndarray,
        matrix: np.ndarray,
        original: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        mode: str | None = None,
        detail: float = 0.5,
    ) -> tuple[int, int, int, int] | None:
        """Blend ``swapped`` (the aligned crop, BGR uint8) into ``frame`` in place.

        ``matrix`` maps frame → crop (what aligned the crop); ``original`` is the crop the swapper was
        given (needed by the ``detail`` blend; without it ``replace`` is used). Returns the touched
        rectangle, or None
        when the face lies outside the frame. Pixels outside that rectangle are never read or written.
        """
        box = self.roi(matrix, frame.shape)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        size = (x1 - x0, y1 - y0)
        # frame→crop matrix re-based on the ROI origin; WARP_INVERSE_MAP samples the crop directly
        to_crop = np.asarray(matrix, dtype=np.float64).copy()
        to_crop[:, 2] += to_crop[:, :2] @ np.array([x0, y0], dtype=np.float64)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        region = frame[y0:y1, x0:x1]
        mode = mode or self.mode
        weight = self.mask if mask is None else mask
        if mode not in ("detail", "mix") or original is None:
            # the crop and its weight are warped apart; no 3-channel weight is needed (building one
            # was a fifth of this blend's cost)
            face = cv2.warpAffine(swapped, to_crop, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
            alpha = cv2.warpAffine(
                weight, to_crop, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0
            )
            region[...] = cv2.blendLinear(face, region, alpha, 1.0 - alpha)
            return box
        weight3 = self._mask3 if mask is None else cv2.merge((weight, weight, weight))
        if mode == "mix":
            # out = region + m·(swapped − region) + detail·m·(region − original), all in ROI space:
            # region·(1 − m(1 − detail)) + m·(swapped − detail·original)
            keep = float(np.clip(detail, 0.0, 1.0))
            target = cv2.addWeighted(swapped.astype(np.float32), 1.0, original.astype(np.float32), -keep, 0.0)
            target = cv2.multiply(target, weight3)
            target = cv2.warpAffine(
                target, to_crop, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0
            )
            alpha = cv2.warpAffine(
                weight, to_crop, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0
            )
            keep_frame = 1.0 - alpha * (1.0 - keep)
            out = region.astype(np.float32) * keep_frame[:, :, None] + target
            region[...] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
            return box
        # detail: mask the change in crop space (16k pixels) so only one image is warped at ROI size
        change = cv2.subtract(swapped, original, dtype=cv2.CV_32F)
        change = cv2.multiply(change, weight3)
        change = cv2.warpAffine(
            change, to_crop, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        region[...] = cv2.add(region, change, dtype=cv2.CV_8U)
        return box
