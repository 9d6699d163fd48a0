"""The GUI's one door into the engine: commands in, Qt signals with plain data out.

Pipeline threads call back into this object; they only build a QImage (not a widget)
and emit a signal, which Qt queues onto the GUI thread. Widgets are touched only there.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from mirage_desktop.config.settings import Settings
from mirage_desktop.engine.builder import PipelineRequest, build_pipeline
from mirage_desktop.engine.metrics import MetricsSnapshot
from mirage_desktop.engine.pipeline import Pipeline
from mirage_desktop.frame import Frame


def to_qimage(image_bgr: np.ndarray) -> QImage:
    """A QImage that owns its pixels (the numpy buffer may be reused after we return)."""
    h, w = image_bgr.shape[:2]
    rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class EngineController(QObject):
    frame_ready = Signal(QImage)
    problem = Signal(str, str)  # area, message ("" clears)
    running_changed = Signal(bool)

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._pipeline: Pipeline | None = None

    @property
    def running(self) -> bool:
        return self._pipeline is not None and self._pipeline.running

    def start(self, source: str | None = None) -> None:
        self.stop()
        if source:
            self.settings.video.source = source
        request = PipelineRequest(live=True, virtual_camera=True, preview=self._on_preview)
        self._pipeline = build_pipeline(self.settings, request, on_problem=self.problem.emit)
        self._pipeline.start()
        self.running_changed.emit(True)

    def stop(self) -> None:
        if self._pipeline is not None:
            self._pipeline.stop()
            self._pipeline = None
            self.running_changed.emit(False)

    def metrics(self) -> MetricsSnapshot | None:
        return self._pipeline.metrics() if self._pipeline is not None else None

    def _on_preview(self, image: np.ndarray, frame: Frame) -> None:
        # Runs on the output thread.
        self.frame_ready.emit(to_qimage(image))
