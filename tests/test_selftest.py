"""The self-test a frozen build runs (`Mirage --self-test`), here from the source tree."""

from __future__ import annotations

from mirage_desktop import selftest
from mirage_desktop.gui.app import main as gui_main


def test_self_test_swaps_faces_and_builds_the_window(testdata):
    report = selftest.run(
        video=testdata / "video/talking_head_d0.mp4", face=testdata / "faces/obama.jpg", frames=6
    )
    assert report.ok, report.failures
    assert report.modules > 80
    assert report.frames == 6 and report.faces_swapped == 6
    assert report.window
    assert report.providers == ["CPUExecutionProvider"]
    assert abs(report.voice_hz - 252.0) < 4 and report.voice_route == "PulseAudio directly"
    assert report.media == "h264+aac"


def test_self_test_fails_loudly_when_a_face_cannot_be_swapped(testdata, tmp_path):
    no_face = tmp_path / "flat.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(no_face), np.full((200, 200, 3), 127, np.uint8))
    report = selftest.run(video=testdata / "video/talking_head_d0.mp4", face=no_face, frames=3)
    assert not report.ok
    assert any("face" in f for f in report.failures)


def test_gui_entry_point_dispatches_self_test(capsys):
    assert gui_main(["--self-test", "--frames", "3"]) == 0
    assert "self-test passed" in capsys.readouterr().out
