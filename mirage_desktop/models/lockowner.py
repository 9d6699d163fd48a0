"""Who holds a model lock: a small JSON record in the lock file, read tolerantly, and whether that
owner is still the process that wrote it (a PID can be reused by any program after a crash)."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mirage_desktop.safe_read import loads_json, read_bytes
from mirage_desktop.system.process_identity import Liveness, ProcessToken, start_ticks

#: a record is under 1 kB; a lock file bigger than this is not ours and is not read
RECORD_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class LockOwner:
    pid: int
    #: the command line, shortened, for the waiting message
    command: str = ""
    #: wall-clock time the lock was taken
    since: float | None = None
    #: the process's start time as the OS reports it (Linux: clock ticks after boot); None if unknown
    started: int | None = None

    def describe(self) -> str:
        parts = [f"process {self.pid}"]
        details = []
        if self.command:
            details.append(self.command)
        if self.since is not None:
            details.append("since " + time.strftime("%H:%M:%S", time.localtime(self.since)))
        return parts[0] + (f" ({', '.join(details)})" if details else "")

    def is_alive(self) -> bool:
        """True while the recorded process still runs (and is the same one, where the OS can tell);
        an owner that cannot be judged here counts as alive."""
        return ProcessToken(self.pid, self.started or 0).liveness() is not Liveness.DEAD


def current() -> LockOwner:
    argv = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
    command = " ".join(argv)
    return LockOwner(
        pid=os.getpid(),
        command=command[:120] + ("…" if len(command) > 120 else ""),
        since=time.time(),
        started=process_start(os.getpid()),
    )


def encode(owner: LockOwner) -> bytes:
    return json.dumps(asdict(owner)).encode("utf-8")


def read_owner(path: Path) -> LockOwner | None:
    """The record in ``path``; None when it is empty, missing, damaged or not a regular file."""
    try:
        data = read_bytes(path, limit=RECORD_LIMIT, what="lock file")
    except OSError:
        return None
    return parse(data)


def parse(data: bytes) -> LockOwner | None:
    text = data.decode("utf-8", errors="replace").strip()
    if text.isdigit():  # written by earlier versions: the bare PID
        return LockOwner(pid=int(text)) if 0 < int(text) < 1 << 31 else None
    try:
        raw: Any = loads_json(text)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    pid, command, since, started = (raw.get(k) for k in ("pid", "command", "since", "started"))
    if not _whole(pid) or not 0 < pid < 1 << 31:
        return None
    return LockOwner(
        pid=pid,
        command=command[:200] if isinstance(command, str) else "",
        since=float(since) if _number(since) and 0 < since < 1e11 else None,
        started=started if _whole(started) else None,
    )


def process_start(pid: int) -> int | None:
    """The process's start time (system.process_identity.start_ticks), None when unknown."""
    return start_ticks(pid) or None


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
