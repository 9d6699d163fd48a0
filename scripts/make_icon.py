"""Draws Mirage's app icon (resources/mirage.png, 256×256) — rerun after changing the design."""

from pathlib import Path

import cv2
import numpy as np

SIZE = 256


def draw() -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    img = np.zeros((SIZE, SIZE, 4), np.uint8)
    # violet → teal diagonal gradient, like a heat shimmer
    img[..., 0] = (200 * (1 - yy) + 160 * yy).astype(np.uint8)
    img[..., 1] = (60 * (1 - xx) + 170 * xx).astype(np.uint8)
    img[..., 2] = (150 * (1 - xx) + 40 * xx).astype(np.uint8)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    cv2.circle(mask, (SIZE // 2, SIZE // 2), SIZE // 2 - 6, 255, -1, cv2.LINE_AA)
    img[..., 3] = mask
    # a face outline split in two: one half solid, one half shifted (the "mirage")
    cv2.ellipse(img, (118, 128), (56, 72), 0, 90, 270, (255, 255, 255, 255), 10, cv2.LINE_AA)
    cv2.ellipse(img, (138, 128), (56, 72), 0, -90, 90, (255, 255, 255, 160), 10, cv2.LINE_AA)
    return img


if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "resources" / "mirage.png"
    cv2.imwrite(str(out), draw())
    print(out)
