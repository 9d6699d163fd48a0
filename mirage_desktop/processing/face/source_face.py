"""The identity to wear: one reference photo → a unit-length ArcFace embedding, with clear errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from mirage_desktop.processing.face.types import DetectedFace
from mirage_desktop.sources.image_file import MAX_PHOTO_PIXELS, PhotoError, read_photo

#: photos are detected at most this large; the detector works at 640 px anyway, and decoding a
#: 48-megapixel photo for the embedder only costs memory
MAX_DETECT_DIM = 1920
#: an image larger than this is refused from its header, before decoding
MAX_PIXELS = MAX_PHOTO_PIXELS
#: faces narrower than this (in the photo) give an unreliable identity
MIN_FACE_PX = 40


class SourceFaceError(ValueError):
    """The reference photo cannot be used; the message tells the user what to do instead."""


class FaceFinder(Protocol):
    def detect(self, image_bgr: np.ndarray, max_faces: int = 0) -> list[DetectedFace]: ...


class Embedder(Protocol):
    def embed(self, image_bgr: np.ndarray, kps: np.ndarray) -> np.ndarray: ...


@dataclass(slots=True)
class SourceFace:
    embedding: np.ndarray  # (512,) float32, unit length
    face: DetectedFace  # in the original photo's pixel coordinates
    image_size: tuple[int, int]  # width, height of the photo
    path: Path | None = None
    #: things the user should know (several faces, downscaled photo), already worded for them
    notes: list[str] = field(default_factory=list)


def read_face_photo(path: Path) -> tuple[np.ndarray, list[str]]:
    """The reference photo, decoded safely (sources.image_file: regular files only, sizes checked
    from the header before decoding, upright as its EXIF orientation says), and what was done to it.
    Raises SourceFaceError with the reason."""
    try:
        photo = read_photo(path, what="The reference photo")
    except PhotoError as exc:
        raise SourceFaceError(str(exc)) from exc
    return photo.image, list(photo.notes)


def read_image(path: Path) -> np.ndarray:
    """Decode a photo from disk (any path, including non-ASCII ones); raises SourceFaceError."""
    return read_face_photo(path)[0]


def _scaled(face: DetectedFace, factor: float) -> DetectedFace:
    return DetectedFace(
        box=(face.box * factor).astype(np.float32),
        kps=(face.kps * factor).astype(np.float32),
        score=face.score,
        track_id=face.track_id,
    )


def source_face_from_image(
    image: np.ndarray,
    detector: FaceFinder,
    embedder: Embedder,
    name: str = "the photo",
    path: Path | None = None,
) -> SourceFace:
    """Find the largest face in ``image`` and embed it."""
    height, width = image.shape[:2]
    notes: list[str] = []
    scale = min(1.0, MAX_DETECT_DIM / max(height, width))
    work = image
    if scale < 1.0:
        work = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        notes.append(
            f"{name} is {width}×{height}; it was scaled down to {work.shape[1]}×{work.shape[0]} "
            "to find the face."
        )
    faces = detector.detect(work, max_faces=0)
    if not faces:
        raise SourceFaceError(
            f"No face was found in {name}. Use a clear, well-lit photo that shows one face from the front."
        )
    faces.sort(key=lambda f: f.area, reverse=True)
    face = faces[0]
    if len(faces) > 1:
        notes.append(f"{len(faces)} faces were found in {name}; using the largest one.")
    face_width = float(face.box[2] - face.box[0]) / scale
    if face_width < MIN_FACE_PX:
        raise SourceFaceError(
            f"The face in {name} is only {face_width:.0f} pixels wide. Use a photo where the face is larger "
            f"(at least {MIN_FACE_PX} pixels, ideally 200 or more)."
        )
    # embed from the scaled copy: it still holds the face at ≥ the 112 px ArcFace needs, without
    # the aliasing of sampling a huge photo straight down to 112
    embedding = embedder.embed(work, face.kps)
    original = _scaled(face, 1.0 / scale) if scale < 1.0 else face
    return SourceFace(embedding=embedding, face=original, image_size=(width, height), path=path, notes=notes)


def load_source_face(path: Path, detector: FaceFinder, embedder: Embedder) -> SourceFace:
    path = Path(path)
    image, notes = read_face_photo(path)
    face = source_face_from_image(image, detector, embedder, name=f"'{path.name}'", path=path)
    face.notes[:0] = notes
    return face
