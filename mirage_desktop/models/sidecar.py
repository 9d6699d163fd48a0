"""``<file>.verified.json``: the SHA-256 of a model file as it was when last hashed.

Hashing the 554 MB swapper costs seconds, so the result is cached next to the file and trusted only
while the file's size and modification time (in ns) are unchanged. It also records that a file was
placed by the user with ``--allow-unverified``, which is the only way such a file is accepted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mirage_desktop.safe_read import read_json, set_aside

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".verified.json"
#: a record is a few hundred bytes; anything far bigger is not one
SIDECAR_LIMIT = 64 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class VerifiedRecord:
    size: int
    mtime_ns: int
    sha256: str
    #: placed with --allow-unverified: kept although it does not match the manifest
    user_supplied: bool = False
    #: where a user-supplied file came from, for the record
    source: str = ""

    def matches(self, stat: os.stat_result) -> bool:
        return self.size == stat.st_size and self.mtime_ns == stat.st_mtime_ns


def sidecar_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + SIDECAR_SUFFIX)


def read_record(model_path: Path) -> VerifiedRecord | None:
    """The cached record, or None. A damaged one (garbage, null, a list, wrong types, deep nesting, a
    FIFO, a device, huge) is only a cache: it is set aside as ``.corrupt-…`` with a warning and the
    file is hashed again; nothing here can raise, hang or read without bound."""
    path = sidecar_path(model_path)
    try:
        data = read_json(path, limit=SIDECAR_LIMIT, what="verification record")
        return _parse(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        _set_aside(path, str(exc))
        return None


def _parse(data: Any) -> VerifiedRecord:
    if not isinstance(data, dict):
        raise ValueError(f"it holds {type(data).__name__}, not an object")
    size, mtime, sha = data.get("size"), data.get("mtime_ns"), data.get("sha256")
    if not (_is_int(size) and size >= 0 and _is_int(mtime)):
        raise ValueError("its size or mtime_ns is not a whole number")
    if not isinstance(sha, str) or not _SHA256.match(sha):
        raise ValueError("its sha256 is not 64 hex digits")
    user_supplied, source = data.get("user_supplied", False), data.get("source", "")
    if not isinstance(user_supplied, bool) or not isinstance(source, str):
        raise ValueError("its user_supplied or source field has the wrong type")
    return VerifiedRecord(size=size, mtime_ns=mtime, sha256=sha, user_supplied=user_supplied, source=source)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _set_aside(path: Path, why: str) -> None:
    moved = set_aside(path)
    if moved is not None:
        log.warning(
            "set aside the damaged verification record %s as %s (%s); the model is checked again",
            path,
            moved.name,
            why,
        )
    else:
        log.warning("ignoring the damaged verification record %s (%s); the model is checked again", path, why)


def write_record(model_path: Path, record: VerifiedRecord) -> None:
    """Atomically replace the sidecar; failure only costs a re-hash next time, so it is not fatal."""
    target = sidecar_path(model_path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        _write_new(tmp, (json.dumps(asdict(record), indent=2) + "\n").encode("utf-8"))
        os.replace(tmp, target)
    except OSError as exc:
        log.warning("could not write the verification cache %s: %s", target, exc)
        with contextlib.suppress(OSError):
            tmp.unlink()


def remove_record(model_path: Path) -> None:
    with contextlib.suppress(OSError):
        sidecar_path(model_path).unlink()


def _write_new(path: Path, data: bytes) -> None:
    # Never through a link or into a FIFO someone left under our temporary name.
    with contextlib.suppress(FileNotFoundError):
        if not path.is_file() or path.is_symlink():
            path.unlink()
    flags = (
        os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    )
    fd = os.open(path, flags | getattr(os, "O_BINARY", 0), 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
