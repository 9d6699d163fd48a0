"""Where video and voice come from and go to: camera / video file / test pattern, microphone, and the
state of "Mirage Camera" and "Mirage Microphone" with the fix when a driver is missing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mirage_desktop.config.settings import Settings
from mirage_desktop.gui.fix_dialog import FixDialog
from mirage_desktop.gui.workers import TaskRunner
from mirage_desktop.sources.camera_list import CameraDevice
from mirage_desktop.system.virtual_camera_status import VirtualCameraStatus
from mirage_desktop.voice.devices import AudioReport

RESOLUTIONS = ((640, 480), (1280, 720), (1920, 1080))
FRAME_RATES = (15.0, 24.0, 30.0, 60.0)
PICK_FILE = "__pick__"
VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.webm)"


class DevicesPanel(QWidget):
    #: the video source or its format changed (the window restarts the engine if it runs)
    video_changed = Signal()
    #: the microphone changed (the window re-applies voice)
    microphone_changed = Signal()

    def __init__(
        self,
        settings: Settings,
        runner: TaskRunner,
        cameras: Callable[[], list[CameraDevice]],
        camera_status: Callable[[], VirtualCameraStatus],
        audio: Callable[[], AudioReport],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self._runner = runner
        self._cameras = cameras
        self._camera_status = camera_status
        self._audio = audio
        self.camera_state: VirtualCameraStatus | None = None
        self.audio_report: AudioReport | None = None
        self.dialog: FixDialog | None = None

        # -- video in
        self.source = QComboBox()
        self.source.activated.connect(self._source_activated)
        self.resolution = QComboBox()
        for w, h in RESOLUTIONS:
            self.resolution.addItem(f"{w} × {h}", (w, h))
        self._select(
            self.resolution,
            (settings.video.width, settings.video.height),
            f"{settings.video.width} × {settings.video.height}",
        )
        self.resolution.activated.connect(self._format_changed)
        self.fps = QComboBox()
        for fps in FRAME_RATES:
            self.fps.addItem(f"{fps:g} fps", fps)
        self._select(self.fps, float(settings.video.fps), f"{settings.video.fps:g} fps")
        self.fps.activated.connect(self._format_changed)
        video = QGroupBox("Video in")
        vform = QFormLayout(video)
        vform.addRow("Source", self.source)
        vform.addRow("Resolution", self.resolution)
        vform.addRow("Frame rate", self.fps)

        # -- audio in
        self.microphone = QComboBox()
        self.microphone.addItem("System default", "")
        self.microphone.activated.connect(self._microphone_activated)
        self.audio_note = QLabel("Looking for microphones…")
        self.audio_note.setObjectName("muted")
        self.audio_note.setWordWrap(True)
        audio_box = QGroupBox("Voice in")
        aform = QFormLayout(audio_box)
        aform.addRow("Microphone", self.microphone)
        aform.addRow(self.audio_note)

        # -- outputs
        self.camera_label = QLabel()
        self.camera_label.setWordWrap(True)
        self.camera_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.camera_fix = QPushButton("How to fix…")
        self.camera_fix.clicked.connect(self.show_camera_fix)
        self.mic_label = QLabel("Checking…")
        self.mic_label.setWordWrap(True)
        self.mic_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        cam_row = QHBoxLayout()
        cam_row.addWidget(self.camera_label, 1)
        cam_row.addWidget(self.camera_fix, 0, Qt.AlignmentFlag.AlignTop)
        outputs = QGroupBox("Outputs")
        oform = QFormLayout(outputs)
        oform.addRow("Mirage Camera", cam_row)
        oform.addRow("Mirage Microphone", self.mic_label)
        self.refresh_button = QPushButton("Refresh devices")
        self.refresh_button.clicked.connect(self.refresh)

        layout = QVBoxLayout(self)
        layout.addWidget(video)
        layout.addWidget(audio_box)
        layout.addWidget(outputs)
        layout.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addStretch(1)
        self.refresh()

    @staticmethod
    def _select(combo: QComboBox, data: object, label: str) -> None:
        index = combo.findData(data)
        if index < 0:
            combo.addItem(label, data)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

    # -- refresh (device probes run off the GUI thread) -------------------------------------------
    def refresh(self) -> None:
        self._fill_sources(self._cameras())  # sysfs reads on Linux: instant
        self._runner.submit(self._camera_status, on_done=self.show_camera_status)
        self._runner.submit(
            self._audio, on_done=self.show_audio, on_failed=lambda e: self.audio_note.setText(str(e))
        )

    def _fill_sources(self, cameras: list[CameraDevice]) -> None:
        current = self.settings.video.source
        self.source.clear()
        self.source.addItem("Test pattern", "test")
        for cam in cameras:
            self.source.addItem(f"Camera: {cam.name}", f"camera:{cam.index}")
        if not cameras:
            self.source.addItem("No camera found", None)
            self.source.model().item(self.source.count() - 1).setEnabled(False)
        if current and current != "test" and not current.startswith("camera"):
            path = current.removeprefix("file:")
            self.source.addItem(f"Video: {Path(path).name}", f"file:{path}")
        elif current.startswith("camera") and self.source.findData(current) < 0:
            self.source.addItem(f"{current} (not connected)", current)
        self.source.addItem("Video file…", PICK_FILE)
        index = self.source.findData(current)
        self.source.setCurrentIndex(max(0, index))

    def _source_activated(self, index: int) -> None:
        data = self.source.itemData(index)
        if data == PICK_FILE:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a video", "", VIDEO_FILTER)
            if not path:
                self.source.setCurrentIndex(max(0, self.source.findData(self.settings.video.source)))
                return
            self.set_source(f"file:{path}")
            return
        if data:
            self.set_source(data)

    def set_source(self, source: str) -> None:
        self.settings.video.source = source
        self._fill_sources(self._cameras())
        self.video_changed.emit()

    def _format_changed(self, *_: object) -> None:
        self.settings.video.width, self.settings.video.height = self.resolution.currentData()
        self.settings.video.fps = float(self.fps.currentData())
        self.video_changed.emit()

    def _microphone_activated(self, index: int) -> None:
        self.settings.voice.input_device = self.microphone.itemData(index) or ""
        self.microphone_changed.emit()

    # -- status ----------------------------------------------------------------------------------
    def show_camera_status(self, status: VirtualCameraStatus) -> None:
        self.camera_state = status
        mark = "✔" if status.ready else "✖"
        self.camera_label.setText(f"{mark} {status.message}")
        self.camera_fix.setVisible(
            bool(status.fix) and not (status.ready and not status.other_loopback_devices)
        )

    def show_camera_fix(self) -> None:
        status = self.camera_state
        if status is None:
            return
        self.dialog = FixDialog("Set up Mirage Camera", f"Mirage Camera: {status.message}.", status.fix, self)
        self.dialog.open()

    def show_audio(self, report: AudioReport) -> None:
        self.audio_report = report
        wanted = self.settings.voice.input_device
        self.microphone.clear()
        self.microphone.addItem("System default", "")
        for dev in report.inputs:
            self.microphone.addItem(f"{dev.name} ({dev.host_api})", dev.name)
        for name in report.pulse_sources:
            if not name.endswith(".monitor") and "mirage" not in name.lower():
                self.microphone.addItem(name, name)
        if wanted and self.microphone.findData(wanted) < 0:
            self.microphone.addItem(f"{wanted} (not connected)", wanted)
        self.microphone.setCurrentIndex(max(0, self.microphone.findData(wanted)))
        self.audio_note.setText("\n".join(report.errors) or f"{len(report.inputs)} microphone(s) found.")
        vm = report.virtual_mic
        if vm is None:
            self.mic_label.setText("✖ unknown")
        elif vm.available:
            self.mic_label.setText(
                f"✔ {vm.visible_name or 'ready'}" + (f" ({vm.message})" if vm.message else "")
            )
        else:
            self.mic_label.setText(f"✖ {vm.message}")
