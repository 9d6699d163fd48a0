"""Reading a photo the user chose, safely: every place Mirage reads a user's photo comes here.

In order, each step bounded before the next costs anything: the path must be a regular file (a FIFO
would block, a device never ends), at most ``MAX_PHOTO_BYTES`` long (read through ``safe_read`` on
the opened descriptor); its header must be an image format Mirage parses, giving a size of at most
``MAX_PHOTO_PIXELS`` (a small PNG can decode to gigabytes); only then is it decoded, to 8-bit BGR
whatever it holds (CMYK, 16-bit, grey, palette, alpha) and upright as its EXIF orientation says, as
photo viewers show it. What was done to it (turned upright, the first frame of an animation) is said.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from mirage_desktop.safe_read import UnreadableFile, read_bytes
from mirage_desktop.sources.image_header import ORIENTATIONS, ImageHeader, NotAnImage, read_header
from mirage_desktop.sources.user_path import path_problem, shown

#: a 108-megapixel phone JPEG is ~40 MB, a 50-megapixel PNG ~100 MB
MAX_PHOTO_BYTES = 200 * 1024 * 1024
#: 120 megapixels decode to 360 MB of BGR; larger is refused before decoding
MAX_PHOTO_PIXELS = 120_000_000
#: smaller than this cannot hold a face the embedder can use (source_face.MIN_FACE_PX)
MIN_PHOTO_SIDE = 40

ADVICE = "Choose a JPEG or PNG photo of a face."


class PhotoError(ValueError):
    """The photo cannot be used; the message names it and says why, worded for the user."""


@dataclass(frozen=True, slots=True)
class Photo:
    image: np.ndarray  # H×W×3 uint8 BGR, upright
    header: ImageHeader
    #: what was done to show it as a viewer would, worded for the user
    notes: tuple[str, ...] = ()


def read_photo(path: str | os.PathLike[str], what: str = "The photo") -> Photo:
    """The photo at ``path`` (exactly that path), decoded; PhotoError with the reason otherwise."""
    problem = path_problem(path, "photo file")
    if problem:
        raise PhotoError(f"{what} {problem}. {ADVICE}")
    name = shown(path)
    try:
        data = read_bytes(path, MAX_PHOTO_BYTES, what="photo")
    except UnreadableFile as exc:  # swapped for something else since the check, or too big
        raise PhotoError(f"{what} {name} cannot be used: {_reason(str(exc), path)}. {ADVICE}") from exc
    except OSError as exc:
        raise PhotoError(f"{what} {name} cannot be read: {exc.strerror or exc}.") from exc
    try:
        header = read_header(data)
    except NotAnImage as exc:
        raise PhotoError(f"{what} {name} {exc}. {ADVICE}") from exc
    _check_size(header, what, name)
    image = _decode(data, header, what, name)
    return Photo(image, header, tuple(_notes(header, image, name)))


def _reason(message: str, path: str | os.PathLike[str]) -> str:
    prefix = f"photo {os.fsdecode(path)} "  # safe_read's words name the path; ours already did
    return "it " + message[len(prefix) :] if message.startswith(prefix) else message


def _check_size(header: ImageHeader, what: str, name: str) -> None:
    width, height = header.width, header.height
    if width <= 0 or height <= 0:
        raise PhotoError(f"{what} {name} says it is {width}×{height} pixels: it is damaged. {ADVICE}")
    if width * height > MAX_PHOTO_PIXELS:
        raise PhotoError(
            f"{what} {name} is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels), more than "
            f"the {MAX_PHOTO_PIXELS / 1e6:.0f} Mirage decodes. Use a smaller copy of it (a face needs "
            "only a few hundred pixels)."
        )
    if min(width, height) < MIN_PHOTO_SIDE:
        raise PhotoError(
            f"{what} {name} is only {width}×{height} pixels: too small to show a face (at least "
            f"{MIN_PHOTO_SIDE} pixels a side, ideally 200 or more). {ADVICE}"
        )


def _decode(data: bytes, header: ImageHeader, what: str, name: str) -> np.ndarray:
    try:
        # IMREAD_COLOR: 8-bit BGR from any depth or colour model, EXIF orientation applied
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except MemoryError as exc:
        raise PhotoError(f"{what} {name} is too large to decode in the memory available.") from exc
    except cv2.error as exc:
        raise PhotoError(
            f"{what} {name} could not be decoded ({header.format}): it is damaged. {ADVICE}"
        ) from exc
    if image is None or image.ndim != 3 or image.shape[2] != 3:
        raise PhotoError(f"{what} {name} could not be decoded ({header.format}): it is damaged. {ADVICE}")
    if image.shape[0] * image.shape[1] > MAX_PHOTO_PIXELS:  # a header that lied about its size
        raise PhotoError(f"{what} {name} decodes larger than its header says: it is damaged. {ADVICE}")
    return image


def _notes(header: ImageHeader, image: np.ndarray, name: str) -> list[str]:
    notes = []
    if header.orientation != 1:
        done = ORIENTATIONS.get(header.orientation, "turned")
        notes.append(f"{name} was {done} to stand upright, as its EXIF orientation says.")
    if header.frames != 1:
        count = f" ({header.frames} frames)" if header.frames else ""
        notes.append(f"{name} is an animated {header.format}{count}: its first frame is used.")
    return notes


__all__ = ["MAX_PHOTO_BYTES", "MAX_PHOTO_PIXELS", "MIN_PHOTO_SIDE", "Photo", "PhotoError", "read_photo"]
