"""An inter-process lock on one model file, so two Mirage processes never write the same download.

It is an OS advisory lock (fcntl.flock / msvcrt.locking) on a small lock file, not a bare "file exists"
flag: the kernel drops the lock when its holder dies, so a crashed or killed download can never leave a
stale lock behind. The holder's PID is written into the file only so waiters can say who they wait for.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from mirage_desktop.models.errors import ModelBusyError, storage_error

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


#: called while waiting, with the holder's PID when known
WaitCallback = Callable[[int | None], None]


class FileLock:
    """Exclusive lock held for the duration of a ``with`` block."""

    def __init__(
        self,
        path: Path,
        timeout: float | None = None,
        poll_interval: float = 0.1,
        on_wait: WaitCallback | None = None,
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.on_wait = on_wait
        self._fd: int | None = None

    def holder_pid(self) -> int | None:
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise storage_error(exc, self.path, "create the lock file") from exc
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        told = False
        while not _try_lock(fd):
            if not told and self.on_wait is not None:
                self.on_wait(self.holder_pid())
                told = True
            if deadline is not None and time.monotonic() >= deadline:
                os.close(fd)
                holder = self.holder_pid()
                who = f"process {holder}" if holder else "another process"
                raise ModelBusyError(
                    f"{who.capitalize()} is still working on {self.path.stem} (lock {self.path}). "
                    "Wait for it to finish, or close the other Mirage window, then try again."
                )
            time.sleep(self.poll_interval)
        # Best effort: the PID is for messages only, the OS lock is what excludes.
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, str(os.getpid()).encode("ascii"))
        except OSError:
            pass
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
