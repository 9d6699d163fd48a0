"""The GUI's door into the voice engine: apply settings, and levels/metrics out as Qt signals.

Opening the virtual microphone and the audio stream blocks (pactl, PortAudio), so start and stop run
on a one-thread pool: they happen in order, never on the GUI thread.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from mirage_desktop.config.settings import VoiceSettings
from mirage_desktop.gui.lip_sync import LipSyncPlanner
from mirage_desktop.gui.voice_session import VoiceSession, open_voice_session
from mirage_desktop.gui.workers import TaskRunner
from mirage_desktop.voice.converters import rvc
from mirage_desktop.voice.errors import VoiceError

log = logging.getLogger(__name__)

POLL_MS = 100

OFF, STARTING, LIVE, FAILED = "off", "starting", "live", "failed"


def _frontend_note(session: VoiceSession) -> str:
    try:
        return session.engine.pipeline.frontend.notes()
    except AttributeError:  # a stand-in session (tests)
        return ""


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
        #: sessions opened on the worker and not yet taken by the GUI thread, by generation
        self._pending: dict[int, VoiceSession] = {}
        self._pending_lock = threading.Lock()
        #: the settings the live session was opened with (what a live switch compares against)
        self._running: VoiceSettings | None = None
        self.state = OFF
        self.message = "Voice is off."
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        #: the picture's capture→sink latency while the camera pipeline runs (None: not running)
        self._video_latency_ms: float | None = None
        self.lip_sync = LipSyncPlanner()
        #: told the voice's lip-sync delay (ms) at every poll, 0 when the voice stops: the video
        #: pipeline drops frames later than it (Pipeline.set_voice_delay_ms)
        self.delay_listener: Callable[[float], None] | None = None
        #: told the picture floor (ms; LipSyncPlanner.floor_ms) at every poll, 0 when the voice stops
        self.floor_listener: Callable[[float], None] | None = None

    def set_video_latency_ms(self, ms: float | None) -> None:
        """The picture's measured latency (GUI thread), for lip sync; None when the camera stops."""
        self._video_latency_ms = None if ms is None else float(ms)

    @property
    def live(self) -> bool:
        return self.state == LIVE

    def apply(self) -> None:
        """(Re)start with the current settings, or stop when voice is switched off.

        Noise suppression and the gate mode switch live, without restarting the stream."""
        if self._session is not None and self.state == LIVE and self._only_live_switches():
            self._switch_live(self._session)
            return
        with self._pending_lock:
            self._generation += 1
        self._close_session()
        if not self.voice.enabled:
            self._set_state(OFF, "Voice is off.")
            return
        generation = self._generation
        wanted = copy.deepcopy(self.voice)
        self._set_state(STARTING, "Starting the microphone…")
        self._runner.submit(
            lambda: self._open(generation, wanted),
            on_done=lambda session: self._started(generation, session, wanted),
            on_failed=lambda exc: self._failed(generation, exc),
        )

    def _open(self, generation: int, wanted: VoiceSettings) -> VoiceSession | None:
        """Worker thread. A session opened for a start that was superseded meanwhile is closed here:
        its answer would reach the GUI thread only after the window (and its event loop) is gone,
        leaving "Mirage Microphone" behind."""
        session = self._opener(wanted)
        with self._pending_lock:
            current = generation == self._generation
            if current:
                self._pending[generation] = session
        if not current:
            session.close()
            return None
        return session

    def stop(self) -> None:
        with self._pending_lock:
            self._generation += 1
        self._close_session()
        self._set_state(OFF, "Voice is off.")

    def shutdown(self, timeout_ms: int = 5000) -> None:
        self.stop()
        self._runner.wait(timeout_ms)
        # opened after the stop but not yet handed to the GUI thread: close it now, not never
        with self._pending_lock:
            left, self._pending = list(self._pending.values()), {}
        for session in left:
            try:
                session.close()
            except Exception as exc:  # closing at exit: say so, never raise out of closeEvent
                log.warning("closing voice: %s", exc)
        log.info("voice shut down")

    def _close_session(self) -> None:
        self._timer.stop()
        self._running = None
        session, self._session = self._session, None
        if session is not None and self.delay_listener is not None:
            self.delay_listener(0.0)
        if session is not None and self.floor_listener is not None:
            self.floor_listener(0.0)
        if session is not None:
            self._runner.submit(session.close, on_failed=lambda exc: log.warning("closing voice: %s", exc))

    def _only_live_switches(self) -> bool:
        running = self._running
        if running is None:
            return False
        live = {"denoise": running.denoise, "gate_mode": running.gate_mode}
        if running.converter == "rvc" and self.voice.converter == "rvc":
            # transpose, index rate, protect, and another voice: swapped in while the stream plays
            live |= {key: getattr(running, key) for key in rvc.LIVE_SETTINGS}
        return dataclasses.replace(self.voice, **live) == running

    def _switch_live(self, session: VoiceSession) -> None:
        """Models load on the worker thread (the VAD's ONNX session, RNNoise); the stream never stops."""
        wanted = copy.deepcopy(self.voice)
        previous, self._running = self._running, wanted
        engine = session.engine
        generation = self._generation

        def switch() -> str:
            notes = [engine.set_denoise(wanted.denoise), engine.set_gate_mode(wanted.gate_mode)]
            inner = getattr(session.tap, "inner", None)
            if wanted.converter == "rvc" and previous is not None and hasattr(inner, "load"):
                note = rvc.switch_live(inner, previous, wanted)  # a new voice loads here, off the GUI
                if note == rvc.RESTART:
                    return note
                notes.append(note)
            return "; ".join(n for n in notes if n)

        def done(note: str) -> None:
            if note == rvc.RESTART and generation == self._generation:
                self._running = None  # another sample rate: restart the stream for the new voice
                self.apply()
                return
            if generation == self._generation and self._session is session:
                suffix = f" — {note}" if note else ""
                self._set_state(LIVE, f"Live on {session.target}{suffix}")

        self._runner.submit(switch, on_done=done, on_failed=lambda exc: done(str(exc)))

    def _started(
        self, generation: int, session: VoiceSession | None, wanted: VoiceSettings | None = None
    ) -> None:
        with self._pending_lock:
            self._pending.pop(generation, None)
        if session is None:
            return  # superseded while it opened, and closed by the worker
        if generation != self._generation:
            self._runner.submit(session.close)
            return
        self._session = session
        self._running = wanted
        self._timer.start()
        note = _frontend_note(session)  # e.g. noise suppression asked for but not installed
        log.info("voice live on %s (%s)", session.target, wanted.converter if wanted else "?")
        self._set_state(LIVE, f"Live on {session.target}" + (f" — {note}" if note else ""))

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
        self.lip_sync.enabled = self.voice.lip_sync
        voice_ms = metrics.live_latency_ms or metrics.estimated_latency_ms or None
        delay = self.lip_sync.update(self._video_latency_ms, voice_ms)
        if delay is not None:
            session.engine.set_sync_delay_ms(delay)
        if self.delay_listener is not None:  # every poll: a pipeline started since learns it too
            self.delay_listener(self.lip_sync.target_ms)
        if self.floor_listener is not None:
            self.floor_listener(self.lip_sync.floor_ms)
        levels = session.levels(metrics)
        self.levels.emit(levels.input_db, levels.output_db)
        self.stats_ready.emit(metrics)
