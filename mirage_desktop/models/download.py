"""Resumable, verified HTTP download of one file from one URL into a ``.part`` file.

Only the standard library: urllib follows the redirects GitHub and Hugging Face use and keeps the
Range header across them. Every request has a timeout (insightface's own downloader has none, and a
stalled socket then hangs the app forever).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import os
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mirage_desktop import __version__
from mirage_desktop.durable import fsync_path
from mirage_desktop.models.errors import storage_error

#: progress(bytes_done, bytes_total); bytes_total is 0 when unknown. Raise from it to cancel.
ProgressCallback = Callable[[int, int], None]

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_RETRYABLE_HTTP = {408, 425, 429, 500, 502, 503, 504}
HASH_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class DownloadSettings:
    #: seconds for connecting and for each read; a stalled mirror fails instead of hanging. A mirror
    #: that accepts and never answers is abandoned after this (once, not once per attempt).
    timeout: float = 20.0
    #: attempts on one mirror when the connection drops; each resumes where the last stopped
    attempts_per_mirror: int = 3
    retry_delay: float = 1.0
    chunk_size: int = 1 << 18
    user_agent: str = f"Mirage/{__version__} (model downloader)"


@dataclass(frozen=True, slots=True)
class Expected:
    size: int | None
    sha256: str | None


class FetchError(Exception):
    """One URL failed; ``retryable`` means trying the same URL again may work (and will resume)."""

    def __init__(self, reason: str, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class HashMismatch(FetchError):
    def __init__(self, expected: str, got: str) -> None:
        super().__init__(
            f"wrong content: expected sha256 {expected}, got {got}; the downloaded file was deleted"
        )
        self.expected = expected
        self.got = got


def sha256_file(path: Path, chunk_size: int = HASH_CHUNK) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
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


def _proxies_for(url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Proxy settings from the given environment, never for loopback (tests, local mirrors)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return {}
    try:
        if ipaddress.ip_address(host).is_loopback:
            return {}
    except ValueError:
        pass
    lowered = {k.lower(): v for k, v in environ.items() if v}
    no_proxy = lowered.get("no_proxy", "")
    if no_proxy and urllib.request.proxy_bypass_environment(host, {"no": no_proxy}):
        return {}
    return {k[: -len("_proxy")]: v for k, v in lowered.items() if k.endswith("_proxy") and k != "no_proxy"}


def describe_network_error(exc: BaseException, timeout: float) -> tuple[str, bool]:
    """A short human reason for a failed request, and whether retrying the same URL makes sense."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the computer offline, or the server down?)", False
    if isinstance(exc, socket.gaierror):
        return "host name not found (is the computer offline?)", False
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s", True
    if isinstance(exc, ssl.SSLError):
        return f"secure connection failed ({exc.reason or exc})", False
    if isinstance(exc, ConnectionError | http.client.HTTPException):
        return f"connection lost ({type(exc).__name__}: {exc})", True
    if isinstance(exc, OSError):
        return f"network error ({exc.strerror or exc})", True
    return f"{type(exc).__name__}: {exc}", False


class HttpFetcher:
    """Fetches one URL into ``part``: resumes what is there, verifies size and SHA-256 while writing."""

    def __init__(self, settings: DownloadSettings, environ: Mapping[str, str]) -> None:
        self.settings = settings
        self.environ = environ

    def fetch(self, url: str, part: Path, expected: Expected, progress: ProgressCallback | None) -> str:
        """Try ``url`` (with retries that resume); return the sha256 of the complete ``part``."""
        attempts = max(1, self.settings.attempts_per_mirror)
        for attempt in range(1, attempts + 1):
            try:
                return self._fetch_once(url, part, expected, progress)
            except FetchError as exc:
                if not exc.retryable or attempt == attempts:
                    raise
            time.sleep(self.settings.retry_delay * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _open(self, url: str, headers: dict[str, str]) -> Any:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler(_proxies_for(url, self.environ)))
        request = urllib.request.Request(url, headers=headers)
        return opener.open(request, timeout=self.settings.timeout)

    def _fetch_once(self, url: str, part: Path, expected: Expected, progress: ProgressCallback | None) -> str:
        have = _existing_size(part)
        if expected.size is not None and have > expected.size:
            _unlink(part)  # longer than the real file: cannot be a prefix of it
            have = 0
        digest = hashlib.sha256()
        if have:
            _hash_into(digest, part)  # resuming: the hash must cover the bytes already on disk
        if expected.size is not None and have == expected.size:
            return self._finish(part, digest, have, expected)

        headers = {"User-Agent": self.settings.user_agent, "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            response = self._open(url, headers)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416 and have and _complete_per_416(exc, have):
                # Our part already holds the whole file (its size was unknown up front).
                return self._finish(part, digest, have, expected)
            if exc.code == 416 and have:
                # The server cannot continue from our offset (our part is stale or the file changed):
                # start over cleanly on the next attempt.
                _unlink(part)
                reason = "the server refused to resume (HTTP 416); restarting"
                raise FetchError(reason, retryable=True) from exc
            raise FetchError(f"HTTP {exc.code} {exc.reason}", retryable=exc.code in _RETRYABLE_HTTP) from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason, retryable = describe_network_error(exc, self.settings.timeout)
            # A server that never answered a request will most likely not answer the next one either:
            # three attempts made the user wait 3 × timeout in silence before the next mirror.
            raise FetchError(reason, retryable=retryable and not _timed_out(exc)) from exc

        with response:
            start = have
            if have and response.status == 206:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != have:
                    _unlink(part)
                    raise FetchError("the server resumed at the wrong offset; restarting", retryable=True)
            elif response.status == 200:
                if have:
                    # The server ignored Range and sends the whole file: restart from byte 0.
                    digest = hashlib.sha256()
                    start = 0
            else:
                raise FetchError(f"unexpected HTTP {response.status} {response.reason}")

            length = response.headers.get("Content-Length")
            end = start + int(length) if length and length.isdigit() else None
            if expected.size is not None and end is not None and end != expected.size:
                raise FetchError(
                    f"the server offers {end:,} bytes but the manifest expects {expected.size:,} "
                    "(a different file)"
                )
            total = expected.size or end or 0
            done = self._stream(response, part, start, digest, total, progress)

        if end is not None and done < end:
            raise FetchError(f"connection closed early after {done:,} of {end:,} bytes", retryable=True)
        return self._finish(part, digest, done, expected)

    def _stream(
        self,
        response: Any,
        part: Path,
        start: int,
        digest: Any,
        total: int,
        progress: ProgressCallback | None,
    ) -> int:
        done = start
        try:
            fh = open(part, "r+b" if start else "wb")  # noqa: SIM115 - closed in finally
        except OSError as exc:
            raise storage_error(exc, part, "write") from exc
        try:
            if start:
                fh.seek(start)
                fh.truncate()
            if progress is not None:
                progress(done, total)
            while True:
                try:
                    chunk = response.read(self.settings.chunk_size)
                except (OSError, http.client.HTTPException) as exc:
                    reason, _ = describe_network_error(exc, self.settings.timeout)
                    raise FetchError(f"{reason} after {done:,} bytes", retryable=True) from exc
                if not chunk:
                    break
                try:
                    fh.write(chunk)
                except OSError as exc:
                    raise storage_error(exc, part, "write") from exc
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
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
            if done > expected.size:
                _unlink(part)
            raise FetchError(
                f"got {done:,} bytes but the manifest expects {expected.size:,}",
                retryable=done < expected.size,
            )
        got = digest.hexdigest()
        if expected.sha256 is not None and got != expected.sha256:
            _unlink(part)
            raise HashMismatch(expected.sha256, got)
        return got


def _timed_out(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    return isinstance(exc, TimeoutError | socket.timeout)


def _complete_per_416(exc: urllib.error.HTTPError, have: int) -> bool:
    match = re.match(r"bytes\s+\*/(\d+)", (exc.headers or {}).get("Content-Range", "") or "")
    return bool(match) and int(match.group(1)) == have


def _existing_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
