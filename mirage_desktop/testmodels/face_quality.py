"""Tools to judge the face stages: CIEDE2000 seam colour error, an oracle swapper, stage recording.

* ``seam_delta_e``: mean CIEDE2000 colour jump across a paste mask's border, in the aligned crop
  (see its doc: pasted face vs the frame's own colour on the border's inner ring).
* ``OracleSwapper``: a perfect swapper stand-in: whatever the target, it returns the *source photo's*
  aligned crop (what a swapper would ideally produce, minus expression and pose), at 128 or 256.
* ``TintSwapper``: wraps a swapper and shifts its output's colour (a swapper that misses the tone).
* ``RecordingRenderer``: a FaceRenderer that keeps the last frame's finished jobs (mask, matrix).

CIEDE2000 follows Sharma, Wu & Dalal (2005); scikit-image's ``deltaE_ciede2000`` is used when it is
installed, the numpy version otherwise (they agree to 1e-6, see tests/test_face_stages.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from mirage_desktop.processing.face.align import align_matrix, warp_crop
from mirage_desktop.processing.face.job import FaceJob
from mirage_desktop.processing.face.look import FaceLook
from mirage_desktop.processing.face.render import FaceRenderer

INNER = 0.9


def to_lab(image_bgr: np.ndarray) -> np.ndarray:
    """CIE Lab (D65; L 0..100) of a BGR uint8 image, as float32."""
    return cv2.cvtColor(image_bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)


def ciede2000_numpy(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 (kL = kC = kH = 1) between Lab arrays of shape (..., 3)."""
    L1, a1, b1 = (np.asarray(lab1, np.float64)[..., i] for i in range(3))
    L2, a2, b2 = (np.asarray(lab2, np.float64)[..., i] for i in range(3))
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    c_bar7 = ((c1 + c2) / 2.0) ** 7
    g = 0.5 * (1.0 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    dL = L2 - L1
    dC = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dH = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2.0))
    L_bar = (L1 + L2) / 2.0
    c_bar_p = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_bar = np.where(
        c1p * c2p == 0,
        h_sum,
        np.where(
            np.abs(h1p - h2p) <= 180,
            h_sum / 2.0,
            np.where(h_sum < 360, (h_sum + 360) / 2.0, (h_sum - 360) / 2.0),
        ),
    )
    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    d_theta = 30.0 * np.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    cb7 = c_bar_p**7
    r_c = 2.0 * np.sqrt(cb7 / (cb7 + 25.0**7))
    s_l = 1 + 0.015 * (L_bar - 50) ** 2 / np.sqrt(20 + (L_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar_p
    s_h = 1 + 0.015 * c_bar_p * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt((dL / s_l) ** 2 + (dC / s_c) ** 2 + (dH / s_h) ** 2 + r_t * (dC / s_c) * (dH / s_h))


def delta_e(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    try:
        from skimage.color import deltaE_ciede2000
    except ImportError:
        return ciede2000_numpy(lab1, lab2)
    return deltaE_ciede2000(np.asarray(lab1, np.float64), np.asarray(lab2, np.float64))


def border_ring(mask: np.ndarray, band: float | None = None) -> np.ndarray:
    """The inner side of a soft mask's edge: mask ≥ 0.9 and within ``band`` px (default 4 % of the
    crop) of where it falls below 0.9."""
    from scipy.ndimage import distance_transform_edt

    inner = mask >= INNER
    dist = distance_transform_edt(inner)
    ring = inner & (dist <= (band if band is not None else max(2.0, 0.04 * mask.shape[0])))
    # the crop's outer frame is replicated border, not face: leave 2 px out
    ring[:2, :] = ring[-2:, :] = False
    ring[:, :2] = ring[:, -2:] = False
    return ring


def seam_delta_e(
    out_crop: np.ndarray, in_crop: np.ndarray, mask: np.ndarray, band: float | None = None
) -> float:
    """Mean CIEDE2000 across the paste mask's border, in the aligned crop.

    Just outside the border the output *is* the input (mask 0); just inside it is the pasted face.
    So the colour jump across the border is the difference, on the border's inner ring, between the
    output and what the input had there (its own continuation of the outside): ΔE2000 of the two,
    both low-passed (σ = 1/64 of the crop) so texture the swap legitimately changes does not count.
    0 = no seam; a swapped face whose tone misses the frame's shows as a ring of that ΔE.
    """
    ring = border_ring(mask, band)
    if ring.sum() < 16:
        return float("nan")
    sigma = max(1.0, out_crop.shape[0] / 64.0)
    a = to_lab(cv2.GaussianBlur(out_crop, (0, 0), sigma))[ring]
    b = to_lab(cv2.GaussianBlur(in_crop, (0, 0), sigma))[ring]
    return float(np.mean(delta_e(a, b)))


class OracleSwapper:
    """The ideal swap: the source photo's own aligned crop, whatever the target (Swapper interface)."""

    template = "arcface"
    notice: str | None = None

    def __init__(self, source_bgr: np.ndarray, source_kps: np.ndarray, size: int = 128) -> None:
        self.size = int(size)
        self._crop = warp_crop(source_bgr, align_matrix(source_kps, self.size), self.size)

    @property
    def name(self) -> str:
        return f"oracle_{self.size}"

    def latent(self, normed_embedding: np.ndarray) -> np.ndarray:
        return np.asarray(normed_embedding, np.float32).reshape(1, -1)

    def swap(self, crop_bgr: np.ndarray, latent: np.ndarray) -> np.ndarray | None:
        return self._crop.copy()


class TintSwapper:
    """Another swapper's output with its colour shifted by ``bgr`` (0..255 units), clipped."""

    def __init__(self, inner, bgr: tuple[float, float, float] = (25.0, 0.0, -20.0)) -> None:
        self.inner = inner
        self.size = inner.size
        self.template = inner.template
        self.notice: str | None = None
        self._shift = np.asarray(bgr, np.float32)

    @property
    def name(self) -> str:
        return f"tinted_{self.inner.name}"

    def latent(self, normed_embedding: np.ndarray) -> np.ndarray:
        return self.inner.latent(normed_embedding)

    def swap(self, crop_bgr: np.ndarray, latent: np.ndarray) -> np.ndarray | None:
        out = self.inner.swap(crop_bgr, latent)
        if out is None:
            return None
        return np.clip(out.astype(np.float32) + self._shift, 0, 255).astype(np.uint8)


class RecordingRenderer(FaceRenderer):
    """Keeps the jobs it pasted (``jobs``; clear it before a frame), e.g. to read their final masks."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[FaceJob] = []

    def paste(self, image: np.ndarray, job: FaceJob, look: FaceLook) -> bool:
        self.jobs.append(job)
        return super().paste(image, job, look)


def job_seam(out_bgr: np.ndarray, in_bgr: np.ndarray, job: FaceJob) -> float:
    """``seam_delta_e`` of an output frame against its input, through ``job``'s alignment and mask."""
    return seam_delta_e(
        warp_crop(out_bgr, job.matrix, job.size), warp_crop(in_bgr, job.matrix, job.size), job.mask
    )


# --- a real face recogniser (dlib's ResNet, weights from the face_recognition_models wheel) ----------
def dlib_model_dir():
    """The folder of face_recognition_models' .dat files, or None when dlib or the wheel is missing."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or importlib.util.find_spec("dlib") is None:
        return None
    # the wheel's __init__ imports pkg_resources (gone from setuptools 81): read its files directly
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibFaces:
    """dlib's HOG detector + 68-point landmarks + ResNet descriptor (same person: distance < 0.6)."""

    def __init__(self) -> None:
        import dlib

        folder = dlib_model_dir()
        if folder is None:
            raise RuntimeError("dlib-bin and face_recognition_models are needed (dev dependencies)")
        self._detector = dlib.get_frontal_face_detector()
        self._shaper = dlib.shape_predictor(str(folder / "shape_predictor_68_face_landmarks.dat"))
        self._recogniser = dlib.face_recognition_model_v1(
            str(folder / "dlib_face_recognition_resnet_model_v1.dat")
        )
        self._dlib = dlib

    def faces(self, image_bgr: np.ndarray, upsample: int = 1) -> list:
        """dlib full_object_detections (68 points) of the faces found, largest first."""
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        rects = sorted(self._detector(rgb, upsample), key=lambda r: -r.area())
        return [self._shaper(rgb, r) for r in rects]

    def shape_at(self, image_bgr: np.ndarray, box: tuple[int, int, int, int]):
        """68 points of the face inside ``box`` (x0, y0, x1, y1), without detecting."""
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        return self._shaper(rgb, self._dlib.rectangle(*(int(v) for v in box)))

    def descriptor(self, image_bgr: np.ndarray, shape) -> np.ndarray:
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        return np.array(self._recogniser.compute_face_descriptor(rgb, shape))

    @staticmethod
    def kps5(shape) -> np.ndarray:
        """insightface's 5 points (eyes as seen, nose tip, mouth corners) from dlib's 68."""
        p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], np.float32)
        return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]]).astype(np.float32)

    @staticmethod
    def box(shape) -> tuple[int, int, int, int]:
        r = shape.rect
        return r.left(), r.top(), r.right(), r.bottom()


class GivenFaces:
    """A tracker that hands out the faces it is given (``faces``; replace it between frames)."""

    def __init__(self, faces: list | None = None) -> None:
        self.faces = list(faces or [])

    def update(self, image_bgr: np.ndarray, timestamp: float) -> list:
        from mirage_desktop.processing.face.types import DetectedFace

        return [DetectedFace(f.box.copy(), f.kps.copy(), f.score, f.track_id) for f in self.faces]

    def counters(self) -> dict[str, int]:
        return {}


def detected_face(kps: np.ndarray, box, track_id: int = 0):
    from mirage_desktop.processing.face.types import DetectedFace

    return DetectedFace(np.asarray(box, np.float32), np.asarray(kps, np.float32), 1.0, track_id)
