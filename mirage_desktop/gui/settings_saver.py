"""Saves the window's settings shortly after every change, so a crash loses at most half a second.

Widgets change ``Settings`` in place from many places (sliders, menus, dialogs) and there is no
single change signal; rather than thread one through every panel, the saver compares a snapshot
of the settings a few times a second (a dict of ~60 plain values: microseconds) and writes once
the values have stopped changing for ``delay_ms``. A failed write (full disk, read-only folder) is
shown in the problems strip and retried; the old file stays intact because the store writes
atomically.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from mirage_desktop.config.settings import Settings, SettingsStore

log = logging.getLogger(__name__)

#: problems-strip areas: what loading the file found, and the last save that failed
LOAD_AREA = "settings"
SAVE_AREA = "settings-save"
#: at most this many load warnings are listed in the window; the rest are in the log
SHOWN_WARNINGS = 4


def load_message(warnings: list[str]) -> str:
    """The load warnings as one message for the problems strip ("" when there are none)."""
    if not warnings:
        return ""
    lines = warnings[:SHOWN_WARNINGS]
    if len(warnings) > SHOWN_WARNINGS:
        lines.append(f"… and {len(warnings) - SHOWN_WARNINGS} more settings problems (see the log)")
    return "\n".join(lines)


class SettingsSaver(QObject):
    saved = Signal()
    #: the reason, in words, when a save failed ("" is never emitted)
    failed = Signal(str)

    def __init__(
        self,
        settings: Settings,
        store: SettingsStore,
        report: Callable[[str, str], None] = lambda area, message: None,
        *,
        delay_ms: int = 400,
        poll_ms: int = 100,
        retry_s: float = 5.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.store = store
        self.report = report
        self._retry_s = retry_s
        self._seen: dict[str, Any] = settings.to_dict()
        self._failed_at: float | None = None
        self.error = ""
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(delay_ms)
        self._debounce.timeout.connect(self.flush)
        self._poll = QTimer(self)
        self._poll.setInterval(poll_ms)
        self._poll.timeout.connect(self._check)
        self._poll.start()
        if store.is_dirty(settings):
            # built from settings that were never saved (first run, tests): write them soon too
            self._debounce.start()

    @property
    def pending(self) -> bool:
        return self._debounce.isActive() or self._failed_at is not None

    def _check(self) -> None:
        snapshot = self.settings.to_dict()
        if snapshot != self._seen:
            self._seen = snapshot
            self._debounce.start()  # restart: wait until the user stops dragging
        elif self._failed_at is not None and time.monotonic() - self._failed_at >= self._retry_s:
            self.flush()

    def flush(self) -> bool:
        """Save now if anything changed; True when the file matches the settings afterwards."""
        self._debounce.stop()
        self._seen = self.settings.to_dict()
        if not self.store.is_dirty(self.settings):
            return True
        try:
            self.store.save(self.settings)
        except OSError as exc:
            # OSError covers SettingsSaveError and anything the OS raised that the store did not wrap
            message = (
                f"Settings not saved: {exc.strerror or exc}. Mirage keeps trying; the old file is unchanged."
            )
            first = self._failed_at is None or message != self.error
            self._failed_at = time.monotonic()
            # reported on every attempt: pressing Start clears the problems strip, and this one still holds
            self.report(SAVE_AREA, message)
            if first:
                log.error("%s", message)
                self.error = message
                self.failed.emit(message)
            return False
        if self._failed_at is not None:
            self._failed_at = None
            self.error = ""
            self.report(SAVE_AREA, "")
        self.saved.emit()
        return True

    def stop(self) -> None:
        self._poll.stop()
        self._debounce.stop()
