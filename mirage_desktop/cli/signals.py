"""The signals that end a command — Ctrl-C, SIGTERM, the terminal closing (SIGHUP), Ctrl-\\ (SIGQUIT) —
as a request to stop, so the work ends cleanly: files finished or removed, the virtual microphone
unloaded.

Left to Python's defaults, SIGINT raises KeyboardInterrupt in the main thread while the pipeline's
threads are inside OpenCV or ONNX Runtime: the interpreter then exits under them
(`terminate called without an active exception`, SIGABRT) and the video is left without its
index. SIGTERM, SIGHUP and SIGQUIT killed the process outright: "Mirage Microphone" stayed listed
in every call app, a partial file stayed on disk.

Two scopes: ``InterruptOnSignals`` (the whole command, installed by the entry point) turns the
first signal into ``Interrupted``, a KeyboardInterrupt, so the ``finally`` blocks of whatever runs
(loading models, checking files, a download) clean up as for Ctrl-C; ``StopOnSignals`` (the live
loops) only sets an event, so the loop ends at its own pace. A repeated signal never interrupts the
cleanup itself, except a second Ctrl-\\, which quits at once the way Ctrl-\\ always does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import threading
from types import FrameType

#: what a user, a session manager or a closing terminal sends to end a program (POSIX names only
#: where they exist: Windows has SIGINT and SIGTERM)
SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)
_SIGHUP = getattr(signal, "SIGHUP", None)
_SIGQUIT = getattr(signal, "SIGQUIT", None)


def say(message: str) -> None:
    """Write to stderr from a signal handler: os.write, not print (a handler that prints while the
    main thread is printing raises "reentrant call"), and never fail (the terminal may be gone)."""
    with contextlib.suppress(OSError):
        os.write(2, message.encode())


def detach_hung_up_terminal() -> None:
    """After SIGHUP, point stdin/stdout/stderr that are a terminal which hung up at /dev/null.

    Every write to a hung-up terminal fails with EIO: the cleanup's own messages would turn into
    errors half-way through it. A terminal that still answers (``kill -HUP`` from elsewhere) and
    files or pipes are left as they are.
    """
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    try:
        for fd in (0, 1, 2):
            try:
                is_char = stat.S_ISCHR(os.fstat(fd).st_mode)
            except OSError:
                continue
            if is_char and not os.isatty(fd):  # a tty that hung up no longer answers as one
                os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class _SignalScope:
    """Installs ``_first`` for every stop signal while active (main thread only) and restores the
    previous handlers on exit."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self  # only the main thread may install handlers (tests, embedding)
        for sig in SIGNALS:
            previous = signal.getsignal(sig)
            if previous is signal.SIG_IGN:
                continue  # nohup and background jobs ask for the signal to be ignored: respect that
            self._previous[sig] = previous
            signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            outer = getattr(previous, "__self__", None)
            if isinstance(outer, _SignalScope) and outer.signum is None:
                # already stopping: the scope around this one must not interrupt the cleanup after it
                outer.signum = self.signum
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if signum == _SIGHUP:
            detach_hung_up_terminal()
        if self.signum is None:
            self.signum = signum
            self._first(signum)
            return
        if signum == _SIGQUIT and self.signum is not None:
            # Ctrl-\ twice: the user wants out now, whatever is left behind (the next run cleans up)
            say("Quitting at once; the next run removes what is left.\n")
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        say("Still stopping: cleaning up, one moment (Ctrl-\\ twice quits at once).\n")

    def _first(self, signum: int) -> None:
        raise NotImplementedError

    @property
    def stopped(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        """The shell's convention for "ended by this signal": 130 for SIGINT, 143 for SIGTERM, ..."""
        return 128 + (self.signum or 0)


class StopOnSignals(_SignalScope):
    """While active, a stop signal sets ``event``; ``signum`` is the first one received."""

    def __init__(self) -> None:
        super().__init__()
        self.event = threading.Event()

    def __enter__(self) -> StopOnSignals:
        return super().__enter__()

    def _first(self, signum: int) -> None:
        say(f"{signal.Signals(signum).name} received: stopping…\n")
        self.event.set()


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived outside a live loop: unwinds like Ctrl-C, whichever signal it was."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code_of(exc: KeyboardInterrupt) -> int:
    """128 + the signal: Interrupted knows its own, a plain KeyboardInterrupt is SIGINT's."""
    return exc.exit_code if isinstance(exc, Interrupted) else 128 + signal.SIGINT


class InterruptOnSignals(_SignalScope):
    """While active, the first stop signal raises ``Interrupted`` in the main thread."""

    def __enter__(self) -> InterruptOnSignals:
        return super().__enter__()

    def _first(self, signum: int) -> None:
        raise Interrupted(signum)
