"""How long and how much the downloader will wait and write: stated defaults, environment overrides.

Every bound a hostile or broken mirror could push against is a named constant here, so the README
can quote it and tests can shrink it through ``DownloadSettings`` (or the environment, for the CLI).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from mirage_desktop import __version__

log = logging.getLogger(__name__)

#: seconds for connecting and for each read
CONNECT_TIMEOUT_S = 20.0
#: a source that delivers less than STALL_MIN_BYTES in this many seconds is given up (a trickle)
STALL_TIMEOUT_S = 30.0
#: ... i.e. a floor of about 2 kB/s, far below any real connection, far above a byte every few seconds
STALL_MIN_BYTES = 64 * 1024
#: the most a download of a file whose size nobody published may write (the largest model is 554 MB)
UNKNOWN_SIZE_LIMIT = 2 * 1024**3

#: environment variables that override the defaults above (positive numbers; others are ignored)
ENV_TIMEOUT = "MIRAGE_DOWNLOAD_TIMEOUT_S"
ENV_STALL = "MIRAGE_DOWNLOAD_STALL_S"
ENV_MAX_BYTES = "MIRAGE_DOWNLOAD_MAX_BYTES"
ENV_RETRY_DELAY = "MIRAGE_DOWNLOAD_RETRY_DELAY_S"


@dataclass(frozen=True, slots=True)
class DownloadSettings:
    #: seconds for connecting and for each read; a stalled mirror fails instead of hanging. A mirror
    #: that accepts and never answers is abandoned after this (once, not once per attempt).
    timeout: float = CONNECT_TIMEOUT_S
    #: attempts on one mirror when the connection drops; each resumes where the last stopped
    attempts_per_mirror: int = 3
    retry_delay: float = 1.0
    chunk_size: int = 1 << 18
    user_agent: str = f"Mirage/{__version__} (model downloader)"
    #: no progress of at least ``stall_min_bytes`` for this long → give up this source, try the next
    stall_timeout: float = STALL_TIMEOUT_S
    stall_min_bytes: int = STALL_MIN_BYTES
    #: cap for a file of unknown size; a file of known size is capped at exactly that size
    unknown_size_limit: int = UNKNOWN_SIZE_LIMIT

    @classmethod
    def from_env(cls, environ: Mapping[str, str], base: DownloadSettings | None = None) -> DownloadSettings:
        """``base`` (or the defaults) with any MIRAGE_DOWNLOAD_* overrides; a bad value is ignored
        with a warning, never fatal."""
        settings = base or cls()
        changes: dict[str, float | int] = {}
        for variable, field, kind in (
            (ENV_TIMEOUT, "timeout", float),
            (ENV_STALL, "stall_timeout", float),
            (ENV_MAX_BYTES, "unknown_size_limit", int),
            (ENV_RETRY_DELAY, "retry_delay", float),
        ):
            raw = environ.get(variable, "").strip()
            if not raw:
                continue
            try:
                value = kind(raw)
            except ValueError:
                value = -1
            zero_ok = field == "retry_delay"
            if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
                log.warning("ignoring %s=%r: not a positive number", variable, raw)
                continue
            changes[field] = value
        return replace(settings, **changes) if changes else settings
