"""The real live loop: a testdata video through the processor chain into a virtual camera
backend (registered with pyvirtualcam) and a recorder."""

from __future__ import annotations

import itertools
import time

import cv2
import numpy as np
import pytest

from mirage_desktop.engine.pipeline import Pipeline, PipelineOptions
from mirage_desktop.frame import Frame
from mirage_desktop.processing.base import FrameProcessor
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.processing.debug_overlay import DebugOverlayProcessor
from mirage_desktop.processing.passthrough import PassThroughProcessor
from mirage_desktop.sinks.recorder import RecorderSink
from mirage_desktop.sinks.virtual_camera import VirtualCameraSink
from mirage_desktop.sources.video_file import VideoFileSource
from tests.recording_backend import register_recording_backend

CLIP = "video/talking_head_d0.mp4"  # 512×512 @ 25 fps, 78 frames


@pytest.fixture(scope="module")
def clip_frames(testdata) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(testdata / CLIP))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    assert len(frames) == 78
    return frames


def match_index(frame: np.ndarray, reference: list[np.ndarray]) -> int:
    """Index of the reference frame that ``frame`` is bit-identical to (-1 if none)."""
    for i, ref in enumerate(reference):
        if ref.shape == frame.shape and np.array_equal(ref, frame):
            return i
    return -1


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


class SlowProcessor(FrameProcessor):
    """Stands for a model slower than the camera: a real blur repeated until ``ms`` passed."""

    name = "slow"

    def __init__(self, ms: float) -> None:
        self.ms = ms

    def process(self, frame: Frame) -> Frame:
        end = time.perf_counter() + self.ms / 1000
        img = frame.image
        while time.perf_counter() < end:
            cv2.GaussianBlur(img, (5, 5), 0)
        return frame


def run_for(pipeline: Pipeline, seconds: float) -> None:
    pipeline.start()
    time.sleep(seconds)
    pipeline.stop()


def test_live_loop_delivers_source_frames_in_order_paced_with_latency(testdata, clip_frames):
    backend, rec = register_recording_backend()
    source = VideoFileSource(testdata / CLIP, loop=True, paced=True)
    sink = VirtualCameraSink(backend=backend)
    pipeline = Pipeline(source, ProcessorChain([PassThroughProcessor()]), [sink])
    run_for(pipeline, 2.5)

    assert rec.closed
    assert rec.opened["width"] == 512 and rec.opened["height"] == 512
    assert rec.opened["fps"] == pytest.approx(25.0)
    n = len(rec.frames)
    assert 45 <= n <= 66, n  # ~2.5 s at 25 fps
    images = [f.reshape(512, 512, 3) for f in rec.frames]
    indices = [match_index(img, clip_frames) for img in images]
    assert -1 not in indices, "every frame sent must be an unmodified source frame (BGR, pass-through)"
    steps = [(b - a) % len(clip_frames) for a, b in itertools.pairwise(indices)]
    assert all(s >= 1 for s in steps), f"frames out of order: {indices}"
    snap = pipeline.metrics()
    # A step >1 is a frame skipped by the newest-frame-wins hand-over; it must be counted.
    assert sum(s - 1 for s in steps) <= snap.dropped_total
    gaps = np.diff(rec.sent_at)
    assert np.median(gaps) == pytest.approx(1 / 25, rel=0.2)
    assert snap.frames_output == n
    assert snap.latency_ms_p50 is not None and 0 < snap.latency_ms_p50 < 100
    assert snap.latency_ms_p95 >= snap.latency_ms_p50
    assert snap.fps_in == pytest.approx(25, rel=0.2)
    assert rec.opened["device"] == "Mirage Camera"
    assert snap.sinks_active == [f"virtual_camera:{backend}:Mirage Camera"]


def test_slow_processing_drops_stale_frames_and_latency_stays_bounded(testdata):
    backend, _ = register_recording_backend()
    source = VideoFileSource(testdata / CLIP, loop=True, paced=True)
    pipeline = Pipeline(source, ProcessorChain([SlowProcessor(120)]), [VirtualCameraSink(backend=backend)])
    run_for(pipeline, 3.0)
    snap = pipeline.metrics()
    # 25 fps in, ~8 fps through: most frames must be skipped, and counted, not queued.
    assert snap.frames_dropped["capture→process"] >= snap.frames_captured * 0.4
    assert snap.frames_captured - snap.frames_processed - snap.dropped_total <= 3
    # Queueing would make latency grow by ~80 ms per frame; skipping keeps it near one processing time.
    assert snap.latency_ms_p95 < 400, snap.latency_ms_p95
    assert snap.stage_ms["slow"] >= 100


@pytest.mark.parametrize("fmt", ["RGB", "I420"])
def test_pixel_format_conversion(testdata, clip_frames, fmt):
    backend, rec = register_recording_backend()
    source = VideoFileSource(testdata / CLIP, loop=False, paced=False)
    sink = VirtualCameraSink(backend=backend, pixel_format=fmt)
    pipeline = Pipeline(source, ProcessorChain([]), [sink], PipelineOptions(live=False))
    pipeline.start()
    assert pipeline.wait(30)
    assert len(rec.frames) == len(clip_frames)
    for raw, ref in zip(rec.frames[::15], clip_frames[::15], strict=True):
        if fmt == "RGB":
            assert raw.size == 512 * 512 * 3
            assert np.array_equal(raw.reshape(512, 512, 3), ref[:, :, ::-1])
        else:
            assert raw.size == 512 * 512 * 3 // 2
            back = cv2.cvtColor(raw.reshape(512 * 3 // 2, 512), cv2.COLOR_YUV2BGR_I420)
            assert psnr(back, ref) > 35


def test_offline_processing_keeps_every_frame_in_order(testdata, clip_frames, tmp_path):
    backend, rec = register_recording_backend()
    out = tmp_path / "out.mp4"
    source = VideoFileSource(testdata / CLIP, loop=False, paced=False)
    pipeline = Pipeline(
        source,
        ProcessorChain([SlowProcessor(5)]),
        [VirtualCameraSink(backend=backend), RecorderSink(out)],
        PipelineOptions(live=False),
    )
    pipeline.start()
    assert pipeline.wait(60)
    indices = [match_index(f.reshape(512, 512, 3), clip_frames) for f in rec.frames]
    assert indices == list(range(len(clip_frames)))
    assert pipeline.metrics().dropped_total == 0
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(clip_frames)
    ok, first = cap.read()
    assert ok and first.shape == (512, 512, 3)
    assert psnr(first, clip_frames[0]) > 28  # lossy H.264, but the same picture


def test_overlay_draws_live_stats_onto_frames(testdata, clip_frames):
    backend, rec = register_recording_backend()
    source = VideoFileSource(testdata / CLIP, loop=True, paced=True)
    holder: list[Pipeline] = []
    overlay = DebugOverlayProcessor(lambda: holder[0].metrics())
    pipeline = Pipeline(source, ProcessorChain([overlay]), [VirtualCameraSink(backend=backend)])
    holder.append(pipeline)
    run_for(pipeline, 1.5)
    last = rec.frames[-1].reshape(512, 512, 3)
    # The HUD band at the top differs from every source frame; the rest of the picture is untouched.
    assert all(not np.array_equal(last[:20], ref[:20]) for ref in clip_frames)
    assert any(np.array_equal(last[60:], ref[60:]) for ref in clip_frames)


def test_metrics_json_round_trip(testdata):
    backend, _ = register_recording_backend()
    source = VideoFileSource(testdata / CLIP, loop=True, paced=True)
    pipeline = Pipeline(source, ProcessorChain([]), [VirtualCameraSink(backend=backend)])
    run_for(pipeline, 1.0)
    import json

    data = json.loads(pipeline.metrics().to_json())
    for key in (
        "fps_in",
        "fps_out",
        "latency_ms_p50",
        "latency_ms_p95",
        "stage_ms",
        "frames_dropped",
        "sinks_active",
    ):
        assert key in data
    assert data["latency_ms_p50"] > 0
    assert data["stage_ms"]["output"] >= 0
