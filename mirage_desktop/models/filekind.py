"""Is a file the kind of file it must be? ONNX, PyTorch checkpoint, faiss index, zip: cheap checks.

A model without a published hash is only as good as its bytes: a mirror that answers an HTML error
page, or a user who picks the wrong download, must be told so before the file is installed, not
when ONNX Runtime fails to parse it later. These checks read the header (and, for ONNX, walk the
top-level protobuf fields by seeking over them), never the whole file, so they cost milliseconds
even for the 554 MB swapper. They cannot prove a file is the right model; only a hash can.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import BinaryIO

#: what the check of each kind is called in messages
KIND_NAMES = {
    "onnx": "an ONNX model",
    "pytorch": "a PyTorch checkpoint",
    "faiss": "a faiss index",
    "zip": "a zip archive",
}
_SUFFIX_KINDS = {".onnx": "onnx", ".pth": "pytorch", ".pt": "pytorch", ".ckpt": "pytorch"}
_SUFFIX_KINDS |= {".index": "faiss", ".zip": "zip"}

#: the first bytes torch.save wrote before its zip format (a pickled magic number, protocol 2)
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."
#: faiss writes a four-letter code first: IxF2, IwFl, IHNf, IBxF, NPLf ...
_FAISS_FOURCC = re.compile(rb"^[IN][A-Za-z0-9]{3}")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
HEAD_BYTES = 4096
#: an ONNX ModelProto has a dozen top-level fields; far more means it is not one (and bounds the walk)
_MAX_TOP_FIELDS = 10_000


def kind_for(file_name: str) -> str | None:
    """The kind a file of this name must be, from its extension; None when there is no check."""
    return _SUFFIX_KINDS.get(Path(file_name).suffix.lower())


def looks_like(head: bytes, size: int | None = None) -> str:
    """What the bytes look like, in words, for a message: 'an HTML page', 'empty', ..."""
    if size == 0 or not head:
        return "empty"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text[:512]:
        return "an HTML page"
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return "an XML or HTML document"
    if text.startswith((b"{", b"[")) and _mostly_text(head):
        return "a JSON document"
    if head.startswith(_ZIP_MAGIC):
        return "a zip archive"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip file"
    if head.startswith(TORCH_LEGACY_MAGIC):
        return "a PyTorch checkpoint (legacy format)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle"
    if head.count(0) == len(head):
        return "all zero bytes"
    if _mostly_text(head):
        return "a text file"
    return "unrecognised binary data"


#: what a file plainly is, worth naming in a hash-mismatch message (random bytes are not)
_NAMEABLE = ("empty", "an HTML page", "an XML or HTML document", "a JSON document", "a text file")
_NAMEABLE += ("all zero bytes", "a gzip file")
_TEXTUAL = ("an HTML page", "an XML or HTML document", "a JSON document", "a text file")


def obvious_kind(path: Path) -> str | None:
    """'it is an HTML page' when the file is plainly something nameable that no model is, else None."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    what = looks_like(head, len(head))
    return f"it is {what}" if what in _NAMEABLE else None


def head_problem(head: bytes, kind: str | None, strict: bool = True) -> str | None:
    """A definite 'this is not it' from the first bytes alone (a download can stop right there).

    Not ``strict`` (a hash will judge the bytes anyway): only text where a binary model belongs.
    """
    if len(head) < 8:
        return None  # too little to judge; the whole-file check decides
    what = looks_like(head)
    textual = what in _TEXTUAL
    if kind == "onnx":
        # An ONNX model may open with kilobytes of readable doc_string: its first protobuf tag, not
        # how the bytes read, tells. ('<', '{' and '[' are never valid first tags.)
        if _valid_first_tag(head) or not (strict or textual):
            return None
        return f"it {'is' if textual else 'looks like'} {what}, not an ONNX model"
    if textual:
        return f"it is {what}, not {KIND_NAMES.get(kind or '', 'a model file')}"
    if not strict:
        return None
    if kind == "faiss" and not _FAISS_FOURCC.match(head):
        return f"it looks like {what}, not a faiss index"
    if kind in ("zip", "pytorch") and not (head.startswith(_ZIP_MAGIC) or _legacy_torch(head, kind)):
        return f"it looks like {what}, not {KIND_NAMES[kind]}"
    return None


def check_file(path: Path, kind: str | None) -> str | None:
    """None when ``path`` is a plausible file of ``kind``; else why not, as 'it is an HTML page, ...'.

    OSError propagates (the caller knows whether that is the disk's fault or the user's path).
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(HEAD_BYTES)
        name = KIND_NAMES.get(kind or "", "a model file")
        if size == 0:
            return f"it is empty, not {name}"
        early = head_problem(head, kind)
        if early is not None:
            return early
        if kind == "onnx":
            return _onnx_problem(fh, size, head)
        if kind == "pytorch":
            return None if _legacy_torch(head, kind) else _pytorch_zip_problem(path, head)
        if kind == "faiss":
            return None if size >= 8 and _FAISS_FOURCC.match(head) else f"it is too short for {name}"
        if kind == "zip":
            return None if zipfile.is_zipfile(path) else f"it looks like {looks_like(head, size)}, not {name}"
        what = looks_like(head, size)
        return f"it is {what}" if what == "an HTML page" else None


# ---------------------------------------------------------------------------------------------- kinds


def _mostly_text(head: bytes) -> bool:
    sample = head[:1024]
    printable = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13))
    return printable >= 0.95 * len(sample)


def _legacy_torch(head: bytes, kind: str | None) -> bool:
    return kind == "pytorch" and head.startswith(TORCH_LEGACY_MAGIC)


def _pytorch_zip_problem(path: Path, head: bytes) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return f"it starts like a zip but is not a readable one ({exc})"
    if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        return None
    return "it is a zip without a PyTorch checkpoint in it (no data.pkl)"


def _valid_first_tag(head: bytes) -> bool:
    parsed = _varint(head, 0)
    if parsed is None:
        return False
    tag, _ = parsed
    return tag >> 3 > 0 and tag & 7 in (0, 1, 2, 5)


def _varint(buf: bytes, pos: int) -> tuple[int, int] | None:
    """(value, next position), or None when ``buf`` ends inside it or it is over 10 bytes long."""
    value = shift = 0
    for i in range(pos, min(len(buf), pos + 10)):
        value |= (buf[i] & 0x7F) << shift
        if not buf[i] & 0x80:
            return value, i + 1
        shift += 7
    return None


def _onnx_problem(fh: BinaryIO, size: int, head: bytes) -> str | None:
    """Walk ModelProto's top-level fields: valid tags, lengths inside the file, ending at its end,
    with an ir_version (field 1) and a graph (field 7) — what onnx.proto requires of every model."""
    pos = 0
    ir_version: int | None = None
    graph = False
    for _ in range(_MAX_TOP_FIELDS):
        if pos == size:
            break
        fh.seek(pos)
        buf = fh.read(20)
        tag = _varint(buf, 0)
        if tag is None:
            return _cut_or_damaged(head, size, buf, f"a damaged field at byte {pos:,}")
        number, wire = tag[0] >> 3, tag[0] & 7
        at = tag[1]
        if number == 0 or wire not in (0, 1, 2, 5):
            return _not_onnx(head, size, f"an invalid field at byte {pos:,}")
        if wire == 0:
            value = _varint(buf, at)
            if value is None:
                return _cut_or_damaged(head, size, buf, f"a damaged number at byte {pos:,}")
            if number == 1:
                ir_version = value[0]
            pos += value[1]
        elif wire == 2:
            length = _varint(buf, at)
            if length is None:
                return _cut_or_damaged(head, size, buf, f"a damaged length at byte {pos:,}")
            pos += length[1] + length[0]
            graph = graph or number == 7
        else:
            pos += at + (8 if wire == 1 else 4)
        if pos > size:
            return _cut_short(size, pos)
    else:
        return _not_onnx(head, size, "far more top-level fields than a model has")
    if ir_version is None or not 1 <= ir_version <= 100 or not graph:
        missing = "a graph" if ir_version is not None and graph is False else "an IR version"
        return _not_onnx(head, size, f"no {missing}")
    return None


def _not_onnx(head: bytes, size: int, detail: str) -> str:
    what = looks_like(head, size)
    if what == "unrecognised binary data":
        return f"it is not an ONNX model ({detail})"
    return f"it looks like {what}, not an ONNX model"


def _cut_short(size: int, needed: int) -> str:
    return f"it is an ONNX model cut short: {size:,} bytes, its fields run to {needed:,} or more"


def _cut_or_damaged(head: bytes, size: int, buf: bytes, detail: str) -> str:
    # A number that runs into the end of the file: the file stops mid-field.
    return _cut_short(size, size + 1) if len(buf) < 20 else _not_onnx(head, size, detail)
