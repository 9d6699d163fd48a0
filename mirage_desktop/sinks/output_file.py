"""Output files that cannot cost the user a file.

A destination is checked before any work starts (folder, extension, not a device, not the input by
identity), the data goes to a partial file beside it (same folder, so the final rename is atomic and
never crosses file systems), and only a finished, verified file is renamed into place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from mirage_desktop.durable import fsync_path
from mirage_desktop.sinks.base import SinkError

#: below this much free space a video write is failing or about to: FFmpeg flushes in 32 KiB blocks
LOW_SPACE_BYTES = 64 * 1024

_ERRNO_WORDS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "your disk quota is used up",
    errno.EFBIG: "the file reached the largest size allowed here (file size limit)",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the disk is read-only",
    errno.EIO: "an input/output error (the disk or its connection failed)",
    errno.ENAMETOOLONG: "the file name is too long",
}


class OutputError(SinkError):
    """The destination cannot be written; the message says why and what to do."""


def describe_os_error(exc: OSError) -> str:
    return _ERRNO_WORDS.get(exc.errno or 0) or exc.strerror or str(exc)


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` are one file: same path, a symlink, or a hard link."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): only the names can be compared
        return os.path.realpath(a) == os.path.realpath(b)


def check_destination(
    path: str | Path,
    *,
    inputs: Iterable[str | Path] = (),
    suffixes: Iterable[str] | None = None,
    what: str = "output file",
) -> Path:
    """The file to replace at the end (a symlink's target: the link keeps working); OutputError if
    it cannot be written there."""
    path = Path(path).expanduser()
    if suffixes is not None:
        allowed = sorted(suffixes)
        if path.suffix.lower() not in allowed:
            raise OutputError(
                f"Cannot write the {what} {path}: use a file name ending in {', '.join(allowed)} "
                f"(got '{path.suffix or 'no extension'}')."
            )
    dest = Path(os.path.realpath(path)) if path.is_symlink() else path
    for source in inputs:
        if same_file(source, dest):
            raise OutputError(
                f"The {what} {path} is the input file {source} (the same file, perhaps through a link): "
                "writing it would destroy the input. Choose another output name."
            )
    if dest.exists():
        mode = dest.stat().st_mode
        if stat.S_ISDIR(mode):
            raise OutputError(f"The {what} {path} is a folder. Give a file name inside it instead.")
        if not stat.S_ISREG(mode):
            # os.replace over a device node or a pipe would replace the node itself
            raise OutputError(f"The {what} {path} is not a regular file (a device or a pipe).")
    folder = dest.parent
    if not folder.exists():
        raise OutputError(f"Cannot write the {what} {path}: the folder {folder} does not exist.")
    if not folder.is_dir():
        raise OutputError(f"Cannot write the {what} {path}: {folder} is not a folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write the {what} {path}: the folder {folder} is not writable.")
    return dest


class PartialFile:
    """``.NAME.partial-XXXX.EXT`` beside ``dest``: created now, renamed over ``dest`` when complete.

    The extension is kept because writers (FFmpeg) choose the container from the name.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.path: Path | None = None

    def create(self) -> Path:
        mode = 0o666  # the umask applies, as for any new file
        with contextlib.suppress(OSError):  # replacing: keep the old file's permissions
            mode = stat.S_IMODE(self.dest.stat().st_mode)
        for _ in range(20):
            candidate = self.dest.with_name(
                f".{self.dest.name}.partial-{secrets.token_hex(4)}{self.dest.suffix}"
            )
            try:
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
            except FileExistsError:
                continue
            except OSError as exc:
                raise OutputError(
                    f"Cannot create a file next to {self.dest}: {describe_os_error(exc)}."
                ) from exc
            os.close(fd)
            if mode != 0o666:
                os.chmod(candidate, mode)
            self.path = candidate
            return candidate
        raise OutputError(f"Cannot create a temporary file next to {self.dest}.")

    def commit(self, replace: bool = True) -> None:
        """Move the partial file into place; ``replace=False`` never overwrites an existing file."""
        assert self.path is not None
        fsync_path(self.path)
        if replace:
            os.replace(self.path, self.dest)
        else:
            _move_no_clobber(self.path, self.dest)
        self.path = None
        fsync_path(self.dest.parent)

    def discard(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)
            self.path = None


def _move_no_clobber(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)  # atomic "create only if absent"
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system (FAT, some network shares)
        if dest.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(dest)) from None
        os.rename(src, dest)
        return
    src.unlink()


def space_problem(path: Path) -> str | None:
    """Why writes to ``path`` fail or are about to (full disk, file size limit), or None.

    Needed because OpenCV's VideoWriter.write drops write errors without a word.
    """
    try:
        size = path.stat().st_size
        fs = os.statvfs(path.parent)
    except OSError as exc:
        return describe_os_error(exc)
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and size >= limit:
        return f"the file reached the largest size allowed here ({limit:,} bytes, `ulimit -f`)"
    free_blocks = fs.f_bfree if os.geteuid() == 0 else fs.f_bavail  # root may use the reserve
    if free_blocks * fs.f_frsize < LOW_SPACE_BYTES:
        return f"the disk holding {path.parent} is full"
    return None
