"""One writer per output file: a second Mirage writing the same file at the same time is refused.

Without it two `mirage-cli process` runs given one output both reported success, and whichever
finished last silently replaced the other's result. Refusing (exit 2, naming the other process)
rather than waiting was chosen because such a run lasts minutes to hours and is almost always a
mistake — the same command started twice, two scripts sharing a name — which the user should hear
about now, not after an unexplained wait; a script that wants the two in turn can run them in turn.

The lock is ``flock`` on ``.NAME.mirage-lock`` beside the output: the kernel drops it when its
holder dies however it dies (SIGKILL, a crash, a power cut), so a stale lock cannot block anyone —
the file left behind is taken over by the next writer and removed when that one is done. It holds
the writer's ``PID-START`` only so that the refusal can name it. Where ``flock`` does not exist
(Windows) or the file system refuses it (some network shares) the write goes on unlocked.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from mirage_desktop.sinks.base import SinkError
from mirage_desktop.system.process_identity import ProcessToken

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".mirage-lock"


class OutputBusy(SinkError):
    """Another live Mirage is writing this output right now."""


def lock_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}{LOCK_SUFFIX}")


class OutputLock:
    """``acquire()`` before the first byte of a new version of ``dest`` is written; ``release()`` on
    every way out (idempotent)."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.path = lock_path(dest)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None or fcntl is None:
            return
        for _ in range(10):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:  # the folder was checked writable: a stranger's lock file, say
                log.debug("no lock for %s: %s", self.dest, exc)
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                who = f"another Mirage (process {holder.pid})" if holder else "another Mirage"
                raise OutputBusy(
                    f"{self.dest} is being written by {who} right now. Wait for it to finish, or "
                    "choose another output name; nothing was written."
                ) from None
            except OSError as exc:  # ENOLCK / EOPNOTSUPP: this file system has no locks
                os.close(fd)
                log.debug("no lock for %s: %s", self.dest, exc)
                return
            if _same_file(fd, self.path):
                os.ftruncate(fd, 0)
                os.write(fd, f"{ProcessToken.current()}\n".encode())
                self._fd = fd
                return
            os.close(fd)  # the holder removed the file between our open and our lock: again
        log.debug("no lock for %s: it kept changing", self.dest)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        # removed while still held, so no one can take the old file for a lock after us
        with contextlib.suppress(OSError):
            if _same_file(fd, self.path):
                self.path.unlink()
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _read_holder(fd: int) -> ProcessToken | None:
    try:
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
    except OSError:
        return None
    return ProcessToken.parse(text)
