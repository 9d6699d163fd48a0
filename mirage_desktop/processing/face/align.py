"""Five-point face alignment to the ArcFace template, and the crops the face models read."""

from __future__ import annotations

import cv2
import numpy as np

#: the standard 5-point ArcFace template in a 112×112 crop (eyes, nose tip, mouth corners)
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def template_for(size: int) -> np.ndarray:
    """The template for a ``size``×``size`` crop, placed the way insightface places it.

    Multiples of 112 scale the template; multiples of 128 keep the 112 scale and shift it right by
    8 px per 128 (that is how inswapper's training crops were made, so the swapper expects it).
    """
    if size % 112 == 0:
        return ARCFACE_TEMPLATE_112 * (size / 112.0)
    if size % 128 == 0:
        ratio = size / 128.0
        out = ARCFACE_TEMPLATE_112 * ratio
        out[:, 0] += 8.0 * ratio
        return out
    raise ValueError(f"crop size {size} is not a multiple of 112 or 128")


#: the FFHQ 5-point template of a 512×512 crop, the alignment the face restorers (GFPGAN, GPEN-512,
#: CodeFormer) were trained on (facexlib's ``face_template`` for 512)
FFHQ_TEMPLATE_512 = np.array(
    [[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935], [201.26117, 371.41043],
     [313.08905, 371.15118]],
    dtype=np.float64,
)  # fmt: skip

#: template families a model can be aligned with
TEMPLATES = ("arcface", "ffhq")


def template_points(family: str, size: int) -> np.ndarray:
    """The 5 template points of ``family`` placed in a ``size``² crop."""
    if family == "arcface":
        return template_for(size)
    if family == "ffhq":
        return FFHQ_TEMPLATE_512 * (size / 512.0)
    raise ValueError(f"unknown alignment template {family!r} (known: {', '.join(TEMPLATES)})")


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` onto ``dst``.

    Closed-form Umeyama: the same answer as skimage's SimilarityTransform.estimate that insightface
    uses, without the dependency and in a few microseconds. Returns the 2×3 matrix.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = src.shape[0]
    src_mean = src.mean(axis=0)
    dst_mean = dst.mean(axis=0)
    src_c = src - src_mean
    dst_c = dst - dst_mean
    cov = dst_c.T @ src_c / n
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    var_src = (src_c**2).sum() / n
    if var_src <= 1e-12:  # all points on top of each other: no usable face geometry
        raise ValueError("degenerate landmarks")
    scale = float((s * d).sum() / var_src)
    matrix = np.empty((2, 3), dtype=np.float64)
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix


def align_matrix(kps: np.ndarray, size: int, family: str = "arcface") -> np.ndarray:
    """The 2×3 matrix taking frame coordinates to the aligned ``size``² crop."""
    return estimate_similarity(np.asarray(kps, dtype=np.float64).reshape(5, 2), template_points(family, size))


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``outer ∘ inner`` for 2×3 affine matrices (apply ``inner`` first)."""
    full = np.vstack([np.asarray(inner, np.float64), [0.0, 0.0, 1.0]])
    return np.asarray(outer, np.float64) @ full


def invert(matrix: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(matrix, np.float64))


def warp_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The aligned crop. warpAffine's cost follows the output size, so this touches only the face."""
    return cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
