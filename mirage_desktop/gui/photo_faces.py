"""Reference photo → every face in it, each with its embedding and a small crop (no Qt here).

Runs on a worker thread. The engine's own photo path keeps only the largest face; the window needs
all of them so the person can pick one when a photo shows several people.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mirage_desktop.config.paths import AppPaths
from mirage_desktop.config.settings import FaceSettings
from mirage_desktop.processing.face.detector import ScrfdDetector
from mirage_desktop.processing.face.embedder import ArcFaceEmbedder
from mirage_desktop.processing.face.source_face import (
    MAX_DETECT_DIM,
    MIN_FACE_PX,
    SourceFaceError,
    read_face_photo,
)
from mirage_desktop.runtime.onnx_session import SessionFactory
from mirage_desktop.runtime.providers import ProviderConfig

THUMB_SIZE = 128


@dataclass(frozen=True, slots=True)
class PhotoFace:
    embedding: np.ndarray  # (512,) float32, unit length
    thumbnail: np.ndarray  # THUMB_SIZE² BGR crop around the face
    box: tuple[float, float, float, float]  # in the photo's pixels
    score: float


@dataclass(frozen=True, slots=True)
class PhotoAnalysis:
    path: Path
    faces: list[PhotoFace]  # largest first, never empty
    notes: list[str] = field(default_factory=list)


def face_thumbnail(image: np.ndarray, box: np.ndarray, size: int = THUMB_SIZE) -> np.ndarray:
    """A square crop around ``box`` with some margin (hair, chin), padded at the photo's edges."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * 0.65
    matrix = np.array([[size / (2 * half), 0, size / 2 - cx * size / (2 * half)],
                       [0, size / (2 * half), size / 2 - cy * size / (2 * half)]], np.float32)  # fmt: skip
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


class PhotoAnalyzer:
    """Loads the detector and recognition models on first use (on the calling worker thread)."""

    def __init__(self, face: FaceSettings, model_path: Callable[[str], Path]) -> None:
        self._face = face
        self._model_path = model_path
        self._lock = threading.Lock()  # one photo at a time: ScrfdDetector is not thread-safe
        self._detector: ScrfdDetector | None = None
        self._embedder: ArcFaceEmbedder | None = None

    def _load(self) -> tuple[ScrfdDetector, ArcFaceEmbedder]:
        if self._detector is None or self._embedder is None:
            factory = SessionFactory(
                ProviderConfig(
                    requested=self._face.providers,
                    cuda_only=self._face.cuda_only,
                    cache_dir=AppPaths.from_env().cache_dir,
                )
            )
            det = factory.create(self._model_path("det_10g"))
            self._detector = ScrfdDetector(
                det.session,
                input_size=self._face.detector_size,
                score_threshold=self._face.detector_score,
                model_name=det.path.name,
            )
            self._embedder = ArcFaceEmbedder(factory.create(self._model_path("w600k_r50")))
        return self._detector, self._embedder

    def analyze(self, path: Path) -> PhotoAnalysis:
        """Raises SourceFaceError (bad photo, no usable face) or RuntimeError (models missing)."""
        path = Path(path)
        image, photo_notes = read_face_photo(path)  # safe: regular file, size from its header
        with self._lock:
            detector, embedder = self._load()
            height, width = image.shape[:2]
            scale = min(1.0, MAX_DETECT_DIM / max(height, width))
            work = image
            if scale < 1.0:
                work = cv2.resize(
                    image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
                )
            found = detector.detect(work, max_faces=0)
            notes: list[str] = list(photo_notes)
            faces: list[PhotoFace] = []
            for face in sorted(found, key=lambda f: f.area, reverse=True):
                if float(face.box[2] - face.box[0]) / scale < MIN_FACE_PX:
                    continue
                faces.append(
                    PhotoFace(
                        embedding=embedder.embed(work, face.kps),
                        thumbnail=face_thumbnail(work, face.box),
                        box=tuple(float(v) / scale for v in face.box),  # type: ignore[arg-type]
                        score=face.score,
                    )
                )
        if not faces:
            if found:
                raise SourceFaceError(
                    f"The face in '{path.name}' is too small (under {MIN_FACE_PX} pixels wide). "
                    "Use a photo where the face fills more of the picture."
                )
            raise SourceFaceError(
                f"No face was found in '{path.name}'. Use a clear, well-lit photo that shows one face "
                "from the front."
            )
        if len(faces) > 1:
            notes.append(f"{len(faces)} faces were found: click the one to wear.")
        return PhotoAnalysis(path=path, faces=faces, notes=notes)
