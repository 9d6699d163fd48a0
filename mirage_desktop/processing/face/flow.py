"""Moving a face from one frame to the next with sparse optical flow.

A grid of points over the face (eyes to mouth, plus a margin) is followed with pyramidal
Lucas–Kanade, checked by tracking back (forward–backward error), and a similarity transform
(rotation, uniform scale, translation) is fitted robustly with RANSAC. The transform then moves
the five keypoints and the box. This costs a fraction of a millisecond per face, where running
the detector costs tens.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class FlowParams:
    #: points per side of the grid laid over the face
    grid: int = 7
    #: grid extends beyond the keypoints' bounding box by this share of its larger side
    margin: float = 0.35
    #: the face is tracked in a crop shrunk so the grid spans at most this many pixels: enough
    #: texture for sub-pixel flow, and a cost that does not grow with the camera's resolution
    face_pixels: int = 80
    #: the crop reaches this share of the grid's span beyond it, the largest per-frame motion followed
    search_margin: float = 0.3
    #: Lucas–Kanade window (pixels of the crop) and pyramid levels above the base
    window: int = 13
    levels: int = 2
    #: a point whose back-tracked position misses its start by more than this (crop pixels) is unreliable
    max_fb_error: float = 0.7
    #: RANSAC inlier distance (crop pixels)
    ransac_threshold: float = 1.0
    #: faces do not grow or shrink by more than this per frame; a larger fitted change is an error
    max_scale_change: float = 0.25


@dataclass(frozen=True, slots=True)
class FlowResult:
    """The fitted frame-to-frame similarity and how much to trust it.

    ``confidence`` is the share of grid points that were tracked both ways, came back within
    ``max_fb_error`` of where they started, and agree with the fitted transform (RANSAC inliers):
    1.0 when the whole face moved rigidly, near 0 after a cut, an occlusion or the face leaving.
    """

    matrix: np.ndarray | None  # 2×3, previous → current, tracking-image pixels
    confidence: float
    points: int


def face_grid(kps: np.ndarray, params: FlowParams) -> np.ndarray:
    """(grid², 2) float32 points spread over the face around its keypoints."""
    lo, hi = kps.min(axis=0), kps.max(axis=0)
    pad = params.margin * float(max(hi - lo))
    xs = np.linspace(lo[0] - pad, hi[0] + pad, params.grid, dtype=np.float32)
    ys = np.linspace(lo[1] - pad, hi[1] + pad, params.grid, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


def _track_crop(prev: np.ndarray, cur: np.ndarray, points: np.ndarray, params: FlowParams) -> FlowResult:
    total = len(points)
    win = (params.window, params.window)
    start = points.reshape(-1, 1, 2)
    moved, ok_fwd, _ = cv2.calcOpticalFlowPyrLK(prev, cur, start, None, winSize=win, maxLevel=params.levels)
    back, ok_back, _ = cv2.calcOpticalFlowPyrLK(cur, prev, moved, None, winSize=win, maxLevel=params.levels)
    fb_error = np.linalg.norm(back.reshape(-1, 2) - points, axis=1)
    good = (ok_fwd.ravel() == 1) & (ok_back.ravel() == 1) & (fb_error < params.max_fb_error)
    if int(good.sum()) < 3:
        return FlowResult(None, 0.0, total)
    matrix, inliers = cv2.estimateAffinePartial2D(
        points[good],
        moved.reshape(-1, 2)[good],
        method=cv2.RANSAC,
        ransacReprojThreshold=params.ransac_threshold,
        maxIters=200,
    )
    if matrix is None or inliers is None:
        return FlowResult(None, 0.0, total)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if abs(scale - 1.0) > params.max_scale_change:
        return FlowResult(None, 0.0, total)
    return FlowResult(matrix, float(inliers.sum()) / total, total)


def track_face(
    prev_grey: np.ndarray, cur_grey: np.ndarray, kps: np.ndarray, params: FlowParams
) -> FlowResult:
    """Fit the similarity that carries the face at ``kps`` (grey-image pixels) into the current frame.

    Both frames are cut to the same window around the face (and shrunk to ``face_pixels``), so the
    cost per face is fixed whatever the frame size. The returned matrix is in grey-image pixels.
    """
    grid = face_grid(kps, params)
    lo, hi = grid.min(axis=0), grid.max(axis=0)
    span = float(max(hi - lo))
    height, width = cur_grey.shape[:2]
    reach = params.search_margin * span
    x0, y0 = max(0, int(lo[0] - reach)), max(0, int(lo[1] - reach))
    x1, y1 = min(width, int(np.ceil(hi[0] + reach))), min(height, int(np.ceil(hi[1] + reach)))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return FlowResult(None, 0.0, len(grid))  # the face has left the frame
    prev, cur = prev_grey[y0:y1, x0:x1], cur_grey[y0:y1, x0:x1]
    shrink = min(1.0, params.face_pixels / max(span, 1.0))
    if shrink < 1.0:
        size = (max(8, round((x1 - x0) * shrink)), max(8, round((y1 - y0) * shrink)))
        prev = cv2.resize(prev, size, interpolation=cv2.INTER_AREA)
        cur = cv2.resize(cur, size, interpolation=cv2.INTER_AREA)
    # Exact per-axis factors after rounding the crop size, so crop and grey coordinates agree.
    factor = np.array([prev.shape[1] / (x1 - x0), prev.shape[0] / (y1 - y0)], np.float32)
    origin = np.array([x0, y0], np.float32)
    result = _track_crop(prev, cur, ((grid - origin) * factor).astype(np.float32), params)
    if result.matrix is None:
        return result
    # Crop → grey pixels: p_grey = p_crop / factor + origin, applied on both sides of the fit.
    linear = result.matrix[:, :2] * (factor[np.newaxis, :] / factor[:, np.newaxis])
    shift = result.matrix[:, 2] / factor + origin - linear @ origin
    return FlowResult(np.hstack([linear, shift[:, np.newaxis]]), result.confidence, result.points)
