"""Output files that cannot cost the user a file.

A destination is checked before any work starts (folder, extension, not a device, not the input by
identity), the data goes to a partial file beside it (same folder, so the final rename is atomic and
never crosses file systems), and only a finished, verified file is renamed into place.

A partial file's name carries its writer (``.NAME.partial-PID-START-XXXX.EXT``: the PID and that
process's start time), so one left by a run that was killed (SIGKILL, a crash, a power cut) is
recognised by the next run writing to the same folder and removed — and never one whose writer
still runs. Only one writer at a time may make a new version of a file (``output_lock``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import resource
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mirage_desktop.durable import fsync_path
from mirage_desktop.safe_read import kind_of_mode
from mirage_desktop.sinks.base import SinkError
from mirage_desktop.sinks.output_lock import OutputBusy, OutputLock
from mirage_desktop.system.process_identity import Liveness, ProcessToken

log = logging.getLogger(__name__)

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


#: ``.NAME.partial-PID-START-XXXXXXXX.EXT``: this version's partial files, owner in the name
PARTIAL_NAME = re.compile(r"^\..+\.partial-(?P<pid>\d+)-(?P<start>\d+)-[0-9a-f]{8}(\.[^.]*)?$")
#: ``.NAME.partial-XXXXXXXX.EXT``: older versions' partial files, owner unknown
OLD_PARTIAL_NAME = re.compile(r"^\..+\.partial-[0-9a-f]{8}(\.[^.]*)?$")
#: a folder with more entries than this is not searched for leftovers (a start must stay quick)
MAX_SWEEP_ENTRIES = 20000


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
            raise OutputError(f"The {what} {path} is {kind_of_mode(mode)}, not a regular file.")
    folder = dest.parent
    if not folder.exists():
        raise OutputError(f"Cannot write the {what} {path}: the folder {folder} does not exist.")
    if not folder.is_dir():
        raise OutputError(f"Cannot write the {what} {path}: {folder} is not a folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write the {what} {path}: the folder {folder} is not writable.")
    return dest


@dataclass(slots=True)
class Leftovers:
    """Partial files of interrupted runs found in a folder."""

    removed: list[Path] = field(default_factory=list)
    #: their writer cannot be proved gone (an older version's name, or no way to tell here)
    kept: list[Path] = field(default_factory=list)


def sweep_leftovers(folder: Path) -> Leftovers:
    """Remove the partial files in ``folder`` whose writer has died; name the ones that cannot be
    told (in the log, which the CLI shows on stderr). A live writer's file is never touched."""
    found = Leftovers()
    try:
        with os.scandir(folder) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_SWEEP_ENTRIES:
                    break
                name = entry.name
                if ".partial-" not in name or not entry.is_file(follow_symlinks=False):
                    continue
                match = PARTIAL_NAME.match(name)
                if match is not None:
                    owner = ProcessToken(int(match["pid"]), int(match["start"]))
                    liveness = owner.liveness()
                    if liveness is Liveness.DEAD:
                        with contextlib.suppress(OSError):
                            os.unlink(entry.path)
                            found.removed.append(Path(entry.path))
                    elif liveness is Liveness.UNKNOWN:
                        found.kept.append(Path(entry.path))
                elif OLD_PARTIAL_NAME.match(name):
                    found.kept.append(Path(entry.path))
    except OSError:
        return found
    for path in found.removed:
        log.warning("removed %s, a partial file left by an interrupted Mirage run", path)
    for path in found.kept:
        log.warning(
            "%s looks like a partial file left by an interrupted Mirage run; delete it if no Mirage "
            "is writing it now",
            path,
        )
    return found


class PartialFile:
    """``.NAME.partial-PID-START-XXXX.EXT`` beside ``dest``: created now, renamed over ``dest`` when
    complete. While it exists this process holds ``dest``'s output lock (OutputBusy otherwise).

    The extension is kept because writers (FFmpeg) choose the container from the name.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.path: Path | None = None
        self.lock = OutputLock(dest)
        self.leftovers = Leftovers()

    def create(self) -> Path:
        try:
            self.lock.acquire()
        except OutputBusy as exc:
            raise OutputError(str(exc)) from None
        try:
            return self._create()
        except BaseException:
            self.lock.release()
            raise

    def _create(self) -> Path:
        self.leftovers = sweep_leftovers(self.dest.parent)
        mode = 0o666  # the umask applies, as for any new file
        with contextlib.suppress(OSError):  # replacing: keep the old file's permissions
            mode = stat.S_IMODE(self.dest.stat().st_mode)
        owner = ProcessToken.current()
        for _ in range(20):
            candidate = self.dest.with_name(
                f".{self.dest.name}.partial-{owner}-{secrets.token_hex(4)}{self.dest.suffix}"
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
        try:
            fsync_path(self.path)
            if replace:
                os.replace(self.path, self.dest)
            else:
                _move_no_clobber(self.path, self.dest)
            self.path = None
            fsync_path(self.dest.parent)
        finally:
            if self.path is None:
                self.lock.release()

    def discard(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)
            self.path = None
        self.lock.release()


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
