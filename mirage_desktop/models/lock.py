"""An inter-process lock on one model file, so two Mirage processes never write the same download.

It is an OS advisory lock (fcntl.flock / msvcrt.locking) on a small lock file, not a bare "file exists"
flag: the kernel drops the lock when its holder dies, so a crashed or killed download can never leave a
stale lock behind. The holder writes who it is (PID, command, since when) into the file only so that
waiters can say who they wait for. A lock still held although its recorded owner is gone (the file
descriptor outlived it in a forked child) is taken over, with a word; so is a lock file that is not a
regular file (a FIFO, a link, a folder), which is set aside first.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from mirage_desktop.models import lockowner
from mirage_desktop.models.errors import ModelBusyError, storage_error
from mirage_desktop.models.lockowner import LockOwner
from mirage_desktop.safe_read import set_aside

log = logging.getLogger(__name__)

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
#: told, as one line each, that we wait and for whom, or that a stale lock was taken over
NoticeCallback = Callable[[str], None]

_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


class FileLock:
    """Exclusive lock held for the duration of a ``with`` block."""

    def __init__(
        self,
        path: Path,
        timeout: float | None = None,
        poll_interval: float = 0.1,
        on_wait: WaitCallback | None = None,
        on_notice: NoticeCallback | None = None,
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.on_wait = on_wait
        self.on_notice = on_notice
        self._fd: int | None = None

    def owner(self) -> LockOwner | None:
        return lockowner.read_owner(self.path)

    def holder_pid(self) -> int | None:
        owner = self.owner()
        return owner.pid if owner else None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, self.path, "create the lock file") from exc
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        told = False
        while True:
            fd = self._open()
            if _try_lock(fd):
                if self._still_the_file(fd):
                    break
                os.close(fd)  # taken over and replaced while we waited: lock the new one
                continue
            owner = self.owner()
            if owner is not None and not owner.is_alive() and self._still_the_file(fd):
                self._notice(
                    f"Taking over the lock on {self._model()}: it is held although its owner, "
                    f"{owner.describe()}, is no longer running."
                )
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                os.close(fd)
                continue
            if not told:
                told = True
                if self.on_wait is not None:
                    self.on_wait(owner.pid if owner else None)
                who = owner.describe() if owner else "another process"
                self._notice(f"Waiting for {who}, which is working on {self._model()} (lock {self.path})...")
            if deadline is not None and time.monotonic() >= deadline:
                os.close(fd)
                who = f"process {owner.pid}" if owner else "another process"
                raise ModelBusyError(
                    f"{who.capitalize()} is still working on {self._model()} (lock {self.path}). "
                    "Wait for it to finish, or close the other Mirage window, then try again."
                )
            os.close(fd)
            time.sleep(self.poll_interval)
        self._fd = fd
        self._take(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # an empty file says "released cleanly"
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

    # ------------------------------------------------------------------ internals

    def _model(self) -> str:
        return self.path.stem

    def _notice(self, line: str) -> None:
        log.info(line)
        if self.on_notice is not None:
            self.on_notice(line)

    def _open(self) -> int:
        """A descriptor on the lock file, which must be a regular file; anything else is set aside."""
        for _ in range(3):
            try:
                fd = os.open(self.path, _OPEN_FLAGS, 0o644)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                    raise storage_error(exc, self.path, "create the lock file") from exc
                self._set_aside("a link, a folder or a special file")
                continue
            mode = os.fstat(fd).st_mode
            if stat.S_ISREG(mode):
                return fd
            os.close(fd)
            self._set_aside("not a regular file")
        raise storage_error(OSError(errno.EEXIST, "not a regular file"), self.path, "use the lock file")

    def _set_aside(self, why: str) -> None:
        moved = set_aside(self.path)
        if moved is None:
            raise storage_error(OSError(errno.EEXIST, f"it is {why}"), self.path, "use the lock file")
        self._notice(f"The lock file {self.path} was {why}; set it aside as {moved.name}.")

    def _still_the_file(self, fd: int) -> bool:
        # Another waiter may have replaced the lock file (stale takeover) after we opened ours.
        try:
            now = os.stat(self.path)
        except OSError:
            return False
        mine = os.fstat(fd)
        return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)

    def _take(self, fd: int) -> None:
        """Record ourselves as the owner; say so if the last owner died without releasing it."""
        left = lockowner.read_owner(self.path)
        if left is not None and left.pid != os.getpid() and not left.is_alive():
            self._notice(
                f"The lock on {self._model()} was left by {left.describe()}, which ended without "
                "releasing it; taking it over."
            )
        # Best effort: the record is for messages only, the OS lock is what excludes.
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, lockowner.encode(lockowner.current()))
        except OSError:
            pass
