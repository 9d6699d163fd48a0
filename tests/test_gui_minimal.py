"""The window against the real engine (offscreen Qt), with no models installed: pass-through video."""

from __future__ import annotations

from mirage_desktop.config.paths import AppPaths
from mirage_desktop.config.settings import Settings
from mirage_desktop.gui.app import build_window, display_problem


def test_preview_updates_and_stats_move(qtbot, testdata):
    settings = Settings()
    settings.video.source = f"file:{testdata / 'video/hamilton_clip.mp4'}"
    window = build_window(settings, AppPaths.from_env())
    controller = window.controller
    qtbot.addWidget(window)
    window.show()
    window.toggle()
    try:
        qtbot.waitUntil(lambda: window.preview.has_output and window.preview.frames_painted > 0, timeout=5000)
        qtbot.waitUntil(lambda: "fps" in window.stats.fps.text(), timeout=5000)
        assert window.start_button.text() == "Stop"
        # No v4l2loopback here: the window says how to fix it instead of failing.
        qtbot.waitUntil(
            lambda: any("modprobe" in m or "OBS" in m for m in window.problems.problems.values()),
            timeout=5000,
        )
    finally:
        window.toggle()
    assert window.start_button.text() == "Start"
    assert not controller.running
    qtbot.waitUntil(lambda: controller.idle, timeout=5000)
    window.quit()


def test_no_display_is_explained():
    assert display_problem({}) is None or "xvfb-run" in display_problem({})
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
