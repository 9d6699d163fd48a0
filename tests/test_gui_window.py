"""The real window on the real engine (offscreen Qt): testdata video, stand-in models with the real I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from mirage_desktop.config.paths import AppPaths
from mirage_desktop.config.settings import Settings, SettingsStore
from mirage_desktop.gui.app import build_window
from mirage_desktop.gui.fix_dialog import FixDialog
from mirage_desktop.models import ModelStore
from mirage_desktop.testmodels import arcface, inswapper
from mirage_desktop.testmodels.scrfd import build_scrfd, obama_template
from tests.recording_backend import register_recording_backend

WAIT_MS = 15000


@dataclass(frozen=True)
class BuiltModels:
    det: Path
    arcface: Path
    swapper: Path


@pytest.fixture(scope="session")
def built_models(tmp_path_factory, testdata) -> BuiltModels:
    d = tmp_path_factory.mktemp("gui_models")
    return BuiltModels(
        det=build_scrfd(d / "det_10g.onnx", obama_template(testdata)),
        arcface=arcface.build_arcface(d / "w600k_r50.onnx"),
        swapper=inswapper.build_visible(d / "inswapper_128.onnx"),
    )


@pytest.fixture
def installed_models(built_models) -> ModelStore:
    """The stand-ins placed in this test's (isolated) models folder, as `mirage-cli models add` would."""
    store = ModelStore()
    store.add(built_models.det, "det_10g", allow_unverified=True)
    store.add(built_models.arcface, "w600k_r50", allow_unverified=True)
    store.add(built_models.swapper, "inswapper_128", allow_unverified=True)
    return store


def video_settings(testdata: Path, name: str = "talking_head_d0.mp4") -> Settings:
    settings = Settings()
    settings.video.source = f"file:{testdata / 'video' / name}"
    settings.video.width, settings.video.height = 640, 360
    return settings


def open_window(qtbot, settings: Settings):
    window = build_window(settings, AppPaths.from_env())
    qtbot.addWidget(window)
    window.show()
    return window


def close_window(qtbot, window) -> None:
    window.controller.stop()
    qtbot.waitUntil(lambda: window.controller.idle, timeout=WAIT_MS)
    window.quit()


def set_photo(qtbot, window, photo: Path) -> None:
    window.source_panel.load_photo(photo)
    qtbot.waitUntil(lambda: not window.source_panel.busy, timeout=WAIT_MS)


def stats_total_swapped(window) -> int:
    snap = window.controller.metrics()
    return int(snap.processors.get("total_faces_swapped", 0)) if snap else 0


def test_source_face_live_preview_stats_and_missing_driver(qtbot, testdata, installed_models):
    window = open_window(qtbot, video_settings(testdata))
    try:
        set_photo(qtbot, window, testdata / "faces" / "obama.jpg")
        assert window.controller.has_identity
        assert (
            "Wearing" in window.source_panel.status.text() or "wearing" in window.source_panel.status.text()
        )
        assert not window.source_panel.face.pixmap().isNull()  # the detected face crop is shown

        qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
        assert window.start_button.text() == "Stop"
        qtbot.waitUntil(lambda: window.preview.frames_painted >= 5, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: stats_total_swapped(window) > 3, timeout=WAIT_MS)
        qtbot.waitUntil(
            lambda: window.stats.updates >= 3 and "fps" in window.stats.fps.text(), timeout=WAIT_MS
        )
        assert "CPU" in window.stats.provider.text()
        assert window.stats.chart.history and "face.swap" in window.stats.chart.history[-1]
        assert "fps" in window.quick_stats.text()
        first = window.stats.updates
        qtbot.waitUntil(lambda: window.stats.updates > first + 2, timeout=WAIT_MS)  # stats keep moving

        # no v4l2loopback here: the error strip says so, and the fix dialog shows the exact command
        qtbot.waitUntil(lambda: "sink:VirtualCameraSink" in window.problems.problems, timeout=WAIT_MS)
        assert window.problems.isVisible() and window.problems.fix_button.isVisible()
        # one on-air status for the call: amber, because apps cannot see Mirage Camera
        assert "can't see Mirage Camera" in window.on_air.text()
        assert window.on_air.property("state") == "warn"
        window.problems.fix_button.click()
        dialog = window.problems.dialog
        assert isinstance(dialog, FixDialog)
        assert 'card_label="Mirage Camera"' in dialog.commands.toPlainText()
        dialog.copy()
        from PySide6.QtGui import QGuiApplication

        copied = QGuiApplication.clipboard().text().splitlines()
        assert any(line.startswith("sudo modprobe v4l2loopback") for line in copied)
        # only runnable lines: no explanation that a shell would choke on
        assert all(line.startswith(("sudo ", "regsvr32 ")) for line in copied), copied
        dialog.accept()

        # the raw camera tap arrives for the picture-in-picture
        assert window.preview._raw is not None
    finally:
        close_window(qtbot, window)
    assert window.start_button.text() == "Start"


def test_toggles_reach_the_running_engine(qtbot, testdata, installed_models):
    window = open_window(qtbot, video_settings(testdata))
    c = window.controller
    try:
        set_photo(qtbot, window, testdata / "faces" / "obama.jpg")
        window.toggle()
        qtbot.waitUntil(lambda: stats_total_swapped(window) > 2, timeout=WAIT_MS)

        # swap off (keyboard shortcut) → the count stops growing; on again (checkbox) → it grows
        qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
        assert not window.face_controls.swap.isChecked() and not c.settings.face.swap_enabled
        qtbot.wait(600)
        frozen = stats_total_swapped(window)
        qtbot.wait(800)
        assert stats_total_swapped(window) == frozen
        window.face_controls.swap.setChecked(True)
        qtbot.waitUntil(lambda: stats_total_swapped(window) > frozen, timeout=WAIT_MS)

        # overlay and label processors switch on live: their stages show up in the metrics
        window.face_controls.debug.setChecked(True)
        window.face_controls.ai_label.setChecked(True)
        qtbot.waitUntil(lambda: {"debug_overlay", "ai_label"} <= set(c.metrics().stage_ms), timeout=WAIT_MS)
        window.face_controls.max_faces.setValue(3)
        assert c._face_swap.max_faces == 3

        # detection settings rebuild the pipeline; the window stays live
        old = c._pipeline
        window.face_controls.interval.setValue(9)
        window.face_controls.apply_detection()
        qtbot.waitUntil(lambda: c._pipeline is not None and c._pipeline is not old, timeout=WAIT_MS)
        assert c.settings.face.detect_interval == 9
        qtbot.waitUntil(lambda: c.metrics().frames_output > 3, timeout=WAIT_MS)

        # a different source while live: the engine restarts on it
        window.devices.set_source("test")
        qtbot.waitUntil(
            lambda: c.metrics() is not None and "test" in c.metrics().source.lower(), timeout=WAIT_MS
        )
        assert window.start_button.text() == "Stop"
    finally:
        close_window(qtbot, window)


def test_live_badge_when_the_virtual_camera_is_active(qtbot, testdata):
    # no models at all: face swap says why and the video passes through
    name, recording = register_recording_backend()
    settings = video_settings(testdata, "hamilton_clip.mp4")
    settings.output.virtual_camera_backend = name
    window = open_window(qtbot, settings)
    try:
        window.toggle()
        qtbot.waitUntil(lambda: "ON AIR · Mirage Camera" in window.on_air.text(), timeout=WAIT_MS)
        assert window.on_air.property("state") == "live"
        qtbot.waitUntil(lambda: len(recording.frames) > 3, timeout=WAIT_MS)
        qtbot.waitUntil(
            lambda: any("Face swap is off" in m for m in window.problems.problems.values()), timeout=WAIT_MS
        )
        assert any(
            "mirage-cli models" in m or "download" in m.lower() for m in window.problems.problems.values()
        )
    finally:
        close_window(qtbot, window)
    assert window.on_air.text() == "Off air" and window.on_air.property("state") == "off"


def test_gallery_keeps_only_the_embedding_and_restores_it(qtbot, testdata, installed_models):
    paths = AppPaths.from_env()
    settings = video_settings(testdata)
    window = open_window(qtbot, settings)
    set_photo(qtbot, window, testdata / "faces" / "biden.jpg")
    panel = window.source_panel
    panel.name_edit.setText("Joe")
    assert not panel.keep_photo.isChecked()
    panel.save_button.click()
    assert window.gallery.names() == ["Joe"]
    (folder,) = (paths.data_dir / "identities").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["embedding.npy", "meta.json", "thumb.png"]
    saved = np.load(folder / "embedding.npy")
    assert saved.shape == (512,) and np.allclose(saved, panel.chosen.embedding)
    assert settings.gui.active_identity == folder.name

    window.gallery.rename(folder.name, "Joseph")
    assert window.gallery.names() == ["Joseph"]
    close_window(qtbot, window)
    stored = json.loads(paths.settings_file.read_text())
    assert stored["gui"]["active_identity"] == folder.name
    assert "biden" not in paths.settings_file.read_text()  # the photo path is not remembered

    # next run: the identity is worn again without the photo
    again, _ = SettingsStore(paths.settings_file).load()
    window2 = open_window(qtbot, again)
    try:
        assert window2.controller.has_identity
        assert "Joseph" in window2.source_panel.status.text()
        window2.gallery.delete(folder.name)
        assert window2.gallery.names() == [] and not (paths.data_dir / "identities" / folder.name).exists()
        assert again.gui.active_identity == ""
    finally:
        close_window(qtbot, window2)


def test_bad_photos_are_explained_and_lose_nothing(qtbot, testdata, installed_models, tmp_path):
    window = open_window(qtbot, video_settings(testdata))
    try:
        set_photo(qtbot, window, testdata / "faces" / "obama.jpg")
        worn = window.controller._identity[0].copy()
        not_image = tmp_path / "notes.jpg"
        not_image.write_text("not a photo")
        set_photo(qtbot, window, not_image)
        assert "is a text file, not a photo" in window.source_panel.status.text()
        blank = tmp_path / "wall.png"
        import cv2

        cv2.imwrite(str(blank), np.full((400, 400, 3), 200, np.uint8))
        set_photo(qtbot, window, blank)
        assert "No face" in window.source_panel.status.text()
        assert np.array_equal(window.controller._identity[0], worn)  # still wearing the last good face
    finally:
        close_window(qtbot, window)


def test_several_faces_can_be_picked(qtbot, testdata, installed_models):
    window = open_window(qtbot, video_settings(testdata))
    try:
        set_photo(qtbot, window, testdata / "faces" / "two_people.jpg")
        panel = window.source_panel
        assert len(panel.analysis.faces) >= 2, "two_people.jpg should give a choice"
        assert panel.faces_box.isVisibleTo(window) and "Click another face" in panel.status.text()
        first = window.controller._identity[0].copy()
        panel.face_buttons[1].click()
        assert panel.face_buttons[1].isChecked() and not panel.face_buttons[0].isChecked()
        assert not np.allclose(window.controller._identity[0], first)
        assert "face 2" in panel.status.text()
    finally:
        close_window(qtbot, window)


def test_missing_models_are_explained_when_choosing_a_photo(qtbot, testdata):
    window = open_window(qtbot, video_settings(testdata))
    try:
        set_photo(qtbot, window, testdata / "faces" / "obama.jpg")
        text = window.source_panel.status.text()
        assert "det_10g" in text and not window.controller.has_identity
    finally:
        close_window(qtbot, window)


def test_first_run_shows_models_then_the_responsible_use_notice(qtbot, testdata):
    from mirage_desktop.gui.app import first_steps

    settings = video_settings(testdata)
    window = open_window(qtbot, settings)
    try:
        first_steps(window)
        dialog = window.models_dialog
        assert dialog is not None and dialog.isVisible() and settings.gui.first_run_done
        qtbot.waitUntil(lambda: len(dialog.missing) == 3, timeout=WAIT_MS)
        dialog.reject()  # "Later"
        notices = [w for w in window.findChildren(QWidget) if type(w).__name__ == "ResponsibleUseDialog"]
        assert notices and notices[-1].isVisible()
        notices[-1].label_box.setChecked(True)
        notices[-1].accept()
        assert settings.gui.responsible_use_accepted and settings.gui.ai_label
        assert window.face_controls.ai_label.isChecked()
    finally:
        close_window(qtbot, window)
