"""The live loop under pressure (issue 13): late frames dropped for lip sync, detection pipelined."""

from __future__ import annotations

import threading
import time

from mirage_desktop.engine.pipeline import Pipeline, PipelineOptions
from mirage_desktop.frame import Frame
from mirage_desktop.processing.base import FrameProcessor
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.sinks.base import FrameSink
from mirage_desktop.sources.test_pattern import TestPatternSource


class Shown(FrameSink):
    """Records each frame as it leaves Mirage: its age since capture (ms), repeats left out."""

    name = "shown"

    def __init__(self) -> None:
        self.ages: list[float] = []

    def open(self, width, height, fps):
        pass

    def write(self, frame: Frame) -> None:
        self.ages.append((time.perf_counter() - frame.captured_at) * 1000.0)

    def close(self):
        pass


class Spiky(FrameProcessor):
    """``ms`` per frame, and ``spike_ms`` on every ``every``-th frame (a GC pause, another app)."""

    name = "spiky"

    def __init__(self, ms: float, spike_ms: float = 0.0, every: int = 0) -> None:
        self.ms, self.spike_ms, self.every, self.n = ms, spike_ms, every, 0

    def process(self, frame: Frame) -> Frame:
        self.n += 1
        spike = self.every and self.n % self.every == 0
        time.sleep((self.spike_ms if spike else self.ms) / 1000.0)
        return frame


def _run(processor: FrameProcessor, seconds: float, **options) -> tuple[Pipeline, Shown]:
    sink = Shown()
    fps = options.pop("fps", 30.0)
    voice_ms = options.pop("voice_delay_ms", 0.0)
    pipeline = Pipeline(
        TestPatternSource(320, 180, fps=fps),
        ProcessorChain([processor]),
        [sink],
        PipelineOptions(live=True, **options),
    )
    pipeline.set_voice_delay_ms(voice_ms)
    pipeline.start()
    time.sleep(seconds)
    pipeline.stop()
    return pipeline, sink


def test_a_frame_later_than_its_voice_is_dropped_not_shown():
    pipeline, sink = _run(Spiky(5, spike_ms=320, every=12), 3.0)
    dropped = pipeline.metrics().processors["late_dropped"]
    assert dropped >= 3, dropped
    # what reached the call was never a spike frame (those are ≥ 320 ms old)
    assert max(sink.ages[1:]) < 300, sorted(sink.ages)[-5:]
    # the same run without the rule shows them
    _, control = _run(Spiky(5, spike_ms=320, every=12), 3.0, late_drop_ms=0)
    assert max(control.ages[1:]) >= 300


def test_the_voice_delay_moves_the_limit():
    # the voice waits 250 ms: a 320 ms frame is only 70 ms behind its voice, so it is shown
    pipeline, sink = _run(Spiky(5, spike_ms=320, every=12), 3.0, voice_delay_ms=250)
    m = pipeline.metrics().processors
    assert m["late_dropped"] == 0 and m["voice_delay_ms"] == 250
    assert max(sink.ages[1:]) >= 300


def test_steady_lateness_is_not_dropped_so_the_picture_never_freezes():
    # every frame 250 ms late (a slow machine the voice delay cannot cover): dropping would not help
    pipeline, sink = _run(Spiky(250), 4.0)
    dropped = pipeline.metrics().processors["late_dropped"]
    assert dropped <= 4, dropped  # only before the steady lateness is known
    assert len(sink.ages) >= 10  # ~4 fps shown, not one frame every FREEZE_GUARD_S


class TwoStep(FrameProcessor):
    """A stage with a look-ahead part (``prepare``, like face detection) and a main part."""

    name = "two_step"

    def __init__(self, prepare_ms: float, process_ms: float) -> None:
        self.prepare_ms, self.process_ms = prepare_ms, process_ms
        self.prepare_threads: set[str] = set()
        self.unprepared = 0
        self._busy = threading.Lock()
        self.overlapped = 0

    def prepare(self, frame: Frame) -> None:
        self.prepare_threads.add(threading.current_thread().name)
        if self._busy.locked():
            self.overlapped += 1  # the main part of the frame before runs right now
        time.sleep(self.prepare_ms / 1000.0)
        frame.faces = []

    def process(self, frame: Frame) -> Frame:
        with self._busy:
            if frame.faces is None:
                self.unprepared += 1
                time.sleep(self.prepare_ms / 1000.0)
            time.sleep(self.process_ms / 1000.0)
        return frame


def test_pipelined_detection_overlaps_the_frame_before():
    plain_stage, piped_stage = TwoStep(30, 30), TwoStep(30, 30)
    plain, _ = _run(plain_stage, 3.0, fps=60.0)
    piped, _ = _run(piped_stage, 3.0, fps=60.0, pipelined=True)
    plain_fps, piped_fps = plain.metrics().fps_out, piped.metrics().fps_out
    assert piped_stage.prepare_threads == {"mirage-prepare"}
    assert plain_stage.prepare_threads == set() and plain_stage.unprepared > 0
    assert piped_stage.unprepared <= 1 and piped_stage.overlapped > 10
    assert piped.metrics().processors["pipelined"] is True
    # 60 ms of work a frame in one line (~16 fps) against 30 ms a step side by side (~30 fps)
    assert piped_fps > 1.4 * plain_fps, (plain_fps, piped_fps)
    assert "capture→prepare" in piped.metrics().frames_dropped


class Ordered(Shown):
    def __init__(self) -> None:
        super().__init__()
        self.indices: list[int] = []

    def write(self, frame: Frame) -> None:
        super().write(frame)
        self.indices.append(frame.index)


def test_the_picture_floor_holds_a_fast_picture_for_a_slower_voice_without_losing_frames():
    sink = Ordered()
    pipeline = Pipeline(
        TestPatternSource(320, 180, fps=30.0),
        ProcessorChain([Spiky(2)]),
        [sink],
        PipelineOptions(live=True),
    )
    pipeline.set_picture_floor_ms(90)  # the voice takes 90 ms: the picture waits for it
    pipeline.start()
    time.sleep(3.0)
    snap = pipeline.metrics()
    ages = sink.ages[3:]  # (on stop, what is held goes out at once)
    pipeline.stop()
    assert min(ages) >= 89, min(ages)  # never sooner than the voice
    assert float(sorted(ages)[len(ages) // 2]) < 90 + 25  # and not much later
    assert snap.fps_out > 25, snap.fps_out  # held frames queue in order: none lost to the wait
    assert sink.indices == sorted(sink.indices)
    assert snap.processors["picture_floor_ms"] == 90
    pipeline.set_picture_floor_ms(10_000)
    assert pipeline.metrics().processors["picture_floor_ms"] == 300  # bounded


def test_the_planner_never_delays_both_sides():
    from mirage_desktop.gui.lip_sync import LipSyncPlanner

    planner = LipSyncPlanner()
    # the picture (measured with its floor) is faster than the voice: the picture waits, not the voice
    for _ in range(40):
        planner.update(video_latency_ms=75.0, voice_latency_ms=70.0)
    assert planner.floor_ms == 70.0 and planner.target_ms == 0.0
    # a slow picture: the voice waits for it, the floor stays the voice's own latency
    for _ in range(60):
        planner.update(video_latency_ms=270.0, voice_latency_ms=70.0)
    assert 190 <= planner.target_ms <= 200 and planner.floor_ms == 70.0
    planner.update(video_latency_ms=None, voice_latency_ms=70.0)  # the picture stopped
    assert planner.floor_ms == 0.0 and planner.target_ms == 0.0
    planner.enabled = False
    planner.update(80.0, 70.0)
    assert planner.floor_ms == 0.0
