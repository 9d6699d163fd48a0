"""Reading a file the user (or a crash) left behind without hanging, exhausting memory or crashing.

A path may name a FIFO (an open blocks for ever), a device (``/dev/zero`` never ends), a folder, a
socket, or a huge file. Mirage only reads *regular* files, up to a stated size, and says what the
path really is when it refuses. The check is made on the opened descriptor (``fstat``), not on the
name, so nothing can swap the file between the check and the read; the open itself is
non-blocking, so a FIFO with no writer cannot stall the caller.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

#: settings, identity metadata, sidecars, lock files: none is near this
SMALL_FILE_LIMIT = 16 * 1024 * 1024


class UnreadableFile(OSError):
    """The path exists but is not something Mirage reads (not a regular file, or too big)."""


def kind_of(path: str | os.PathLike[str]) -> str:
    """What the path is, in words: 'a regular file', 'a folder', 'a named pipe (FIFO)', ..."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing" if not os.path.islink(path) else "a broken link"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    return kind_of_mode(mode)


def kind_of_mode(mode: int) -> str:
    """A file mode (st_mode) in words, as kind_of gives it."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def special_kind(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` is when it exists and is not a regular file ("a named pipe (FIFO)", "a
    folder", ...); None for a regular file, nothing at all, a broken link or an unreadable path."""
    kind = kind_of(path)
    if kind in ("a regular file", "missing", "a broken link") or kind.startswith("unreadable"):
        return None
    return kind


def not_regular_reason(path: str | os.PathLike[str]) -> str | None:
    """None for an existing regular file (links followed), else why it is not one."""
    kind = kind_of(path)
    if kind == "a regular file":
        return None
    if kind == "missing":
        return f"{path} does not exist"
    return f"{path} is {kind}, not a regular file"


def read_bytes(path: str | os.PathLike[str], limit: int = SMALL_FILE_LIMIT, what: str = "file") -> bytes:
    """The whole file, if it is a regular file of at most ``limit`` bytes; else UnreadableFile."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise
    except IsADirectoryError as exc:
        raise UnreadableFile(f"{what} {path} is a folder, not a regular file") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnreadableFile(f"{what} {path} is {kind_of_mode(mode)}, not a regular file")
        size = os.fstat(fd).st_size
        if size > limit:
            raise UnreadableFile(f"{what} {path} is {_size(size)}, more than the {_size(limit)} allowed")
        chunks = []
        total = 0
        while chunk := os.read(fd, 1 << 20):
            total += len(chunk)
            if total > limit:  # grew while we read
                raise UnreadableFile(f"{what} {path} is more than the {_size(limit)} allowed")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(
    path: str | os.PathLike[str], limit: int = SMALL_FILE_LIMIT, what: str = "file", errors: str = "strict"
) -> str:
    return read_bytes(path, limit, what).decode("utf-8", errors=errors)


def loads_json(text: str | bytes) -> Any:
    """json.loads, with a too-deeply nested document a ValueError like any other bad JSON."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("the JSON is nested too deeply") from exc


def read_json(path: str | os.PathLike[str], limit: int = SMALL_FILE_LIMIT, what: str = "file") -> Any:
    """Parsed JSON from a regular file. OSError for an unreadable path, ValueError for bad content."""
    data = read_bytes(path, limit, what)
    try:
        return loads_json(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} {path} is not UTF-8 text") from exc


def set_aside(path: Path, stamp: str | None = None) -> Path | None:
    """Rename a damaged file to ``NAME.corrupt-STAMP`` beside it (kept, never deleted); None if it
    could not be moved."""
    import time

    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        os.replace(path, target)
    except OSError:
        return None
    return target


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"
