"""Resumable, verified, bounded HTTP download of one file from one URL into a ``.part`` file.

Only the standard library: urllib follows the redirects GitHub and Hugging Face use and keeps the
Range header across them. Every request has a timeout (insightface's own downloader has none, and a
stalled socket then hangs the app forever). Nothing a mirror sends can grow the ``.part`` past the
expected size (or, size unknown, ``UNKNOWN_SIZE_LIMIT``), trickle for ever, or smuggle in a file of
the wrong kind.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import stat
import time
import urllib.error
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mirage_desktop.durable import fsync_path
from mirage_desktop.models import filekind
from mirage_desktop.models.errors import ModelStorageError, storage_error
from mirage_desktop.models.limits import DownloadSettings
from mirage_desktop.models.transport import describe_network_error, open_url, timed_out

__all__ = ["DownloadSettings", "Expected", "FetchError", "HashMismatch", "HttpFetcher", "sha256_file"]

#: progress(bytes_done, bytes_total); bytes_total is 0 when unknown. Raise from it to cancel.
ProgressCallback = Callable[[int, int], None]

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_RETRYABLE_HTTP = {408, 425, 429, 500, 502, 503, 504}
HASH_CHUNK = 1 << 20
#: bytes of the body looked at before deciding it is plainly not the model (an HTML page)
_SNIFF_BYTES = 512


@dataclass(frozen=True, slots=True)
class Expected:
    size: int | None
    sha256: str | None
    #: what the file must be ("onnx", "pytorch", "faiss", "zip"; see filekind), checked when no hash
    kind: str | None = None


class FetchError(Exception):
    """One URL failed; ``retryable`` means trying the same URL again may work (and will resume);
    ``discard`` means the ``.part`` holds bytes that must not be resumed from."""

    def __init__(self, reason: str, retryable: bool = False, discard: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.discard = discard


class HashMismatch(FetchError):
    def __init__(self, expected: str, got: str, looks: str | None = None) -> None:
        # ``looks``: what the bytes plainly are (an HTML page), when they are something nameable
        what = f" ({looks})" if looks else ""
        super().__init__(
            f"wrong content: expected sha256 {expected}, got {got}{what}; the downloaded file was deleted"
        )
        self.expected = expected
        self.got = got


@dataclass(slots=True)
class _Seen:
    """What earlier attempts on this URL learnt, so a resume can tell a changed file from the same."""

    validator: str | None = None
    total: int | None = None
    notes: list[str] = field(default_factory=list)


def sha256_file(path: Path, chunk_size: int = HASH_CHUNK) -> str:
    digest = hashlib.sha256()
    _hash_into(digest, path, chunk_size)
    return digest.hexdigest()


def _hash_into(digest: Any, path: Path, chunk_size: int = HASH_CHUNK) -> None:
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)


def fsync_dir(folder: Path) -> None:
    """Make a rename durable; directories cannot be opened for fsync on Windows, where it is moot."""
    if os.name == "nt":
        return
    fsync_path(folder)


class HttpFetcher:
    """Fetches one URL into ``part``: resumes what is there, verifies size and SHA-256 while writing."""

    def __init__(
        self,
        settings: DownloadSettings,
        environ: Mapping[str, str],
        tell: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.environ = environ
        self._tell = tell or (lambda line: None)
        self._clock = clock

    @property
    def read_timeout(self) -> float:
        # A silent socket is a stall too: never wait on one read longer than the stall allows.
        return min(self.settings.timeout, self.settings.stall_timeout)

    def fetch(self, url: str, part: Path, expected: Expected, progress: ProgressCallback | None) -> str:
        """Try ``url`` (with retries that resume); return the sha256 of the complete ``part``."""
        attempts = max(1, self.settings.attempts_per_mirror)
        seen = _Seen()
        for attempt in range(1, attempts + 1):
            try:
                return self._fetch_once(url, part, expected, progress, seen)
            except FetchError as exc:
                if exc.discard:
                    _unlink(part)
                if not exc.retryable or attempt == attempts:
                    raise
            time.sleep(self.settings.retry_delay * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _limit(self, expected: Expected) -> int:
        return expected.size if expected.size is not None else self.settings.unknown_size_limit

    def _fetch_once(
        self, url: str, part: Path, expected: Expected, progress: ProgressCallback | None, seen: _Seen
    ) -> str:
        limit = self._limit(expected)
        have = self._prepare_part(part, limit)
        digest = hashlib.sha256()
        if have:
            _hash_into(digest, part)  # resuming: the hash must cover the bytes already on disk
        if expected.size is not None and have == expected.size:
            return self._finish(part, digest, have, expected)

        headers = {"User-Agent": self.settings.user_agent, "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
            if seen.validator:
                # A file that changed on the server since the first attempt comes back whole (200).
                headers["If-Range"] = seen.validator
        try:
            response = open_url(url, headers, self.read_timeout, self.environ)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416 and have and _complete_per_416(exc, have):
                # Our part already holds the whole file (its size was unknown up front).
                return self._finish(part, digest, have, expected)
            if exc.code == 416 and have:
                # The server cannot continue from our offset (our part is stale or the file changed):
                # start over cleanly on the next attempt.
                raise FetchError(
                    "the server refused to resume (HTTP 416); restarting", retryable=True, discard=True
                ) from exc
            reason = " ".join(str(exc.reason).split())[:120]
            raise FetchError(f"HTTP {exc.code} {reason}", retryable=exc.code in _RETRYABLE_HTTP) from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason, retryable = describe_network_error(exc, self.read_timeout)
            # A server that never answered a request will most likely not answer the next one either:
            # three attempts made the user wait 3 × timeout in silence before the next mirror.
            raise FetchError(reason, retryable=retryable and not timed_out(exc)) from exc

        with response:
            start = self._check_answer(response, have, expected, seen)
            if start == 0 and have:
                digest = hashlib.sha256()  # the server sends the whole file: restart from byte 0
            length = response.headers.get("Content-Length", "")
            end = start + int(length) if length.isdigit() else None
            if expected.size is not None and end is not None and end != expected.size:
                raise FetchError(
                    f"the server offers {end:,} bytes but the manifest expects {expected.size:,} "
                    "(a different file); not downloaded"
                )
            if end is not None and end > limit:
                raise FetchError(_too_big(end, expected, limit, "offers"), discard=start == 0)
            total = expected.size or end or 0
            done = self._stream(response, part, start, digest, total, limit, expected, progress)

        if end is not None and done < end:
            raise FetchError(f"connection closed early after {done:,} of {end:,} bytes", retryable=True)
        return self._finish(part, digest, done, expected)

    def _check_answer(self, response: Any, have: int, expected: Expected, seen: _Seen) -> int:
        """Where the body starts in the file (0 or ``have``); refuses a resume of another file."""
        validator = _strong_etag(response.headers.get("ETag")) or response.headers.get("Last-Modified")
        if response.status == 200:
            # The whole file (a server that ignores Range sends it again: never appended to the part);
            # later resumes are checked against this version of it.
            seen.validator, seen.total = validator, None
            return 0
        first, seen.validator = seen.validator, seen.validator or validator
        if response.status != 206:
            raise FetchError(f"unexpected HTTP {response.status} {response.reason}")
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != have:
            raise FetchError(
                "the server resumed at the wrong offset; restarting", retryable=True, discard=True
            )
        total = int(match.group(3)) if match.group(3).isdigit() else None
        if expected.size is not None and total is not None and total != expected.size:
            raise FetchError(
                f"the server resumed a file of {total:,} bytes where the manifest expects "
                f"{expected.size:,} (a different file); the partial download was discarded",
                discard=True,
            )
        if (first and validator and validator != first) or (seen.total and total and total != seen.total):
            raise FetchError(
                "the file changed on the server between attempts; starting again",
                retryable=True,
                discard=True,
            )
        seen.total = seen.total or total
        return have

    def _prepare_part(self, part: Path, limit: int) -> int:
        """The size of a usable partial download at ``part`` (0 if none); clears what cannot be one."""
        try:
            info = os.lstat(part)
        except (FileNotFoundError, NotADirectoryError):
            return 0
        except OSError as exc:
            raise storage_error(exc, part, "read") from exc
        if stat.S_ISDIR(info.st_mode):
            raise ModelStorageError(
                f"{part} is a folder, but the download keeps its partial file under that name. "
                "Move that folder away and try again."
            )
        if not stat.S_ISREG(info.st_mode):
            what = "a link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
            self._tell(f"removing {part}: it is {what}, not a partial download (its target is untouched)")
        elif info.st_size > limit:
            self._tell(
                f"discarding {part}: its {info.st_size:,} bytes are more than the {limit:,} this file "
                "can have, so it is not the start of it"
            )
        else:
            return info.st_size
        try:
            part.unlink()
        except OSError as exc:
            raise storage_error(exc, part, "remove") from exc
        return 0

    def _stream(
        self,
        response: Any,
        part: Path,
        start: int,
        digest: Any,
        total: int,
        limit: int,
        expected: Expected,
        progress: ProgressCallback | None,
    ) -> int:
        done, kind = start, expected.kind
        fh = _open_part(part, start)
        read = getattr(response, "read1", response.read)  # read1: returns what arrived, not 256 KiB
        stall, floor = self.settings.stall_timeout, self.settings.stall_min_bytes
        mark_time, mark_bytes = self._clock(), done
        head = b"" if start == 0 and kind else None
        try:
            if progress is not None:
                progress(done, total)
            while True:
                try:
                    chunk = read(self.settings.chunk_size)
                except (OSError, http.client.HTTPException) as exc:
                    reason, _ = describe_network_error(exc, self.read_timeout)
                    # Silence after real progress is a dropped link (resume); with none, a stall.
                    moving = done - mark_bytes >= floor or not timed_out(exc)
                    raise FetchError(f"{reason} after {done:,} bytes", retryable=moving) from exc
                if not chunk:
                    break
                if done + len(chunk) > limit:
                    raise FetchError(_too_big(done + len(chunk), expected, limit, "sent"), discard=True)
                if head is not None:
                    head += chunk[: _SNIFF_BYTES - len(head)]
                    if len(head) >= _SNIFF_BYTES:
                        problem = filekind.head_problem(head, kind, strict=expected.sha256 is None)
                        if problem:
                            raise FetchError(f"wrong kind of file: {problem}; discarded", discard=True)
                        head = None
                try:
                    fh.write(chunk)
                except OSError as exc:
                    raise storage_error(exc, part, "write") from exc
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
                now = self._clock()
                if done - mark_bytes >= floor:
                    mark_time, mark_bytes = now, done
                elif now - mark_time >= stall:
                    raise FetchError(
                        f"stalled: {done - mark_bytes:,} bytes in {now - mark_time:.0f} s (less than "
                        f"{floor:,} bytes in {stall:g} s) after {done:,} bytes; giving up on this source"
                    )
        finally:
            # Keep what arrived: flushed bytes are what the next attempt resumes from.
            try:
                fh.flush()
                os.fsync(fh.fileno())
            except OSError:
                pass
            with contextlib.suppress(OSError):
                fh.close()
        return done

    @staticmethod
    def _finish(part: Path, digest: Any, done: int, expected: Expected) -> str:
        if expected.size is not None and done != expected.size:
            raise FetchError(
                f"got {done:,} bytes but the manifest expects {expected.size:,}",
                retryable=done < expected.size,
                discard=done > expected.size,
            )
        got = digest.hexdigest()
        if expected.sha256 is not None and got != expected.sha256:
            looks = _obvious(part)
            _unlink(part)
            raise HashMismatch(expected.sha256, got, looks)
        if expected.sha256 is None:
            problem = _kind_problem(part, expected.kind)
            if problem:
                raise FetchError(f"wrong kind of file: {problem}; discarded", discard=True)
        return got


def _obvious(part: Path) -> str | None:
    with contextlib.suppress(OSError):
        return filekind.obvious_kind(part)
    return None


def _kind_problem(part: Path, kind: str | None) -> str | None:
    try:
        return filekind.check_file(part, kind)
    except OSError as exc:
        raise storage_error(exc, part, "read") from exc


def _open_part(part: Path, start: int) -> Any:
    """The ``.part`` for writing at ``start``: a regular file only, never through a link or a FIFO."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_BINARY", 0) | (0 if start else os.O_TRUNC)
    try:
        fd = os.open(part, flags, 0o644)
    except OSError as exc:
        raise storage_error(exc, part, "write") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ModelStorageError(f"{part} is not a regular file; remove it and try again.")
    fh = os.fdopen(fd, "wb")
    if start:
        fh.seek(start)
        fh.truncate()
    return fh


def _too_big(size: int, expected: Expected, limit: int, verb: str) -> str:
    if expected.size is None:
        return (
            f"the server {verb} {size:,} bytes, more than the {limit:,}-byte limit for a model whose "
            "size is not published; not downloaded"
        )
    return (
        f"the server {verb} more than the {limit:,} bytes this file can have (at least {size:,}); "
        "stopped and discarded"
    )


def _strong_etag(value: str | None) -> str | None:
    return value if value and not value.startswith("W/") else None


def _complete_per_416(exc: urllib.error.HTTPError, have: int) -> bool:
    match = re.match(r"bytes\s+\*/(\d+)", (exc.headers or {}).get("Content-Range", "") or "")
    return bool(match) and int(match.group(1)) == have


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
