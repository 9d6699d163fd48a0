"""The GUI's door into the voice engine: apply settings, and levels/metrics out as Qt signals.

Opening the virtual microphone and the audio stream blocks (pactl, PortAudio), so start and stop run
on a one-thread pool: they happen in order, never on the GUI thread.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from mirage_desktop.config.settings import VoiceSettings
from mirage_desktop.gui.voice_session import VoiceSession, open_voice_session
from mirage_desktop.gui.workers import TaskRunner
from mirage_desktop.voice.errors import VoiceError

log = logging.getLogger(__name__)

POLL_MS = 100

OFF, STARTING, LIVE, FAILED = "off", "starting", "live", "failed"


class VoiceController(QObject):
    state_changed = Signal(str, str)  # state, message for the user
    levels = Signal(float, float)  # input dBFS, output dBFS
    stats_ready = Signal(object)  # VoiceMetrics

    def __init__(
        self,
        voice: VoiceSettings,
        opener: Callable[[VoiceSettings], VoiceSession] = open_voice_session,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.voice = voice
        self._opener = opener
        self._runner = TaskRunner(max_threads=1, parent=self)
        self._session: VoiceSession | None = None
        self._generation = 0  # answers from superseded starts are closed, not used
        self.state = OFF
        self.message = "Voice is off."
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    @property
    def live(self) -> bool:
        return self.state == LIVE

    def apply(self) -> None:
        """(Re)start with the current settings, or stop when voice is switched off."""
        self._generation += 1
        self._close_session()
        if not self.voice.enabled:
            self._set_state(OFF, "Voice is off.")
            return
        generation = self._generation
        wanted = copy.deepcopy(self.voice)
        self._set_state(STARTING, "Starting the microphone…")
        self._runner.submit(
            lambda: self._opener(wanted),
            on_done=lambda session: self._started(generation, session),
            on_failed=lambda exc: self._failed(generation, exc),
        )

    def stop(self) -> None:
        self._generation += 1
        self._close_session()
        self._set_state(OFF, "Voice is off.")

    def shutdown(self, timeout_ms: int = 5000) -> None:
        self.stop()
        self._runner.wait(timeout_ms)

    def _close_session(self) -> None:
        self._timer.stop()
        session, self._session = self._session, None
        if session is not None:
            self._runner.submit(session.close, on_failed=lambda exc: log.warning("closing voice: %s", exc))

    def _started(self, generation: int, session: VoiceSession) -> None:
        if generation != self._generation:
            self._runner.submit(session.close)
            return
        self._session = session
        self._timer.start()
        self._set_state(LIVE, f"Live on {session.target}")

    def _failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        if isinstance(exc, VoiceError):
            message = str(exc)
        else:
            log.error("voice failed to start: %r", exc)
            message = f"Voice could not start: {exc}"
        self._set_state(FAILED, message)

    def _set_state(self, state: str, message: str) -> None:
        self.state, self.message = state, message
        self.state_changed.emit(state, message)

    @Slot()
    def _poll(self) -> None:
        session = self._session
        if session is None:
            return
        metrics = session.metrics()
        levels = session.levels(metrics)
        self.levels.emit(levels.input_db, levels.output_db)
        self.stats_ready.emit(metrics)
