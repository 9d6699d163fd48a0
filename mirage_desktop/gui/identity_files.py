"""Reading one saved identity folder whatever a crash, a sync tool or a hand edit left in it.

Every file is read through safe_read (regular files only, with a size limit, a non-blocking open),
and every field is checked for its type: a ``meta.json`` that is ``null``, a list, 100 000 levels
deep or not UTF-8, an ``embedding.npy`` that is truncated, of the wrong shape or full of NaN, a
``thumb.png`` that is a FIFO or a link to ``/dev/zero`` — each becomes a sentence, never an
exception that takes the window down. No Qt here.
"""

from __future__ import annotations

import io
import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mirage_desktop import safe_read

EMBEDDING_DIM = 512
MAX_NAME = 60
#: {"name": ..., "created": ...} is a few hundred bytes; room for keys a later version may add
META_LIMIT = 1024 * 1024
#: 512 float64 values and the .npy header
EMBEDDING_LIMIT = 64 * 1024
#: a 128-px PNG is ~30 kB; what is read for a thumbnail at most, and its largest side
THUMB_LIMIT = 2 * 1024 * 1024
THUMB_MAX_SIDE = 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class DamagedIdentity(ValueError):
    """The folder's content cannot be an identity (it is set aside: renamed, kept)."""


@dataclass(frozen=True, slots=True)
class Meta:
    name: str
    created: float
    #: a field that was wrong but not fatal (the identity still loads), in words; "" if none
    note: str = ""


def _what(value: object) -> str:
    """A JSON value's kind in words: 'null', 'a list', 'a number'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _read(path: Path, limit: int) -> bytes:
    """The file's bytes; DamagedIdentity when it is missing, special or too big; other OSErrors
    (permissions, I/O) pass through: the folder is then skipped, not moved."""
    try:
        return safe_read.read_bytes(path, limit, what="")
    except FileNotFoundError as exc:
        raise DamagedIdentity(f"{path.name} is missing") from exc
    except safe_read.UnreadableFile as exc:
        raise DamagedIdentity(_short(exc, path)) from exc


def _short(exc: OSError, path: Path) -> str:
    """safe_read's sentence with the file's own name instead of its whole path."""
    return str(exc).strip().replace(str(path), path.name)


def read_meta_object(folder: Path) -> dict:
    """meta.json as a dict (the rename keeps any other keys in it)."""
    data = _read(folder / "meta.json", META_LIMIT)
    try:
        meta = safe_read.loads_json(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DamagedIdentity("meta.json is not UTF-8 text") from exc
    except ValueError as exc:
        raise DamagedIdentity(f"meta.json is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DamagedIdentity(f"meta.json is {_what(meta)}, not an object with a name")
    return meta


def read_meta(folder: Path) -> Meta:
    meta = read_meta_object(folder)
    name = meta.get("name")
    if not isinstance(name, str) or not " ".join(name.split()):
        found = "missing" if "name" not in meta else f"{_what(name)}, not a name"
        raise DamagedIdentity(f"meta.json's name is {found}")
    name = " ".join(name.split())[:MAX_NAME]
    created = meta.get("created", 0.0)
    # only the gallery's order depends on it: a wrong value is no reason to hide the identity
    if isinstance(created, bool) or not isinstance(created, (int, float)) or not math.isfinite(created):
        return Meta(name, 0.0, f"meta.json's created is {_show(created)}, not a time; shown first")
    return Meta(name, float(created))


def _show(value: object) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def read_embedding(folder: Path) -> np.ndarray:
    data = _read(folder / "embedding.npy", EMBEDDING_LIMIT)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, EOFError, OSError... for damaged bytes
        raise DamagedIdentity(f"embedding.npy is not a saved array ({type(exc).__name__}: {exc})") from exc
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        kind = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
        raise DamagedIdentity(f"embedding.npy holds {kind}, not numbers")
    vector = array.astype(np.float32).reshape(-1)
    if vector.shape != (EMBEDDING_DIM,):
        raise DamagedIdentity(
            f"embedding.npy has shape {tuple(array.shape)}, not the {EMBEDDING_DIM} numbers of a face"
        )
    if not np.all(np.isfinite(vector)):
        raise DamagedIdentity("embedding.npy holds NaN or infinite numbers")
    if not float(np.linalg.norm(vector)) > 1e-6:
        raise DamagedIdentity("embedding.npy is all zeros")
    return vector


def thumbnail_problem(path: Path) -> str | None:
    """None when ``path`` is a small PNG that decodes, else why not (the identity still loads)."""
    try:
        data = safe_read.read_bytes(path, THUMB_LIMIT, what="")
    except FileNotFoundError:
        return f"{path.name} is missing"
    except OSError as exc:
        return _short(exc, path)
    return png_problem(data, path.name)


def png_problem(data: bytes, name: str = "thumb.png") -> str | None:
    """Why ``data`` is not a small PNG that decodes; the size comes from the header, before decoding."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 24:
        return f"{name} is not a PNG image"
    width, height = struct.unpack(">II", data[16:24])
    if not 0 < width <= THUMB_MAX_SIDE or not 0 < height <= THUMB_MAX_SIDE:
        return f"{name} is {width} × {height} pixels, not a thumbnail (at most {THUMB_MAX_SIDE} px a side)"
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.shape[:2] != (height, width):
        return f"{name} is a damaged PNG image"
    return None


def photo_in(folder: Path) -> Path | None:
    """The kept reference photo, if there is a regular file for it (only its path is used)."""
    for path in sorted(folder.glob("photo.*")):
        if safe_read.kind_of(path) == "a regular file":
            return path
    return None
