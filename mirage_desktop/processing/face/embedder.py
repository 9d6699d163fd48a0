"""ArcFace (w600k_r50) face embeddings: align to the 112² template, run, L2-normalise."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mirage_desktop.processing.face.align import align_matrix, warp_crop
from mirage_desktop.processing.face.contract import IOSpec, ModelContractError, check_session_io
from mirage_desktop.runtime.onnx_session import OnnxModel

ARCFACE_SIZE = 112
ARCFACE_INPUT = "input.1"
ARCFACE_OUTPUT = "683"
EMBEDDING_DIM = 512
# w600k_r50 was trained on (x − 127.5) / 127.5 of RGB crops (insightface's arcface_onnx)
_MEAN = 127.5
_STD = 127.5


def normalize(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm < 1e-12:
        raise ValueError("the face model returned an empty embedding")
    return vector / norm


class ArcFaceEmbedder:
    """Turns a face (its 5 keypoints in an image) into a unit-length 512-d identity vector."""

    def __init__(self, model: OnnxModel) -> None:
        check_session_io(
            model.session,
            model.path,
            [IOSpec(ARCFACE_INPUT, (None, 3, ARCFACE_SIZE, ARCFACE_SIZE))],
            [IOSpec(ARCFACE_OUTPUT, (None, EMBEDDING_DIM))],
            hint="Mirage needs the ArcFace w600k_r50.onnx recognition model.",
        )
        self.model = model

    @property
    def name(self) -> str:
        return Path(self.model.path).name

    def embed(self, image_bgr: np.ndarray, kps: np.ndarray) -> np.ndarray:
        crop = warp_crop(image_bgr, align_matrix(kps, ARCFACE_SIZE), ARCFACE_SIZE)
        blob = cv2.dnn.blobFromImage(
            crop, 1.0 / _STD, (ARCFACE_SIZE, ARCFACE_SIZE), (_MEAN, _MEAN, _MEAN), swapRB=True
        )
        (raw,) = self.model.run({ARCFACE_INPUT: blob}, [ARCFACE_OUTPUT])
        try:
            return normalize(raw[0])
        except ValueError as exc:
            raise ModelContractError(f"{exc} ({self.name}); the model file may be damaged.") from exc
