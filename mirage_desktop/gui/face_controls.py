"""Face swap switches: on/off, the privacy cover, how many faces, detection cadence, processing
size, overlay, AI label.

Swap, face count, overlay and label change the running engine at once; detection interval and
processing size rebuild the tracker, so they restart the pipeline (after a short pause, so dragging
a spin box does not restart it on every step).
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QSpinBox, QWidget

from mirage_desktop.gui.engine_controller import EngineController

PROC_SIZES = (320, 480, 640, 960, 1280)
RESTART_DELAY_MS = 600


class FaceControls(QWidget):
    def __init__(self, controller: EngineController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        face = controller.settings.face

        self.swap = QCheckBox("Swap my face")
        self.swap.setChecked(face.swap_enabled)
        self.swap.toggled.connect(controller.set_swap_enabled)
        controller.swap_toggled.connect(self.swap.setChecked)

        self.max_faces = QSpinBox()
        self.max_faces.setRange(1, 8)
        self.max_faces.setValue(face.max_faces)
        self.max_faces.setToolTip("Swap the N largest faces in the picture.")
        self.max_faces.valueChanged.connect(controller.set_max_faces)

        self.interval = QSpinBox()
        self.interval.setRange(1, 30)
        self.interval.setValue(face.detect_interval)
        self.interval.setSuffix(" frames")
        self.interval.setToolTip(
            "Look for faces every N frames and follow them in between (higher = faster)."
        )
        self.interval.valueChanged.connect(self._schedule_restart)

        self.proc_size = QComboBox()
        for size in PROC_SIZES:
            self.proc_size.addItem(f"{size} px", size)
        index = self.proc_size.findData(face.proc_max_dim)
        if index < 0:
            self.proc_size.addItem(f"{face.proc_max_dim} px", face.proc_max_dim)
            index = self.proc_size.count() - 1
        self.proc_size.setCurrentIndex(index)
        self.proc_size.setToolTip("Frames are searched for faces at this size (smaller = faster).")
        self.proc_size.currentIndexChanged.connect(self._schedule_restart)

        self.privacy = QCheckBox("Cover my face whenever it is not swapped")
        self.privacy.setChecked(face.privacy_cover)
        self.privacy.setToolTip(
            "When a face cannot be swapped (not found for a moment, models missing, an error), Mirage "
            "pixelates it instead of sending your real face. Switched off, the header warns in amber "
            "whenever your real face goes out."
        )
        self.privacy.toggled.connect(controller.set_privacy_cover)

        self.debug = QCheckBox("Show what Mirage sees (debug overlay)")
        self.debug.setChecked(face.debug_overlay)
        self.debug.toggled.connect(controller.set_debug_overlay)

        self.ai_label = QCheckBox("Stamp “AI-altered” on the video")
        self.ai_label.setChecked(controller.settings.gui.ai_label)
        self.ai_label.toggled.connect(controller.set_ai_label)

        self._restart = QTimer(self)
        self._restart.setSingleShot(True)
        self._restart.setInterval(RESTART_DELAY_MS)
        self._restart.timeout.connect(self.apply_detection)

        form = QFormLayout(self)
        form.addRow(self.swap)
        form.addRow(self.privacy)
        form.addRow("Faces to swap", self.max_faces)
        form.addRow("Detect every", self.interval)
        form.addRow("Processing size", self.proc_size)
        form.addRow(self.debug)
        form.addRow(self.ai_label)

    def _schedule_restart(self, *_: object) -> None:
        self._restart.start()

    def apply_detection(self) -> None:
        self._restart.stop()
        face = self.controller.settings.face
        face.detect_interval = self.interval.value()
        face.proc_max_dim = int(self.proc_size.currentData())
        self.controller.restart()
