"""Take one model file out of a downloaded zip (insightface ships buffalo_l this way)."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path, PurePosixPath

from mirage_desktop.models.download import Expected, FetchError, HashMismatch
from mirage_desktop.models.errors import storage_error

_CHUNK = 1 << 20


def find_member(archive: zipfile.ZipFile, member: str) -> zipfile.ZipInfo | None:
    """The member by exact name, else by base name (packs are sometimes zipped inside a folder)."""
    try:
        return archive.getinfo(member)
    except KeyError:
        pass
    wanted = PurePosixPath(member).name
    for info in archive.infolist():
        if not info.is_dir() and PurePosixPath(info.filename).name == wanted:
            return info
    return None


def extract_member(archive_path: Path, member: str, part: Path, expected: Expected) -> str:
    """Stream ``member`` into ``part`` while hashing; return its sha256 once size and hash check out.

    Only the member's bytes are written, to a name we choose, so a hostile zip cannot place files
    anywhere else (no path traversal via member names).
    """
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FetchError(f"the downloaded archive {archive_path.name} is not a readable zip ({exc})") from exc
    with archive:
        info = find_member(archive, member)
        if info is None:
            raise FetchError(f"the archive {archive_path.name} has no {member}")
        if expected.size is not None and info.file_size != expected.size:
            raise FetchError(
                f"{member} in {archive_path.name} is {info.file_size:,} bytes, "
                f"the manifest expects {expected.size:,}"
            )
        digest = hashlib.sha256()
        try:
            out = open(part, "wb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise storage_error(exc, part, "write") from exc
        try:
            with archive.open(info) as src:
                while True:
                    try:
                        chunk = src.read(_CHUNK)
                    except (zipfile.BadZipFile, OSError, EOFError) as exc:
                        # zipfile checks each member's CRC: a damaged download shows up here.
                        raise FetchError(f"{member} in {archive_path.name} is damaged ({exc})") from exc
                    if not chunk:
                        break
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise storage_error(exc, part, "write") from exc
                    digest.update(chunk)
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise storage_error(exc, part, "write") from exc
        except BaseException:
            out.close()
            part.unlink(missing_ok=True)
            raise
        out.close()
    got = digest.hexdigest()
    if expected.sha256 is not None and got != expected.sha256:
        part.unlink(missing_ok=True)
        raise HashMismatch(expected.sha256, got)
    return got
