"""SCRFD face detection (insightface's det_10g and models with its contract) on ONNX Runtime.

The model sees an ``input_size`` canvas with the image letterboxed into its top-left corner:
square, as insightface makes it, for a model with a fixed input size; for one with a dynamic size
(det_10g), only as tall or wide as the image, its short side rounded up to a multiple of 32, as
SCRFD is evaluated on whole images — a 16:9 frame is then 640×384 instead of 640×640, 40 % fewer
pixels of black border for the network to convolve. For each of the strides 8, 16 and 32 it
scores two anchors per grid cell and regresses a box and five keypoints as distances from the
anchor centre, in units of the stride.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mirage_desktop.processing.face.contract import IOSpec, ModelContractError, check_session_io
from mirage_desktop.processing.face.types import DetectedFace

__all__ = ["STRIDES", "Letterbox", "ModelContractError", "ScrfdDetector", "letterbox", "nms"]

STRIDES = (8, 16, 32)
ANCHORS_PER_CELL = 2
MIN_INPUT_SIZE = 320
MAX_INPUT_SIZE = 640
INPUT_NAME = "input.1"
#: output k holds, for stride STRIDES[k % 3], scores (1), box distances (4) or keypoint distances (10)
OUTPUT_WIDTHS = (1, 1, 1, 4, 4, 4, 10, 10, 10)
#: letterbox scales below this are shrunk by area averaging instead of bilinear sampling
AREA_BELOW_SCALE = 0.45
_MEAN = 127.5
_STD = 128.0


def _scrfd_specs() -> tuple[list[IOSpec], list[IOSpec]]:
    inputs = [IOSpec(INPUT_NAME, (None, 3, None, None), "float32")]
    outputs = [IOSpec(None, (None, width), "float32") for width in OUTPUT_WIDTHS]
    return inputs, outputs


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was placed on the detector's canvas."""

    canvas: np.ndarray  # H×W×3 uint8 (size×size unless compact), image in the top-left corner
    scale: float  # canvas pixels per image pixel


def letterbox(image_bgr: np.ndarray, size: int, compact: bool = False) -> Letterbox:
    """Resize keeping the aspect ratio into the top-left of a black size×size canvas (``compact``:
    its short side only as long as the image's, rounded up to the largest stride).

    Matches insightface's placement (integer truncation of the short side, one scale from the
    height) so detections agree with the reference implementation.
    """
    height, width = image_bgr.shape[:2]
    if height > width:
        new_h, new_w = size, max(1, int(size * width / height))
    else:
        new_w, new_h = size, max(1, int(size * height / width))
    scale = new_h / height
    # Bilinear reads every source pixel down to about half size (as insightface resizes, so results
    # match it there); below that it skips pixels and aliases texture, so shrink by area averaging.
    interpolation = cv2.INTER_AREA if scale < AREA_BELOW_SCALE else cv2.INTER_LINEAR
    step = STRIDES[-1]
    shape = (-(-new_h // step) * step, -(-new_w // step) * step) if compact else (size, size)
    canvas = np.zeros((*shape, 3), dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image_bgr, (new_w, new_h), interpolation=interpolation)
    return Letterbox(canvas=canvas, scale=scale)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, highest score first."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        inter_w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]))
        inter_h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]))
        inter = inter_w * inter_h
        union = areas[best] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def as_bgr(image: Any) -> np.ndarray:
    """The image as H×W×3 uint8 BGR, or ValueError with a message saying what was wrong."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"face detection needs an image as a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"face detection needs an 8-bit image (uint8), got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"face detection needs an H×W×3 BGR image, got shape {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"the image is too small to search for faces ({image.shape[1]}×{image.shape[0]})")
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class ScrfdDetector:
    """Finds faces with an SCRFD model; one instance per session, not thread-safe."""

    def __init__(
        self,
        session: Any,
        input_size: int = 640,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        model_name: str = "det_10g",
    ) -> None:
        if isinstance(input_size, bool) or not isinstance(input_size, (int, np.integer)):
            raise ValueError(f"detector input size must be a whole number of pixels, got {input_size!r}")
        if not (MIN_INPUT_SIZE <= input_size <= MAX_INPUT_SIZE) or input_size % 32:
            raise ValueError(
                f"detector input size must be a multiple of 32 from {MIN_INPUT_SIZE} to {MAX_INPUT_SIZE} "
                f"(e.g. 320, 480 or 640), got {input_size}"
            )
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"detector score threshold must be between 0 and 1, got {score_threshold}")
        if not 0.0 < nms_threshold <= 1.0:
            raise ValueError(f"detector overlap (NMS) threshold must be in (0, 1], got {nms_threshold}")
        inputs, outputs = _scrfd_specs()
        found_in, _ = check_session_io(session, model_name, inputs, outputs)
        fixed = found_in[0].shape
        if fixed is not None and any(d is not None and d != input_size for d in fixed[2:]):
            raise ModelContractError(
                f"The model '{model_name}' only accepts {fixed[3]}×{fixed[2]} images but the detector "
                f"size is set to {input_size}. Set the detector size to {fixed[2]} or use a model with a "
                "dynamic input size."
            )
        self.session = session
        self.input_size = int(input_size)
        #: the canvas trimmed to the image: only for a model whose input size is dynamic
        self.compact = fixed is None or all(d is None for d in fixed[2:])
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.model_name = model_name
        self._output_names = [o.name for o in session.get_outputs()]
        self._centres: dict[tuple[int, int], np.ndarray] = {}

    @classmethod
    def from_path(cls, path: str | Path, providers: list | None = None, **kw: Any) -> ScrfdDetector:
        """Load a detector from an .onnx file; ModelContractError says what is wrong with a bad file."""
        from mirage_desktop.runtime.telemetry import create_session

        path = Path(path)
        if not path.is_file():
            raise ModelContractError(
                f"The face detector model was not found at '{path}'. Download det_10g.onnx and put it there, "
                "or choose its location in the settings."
            )
        try:
            session = create_session(path, None, providers or ["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises several unrelated types for unreadable files
            raise ModelContractError(
                f"The face detector model '{path.name}' could not be loaded ({exc}). The file may be "
                "incomplete or not an ONNX model: download it again."
            ) from exc
        kw.setdefault("model_name", path.name)
        return cls(session, **kw)

    def anchor_centres(self, stride: int, canvas_hw: tuple[int, int] | None = None) -> np.ndarray:
        """(N, 2) anchor centres for one stride on a canvas (default: the square input size), two
        per cell, row-major."""
        height, width = canvas_hw or (self.input_size, self.input_size)
        key = (height, width, stride)
        centres = self._centres.get(key)
        if centres is None:
            ys, xs = np.mgrid[: height // stride, : width // stride]
            grid = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
            centres = np.repeat(grid, ANCHORS_PER_CELL, axis=0)
            self._centres[key] = centres
        return centres

    def _blob(self, canvas: np.ndarray) -> np.ndarray:
        rgb = canvas[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)
        rgb -= _MEAN
        rgb *= 1.0 / _STD
        return rgb[np.newaxis]

    def run(self, canvas: np.ndarray) -> list[np.ndarray]:
        """Raw model outputs for one letterboxed canvas, each reshaped to (N, C)."""
        outputs = self.session.run(self._output_names, {INPUT_NAME: self._blob(canvas)})
        return [
            np.asarray(o, dtype=np.float32).reshape(-1, width)
            for o, width in zip(outputs, OUTPUT_WIDTHS, strict=True)
        ]

    def decode(
        self, outputs: list[np.ndarray], scale: float, canvas_hw: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (M, 4), keypoints (M, 5, 2) and scores (M,) above the score threshold, in image pixels."""
        boxes, kpss, scores = [], [], []
        for k, stride in enumerate(STRIDES):
            centres = self.anchor_centres(stride, canvas_hw)
            score = outputs[k][:, 0]
            if score.shape[0] != centres.shape[0]:
                raise ModelContractError(
                    f"The model '{self.model_name}' returned {score.shape[0]} candidates for stride "
                    f"{stride} where SCRFD with two anchors per cell gives {centres.shape[0]}. It is not "
                    "an SCRFD det_10g-style model: use det_10g.onnx."
                )
            hits = np.flatnonzero(score >= self.score_threshold)
            if hits.size == 0:
                continue
            anchor = centres[hits]
            dist = outputs[k + 3][hits] * stride
            boxes.append(np.concatenate([anchor - dist[:, :2], anchor + dist[:, 2:]], axis=1))
            kps = outputs[k + 6][hits].reshape(-1, 5, 2) * stride + anchor[:, np.newaxis, :]
            kpss.append(kps)
            scores.append(score[hits])
        if not scores:
            return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros((0,), np.float32)
        inv = 1.0 / scale
        return (
            (np.concatenate(boxes) * inv).astype(np.float32),
            (np.concatenate(kpss) * inv).astype(np.float32),
            np.concatenate(scores).astype(np.float32),
        )

    def detect(self, image_bgr: np.ndarray, max_faces: int = 0) -> list[DetectedFace]:
        """Faces in the image, in its pixel coordinates, largest first; at most ``max_faces`` when > 0."""
        image = as_bgr(image_bgr)
        box = letterbox(image, self.input_size, compact=self.compact)
        boxes, kpss, scores = self.decode(self.run(box.canvas), box.scale, box.canvas.shape[:2])
        if scores.size == 0:
            return []
        keep = nms(boxes, scores, self.nms_threshold)
        boxes, kpss, scores = boxes[keep], kpss[keep], scores[keep]
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        # Faces of (nearly) equal size go by score: rounding keeps float noise in the coordinate
        # mapping from reordering them between otherwise identical frames.
        relative = np.round(areas / max(float(areas.max()), 1e-6), 6)
        order = np.lexsort((-scores, -relative))
        if max_faces > 0:
            order = order[:max_faces]
        return [DetectedFace(box=boxes[i], kps=kpss[i], score=float(scores[i])) for i in order]
