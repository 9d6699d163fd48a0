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


def _stats(lab: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = weight.reshape(-1)
    px = lab.reshape(-1, 3)
    total = float(w.sum())
    mean = (px * w[:, None]).sum(axis=0) / total
    var = (((px - mean) ** 2) * w[:, None]).sum(axis=0) / total
    return mean, np.sqrt(np.maximum(var, 1e-6))


def transfer_color(result: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``result`` (BGR uint8) recoloured to ``original``'s statistics inside ``mask``."""
    weight = (mask > INSIDE).astype(np.float32)
    if weight.sum() < 16:
        return result
    src = cv2.cvtColor(result, cv2.COLOR_BGR2LAB).astype(np.float32)
    ref = cv2.cvtColor(original, cv2.COLOR_BGR2LAB).astype(np.float32)
    mean_s, std_s = _stats(src, weight)
    mean_r, std_r = _stats(ref, weight)
    gain = np.clip(std_r / std_s, 1.0 / MAX_GAIN, MAX_GAIN)
    out = (src - mean_s) * gain + mean_r
    return cv2.cvtColor(np.clip(out + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def sharpen(image: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    """Unsharp mask: ``image + amount·(image − blur(image))``."""
    if amount <= 0:
        return image
    blur = cv2.GaussianBlur(image, (0, 0), sigma)
    return cv2.addWeighted(image, 1.0 + amount, blur, -amount, 0.0)
