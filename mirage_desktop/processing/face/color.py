"""Colour transfer: the swapped face takes the original face's colour statistics, so no seam shows.

Mean and standard deviation per channel in CIE Lab (OpenCV's 8-bit Lab), weighted by the paste mask,
moved from the result onto the original (Reinhard et al. 2001). The swapper keeps most of the target's
tone but not all of it (lighting, white balance); a mismatch shows exactly at the mask's edge, where
swapped and original pixels meet. Stds are clamped so a near-flat region cannot blow the scale up.
"""

from __future__ import annotations

import cv2
import numpy as np

#: the std ratio is kept within this band
MAX_GAIN = 2.0
#: statistics use pixels whose mask weight is above this
INSIDE = 0.5


#: statistics are taken on a copy this small (means and stds do not need every pixel)
STATS_SIZE = 64


def transfer_color(result: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``result`` (BGR uint8) recoloured to ``original``'s statistics inside ``mask``."""
    size = (min(STATS_SIZE, mask.shape[1]), min(STATS_SIZE, mask.shape[0]))
    weight = (cv2.resize(mask, size, interpolation=cv2.INTER_AREA) > INSIDE).astype(np.uint8)
    if int(weight.sum()) < 16:
        return result
    small_src = cv2.resize(result, size, interpolation=cv2.INTER_AREA)
    small_ref = cv2.resize(original, size, interpolation=cv2.INTER_AREA)
    mean_s, std_s = cv2.meanStdDev(cv2.cvtColor(small_src, cv2.COLOR_BGR2LAB), mask=weight)
    mean_r, std_r = cv2.meanStdDev(cv2.cvtColor(small_ref, cv2.COLOR_BGR2LAB), mask=weight)
    gain = np.clip(std_r.ravel() / np.maximum(std_s.ravel(), 1e-3), 1.0 / MAX_GAIN, MAX_GAIN)
    offset = mean_r.ravel() - mean_s.ravel() * gain
    # per channel x·gain + offset on the full crop in one pass, saturating to uint8 like the rest
    matrix = np.hstack([np.diag(gain), offset[:, None]]).astype(np.float32)
    lab = cv2.transform(cv2.cvtColor(result, cv2.COLOR_BGR2LAB), matrix)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def sharpen(image: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    """Unsharp mask: ``image + amount·(image − blur(image))``."""
    if amount <= 0:
        return image
    blur = cv2.GaussianBlur(image, (0, 0), sigma)
    return cv2.addWeighted(image, 1.0 + amount, blur, -amount, 0.0)
