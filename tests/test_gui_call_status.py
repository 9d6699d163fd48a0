"""The header's one on-air status, problems that clear with their cause, the models button, the
copyable fix, a crash's leftover microphone, and a window that fits small laptop screens."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtWidgets import QAbstractButton, QLabel

from mirage_desktop.config.paths import AppPaths
from mirage_desktop.config.settings import Settings
from mirage_desktop.gui.app import build_window
from mirage_desktop.gui.fix_dialog import FixDialog
from mirage_desktop.gui.main_window import fit_to_screen
from mirage_desktop.gui.on_air import LIVE, OFF, WARN, CallState, on_air
from mirage_desktop.gui.problems_panel import ProblemsPanel, window_text
from mirage_desktop.sinks.virtual_camera import driver_fix, runnable_lines
from mirage_desktop.voice.virtual_mic import remove_crashed_leftovers
from tests.pulse_fixture import pulse_server  # noqa: F401  (fixture)

WAIT_MS = 15000


def test_on_air_states() -> None:
    assert on_air(CallState()).state == OFF
    both = on_air(CallState(video_running=True, camera_live=True, mic_live=True))
    assert both.state == LIVE and "Mirage Camera + Mirage Microphone" in both.text
    mic_only = on_air(CallState(mic_live=True))
    assert mic_only.state == LIVE and "Mirage Microphone" in mic_only.text
    hidden = on_air(CallState(video_running=True, camera_unavailable=True, mic_live=True))
    assert hidden.state == WARN and "can't see Mirage Camera" in hidden.text and "Microphone" in hidden.text
    exposed = on_air(CallState(video_running=True, camera_live=True, real_face_exposed=True))
    assert exposed.state == WARN and "real face" in exposed.text
    # amber for the real face wins over everything else
    assert on_air(CallState(True, True, False, True, True)).text == exposed.text


def test_window_text_replaces_cli_advice_with_the_models_button() -> None:
    text, models = window_text(
        "Face swap is off: det_10g.onnx is not installed. Run `mirage-cli models download det_10g`, "
        "or add a file you have. Details are in the log."
    )
    assert models and "mirage-cli" not in text and "Open Models" in text and "det_10g.onnx" in text
    plain, models = window_text("Cannot open camera 0.")
    assert plain == "Cannot open camera 0." and not models


def test_problems_panel_offers_open_models(qtbot) -> None:
    opened = []
    panel = ProblemsPanel(driver_fix, open_models=lambda: opened.append(1))
    qtbot.addWidget(panel)
    panel.show()
    panel.set_problem(
        "processor:x", "Face swap is off: model file missing. Run `mirage-cli models download`."
    )
    assert panel.models_button.isVisible() and "mirage-cli" not in panel.text.text()
    panel.models_button.click()
    assert opened == [1]
    panel.set_problem("processor:x", "")
    assert not panel.isVisible()


@pytest.mark.parametrize("system", ["Linux", "Windows", "Darwin"])
def test_copy_commands_copies_only_runnable_lines(qtbot, system) -> None:
    from PySide6.QtGui import QGuiApplication

    fix = driver_fix(system)
    dialog = FixDialog("t", "p", fix)
    qtbot.addWidget(dialog)
    lines = runnable_lines(fix)
    assert dialog.copy_button.isEnabled() == bool(lines)
    if not lines:
        return
    QGuiApplication.clipboard().setText("")
    dialog.copy()
    copied = QGuiApplication.clipboard().text().splitlines()
    assert copied == lines
    assert all(line.split()[0] in ("sudo", "regsvr32") for line in copied), copied
    assert all(":" not in line.split()[0] for line in copied)


def test_stale_source_warning_clears_when_switching_to_a_file(qtbot, testdata) -> None:
    settings = Settings()
    settings.video.source = "camera:97"  # no such camera: the test pattern shows with the reason
    settings.output.virtual_camera = False
    window = build_window(settings, AppPaths.from_env(), virtual_camera=False)
    qtbot.addWidget(window)
    window.show()
    try:
        window.toggle()
        qtbot.waitUntil(lambda: "source" in window.problems.problems, timeout=WAIT_MS)
        assert "97" in window.problems.problems["source"]
        window.devices.set_source(f"file:{testdata / 'video' / 'hamilton_clip.mp4'}")
        qtbot.waitUntil(
            lambda: window.controller.metrics() is not None and window.controller.metrics().frames_output > 3,
            timeout=WAIT_MS,
        )
        assert "source" not in window.problems.problems, window.problems.problems
    finally:
        window.controller.shutdown()
        window.quit()


def test_window_fits_small_laptop_screens_without_clipping(qtbot) -> None:
    window = build_window(Settings(), AppPaths.from_env(), virtual_camera=False)
    qtbot.addWidget(window)
    hint = window.minimumSizeHint()
    # 1280×720 minus a taskbar (40) and the title bar (40)
    assert hint.width() <= 1280 and hint.height() <= 640, hint
    width, height = fit_to_screen(window)
    free = window.screen().availableGeometry()
    assert width <= free.width() and height <= free.height()
    for size in ((1280, 640), (1366, 688)):
        window.resize(*size)
        window.show()
        for index in range(window.tabs.count()):
            window.tabs.setCurrentIndex(index)
            qtbot.wait(20)
            for widget in window.findChildren(QLabel) + window.findChildren(QAbstractButton):
                if not widget.isVisible() or not widget.text():
                    continue
                if isinstance(widget, QLabel) and widget.wordWrap():
                    assert widget.heightForWidth(widget.width()) <= widget.height() + 1, widget.text()
                else:
                    assert widget.sizeHint().width() <= widget.width() + 1, (size, widget.text())


def test_long_problem_messages_wrap(qtbot) -> None:
    panel = ProblemsPanel(driver_fix)
    qtbot.addWidget(panel)
    panel.resize(600, 200)
    panel.show()
    panel.set_problem("x", "A very long message " * 30)
    assert panel.text.wordWrap()
    assert panel.text.sizeHint().width() <= 600


def _modules(server) -> str:
    return subprocess.run(
        ["pactl", "list", "short", "modules"],
        capture_output=True,
        text=True,
        env={**os.environ, **server.env},
    ).stdout


def test_a_crashed_runs_microphone_is_removed_at_the_next_start(qtbot, pulse_server) -> None:  # noqa: F811
    code = "from mirage_desktop.voice.virtual_mic.pulse import PulseVirtualMic; PulseVirtualMic().open()"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, **pulse_server.env})
    assert "sink_name=mirage_sink" in _modules(pulse_server)  # the crashed process left it behind
    # voice stays off: the window's start-up alone removes it
    window = build_window(Settings(), AppPaths.from_env(), virtual_camera=False)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: "mirage_sink" not in _modules(pulse_server), timeout=WAIT_MS)
    assert "mirage_mic" not in _modules(pulse_server)
    window.quit()


def test_a_live_mirage_microphone_is_left_alone(pulse_server) -> None:  # noqa: F811
    from mirage_desktop.voice.virtual_mic.pulse import PulseVirtualMic

    live = PulseVirtualMic()
    live.open()
    try:
        assert remove_crashed_leftovers() == []
        assert "sink_name=mirage_sink" in _modules(pulse_server)
    finally:
        live.close()


def test_privacy_cover_switch_and_the_amber_real_face_warning(qtbot, testdata) -> None:
    import numpy as np

    from tests.recording_backend import register_recording_backend

    name, recording = register_recording_backend()
    settings = Settings()
    settings.video.source = f"file:{testdata / 'video' / 'talking_head_d0.mp4'}"
    settings.video.width, settings.video.height = 640, 360
    settings.output.virtual_camera_backend = name
    window = build_window(settings, AppPaths.from_env())
    qtbot.addWidget(window)
    window.show()
    c = window.controller
    try:
        # a face is chosen but no models are installed: the swap cannot run
        c.set_source_embedding(np.random.default_rng(0).normal(size=512).astype(np.float32), "someone")
        assert window.face_controls.privacy.isChecked()
        window.toggle()
        qtbot.waitUntil(
            lambda: c.metrics() is not None and c.metrics().processors.get("privacy_state") == "covered",
            timeout=WAIT_MS,
        )
        qtbot.waitUntil(lambda: window.on_air.property("state") == "live", timeout=WAIT_MS)
        qtbot.waitUntil(lambda: len(recording.frames) > 3, timeout=WAIT_MS)
        with recording.lock:
            sent = recording.frames[-1]
        assert sent.std() < 40  # a covered frame: flat dark blocks and a label, not a face

        window.face_controls.privacy.setChecked(False)  # the user accepts sending the real face
        assert not settings.face.privacy_cover
        qtbot.waitUntil(lambda: "real face" in window.on_air.text(), timeout=WAIT_MS)
        assert window.on_air.property("state") == "warn"
        assert c.metrics().processors.get("real_face_exposed") is True

        window.face_controls.privacy.setChecked(True)
        qtbot.waitUntil(lambda: "ON AIR" in window.on_air.text(), timeout=WAIT_MS)
    finally:
        c.shutdown()
        window.quit()
