"""A minimal main window: the live preview, a source picker, start/stop and live stats."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from mirage_desktop import APP_NAME, VIRTUAL_CAMERA_NAME
from mirage_desktop.gui.engine_controller import EngineController
from mirage_desktop.sources.camera_list import list_cameras

STATS_INTERVAL_MS = 500


class MainWindow(QMainWindow):
    def __init__(self, controller: EngineController) -> None:
        super().__init__()
        self.controller = controller
        self.setWindowTitle(APP_NAME)
        self.resize(1000, 680)
        self._problems: dict[str, str] = {}

        self.preview = QLabel("Press Start to see the output")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(480, 270)
        self.preview.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.preview.setStyleSheet("background:#111; color:#aaa;")

        self.source_box = QComboBox()
        self.source_box.addItem("Test pattern", "test")
        for cam in list_cameras():
            self.source_box.addItem(cam.name, f"camera:{cam.index}")
        current = controller.settings.video.source
        if current.startswith("file:") or (
            current and current not in ("test",) and not current.startswith("camera")
        ):
            self.source_box.addItem(current.removeprefix("file:"), current)
        self.source_box.addItem("Video file…", "__pick__")
        index = self.source_box.findData(current)
        self.source_box.setCurrentIndex(max(0, index))
        self.source_box.activated.connect(self._source_activated)

        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.toggle)
        QShortcut(QKeySequence("Ctrl+Space"), self, activated=self.toggle)

        self.live_label = QLabel("")
        self.live_label.setStyleSheet("color:#e33; font-weight:bold;")
        self.stats_label = QLabel("")
        self.problem_label = QLabel("")
        self.problem_label.setWordWrap(True)
        self.problem_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem_label.setStyleSheet("color:#d80;")

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Source:"))
        controls.addWidget(self.source_box, 1)
        controls.addWidget(self.start_button)
        controls.addWidget(self.live_label)

        layout = QVBoxLayout()
        layout.addLayout(controls)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.stats_label)
        layout.addWidget(self.problem_label)
        central = QWidget()
        central.setLayout(layout)
        self.setCentralWidget(central)

        controller.frame_ready.connect(self.show_frame)
        controller.problem.connect(self.show_problem)
        controller.running_changed.connect(self._running_changed)
        self._timer = QTimer(self)
        self._timer.setInterval(STATS_INTERVAL_MS)
        self._timer.timeout.connect(self.refresh_stats)

    @Slot()
    def toggle(self) -> None:
        if self.controller.running:
            self.controller.stop()
        else:
            self._problems.clear()
            self.problem_label.setText("")
            self.controller.start(self.source_box.currentData())

    @Slot(int)
    def _source_activated(self, index: int) -> None:
        if self.source_box.itemData(index) == "__pick__":
            path, _ = QFileDialog.getOpenFileName(
                self, "Choose a video", "", "Videos (*.mp4 *.mov *.avi *.mkv)"
            )
            if not path:
                self.source_box.setCurrentIndex(0)
                return
            self.source_box.insertItem(index, path, f"file:{path}")
            self.source_box.setCurrentIndex(index)
        if self.controller.running:
            self.controller.start(self.source_box.currentData())

    @Slot(QImage)
    def show_frame(self, image: QImage) -> None:
        pix = QPixmap.fromImage(image).scaled(
            self.preview.size(),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.preview.setPixmap(pix)

    @Slot(str, str)
    def show_problem(self, area: str, message: str) -> None:
        if message:
            self._problems[area] = message
        else:
            self._problems.pop(area, None)
        self.problem_label.setText("\n".join(self._problems.values()))

    @Slot(bool)
    def _running_changed(self, running: bool) -> None:
        self.start_button.setText("Stop" if running else "Start")
        if running:
            self._timer.start()
        else:
            self._timer.stop()
            self.live_label.setText("")

    @Slot()
    def refresh_stats(self) -> None:
        snap = self.controller.metrics()
        if snap is None:
            return
        self.stats_label.setText(snap.summary())
        on_camera = any(s.startswith("virtual_camera") for s in snap.sinks_active)
        self.live_label.setText(f"● LIVE on {VIRTUAL_CAMERA_NAME}" if on_camera else "")

    def closeEvent(self, event) -> None:
        self.controller.stop()
        super().closeEvent(event)
