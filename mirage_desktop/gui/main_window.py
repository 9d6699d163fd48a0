"""The main window: the live preview under one on-air status, the problems strip, and the
Face/Voice/Devices/Stats tabs.

It only wires parts together and paints; every heavy step runs in the controllers or on workers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from mirage_desktop import APP_NAME
from mirage_desktop.engine.metrics import MetricsSnapshot
from mirage_desktop.gui.devices_panel import DevicesPanel
from mirage_desktop.gui.engine_controller import EngineController
from mirage_desktop.gui.face_controls import FaceControls, FaceMapControls, FaceQualityControls
from mirage_desktop.gui.first_run import ModelsDialog, ResponsibleUseDialog
from mirage_desktop.gui.gallery import GalleryWidget
from mirage_desktop.gui.identity_store import Identity, IdentityStore
from mirage_desktop.gui.on_air import CallState, on_air
from mirage_desktop.gui.photo_faces import PhotoAnalysis
from mirage_desktop.gui.preview_widget import PreviewWidget
from mirage_desktop.gui.problems_panel import ProblemsPanel
from mirage_desktop.gui.restore import restore_session
from mirage_desktop.gui.source_face_panel import SourceFacePanel
from mirage_desktop.gui.stats_panel import StatsPanel, describe_stages
from mirage_desktop.gui.theme import ThemeManager
from mirage_desktop.gui.voice_controller import LIVE, VoiceController
from mirage_desktop.gui.voice_controls import VoiceControls
from mirage_desktop.gui.workers import TaskRunner
from mirage_desktop.models import ModelStore
from mirage_desktop.sinks.virtual_camera import driver_fix
from mirage_desktop.sources.camera_list import CameraDevice, list_cameras
from mirage_desktop.system.virtual_camera_status import VirtualCameraStatus, virtual_camera_status
from mirage_desktop.voice.devices import AudioReport, describe_audio
from mirage_desktop.voice.virtual_mic import remove_crashed_leftovers

START_SHORTCUT = "Ctrl+Space"
SWAP_SHORTCUT = "Ctrl+F"
SIDE_WIDTH = 420
#: the size a new window asks for; it shrinks to fit the screen (1366×768 and 1280×720 laptops)
DEFAULT_SIZE = (1280, 760)


@dataclass
class WindowParts:
    """Everything the window works with, passed in (tests give real parts pointed at temp folders)."""

    controller: EngineController
    voice: VoiceController
    identities: IdentityStore
    analyze: Callable[[Path], PhotoAnalysis]
    models: ModelStore
    cameras: Callable[[], list[CameraDevice]] = list_cameras
    camera_status: Callable[[], VirtualCameraStatus] = virtual_camera_status
    audio: Callable[[], AudioReport] = describe_audio
    theme: ThemeManager | None = None
    save_settings: Callable[[], None] = field(default=lambda: None)
    #: run once on a worker at start-up: remove what a crashed Mirage left in the sound server
    clean_leftovers: Callable[[], object] = remove_crashed_leftovers


def _restyle(widget: QWidget, name: str, value: object) -> None:
    if widget.property(name) != value:
        widget.setProperty(name, value)
        widget.style().unpolish(widget)  # dynamic property → restyle
        widget.style().polish(widget)


def fit_to_screen(window: QWidget, wanted: tuple[int, int] = DEFAULT_SIZE) -> tuple[int, int]:
    """Ask for ``wanted`` but never more than the screen's free area (taskbar and title excluded)."""
    screen = window.screen()
    width, height = wanted
    if screen is not None:
        free = screen.availableGeometry()
        frame_h = 40  # title bar and borders the window manager adds outside our geometry
        width = min(width, free.width())
        height = min(height, free.height() - frame_h)
    window.resize(width, height)
    return width, height


class MainWindow(QMainWindow):
    def __init__(self, parts: WindowParts) -> None:
        super().__init__()
        self.parts = parts
        self.controller = parts.controller
        self.voice = parts.voice
        self.settings = parts.controller.settings
        self.runner = TaskRunner(max_threads=2, parent=self)
        self.setWindowTitle(APP_NAME)
        self.quitting = False
        self.tray = None
        self.models_dialog: ModelsDialog | None = None

        # -- header
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("primary")
        self.start_button.setToolTip(f"Start / stop ({START_SHORTCUT})")
        self.start_button.clicked.connect(self.toggle)
        self.on_air = QLabel()
        self.on_air.setObjectName("onair")
        self._call = CallState()
        self.quick_stats = QLabel("")
        self.quick_stats.setObjectName("muted")
        header = QHBoxLayout()
        header.addWidget(self.start_button)
        header.addSpacing(8)
        header.addWidget(self.on_air)
        header.addStretch(1)
        header.addWidget(self.quick_stats)

        # -- preview + problems
        self.preview = PreviewWidget()
        self.preview.set_mode(self.settings.gui.raw_preview)
        self.problems = ProblemsPanel(driver_fix, open_models=self.show_models)
        #: which face stages run, under the preview (updated at the stats rate, only when it changes)
        self.stages_caption = QLabel("")
        self.stages_caption.setObjectName("muted")
        self.stages_caption.setWordWrap(True)
        self.stages_caption.setVisible(False)

        # -- side tabs
        self.source_panel = SourceFacePanel(
            parts.analyze, self.runner, keep_photos=self.settings.gui.keep_photos
        )
        self.gallery = GalleryWidget(parts.identities)
        self.face_controls = FaceControls(self.controller)
        self.face_quality = FaceQualityControls(self.controller)
        self.face_map = FaceMapControls(self.controller, parts.identities)
        gallery_rows = self.gallery.list.model()
        for changed in (gallery_rows.rowsInserted, gallery_rows.rowsRemoved, gallery_rows.dataChanged):
            changed.connect(self.face_map.schedule_reload)
        face_tab = QWidget()
        face_layout = QVBoxLayout(face_tab)
        for title, widget in (
            ("Face to wear", self.source_panel),
            ("Gallery", self.gallery),
            ("Face swap", self.face_controls),
            ("Quality", self.face_quality),
            ("Who is swapped", self.face_map),
        ):
            box = QGroupBox(title)
            QVBoxLayout(box).addWidget(widget)
            face_layout.addWidget(box)
        face_layout.addStretch(1)
        self.voice_controls = VoiceControls(self.voice)
        voice_tab = QWidget()
        vbox = QGroupBox("Voice")
        QVBoxLayout(vbox).addWidget(self.voice_controls)
        QVBoxLayout(voice_tab).addWidget(vbox)
        voice_tab.layout().addStretch(1)
        self.devices = DevicesPanel(
            self.settings, self.runner, parts.cameras, parts.camera_status, parts.audio
        )
        self.stats = StatsPanel()
        self.tabs = QTabWidget()
        for widget, title in (
            (face_tab, "Face"),
            (voice_tab, "Voice"),
            (self.devices, "Devices"),
            (self.stats, "Stats"),
        ):
            scroll = QScrollArea()
            scroll.setWidget(widget)
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.tabs.addTab(scroll, title)
        self.tabs.setFixedWidth(SIDE_WIDTH)

        left = QVBoxLayout()
        left.addLayout(header)
        left.addWidget(self.preview, 1)
        left.addWidget(self.stages_caption)
        left.addWidget(self.problems)
        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addWidget(self.tabs)
        central = QWidget()
        central.setLayout(body)
        self.setCentralWidget(central)
        self._build_menu()

        QShortcut(QKeySequence(START_SHORTCUT), self, activated=self.toggle)
        QShortcut(QKeySequence(SWAP_SHORTCUT), self, activated=self.controller.toggle_swap)

        # -- wiring: engine → widgets (plain data by signal)
        c = self.controller
        c.frame_ready.connect(self.preview.set_output)
        c.raw_frame_ready.connect(self.preview.set_raw)
        c.problem.connect(self.problems.set_problem)
        c.running_changed.connect(self._running_changed)
        c.stats_ready.connect(self.stats.show_video)
        c.stats_ready.connect(self._show_quick_stats)
        c.stats_ready.connect(self._show_stages)
        # lip sync: the voice waits for the picture by its measured lead
        c.stats_ready.connect(lambda m: self.voice.set_video_latency_ms(m.latency_ms_p50))
        c.running_changed.connect(lambda on: on or self.voice.set_video_latency_ms(None))
        self.voice.delay_listener = c.set_voice_delay_ms
        self.voice.floor_listener = c.set_picture_floor_ms
        self.voice.state_changed.connect(self._voice_state)
        self.voice.stats_ready.connect(self.stats.show_voice)
        # -- widgets → engine
        self.source_panel.identity_selected.connect(self._wear_photo_face)
        self.source_panel.save_requested.connect(self._save_identity)
        self.gallery.identity_activated.connect(self._wear_identity)
        self.gallery.identity_deleted.connect(self._identity_deleted)
        self.gallery.error.connect(lambda message: self.problems.set_problem("gallery", message))
        self.devices.video_changed.connect(self.controller.restart)
        self.devices.microphone_changed.connect(self._microphone_changed)

        self._closed = False
        self._show_on_air()
        fit_to_screen(self)
        restore_session(self, parts.clean_leftovers)

    @property
    def closed(self) -> bool:
        """Closed for good (not hidden to the tray): nothing may start any more."""
        return self._closed

    def _build_menu(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&Mirage")
        file_menu.addAction("Models…", self.show_models)
        file_menu.addAction("Responsible use…", self.show_responsible_use)
        file_menu.addSeparator()
        file_menu.addAction("Quit", self.quit)
        view = bar.addMenu("&View")
        theme_group = QActionGroup(self)
        current_theme = self.settings.gui.theme
        for mode, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            action = QAction(label, self, checkable=True, checked=current_theme == mode)
            action.triggered.connect(lambda _=False, m=mode: self.set_theme(m))
            theme_group.addAction(action)
            view.addAction(action)
        view.addSeparator()
        raw_group = QActionGroup(self)
        for mode, label in (
            ("pip", "Camera: picture in picture"),
            ("side", "Camera: side by side"),
            ("off", "Camera: hidden"),
        ):
            action = QAction(label, self, checkable=True, checked=self.settings.gui.raw_preview == mode)
            action.triggered.connect(lambda _=False, m=mode: self.set_raw_preview(m))
            raw_group.addAction(action)
            view.addAction(action)

    # -- commands ----------------------------------------------------------------------------------
    @Slot()
    def toggle(self) -> None:
        if self.controller.running:
            self.controller.stop()
        else:
            self.problems.clear()
            self.controller.start()

    def set_theme(self, mode: str) -> None:
        self.settings.gui.theme = mode
        if self.parts.theme is not None:
            self.parts.theme.set_mode(mode)

    def set_raw_preview(self, mode: str) -> None:
        self.controller.set_raw_preview(mode)
        self.preview.set_mode(mode)

    def show_models(self) -> ModelsDialog:
        self.models_dialog = ModelsDialog(self.parts.models, self.runner, self)
        self.models_dialog.open()
        return self.models_dialog

    def show_responsible_use(self) -> ResponsibleUseDialog:
        dialog = ResponsibleUseDialog(self.settings.gui.ai_label, self)

        def accepted() -> None:
            self.settings.gui.responsible_use_accepted = True
            self.face_controls.ai_label.setChecked(dialog.label_box.isChecked())
            self.parts.save_settings()

        dialog.accepted.connect(accepted)
        dialog.open()
        return dialog

    def quit(self) -> None:
        self.quitting = True
        self.close()

    # -- identity ----------------------------------------------------------------------------------
    def _wear_photo_face(self, embedding: np.ndarray, label: str) -> None:
        self.controller.set_source_embedding(embedding, label)
        self.settings.gui.active_identity = ""  # a photo that was not saved is not remembered
        self.gallery.list.clearSelection()
        self.problems.set_problem("identity", "")
        self.face_map.refresh()

    def _wear_identity(self, identity: Identity) -> None:
        self.controller.set_source_embedding(identity.embedding, identity.name)
        self.settings.gui.active_identity = identity.id
        self.source_panel.show_identity(identity.name, identity.thumbnail)
        self.face_map.refresh()

    def _save_identity(
        self, name: str, embedding: np.ndarray, thumbnail: np.ndarray, photo: Path | None
    ) -> None:
        self.settings.gui.keep_photos = photo is not None
        identity = self.gallery.add(name, embedding, thumbnail, photo)
        if identity is not None:
            self.settings.gui.active_identity = identity.id
            self.problems.set_problem("gallery", "")

    def _identity_deleted(self, identity_id: str) -> None:
        if self.settings.gui.active_identity == identity_id:
            self.settings.gui.active_identity = ""

    def _microphone_changed(self) -> None:
        if self.voice.voice.enabled:
            self.voice.apply()

    # -- engine → window ---------------------------------------------------------------------------
    @Slot(bool)
    def _running_changed(self, running: bool) -> None:
        self.start_button.setText("Stop" if running else "Start")
        self.start_button.setProperty("live", running)
        self.start_button.style().unpolish(self.start_button)
        self.start_button.style().polish(self.start_button)
        self._set_call(video_running=running, camera_live=False, camera_unavailable=False)
        if not running:
            self._set_call(real_face_exposed=False)
            self.quick_stats.setText("")
            self._set_stages("")
            self.preview.clear("Stopped. Press Start to go live again.")
        else:
            self.preview.placeholder = "Starting…"

    @Slot(object)
    def _show_quick_stats(self, snap: MetricsSnapshot) -> None:
        on_camera = any(s.startswith("virtual_camera") for s in snap.sinks_active)
        self._set_call(
            camera_live=on_camera,
            camera_unavailable=not on_camera and self.controller.wants_virtual_camera,
            real_face_exposed=bool(snap.processors.get("real_face_exposed", False)),
        )
        latency = "–" if snap.latency_ms_p50 is None else f"{snap.latency_ms_p50:.0f} ms"
        self.quick_stats.setText(f"{snap.fps_out:.1f} fps · latency {latency}")

    @Slot(object)
    def _show_stages(self, snap: MetricsSnapshot) -> None:
        stages = describe_stages(snap.processors)
        if stages and not self.settings.face.swap_enabled:
            stages = "Face swap off"
        self._set_stages(f"Face: {stages}" if stages else "")

    def _set_stages(self, text: str) -> None:
        if text != self.stages_caption.text():
            self.stages_caption.setText(text)
            self.stages_caption.setVisible(bool(text))

    @Slot(str, str)
    def _voice_state(self, state: str, message: str) -> None:
        live = state == LIVE
        self._set_call(mic_live=live)
        if not live:
            self.stats.clear_voice()

    def _set_call(self, **changes: bool) -> None:
        call = dataclasses.replace(self._call, **changes)
        if call != self._call:
            self._call = call
            self._show_on_air()

    def _show_on_air(self) -> None:
        status = on_air(self._call)
        self.on_air.setText(status.text)
        self.on_air.setToolTip(status.tooltip)
        _restyle(self.on_air, "state", status.state)

    # -- lifetime ----------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.tray is not None and self.settings.gui.close_to_tray and not self.quitting:
            # keep the camera and microphone live in the background; the tray brings the window back
            self.hide()
            self.tray.showMessage(APP_NAME, "Mirage is still running. Use the tray icon to quit.")
            event.ignore()
            return
        self._closed = True
        self.controller.shutdown()
        self.voice.shutdown()
        self.runner.wait(3000)
        self.parts.save_settings()
        super().closeEvent(event)
