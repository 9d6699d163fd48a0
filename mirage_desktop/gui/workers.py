"""Run blocking work (model loading, photo analysis, downloads, device probes) off the GUI thread.

Workers never touch widgets: they return plain data, which arrives on the GUI thread by signal.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object)  # the exception


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the runner keeps it until its result was delivered
        self.fn = fn
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # delivered to the caller, who words it for the user
            log.debug("background task failed:\n%s", traceback.format_exc())
            self.signals.failed.emit(exc)
        else:
            self.signals.done.emit(result)


class TaskRunner(QObject):
    """A thread pool plus the bookkeeping that keeps tasks alive until their answer is in."""

    def __init__(self, max_threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._live: set[_Task] = set()

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        task = _Task(fn)
        self._live.add(task)

        def finished(_: object = None) -> None:
            self._live.discard(task)

        if on_done is not None:
            task.signals.done.connect(on_done)
        if on_failed is not None:
            task.signals.failed.connect(on_failed)
        task.signals.done.connect(finished)
        task.signals.failed.connect(finished)
        self.pool.start(task)

    @property
    def busy(self) -> bool:
        return bool(self._live)

    def wait(self, msecs: int = 10000) -> bool:
        return self.pool.waitForDone(msecs)
