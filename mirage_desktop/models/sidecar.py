"""``<file>.verified.json``: the SHA-256 of a model file as it was when last hashed.

Hashing the 554 MB swapper costs seconds, so the result is cached next to the file and trusted only
while the file's size and modification time (in ns) are unchanged. It also records that a file was
placed by the user with ``--allow-unverified``, which is the only way such a file is accepted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".verified.json"


@dataclass(frozen=True, slots=True)
class VerifiedRecord:
    size: int
    mtime_ns: int
    sha256: str
    #: placed with --allow-unverified: kept although it does not match the manifest
    user_supplied: bool = False
    #: where a user-supplied file came from, for the record
    source: str = ""

    def matches(self, stat: os.stat_result) -> bool:
        return self.size == stat.st_size and self.mtime_ns == stat.st_mtime_ns


def sidecar_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + SIDECAR_SUFFIX)


def read_record(model_path: Path) -> VerifiedRecord | None:
    try:
        data = json.loads(sidecar_path(model_path).read_text(encoding="utf-8"))
        return VerifiedRecord(
            size=int(data["size"]),
            mtime_ns=int(data["mtime_ns"]),
            sha256=str(data["sha256"]),
            user_supplied=bool(data.get("user_supplied", False)),
            source=str(data.get("source", "")),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # A damaged cache is only a cache: hash again.
        log.debug("ignoring unreadable %s: %s", sidecar_path(model_path), exc)
        return None


def write_record(model_path: Path, record: VerifiedRecord) -> None:
    """Atomically replace the sidecar; failure only costs a re-hash next time, so it is not fatal."""
    target = sidecar_path(model_path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        log.warning("could not write the verification cache %s: %s", target, exc)
        with contextlib.suppress(OSError):
            tmp.unlink()


def remove_record(model_path: Path) -> None:
    with contextlib.suppress(OSError):
        sidecar_path(model_path).unlink()
