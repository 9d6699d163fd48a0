"""Take one model file out of a downloaded zip (insightface ships buffalo_l this way)."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path, PurePosixPath

from mirage_desktop.models import filekind
from mirage_desktop.models.download import Expected, FetchError, HashMismatch
from mirage_desktop.models.errors import storage_error
from mirage_desktop.models.limits import UNKNOWN_SIZE_LIMIT

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


def extract_member(
    archive_path: Path, member: str, part: Path, expected: Expected, limit: int = UNKNOWN_SIZE_LIMIT
) -> str:
    """Stream ``member`` into ``part`` while hashing; return its sha256 once size and hash check out.

    Only the member's bytes are written, to a name we choose, so a hostile zip cannot place files
    anywhere else (no path traversal via member names); never more than the expected size (or
    ``limit`` when unknown), so a zip bomb cannot fill the disk.
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
        cap = expected.size if expected.size is not None else limit
        if info.file_size > cap:
            raise FetchError(
                f"{member} in {archive_path.name} is {info.file_size:,} bytes, over the {cap:,} limit"
            )
        digest = hashlib.sha256()
        written = 0
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
                    written += len(chunk)
                    if written > cap:
                        raise FetchError(
                            f"{member} in {archive_path.name} unpacks to more than {cap:,} bytes"
                        )
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
        looks = filekind.obvious_kind(part)
        part.unlink(missing_ok=True)
        raise HashMismatch(expected.sha256, got, looks)
    if expected.sha256 is None:
        problem = filekind.check_file(part, expected.kind)
        if problem:
            part.unlink(missing_ok=True)
            raise FetchError(f"{member} in {archive_path.name} is the wrong kind of file: {problem}")
    return got
