"""`models add`'s copy: one pass that copies and hashes, and the clean-up of copies a killed add left."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from mirage_desktop.models.errors import ModelError, storage_error

log = logging.getLogger(__name__)


def drop_stale_copies(models_dir: Path, file_name: str) -> None:
    """Remove ``.FILE.adding-PID`` half-copies. Call it holding the model's lock: then no other add of
    this file runs, so any copy left is from a killed one (a copy: the user's original is elsewhere)."""
    for stale in models_dir.glob(f".{file_name}.adding-*"):
        try:
            stale.unlink()
        except OSError:
            continue
        log.warning("removed %s, a copy left by an interrupted `models add`", stale)


def copy_hashing(src: Path, dest: Path, chunk_size: int = 1 << 20) -> str:
    """Copy and hash in one pass (reading a 554 MB file twice is the slow part of `models add`)."""
    digest = hashlib.sha256()
    try:
        with open(src, "rb") as fin, open(dest, "wb") as fout:
            while chunk := fin.read(chunk_size):
                fout.write(chunk)
                digest.update(chunk)
            fout.flush()
            os.fsync(fout.fileno())
    except OSError as exc:
        dest.unlink(missing_ok=True)
        if exc.filename and Path(exc.filename) == src:
            raise ModelError(f"Cannot read {src}: {exc.strerror or exc}.") from exc
        raise storage_error(exc, dest, "copy the model to") from exc
    return digest.hexdigest()
