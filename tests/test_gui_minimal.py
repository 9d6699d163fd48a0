"""The minimal window against the real engine (offscreen Qt)."""

from __future__ import annotations

from mirage_desktop.config.settings import Settings
from mirage_desktop.gui.app import display_problem
from mirage_desktop.gui.engine_controller import EngineController
from mirage_desktop.gui.main_window import MainWindow


def test_preview_updates_and_stats_move(qtbot, testdata):
    settings = Settings()
    settings.video.source = f"file:{testdata / 'video/hamilton_clip.mp4'}"
    controller = EngineController(settings)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.show()
    window.toggle()
    try:
        qtbot.waitUntil(
            lambda: window.preview.pixmap() is not None and not window.preview.pixmap().isNull(), timeout=5000
        )
        qtbot.waitUntil(lambda: "fps in" in window.stats_label.text(), timeout=5000)
        assert window.start_button.text() == "Stop"
        # No v4l2loopback here: the window says how to fix it instead of failing.
        qtbot.waitUntil(
            lambda: "modprobe" in window.problem_label.text() or "OBS" in window.problem_label.text(),
            timeout=5000,
        )
    finally:
        window.toggle()
    assert window.start_button.text() == "Start"
    assert not controller.running


def test_no_display_is_explained():
    assert display_problem({}) is None or "xvfb-run" in display_problem({})
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
