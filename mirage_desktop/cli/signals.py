"""Ctrl-C and SIGTERM as a request to stop, so the work can end cleanly and finish its files.

Left to Python's defaults, SIGINT raises KeyboardInterrupt in the main thread while the pipeline's
threads are inside OpenCV or ONNX Runtime: the interpreter then exits under them
(`terminate called without an active exception`, SIGABRT) and the video is left without its
index. SIGTERM killed the process outright.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignals:
    """While active, SIGINT/SIGTERM set ``event``; ``signum`` is the first one received."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopOnSignals:
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
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            message = f"{signal.Signals(signum).name} received: stopping…\n"
        else:
            message = "Still stopping: finishing the output file, one moment.\n"
        # os.write, not print: a handler that prints while the main thread is printing raises
        # "reentrant call" inside the buffered stream
        os.write(2, message.encode())
        self.event.set()

    @property
    def stopped(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        """The shell's convention for "ended by this signal": 130 for SIGINT, 143 for SIGTERM."""
        return 128 + (self.signum or 0)
