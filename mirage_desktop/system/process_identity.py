"""Which process left something behind, proved by its PID *and* its start time.

A PID alone is not proof: once the process that recorded it has died, the kernel hands the number
to the next program that starts, and a check with ``kill(pid, 0)`` then believes that program is
the owner for as long as it lives. The start time (clock ticks since boot, field 22 of
``/proc/PID/stat``) tells the two apart: it is fixed for a process's whole life and a reused PID
gets a new one.

Where ``/proc`` is missing (macOS, Windows) the start time is unknown (0) and only "no process has
this PID" counts as proof of death; on Windows not even that is asked (``os.kill(pid, 0)`` there
*terminates* the process), so the owner is taken to be alive: callers then keep what they found.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

PROC = Path("/proc")
#: words in a process's command line that mark it as Mirage (the CLI, the window, the frozen bundle)
MIRAGE_MARKS = ("mirage",)


class Liveness(Enum):
    ALIVE = "alive"  # the very process that recorded the token still runs
    DEAD = "dead"  # it has ended (its PID is unused, or now another process's)
    UNKNOWN = "unknown"  # cannot be told here: treat as alive


def start_ticks(pid: int) -> int:
    """The process's start time in clock ticks since boot, or 0 when it cannot be read."""
    try:
        text = (PROC / str(pid) / "stat").read_text(errors="replace")
    except OSError:
        return 0
    # the command name (field 2) is in parentheses and may itself contain spaces and ')'
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 overall: fields[0] here is field 3
    except (IndexError, ValueError):
        return 0


@dataclass(frozen=True, slots=True)
class ProcessToken:
    """A process as recorded by itself: ``PID-START`` in names and properties."""

    pid: int
    start: int = 0

    @classmethod
    def current(cls) -> ProcessToken:
        pid = os.getpid()
        return cls(pid, start_ticks(pid))

    @classmethod
    def parse(cls, text: str) -> ProcessToken | None:
        pid, _, start = text.partition("-")
        if not pid.isdigit() or (start and not start.isdigit()):
            return None
        return cls(int(pid), int(start or 0))

    def __str__(self) -> str:
        return f"{self.pid}-{self.start}"

    def liveness(self) -> Liveness:
        if self.pid <= 0:
            return Liveness.DEAD
        if self.pid == os.getpid():
            return Liveness.ALIVE if self.start in (0, start_ticks(self.pid)) else Liveness.DEAD
        if PROC.is_dir():
            if not (PROC / str(self.pid)).exists():
                return Liveness.DEAD
            now = start_ticks(self.pid)
            if self.start and now:
                return Liveness.ALIVE if now == self.start else Liveness.DEAD
            return Liveness.UNKNOWN if not now else Liveness.ALIVE
        return _signal_probe(self.pid)


def _signal_probe(pid: int) -> Liveness:
    if sys.platform == "win32":
        return Liveness.UNKNOWN
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return Liveness.DEAD
    except OSError:  # EPERM: someone else's process holds the number
        return Liveness.UNKNOWN
    return Liveness.ALIVE


def command_line(pid: int) -> str | None:
    """The process's command line joined by spaces; None where it cannot be read."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def looks_like_mirage(pid: int) -> bool | None:
    """Whether the live process ``pid`` is a Mirage (its command line names it); None: unknown."""
    line = command_line(pid)
    if line is None:
        return None
    return any(mark in line.lower() for mark in MIRAGE_MARKS)
