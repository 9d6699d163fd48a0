"""A reader that went away (``mirage-cli voice --stats | head -1``) ends a command quietly, and
never changes what it does to files.

Python ignores SIGPIPE, so a write to a pipe whose reader has closed raises BrokenPipeError — at
the ``print`` that hit it, or at exit while flushing stdout ("Exception ignored ... BrokenPipeError").
Raised from a ``print``, it also unwinds whatever was under way: `run -o rec.mp4 | head -1` lost
the recording, whose summary line is printed before the file is finished. So the entry point wraps
stdout and stderr in ``PipeGuard``: the first failed write points that descriptor at /dev/null
(Python's documented recipe, signal module, "Note on SIGPIPE") and every later write succeeds into
nothing; a live command asks ``reader_gone`` to stop, and the command exits as one killed by
SIGPIPE would (141).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, TextIO

#: 128 + SIGPIPE, what the shell reports for `yes | head -1`'s `yes`
EXIT_CLOSED_PIPE = 141


def _to_devnull(fd: int) -> None:
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


class PipeGuard:
    """A text stream that stops writing, without an error, once its reader has gone."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.reader_gone = False

    def _gone(self) -> None:
        self.reader_gone = True
        # what is still buffered then drains into /dev/null at exit instead of failing again
        with contextlib.suppress(OSError, ValueError, AttributeError):
            _to_devnull(self._stream.fileno())

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._gone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def reader_gone() -> bool:
    """Whether stdout's reader has closed (under the entry point's guard)."""
    return bool(getattr(sys.stdout, "reader_gone", False))


class GuardedOutputs:
    """While active, sys.stdout and sys.stderr are guarded; ``closed`` tells whether either broke."""

    def __init__(self) -> None:
        self._saved: tuple[Any, Any] = (None, None)
        self._guards: list[PipeGuard] = []

    def __enter__(self) -> GuardedOutputs:
        self._saved = (sys.stdout, sys.stderr)
        self._guards = []
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, PipeGuard):
                guard = PipeGuard(stream)
                self._guards.append(guard)
                setattr(sys, name, guard)
        return self

    def __exit__(self, *exc: object) -> None:
        for guard in self._guards:
            guard.flush()
        sys.stdout, sys.stderr = self._saved

    @property
    def closed(self) -> bool:
        return any(guard.reader_gone for guard in self._guards)


def silence_closed_outputs() -> None:
    """For a BrokenPipeError that got past the guards (a write straight to the descriptor): point
    stdout at /dev/null, as the documented recipe does."""
    _to_devnull(1)
