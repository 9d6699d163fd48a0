"""A reader that went away (``mirage-cli voice --stats | head -1``) ends a command quietly.

Python ignores SIGPIPE, so a write to a pipe whose reader has closed raises BrokenPipeError — at
the ``print`` that hit it, or at exit while flushing stdout ("Exception ignored ... BrokenPipeError").
The recipe from Python's documentation (signal module, "Note on SIGPIPE"): point the closed stream
at /dev/null so nothing after it can fail, and exit as a program killed by SIGPIPE would (141).
"""

from __future__ import annotations

import contextlib
import os
import select
import sys

#: 128 + SIGPIPE, what the shell reports for `yes | head -1`'s `yes`
EXIT_CLOSED_PIPE = 141


def _reader_gone(fd: int) -> bool | None:
    """Whether ``fd`` is a pipe or socket whose reader has closed; None when it cannot be told."""
    poll = getattr(select, "poll", None)
    if poll is None:
        return None
    poller = poll()
    try:
        poller.register(fd, select.POLLOUT)
        events = poller.poll(0)
    except (OSError, ValueError):
        return None
    return any(mask & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, mask in events)


def silence_closed_outputs() -> None:
    """Point stdout/stderr whose reader has gone at /dev/null (stdout when it cannot be told)."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            gone = {fd: _reader_gone(fd) for fd in (1, 2)}
            if not any(gone.values()):
                gone[1] = True  # the documented recipe: stdout is the usual one
            for fd, closed in gone.items():
                if closed:
                    os.dup2(devnull, fd)
        finally:
            os.close(devnull)


def flush_stdout() -> None:
    """Flush now, where a closed pipe raises BrokenPipeError for the caller to handle, rather than
    at interpreter exit, where it becomes an "Exception ignored" message."""
    if sys.stdout is not None:
        sys.stdout.flush()
