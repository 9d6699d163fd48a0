"""The GUI's one door into the video engine: commands in, Qt signals with plain data out.

Pipeline threads call back into this object; they only build a QImage (not a widget), park it in a
one-slot mailbox and poke the GUI thread. A slow GUI therefore never queues up stale frames: it
always paints the newest one. Stopping joins the engine's threads, so it runs on a helper thread too.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from mirage_desktop.config.settings import Settings
from mirage_desktop.engine.builder import PipelineRequest, build_pipeline
from mirage_desktop.engine.metrics import MetricsSnapshot
from mirage_desktop.engine.pipeline import Pipeline
from mirage_desktop.frame import Frame
from mirage_desktop.gui.processors import AiLabelProcessor, RawTapProcessor
from mirage_desktop.processing.debug_overlay import DebugOverlayProcessor
from mirage_desktop.processing.face.face_swap import FaceSwapProcessor, build_face_swap_processor
from mirage_desktop.processing.face.look import FaceLook

log = logging.getLogger(__name__)

STATS_INTERVAL_MS = 250
#: problems-strip areas for the face stages that switch themselves off while the swap goes on
ENHANCER_AREA = "face-enhancer"
SWAPPER_AREA = "face-swapper"


def face_stage_problems(counters: dict, face) -> dict[str, str]:
    """What the running face stage says about the enhancer and swapper the user chose, in words.

    ``counters`` are the processors' metrics (read on the GUI thread from a snapshot), ``face`` the
    FaceSettings the user chose. Returns ``{area: message}`` for ENHANCER_AREA and SWAPPER_AREA, ""
    where all is well (loading is not a problem: the controls show it as a status).
    """
    out = {ENHANCER_AREA: "", SWAPPER_AREA: ""}
    state = str(counters.get("enhancer_state", "") or "")
    if face.enhancer and state.startswith(("failed:", "unavailable:")):
        out[ENHANCER_AREA] = f"Face enhancer off: {state.split(':', 1)[1].strip()}"
    active = str(counters.get("face_swapper_model", "") or "")
    notice = str(counters.get("face_swap_notice", "") or "")
    failed = f"Could not switch the face swapper to {face.swapper}:"
    if active and not active.startswith(face.swapper) and notice.startswith(failed):
        out[SWAPPER_AREA] = notice
    return out


def to_qimage(image_bgr: np.ndarray) -> QImage:
    """A QImage that owns its pixels (the numpy buffer may be reused after we return)."""
    h, w = image_bgr.shape[:2]
    rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class _Mailbox(QObject):
    """Holds the newest image from a worker thread; emits ``ready`` on the GUI thread, once per batch."""

    poke = Signal()
    ready = Signal(QImage)

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._latest: QImage | None = None
        self.poke.connect(self._deliver)  # emitted off-thread → queued onto our (GUI) thread

    def put(self, image: QImage) -> None:
        with self._lock:
            waiting = self._latest is not None
            self._latest = image
        if not waiting:
            self.poke.emit()

    @Slot()
    def _deliver(self) -> None:
        with self._lock:
            image, self._latest = self._latest, None
        if image is not None:
            self.ready.emit(image)


class EngineController(QObject):
    frame_ready = Signal(QImage)  # processed output, throttled to the preview rate
    raw_frame_ready = Signal(QImage)  # the camera before processing (small)
    stats_ready = Signal(object)  # MetricsSnapshot, a few times a second while running
    problem = Signal(str, str)  # area, message ("" clears)
    running_changed = Signal(bool)
    swap_toggled = Signal(bool)  # so every switch (checkbox, shortcut, tray) shows the same state
    _stopped = Signal()

    def __init__(
        self,
        settings: Settings,
        model_path: Callable[[str], Path] | None = None,
        *,
        virtual_camera: bool = True,
        preview_max_fps: float = 30.0,
        raw_max_fps: float = 15.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        if model_path is None:
            from mirage_desktop.models import ModelStore

            model_path = ModelStore().path
        self._model_path = model_path
        self._virtual_camera = virtual_camera
        self._preview_max_fps = preview_max_fps
        self._raw_max_fps = raw_max_fps
        self._pipeline: Pipeline | None = None
        self._voice_delay_ms = 0.0
        self._picture_floor_ms = 0.0
        self._face_swap: FaceSwapProcessor | None = None
        self._identity: tuple[np.ndarray, str] | None = None
        #: map mode: (target, source, label) per mapped person and the threshold, kept across restarts
        self._face_map: tuple[list[tuple[np.ndarray, np.ndarray, str]], float] | None = None
        self._face_map_pending = False
        self._face_problems: dict[str, str] = {}
        self._stopping = 0
        self._start_after_stop = False
        self._stop_threads: list[threading.Thread] = []
        self._chain_problems: set[str] = set()
        #: areas the running engine reported: they describe that run and end with it
        self._run_problems: set[str] = set()
        self._run_problems_lock = threading.Lock()
        self._output = _Mailbox(self)
        self._output.ready.connect(self.frame_ready)
        self._raw = _Mailbox(self)
        self._raw.ready.connect(self.raw_frame_ready)
        self._stopped.connect(self._on_stopped)
        self._timer = QTimer(self)
        self._timer.setInterval(STATS_INTERVAL_MS)
        self._timer.timeout.connect(self._poll)

    # -- state -----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._pipeline is not None

    @property
    def idle(self) -> bool:
        """Nothing running and nothing still shutting down (the camera is free)."""
        return self._pipeline is None and self._stopping == 0

    @property
    def has_identity(self) -> bool:
        return self._identity is not None

    # -- commands --------------------------------------------------------------------------------
    def start(self, source: str | None = None) -> None:
        if source:
            self.settings.video.source = source
        if self._pipeline is not None:
            self.restart()
            return
        if self._stopping:
            # the camera is still held by the run that is shutting down; open it when that ends
            self._start_after_stop = True
            return
        face = self.settings.face
        swap = build_face_swap_processor(face, self._model_path)
        if self._identity is not None:
            swap.set_source_embedding(self._identity[0], label=self._identity[1])
        pipeline_ref: list[Pipeline] = []
        overlay = DebugOverlayProcessor(lambda: pipeline_ref[0].metrics() if pipeline_ref else None)
        processors = [
            RawTapProcessor(self._on_raw, max_fps=self._raw_max_fps),
            swap,
            overlay,
            AiLabelProcessor(),
        ]
        # the builder adds its own overlay when the setting is on; ours can be toggled live instead
        build_settings = copy.deepcopy(self.settings)
        build_settings.face.debug_overlay = False
        request = PipelineRequest(
            live=True,
            virtual_camera=self._virtual_camera,
            preview=self._on_preview,
            preview_max_fps=self._preview_max_fps,
            processors=processors,
        )
        pipeline = build_pipeline(build_settings, request, on_problem=self._engine_problem)
        pipeline_ref.append(pipeline)
        pipeline.set_voice_delay_ms(self._voice_delay_ms)
        pipeline.set_picture_floor_ms(self._picture_floor_ms)
        chain = pipeline.chain
        chain.set_enabled("face_swap", face.swap_enabled)
        chain.set_enabled("debug_overlay", face.debug_overlay)
        chain.set_enabled("ai_label", self.settings.gui.ai_label)
        chain.set_enabled("raw_tap", self.settings.gui.raw_preview != "off")
        self._pipeline, self._face_swap = pipeline, swap
        self._chain_problems.clear()
        # the processor takes a map only once its models are loaded (on the processing thread)
        self._face_map_pending = self._face_map is not None
        pipeline.start()
        self._timer.start()
        self.running_changed.emit(True)

    def stop(self) -> None:
        """Returns at once; the engine's threads are joined on a helper thread."""
        self._start_after_stop = False
        pipeline = self._pipeline
        if pipeline is None:
            return
        self._pipeline = self._face_swap = None
        self._timer.stop()
        self._stopping += 1
        thread = threading.Thread(
            target=self._stop_worker, args=(pipeline,), name="mirage-gui-stop", daemon=True
        )
        self._stop_threads.append(thread)
        thread.start()
        # what this run reported (a camera that would not open, a sink that failed) is stale once
        # it stops: a restart on another source must not keep showing "Cannot open camera 0"
        with self._run_problems_lock:
            stale, self._run_problems = self._chain_problems | self._run_problems, set()
        for area in stale:
            self.problem.emit(area, "")
        self._chain_problems.clear()
        self._face_problems.clear()
        self.running_changed.emit(False)

    def restart(self) -> None:
        """Apply settings that need a fresh pipeline (source, resolution, detector), if running."""
        if self._pipeline is None:
            return
        self.stop()
        self._start_after_stop = True

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop and wait (application exit only)."""
        self.stop()
        self._start_after_stop = False
        for thread in self._stop_threads:
            thread.join(timeout)
        self._stop_threads.clear()

    def set_source_embedding(self, embedding: np.ndarray, label: str = "") -> None:
        self._identity = (np.asarray(embedding, dtype=np.float32), label)
        if self._face_swap is not None:
            try:
                self._face_swap.set_source_embedding(self._identity[0], label=label)
            except ValueError as exc:
                self.problem.emit("identity", f"That identity cannot be used: {exc}")
        self._worn_face_changed()

    def _worn_face_changed(self) -> None:
        if self._face_map is not None and any(source is None for _, source, _ in self._face_map[0]):
            self._face_map_pending = self._face_swap is not None
            self._apply_face_map()

    def clear_source(self) -> None:
        self._identity = None
        if self._face_swap is not None:
            self._face_swap.clear_source()
        self._worn_face_changed()

    def set_swap_enabled(self, enabled: bool) -> None:
        self.settings.face.swap_enabled = enabled
        if self._pipeline is not None:
            self._pipeline.chain.set_enabled("face_swap", enabled)
        self.swap_toggled.emit(enabled)

    def set_privacy_cover(self, enabled: bool) -> None:
        self.settings.face.privacy_cover = enabled
        if self._pipeline is not None:
            self._pipeline.chain.set_privacy_cover(enabled)

    def set_voice_delay_ms(self, ms: float) -> None:
        """Lip sync: the voice's delay now, so the picture drops frames later than their voice."""
        self._voice_delay_ms = float(ms)
        if self._pipeline is not None:
            self._pipeline.set_voice_delay_ms(ms)

    def set_picture_floor_ms(self, ms: float) -> None:
        """Lip sync: frames leave no sooner than this after capture (the voice's own latency)."""
        self._picture_floor_ms = float(ms)
        if self._pipeline is not None:
            self._pipeline.set_picture_floor_ms(ms)

    def set_temporal_reuse(self, enabled: bool) -> None:
        """Swap on its own thread and show the latest swap on every frame (live), or every frame waits."""
        self.settings.face.temporal_reuse = enabled
        if self._face_swap is not None:
            self._face_swap.set_temporal_reuse(enabled)

    def toggle_swap(self) -> None:
        self.set_swap_enabled(not self.settings.face.swap_enabled)

    def set_max_faces(self, count: int) -> None:
        self.settings.face.max_faces = max(1, int(count))
        if self._face_swap is not None:
            self._face_swap.max_faces = self.settings.face.max_faces

    def set_face_look(self, **changes: object) -> None:
        """Change FaceSettings' look fields (enhancer, masks, paste, ...) and apply them live.

        Never restarts the pipeline: the running face stage takes the new look from its next frame;
        an enhancer it now needs loads on a background thread while the swap goes on.
        """
        face = self.settings.face
        for name, value in changes.items():
            if not hasattr(FaceLook, name):
                raise AttributeError(f"{name} is not part of the face look")
            setattr(face, name, value)
        if self._face_swap is not None:
            self._face_swap.set_look(FaceLook.from_settings(face))

    def set_swapper(self, swapper_id: str) -> None:
        """Switch the swapper family live (the new model loads beside the running one)."""
        self.settings.face.swapper = swapper_id
        if self._face_swap is not None:
            self._face_swap.set_swapper(swapper_id)

    def set_face_map(
        self, entries: list[tuple[np.ndarray, np.ndarray | None, str]] | None, threshold: float = 0.4
    ) -> None:
        """Map mode: only faces like a mapped person are swapped, each wearing its source; None = off.

        ``entries`` are ``(target embedding, source embedding, label)``; a source of None wears the
        face chosen for everyone (set_source_embedding), and follows it when that changes.
        """
        self._face_map = (list(entries), float(threshold)) if entries else None
        self._face_map_pending = self._face_swap is not None
        self._apply_face_map()

    @property
    def map_entries(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """The map as the face stage gets it: sources resolved, people without one left out."""
        if self._face_map is None:
            return []
        worn = self._identity[0] if self._identity is not None else None
        out = []
        for target, source, label in self._face_map[0]:
            source = worn if source is None else source
            if source is not None:
                out.append((target, source, label))
        return out

    def _apply_face_map(self) -> None:
        swap = self._face_swap
        if swap is None or not self._face_map_pending:
            return
        threshold = self._face_map[1] if self._face_map is not None else 0.4
        try:
            swap.set_face_map(self.map_entries, threshold)
        except RuntimeError:
            return  # models still loading: the next poll tries again
        except ValueError as exc:
            self._face_map_pending = False
            self.problem.emit("face-map", f"Those people cannot be used for map mode: {exc}")
            return
        self._face_map_pending = False
        self.problem.emit("face-map", "")

    def set_debug_overlay(self, enabled: bool) -> None:
        self.settings.face.debug_overlay = enabled
        if self._face_swap is not None:
            self._face_swap.debug_overlay = enabled
        if self._pipeline is not None:
            self._pipeline.chain.set_enabled("debug_overlay", enabled)

    def set_ai_label(self, enabled: bool) -> None:
        self.settings.gui.ai_label = enabled
        if self._pipeline is not None:
            self._pipeline.chain.set_enabled("ai_label", enabled)

    def set_raw_preview(self, mode: str) -> None:
        self.settings.gui.raw_preview = mode
        if self._pipeline is not None:
            self._pipeline.chain.set_enabled("raw_tap", mode != "off")

    def metrics(self) -> MetricsSnapshot | None:
        return self._pipeline.metrics() if self._pipeline is not None else None

    @property
    def wants_virtual_camera(self) -> bool:
        return self._virtual_camera and self.settings.output.virtual_camera

    # -- engine threads → GUI --------------------------------------------------------------------
    def _engine_problem(self, area: str, message: str) -> None:
        if message:  # engine threads
            with self._run_problems_lock:
                self._run_problems.add(area)
        self.problem.emit(area, message)

    def _on_preview(self, image: np.ndarray, frame: Frame) -> None:
        self._output.put(to_qimage(image))  # output thread

    def _on_raw(self, image: np.ndarray) -> None:
        self._raw.put(to_qimage(image))  # processing thread

    def _stop_worker(self, pipeline: Pipeline) -> None:
        try:
            pipeline.stop()
        except Exception:  # the GUI must learn it stopped whatever happened
            log.exception("stopping the pipeline failed")
        self._stopped.emit()

    @Slot()
    def _on_stopped(self) -> None:
        self._stopping -= 1
        self._stop_threads = [t for t in self._stop_threads if t.is_alive()]
        if self._stopping == 0 and self._start_after_stop:
            self._start_after_stop = False
            self.start()

    @Slot()
    def _poll(self) -> None:
        pipeline = self._pipeline
        if pipeline is None:
            return
        snap = pipeline.metrics()
        # processors that switched themselves off (missing model, ...) report through the chain only
        current = set(pipeline.chain.problems())
        for message in current - self._chain_problems:
            self.problem.emit(f"processor:{message[:40]}", message)
        for message in self._chain_problems - current:
            self.problem.emit(f"processor:{message[:40]}", "")
        self._chain_problems = current
        self._apply_face_map()
        # an enhancer or swapper that could not load switches itself off; the swap goes on
        for area, message in face_stage_problems(snap.processors, self.settings.face).items():
            if self._face_problems.get(area, "") != message:
                self._face_problems[area] = message
                self._engine_problem(area, message)
        self.stats_ready.emit(snap)
        if not pipeline.running:
            # the source ended or failed: reflect it instead of showing a frozen frame as "live"
            self.stop()
