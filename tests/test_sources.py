"""Sources and what happens when they are missing or disappear."""

from __future__ import annotations

import itertools
import time

import cv2
import numpy as np
import pytest

from mirage_desktop.engine.pipeline import Pipeline
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.sinks.virtual_camera import VirtualCameraSink
from mirage_desktop.sources.base import Pacer, SourceError, SourceExhausted, SourceLost
from mirage_desktop.sources.camera import CameraSource
from mirage_desktop.sources.camera_list import list_cameras, list_v4l2_devices
from mirage_desktop.sources.fallback import FallbackSource
from mirage_desktop.sources.open import SourceSpec, make_source
from mirage_desktop.sources.test_pattern import TestPatternSource
from mirage_desktop.sources.video_file import VideoFileSource
from tests.recording_backend import register_recording_backend


def file_camera(path):
    """A real cv2.VideoCapture on a file: once the file ends, read() fails exactly like a
    camera whose cable was pulled."""
    return lambda device, api: cv2.VideoCapture(str(path))


class PacedCapture:
    """A file capture that delivers at a camera's pace (a device blocks until its next frame)."""

    def __init__(self, path, fps: float = 25.0) -> None:
        self._cap = cv2.VideoCapture(str(path))
        self._pacer = Pacer(fps)

    def isOpened(self) -> bool:
        return self._cap.isOpened()

    def read(self):
        self._pacer.wait()
        return self._cap.read()

    def set(self, prop, value) -> bool:
        return self._cap.set(prop, value)

    def get(self, prop) -> float:
        return self._cap.get(prop)

    def release(self) -> None:
        self._cap.release()


def test_spec_parsing():
    assert SourceSpec.parse("test") == SourceSpec("test")
    assert SourceSpec.parse("") == SourceSpec("test")
    assert SourceSpec.parse("0") == SourceSpec("camera", "0")
    assert SourceSpec.parse("camera:Logitech C920") == SourceSpec("camera", "Logitech C920")
    assert SourceSpec.parse("file:a.mp4") == SourceSpec("file", "a.mp4")
    assert SourceSpec.parse("/x/b.mp4") == SourceSpec("file", "/x/b.mp4")


def test_test_pattern_animates_and_is_paced():
    src = TestPatternSource(320, 240, fps=50)
    info = src.open()
    assert (info.width, info.height, info.kind) == (320, 240, "test")
    t0 = time.perf_counter()
    frames = [src.read() for _ in range(11)]
    elapsed = time.perf_counter() - t0
    assert elapsed == pytest.approx(0.2, abs=0.08)
    assert frames[0].image.shape == (240, 320, 3)
    assert not np.array_equal(frames[0].image, frames[10].image)
    assert [f.index for f in frames] == list(range(11))
    assert all(b.captured_at > a.captured_at for a, b in itertools.pairwise(frames))


def test_pacer_does_not_burst_after_a_stall():
    now = [0.0]
    slept = []

    def sleep(d):
        slept.append(d)
        now[0] += d

    pacer = Pacer(10, clock=lambda: now[0], sleep=sleep)
    pacer.wait()  # t=0 starts the schedule
    now[0] = 1.0  # stalled for a second
    pacer.wait()
    pacer.wait()
    assert slept == [pytest.approx(0.1)]  # one frame period after the late frame, no burst of 9


def test_video_file_loops_and_reports_its_fps(testdata):
    src = VideoFileSource(testdata / "video/talking_head_d0.mp4", loop=True, paced=False)
    info = src.open()
    assert info.fps == pytest.approx(25)
    for _ in range(80):
        frame = src.read()
    assert src.loops == 1
    assert frame.index == 79


def test_video_file_without_loop_is_exhausted(testdata):
    src = VideoFileSource(testdata / "video/talking_head_d0.mp4", loop=False, paced=False)
    src.open()
    n = 0
    with pytest.raises(SourceExhausted):
        while True:
            src.read()
            n += 1
    assert n == 78


def test_unreadable_and_missing_video_files_say_what_to_do(tmp_path):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("this is not a video")
    with pytest.raises(SourceError, match="convert"):
        VideoFileSource(bogus).open()
    with pytest.raises(SourceError, match="does not exist"):
        VideoFileSource(tmp_path / "missing.mp4").open()


def test_no_camera_gives_advice(tmp_path):
    cam = CameraSource(0, capture_factory=file_camera(tmp_path / "no-such-device"))
    with pytest.raises(SourceError, match=r"Cannot open camera 0\..*no other app"):
        cam.open()


def test_camera_by_unknown_name_lists_what_exists():
    with pytest.raises(SourceError, match="No camera named 'Imaginary Cam'"):
        CameraSource("Imaginary Cam").open()


def test_camera_lost_mid_stream_raises_source_lost(testdata):
    cam = CameraSource(
        0, capture_factory=file_camera(testdata / "video/talking_head_d0.mp4"), lost_after_s=0.2
    )
    info = cam.open()
    assert (info.width, info.height) == (512, 512)
    with pytest.raises(SourceLost, match="stopped delivering frames"):
        for _ in range(200):
            cam.read()
    assert cam.measured_fps > 0


def test_camera_lost_in_the_live_loop_falls_back_and_reconnects(testdata):
    """The camera disappears mid-stream: video keeps flowing (test pattern), the user is told,
    and when the camera is back the loop uses it again."""
    backend, rec = register_recording_backend()
    problems: list[tuple[str, str]] = []
    clip = testdata / "video/talking_head_d0.mp4"

    def camera():
        return CameraSource(0, capture_factory=lambda dev, api: PacedCapture(clip), lost_after_s=0.2)

    source = FallbackSource(camera, 512, 512, 25, retry_interval_s=0.5)
    pipeline = Pipeline(
        source,
        ProcessorChain([]),
        [VirtualCameraSink(backend=backend)],
        on_problem=lambda a, m: problems.append((a, m)),
    )
    source._on_problem = lambda m: pipeline.report("source", m)
    pipeline.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and source.reconnects < 1:
        time.sleep(0.05)
    time.sleep(0.5)  # let frames from the reconnected camera reach the sink
    pipeline.stop()
    assert source.reconnects >= 1
    assert any("stopped delivering frames" in m for _, m in problems)
    assert ("source", "") in problems  # cleared once the camera came back
    images = [f.reshape(512, 512, 3) for f in rec.frames]
    pattern = [
        i for i, img in enumerate(images) if tuple(img[5, 5]) == (192, 192, 192)
    ]  # the test pattern's bar
    camera = [i for i, img in enumerate(images) if tuple(img[5, 5]) != (192, 192, 192)]
    assert pattern, "the test pattern must stand in while the camera is away"
    assert camera[0] < pattern[0] < camera[-1], "camera, then pattern, then camera again"
    gaps = np.diff(rec.sent_at)
    # keep-alive resends the last frame after 1 s without a new one; never a longer stall
    assert gaps.max() < 1.5, "output must never stall while the camera is away"


def test_missing_camera_shows_test_pattern_with_the_reason(tmp_path):
    messages = []
    source = make_source(
        SourceSpec("file", str(tmp_path / "gone.mp4")),
        width=320,
        height=240,
        fps=30,
        on_problem=messages.append,
    )
    info = source.open()
    assert info.kind == "test"
    frame = source.read()
    assert frame.image.shape == (240, 320, 3)
    assert messages and "does not exist" in messages[0] and "test pattern" in messages[0]


def test_sysfs_camera_listing_skips_metadata_nodes_and_our_own_camera(tmp_path):
    def node(n, name, index="0"):
        d = tmp_path / f"video{n}"
        d.mkdir()
        (d / "name").write_text(name + "\n")
        (d / "index").write_text(index + "\n")

    node(0, "Integrated Camera: Integrated C")
    node(1, "Integrated Camera: Integrated C", index="1")
    node(10, "Mirage Camera")
    all_devices = list_v4l2_devices(tmp_path)
    assert [(d.index, d.is_virtual) for d in all_devices] == [(0, False), (10, True)]
    cams = list_cameras(tmp_path)
    assert [c.path for c in cams] == ["/dev/video0"]
