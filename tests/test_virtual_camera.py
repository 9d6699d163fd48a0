"""The virtual camera sink: finding "Mirage Camera", the missing-driver path, the fix text."""

from __future__ import annotations

import platform
import time

import pytest

from mirage_desktop.engine.pipeline import Pipeline
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.sinks.base import SinkError
from mirage_desktop.sinks.recorder import RecorderSink
from mirage_desktop.sinks.virtual_camera import (
    VirtualCameraSink,
    driver_fix,
    find_loopback_device,
    plan_targets,
)
from mirage_desktop.sources.test_pattern import TestPatternSource
from mirage_desktop.system.virtual_camera_status import virtual_camera_status


def fake_sysfs(tmp_path, names: dict[int, str]):
    for n, name in names.items():
        d = tmp_path / f"video{n}"
        d.mkdir()
        (d / "name").write_text(name + "\n")
    return tmp_path


def test_label_maps_to_device_path(tmp_path):
    sysfs = fake_sysfs(tmp_path, {0: "Integrated Camera", 10: "Mirage Camera"})
    assert find_loopback_device("Mirage Camera", sysfs) == "/dev/video10"
    assert plan_targets("Mirage Camera", system="Linux", sysfs=sysfs)[0].device == "/dev/video10"


def test_unlabelled_loopback_is_used_with_a_note(tmp_path):
    sysfs = fake_sysfs(tmp_path, {0: "Integrated Camera", 2: "Dummy video device (0x0000)"})
    targets = plan_targets("Mirage Camera", system="Linux", sysfs=sysfs)
    assert targets[0].device is None and "labelled" in targets[0].note
    status = virtual_camera_status(system="Linux", sysfs=sysfs)
    assert status.ready and "/dev/video2" in status.message and "card_label" in status.fix


def test_windows_tries_unity_capture_under_our_name_then_obs():
    targets = plan_targets("Mirage Camera", system="Windows")
    assert [(t.backend, t.device) for t in targets] == [("unitycapture", "Mirage Camera"), ("obs", None)]
    assert "UnityCaptureName=Mirage Camera" in driver_fix("Windows")
    assert [t.backend for t in plan_targets(system="Darwin")] == ["obs"]


@pytest.mark.skipif(platform.system() != "Linux", reason="the real v4l2loopback backend exists only on Linux")
def test_no_driver_gives_the_exact_modprobe_line(tmp_path):
    sink = VirtualCameraSink(sysfs=tmp_path)  # real pyvirtualcam v4l2loopback backend, no module loaded here
    with pytest.raises(SinkError) as exc:
        sink.open(640, 480, 30)
    text = str(exc.value)
    assert "No v4l2 loopback device" in text  # what pyvirtualcam said
    assert 'modprobe v4l2loopback devices=1 video_nr=10 card_label="Mirage Camera" exclusive_caps=1' in text
    status = virtual_camera_status(sysfs=tmp_path)
    assert not status.ready and "modprobe" in status.fix


@pytest.mark.skipif(platform.system() != "Linux", reason="the real v4l2loopback backend exists only on Linux")
def test_loop_keeps_running_without_the_driver(tmp_path):
    """No virtual camera: the user is told how to fix it, and the other sinks keep working."""
    problems = []
    out = tmp_path / "rec.mp4"
    recorder = RecorderSink(out)
    pipeline = Pipeline(
        TestPatternSource(320, 240, 30),
        ProcessorChain([]),
        [VirtualCameraSink(sysfs=tmp_path), recorder],
        on_problem=lambda area, msg: problems.append(msg),
    )
    pipeline.start()
    time.sleep(1.0)
    pipeline.stop()
    assert any("modprobe" in p for p in problems)
    assert recorder.frames_written >= 20
    snap = pipeline.metrics()
    assert snap.sinks_active == ["recorder:rec.mp4"]
    assert any("modprobe" in p for p in snap.problems)


def test_unknown_pixel_format_is_refused():
    with pytest.raises(SinkError):
        VirtualCameraSink(pixel_format="P010")
