"""Adaptive quality: the ladder's order, degrading with hysteresis, restoring after 300 calm frames,
pins, spikes, back-off on restores that do not hold, the settings that configure it, the tracker's
live size change, and a real live pipeline held at its frame rate by the controller."""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np
import pytest

from mirage_desktop.config.settings import QUALITY_KNOBS, Settings, check_value
from mirage_desktop.engine.pipeline import Pipeline, PipelineOptions
from mirage_desktop.engine.quality import (
    AdaptiveQuality,
    Decision,
    QualityController,
    QualityLevel,
    build_ladder,
    p90_lower,
)
from mirage_desktop.frame import Frame
from mirage_desktop.processing.base import FrameProcessor
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.processing.face.look import FaceLook
from mirage_desktop.processing.face.tracker import FaceTracker
from mirage_desktop.processing.face.types import DetectedFace
from mirage_desktop.sinks.base import FrameSink
from mirage_desktop.sources.test_pattern import TestPatternSource

BASE = QualityLevel(enhancer="gpen_bfr_512", swap_every=1, max_fps=30.0, proc_max_dim=640)
ENHANCER_MS = {"codeformer": 90.0, "gfpgan_1.4": 60.0, "gpen_bfr_512": 45.0, "gpen_bfr_256": 9.0, "": 0.0}


def cost_model(level: QualityLevel) -> float:
    """Synthetic per-frame cost: the enhancer, swap work shared over the reused frames, and
    detection/tracking growing with the processing size (57 ms at BASE, 21 ms with gpen_bfr_256).
    The fps cap costs nothing: it only widens the budget."""
    return ENHANCER_MS[level.enhancer] + 8.0 / level.swap_every + 4.0 * (level.proc_max_dim / 640) ** 2


def overloaded(level: QualityLevel) -> float:
    return 100.0  # nothing fits, not even the last rung's 66.7 ms budget


def drive(
    controller: QualityController,
    frames: int,
    cost=cost_model,
    scale: float = 1.0,
    noise: float = 0.03,
    seed: int = 1,
    start: int = 0,
) -> list[tuple[int, Decision]]:
    """Feed ``frames`` frames whose time is cost(current level) × scale × (1 + noise·N(0,1))."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(start, start + frames):
        ms = cost(controller.current) * scale * (1.0 + noise * rng.standard_normal())
        decision = controller.observe(ms, i / 30.0)
        if decision is not None:
            out.append((i, decision))
    return out


# -- the ladder ----------------------------------------------------------------------------------------
def test_the_ladder_lowers_enhancer_then_swap_rate_then_fps_then_resolution():
    levels, notes = build_ladder(BASE, swap_reuse=True)
    knobs = [
        next(k for k in QUALITY_KNOBS if a.value(k) != b.value(k)) for a, b in itertools.pairwise(levels)
    ]
    assert knobs == ["enhancer"] * 2 + ["swap_rate"] * 2 + ["fps"] * 3 + ["resolution"] * 3
    assert [lv.enhancer for lv in levels[:3]] == ["gpen_bfr_512", "gpen_bfr_256", ""]
    assert [lv.swap_every for lv in levels[2:5]] == [1, 2, 3]
    assert [lv.max_fps for lv in levels[4:8]] == [30, 24, 20, 15]
    assert [lv.proc_max_dim for lv in levels[7:]] == [640, 512, 384, 256]
    assert levels[-1] == QualityLevel("", 3, 15.0, 256)
    assert notes == []
    codeformer, _ = build_ladder(dataclasses.replace(BASE, enhancer="codeformer"))
    assert [lv.enhancer for lv in codeformer[:3]] == ["codeformer", "gpen_bfr_256", ""]


def test_without_temporal_reuse_the_swap_rate_rung_is_skipped_and_said():
    levels, notes = build_ladder(BASE, swap_reuse=False)
    assert all(lv.swap_every == 1 for lv in levels)
    assert len(levels) == 1 + 2 + 3 + 3
    assert any(n.startswith("swap_rate: skipped") and "temporal reuse" in n for n in notes)


def test_fps_rungs_start_below_the_target_and_stop_at_the_minimum():
    levels, _ = build_ladder(QualityLevel("", 1, 25.0, 512), min_fps=20.0)
    assert [lv.max_fps for lv in levels] == [25, 24, 20, 20, 20]
    assert [lv.proc_max_dim for lv in levels] == [512, 512, 512, 384, 256]


def test_p90_ignores_one_slow_frame():
    assert p90_lower([10.0] * 9 + [500.0]) == 10.0
    assert p90_lower([10.0] * 27 + [500.0] * 3) == 10.0
    assert p90_lower([10.0] * 26 + [500.0] * 4) == 500.0


# -- degrading -----------------------------------------------------------------------------------------
def test_overload_degrades_in_order_one_step_at_a_time_with_hysteresis():
    controller = QualityController(BASE, swap_reuse=True)
    decisions = drive(controller, 600, cost=overloaded)
    assert [d.knob for _, d in decisions] == (
        ["enhancer"] * 2 + ["swap_rate"] * 2 + ["fps"] * 3 + ["resolution"] * 3
    )
    assert [d.level for _, d in decisions] == list(range(1, 11))
    gaps = np.diff([-1] + [i for i, _ in decisions])
    # each step waits for min_samples fresh frames plus overload_frames judgements over budget
    assert gaps.min() >= controller.min_samples + controller.overload_frames - 1
    assert controller.level == len(controller.levels) - 1
    first = decisions[0][1]
    assert first.reason.startswith("enhancer lowered: gpen_bfr_512 → gpen_bfr_256 (frame time p90")
    assert "over the 33.3 ms budget" in first.reason
    assert controller.counters()["quality_changes"] == 10


def test_it_stops_at_the_first_level_that_fits_and_stays_there():
    controller = QualityController(BASE, swap_reuse=False)
    # 57 ms with gpen_bfr_512, 21 ms with gpen_bfr_256: over, then under the 33.3 ms budget but over
    # 0.6 of it (20 ms), so neither another step down nor a restore
    decisions = drive(controller, 6000)
    assert [(d.knob, d.new) for _, d in decisions] == [("enhancer", "gpen_bfr_256")]
    assert controller.current.enhancer == "gpen_bfr_256"


def test_very_slow_frames_step_down_by_time_not_after_a_dozen_of_them():
    controller = QualityController(BASE, swap_reuse=True)
    steps = [i for i in range(60) if controller.observe(700.0, i * 0.7)]  # a 0.7 s swapper
    assert steps[:3] == [3, 7, 11]  # 3 frames once 1 s passed, then 2 over budget 0.5 s apart
    assert controller.level == len(controller.levels) - 1
    calm = QualityController(BASE)
    frames = [21.0] * 2 + [2000.0] + [21.0] * 40  # one 2 s stall among fitting frames
    t, decisions = 0.0, []
    for ms in frames:
        t += ms / 1000
        decisions.append(calm.observe(ms, t))
    assert decisions == [None] * len(frames)


def test_lowering_fps_widens_the_budget():
    controller = QualityController(QualityLevel("", 1, 30.0, 640), pins=("resolution",))
    decisions = drive(controller, 3000, cost=lambda lv: 45.0)  # over 33.3 and 41.7, under 50
    assert [d.new for _, d in decisions] == [24.0, 20.0]
    assert controller.budget_ms == pytest.approx(50.0)


def test_single_spikes_never_trigger():
    controller = QualityController(dataclasses.replace(BASE, enhancer="gpen_bfr_256"))
    spikes = [500.0 if i % 40 == 39 else 21.0 for i in range(4000)]
    assert [controller.observe(ms, i / 30) for i, ms in enumerate(spikes)] == [None] * 4000
    # back to back slow frames are a real overload and do
    assert any(controller.observe(60.0, 0.0) for _ in range(40))


# -- restoring -----------------------------------------------------------------------------------------
def test_recovery_restores_in_reverse_order_after_300_calm_frames():
    controller = QualityController(BASE, swap_reuse=True)
    drive(controller, 600, cost=overloaded)
    bottom = controller.level
    decisions = drive(controller, 6000, scale=0.3, start=600)
    assert [d.level for _, d in decisions] == list(range(bottom - 1, -1, -1))
    assert [d.knob for _, d in decisions] == (
        ["resolution"] * 3 + ["fps"] * 3 + ["swap_rate"] * 2 + ["enhancer"] * 2
    )
    steps = np.diff([600] + [i for i, _ in decisions])
    assert steps.min() >= 300 + controller.min_samples - 1
    assert controller.current == BASE
    assert "stayed under 60% of the" in decisions[0][1].reason
    assert decisions[-1][1].reason.startswith("enhancer restored: gpen_bfr_256 → gpen_bfr_512")


def test_one_slow_frame_does_not_reset_the_calm_count():
    controller = QualityController(QualityLevel("", 1, 30.0, 640), knobs=("fps",))
    drive(controller, 100, cost=lambda lv: 40.0)
    assert controller.current.max_fps == 24.0
    # the window forgets the 40 ms frames after ~27 cheap ones; 300 calm judgements later it
    # restores, well before frame 400 — a count reset by the slow frame 150 would wait to 450
    cheap = [10.0] * 400
    cheap[150] = 400.0
    decisions = [d for d in (controller.observe(ms, 0) for ms in cheap) if d]
    assert [d.new for d in decisions] == [30.0]


def test_a_restore_that_does_not_hold_backs_off_instead_of_flapping():
    # the full enhancer overruns, gpen_bfr_256 sits at 0.45 of the budget: restoring it fails
    cost = {"gpen_bfr_512": 50.0, "gpen_bfr_256": 15.0, "": 10.0}
    controller = QualityController(
        QualityLevel("gpen_bfr_512", 1, 30.0, 640), knobs=("enhancer",), restore_frames=300
    )
    decisions = drive(controller, 30000, cost=lambda lv: cost[lv.enhancer])
    restores = [i for i, d in decisions if not d.degrade]
    waits = np.diff(restores)
    assert all(b >= a for a, b in itertools.pairwise(waits))  # each wait at least as long as the last
    assert waits[-1] >= 8 * 300
    assert len(decisions) <= 32  # without the back-off it would change ~180 times in 30000 frames
    assert any("did not hold" in d.reason for _, d in decisions)


# -- pins ----------------------------------------------------------------------------------------------
def test_pinned_knobs_are_never_touched():
    controller = QualityController(BASE, swap_reuse=True, pins=("enhancer", "fps"))
    decisions = drive(controller, 1000, cost=overloaded)
    assert {d.knob for _, d in decisions} == {"swap_rate", "resolution"}
    assert controller.current.enhancer == "gpen_bfr_512" and controller.current.max_fps == 30
    assert "enhancer: pinned by the user" in controller.notes
    everything = QualityController(BASE, swap_reuse=True, pins=QUALITY_KNOBS)
    assert drive(everything, 1000, cost=overloaded) == [] and len(everything.levels) == 1


# -- settings ------------------------------------------------------------------------------------------
def test_settings_accept_known_pins_and_refuse_unknown_ones_and_bad_numbers():
    assert Settings().video.adaptive_quality is True
    assert check_value("video", "quality_pins", "enhancer, fps", "") == ("enhancer, fps", None)
    assert check_value("video", "quality_pins", "", "") == ("", None)
    value, why = check_value("video", "quality_pins", "fps,turbo", "")
    assert value is None and "turbo" in why and "resolution" in why
    for bad in (-1.0, 0.0, float("nan")):
        assert check_value("video", "quality_min_fps", bad, 15.0)[0] is None
    settings = Settings()
    settings.video.quality_pins = "enhancer,bogus"
    settings.video.quality_min_fps = -5.0
    fixed = settings.validate()
    assert settings.video.quality_pins == "" and settings.video.quality_min_fps == 15.0
    assert len(fixed) == 2 and "bogus" in fixed[0]


# -- applying decisions --------------------------------------------------------------------------------
class FakeInput:
    shape = (1, 3, "height", "width")


class FakeSession:
    def get_inputs(self):
        return [FakeInput()]


class FakeDetector:
    """Finds one face in the middle of whatever image it is given, and remembers the sizes."""

    def __init__(self) -> None:
        self.input_size = 640
        self.session = FakeSession()
        self.seen: list[tuple[int, int]] = []

    def detect(self, image, max_faces=0):
        h, w = image.shape[:2]
        self.seen.append((h, w))
        cx, cy, s = w / 2, h / 2, min(w, h) / 4
        kps = np.array(
            [
                [cx - s / 3, cy - s / 4],
                [cx + s / 3, cy - s / 4],
                [cx, cy],
                [cx - s / 4, cy + s / 3],
                [cx + s / 4, cy + s / 3],
            ],
            np.float32,
        )
        return [DetectedFace(np.array([cx - s, cy - s, cx + s, cy + s], np.float32), kps, 0.9)]


class FakeFaceStage(FrameProcessor):
    """A face stage whose per-frame time follows its look and tracker size (sleeps, not CPU)."""

    name = "fake_face"
    face_stage = True
    face_chosen = False

    def __init__(self, costs_ms: dict[str, float], enhancer: str, size_ms: float = 0.0) -> None:
        self.costs_ms = costs_ms
        self.size_ms = size_ms
        self.look = FaceLook(enhancer=enhancer)
        self.looks: list[str] = []
        self.tracker = FaceTracker(FakeDetector(), proc_max_dim=640)
        self.enhancer_state = "on"

    def set_look(self, look: FaceLook) -> None:
        self.look = look
        self.looks.append(look.enhancer)

    def process(self, frame: Frame) -> Frame:
        scale = (self.tracker.proc_max_dim / 640) ** 2
        time.sleep((self.costs_ms[self.look.enhancer] + self.size_ms * scale) / 1000.0)
        return frame


def test_decisions_reach_the_face_stage_the_tracker_the_detector_and_the_fps_cap():
    stage = FakeFaceStage({"gpen_bfr_512": 0, "gpen_bfr_256": 0, "": 0}, "gpen_bfr_512")
    caps: list[float] = []
    quality = AdaptiveQuality(stage, caps.append, 30.0, min_fps=15.0)
    assert "swap_rate" not in quality.controller.knobs  # the stage has no set_swap_interval
    for i in range(2000):
        quality.observe(500.0, i / 30)
    assert stage.looks == ["gpen_bfr_256", ""]
    assert caps == [24.0, 20.0, 15.0]
    assert stage.tracker.proc_max_dim == 256 and stage.tracker.detector.input_size == 320
    counters = quality.counters()
    assert counters["quality_level"] == counters["quality_levels"] - 1 == 8
    assert counters["quality_setting"] == "enhancer off, swap every frame, 15 fps, 256 px"
    assert counters["quality_budget_ms"] == pytest.approx(66.67)
    assert counters["quality_frame_ms_p90"] == 500.0 and counters["quality_detector_size"] == 320
    assert any("swap_rate: skipped" in n for n in counters["quality_notes"])
    for i in range(20000):
        quality.observe(1.0, i / 30)
    assert caps[-1] == 0.0 and stage.tracker.proc_max_dim == 640 and stage.looks[-1] == "gpen_bfr_512"
    assert stage.tracker.detector.input_size == 640 and quality.controller.level == 0


def test_the_user_changing_the_enhancer_starts_again_from_full_quality():
    stage = FakeFaceStage({}, "gpen_bfr_512")
    caps: list[float] = []
    quality = AdaptiveQuality(stage, caps.append, 30.0)
    for i in range(100):
        quality.observe(500.0, i / 30)
    assert quality.controller.level > 2 and caps
    stage.look = FaceLook(enhancer="codeformer")  # the user's choice, from the window
    decision = quality.observe(500.0, 5.0)
    assert decision is not None and decision.level == 0 and "changed to codeformer" in decision.reason
    assert caps[-1] == 0.0 and stage.tracker.proc_max_dim == 640
    assert [lv.enhancer for lv in quality.controller.levels[:3]] == ["codeformer", "gpen_bfr_256", ""]


def test_the_tracker_detects_afresh_when_its_size_changes_live():
    detector = FakeDetector()
    tracker = FaceTracker(detector, detect_interval=100, proc_max_dim=640)
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    for i in range(3):
        tracker.update(image, i / 30)
    runs = tracker.counters()["detections_run"]
    tracker.set_proc_max_dim(256)
    faces = tracker.update(image, 0.2)  # flow between a 640 and a 256 image would raise
    assert tracker.counters()["detections_run"] == runs + 1
    assert detector.seen[-1] == (144, 256)
    assert faces and abs(float(faces[0].box[0]) - 460) < 3  # mapped back to full resolution
    with pytest.raises(ValueError):
        tracker.set_proc_max_dim(10)


# -- live -------------------------------------------------------------------------------------------------
class TimesSink(FrameSink):
    name = "times"

    def __init__(self) -> None:
        self.times: list[float] = []

    def open(self, width, height, fps):
        pass

    def write(self, frame):
        self.times.append(time.perf_counter())

    def close(self):
        pass


def test_live_the_controller_brings_a_slowed_loop_back_to_its_frame_rate():
    # 25 fps source (40 ms budget); the look costs 90 ms a frame with gpen_bfr_512 (≈11 fps),
    # 48 ms with gpen_bfr_256, 12 ms without an enhancer
    stage = FakeFaceStage({"gpen_bfr_512": 90.0, "gpen_bfr_256": 48.0, "": 12.0}, "gpen_bfr_512")
    sink = TimesSink()
    pipeline = Pipeline(
        TestPatternSource(320, 240, fps=25.0),
        ProcessorChain([stage]),
        [sink],
        PipelineOptions(live=True, adaptive_quality=True),
    )
    pipeline.start()
    try:
        time.sleep(1.0)
        slow_fps = pipeline.metrics().fps_out
        deadline = time.perf_counter() + 8.0
        while time.perf_counter() < deadline and stage.look.enhancer:
            time.sleep(0.1)
        recovered_at = time.perf_counter()
        time.sleep(2.5)
        snap = pipeline.metrics()
    finally:
        pipeline.stop()
    assert slow_fps < 18, slow_fps
    assert stage.looks == ["gpen_bfr_256", ""], stage.looks
    late = [t for t in sink.times if t > recovered_at + 0.5]
    fps = (len(late) - 1) / (late[-1] - late[0])
    assert fps >= 25 * 0.85, fps
    assert snap.fps_out >= 25 * 0.85, snap.fps_out
    counters = snap.processors
    assert counters["quality_level"] == 2 and counters["quality_changes"] == 2
    assert counters["quality_reason"].startswith("enhancer lowered: gpen_bfr_256 → off")
    assert "quality 2/" in snap.summary()


def test_the_real_face_stage_takes_the_controllers_changes():
    from mirage_desktop.processing.face.face_swap import FaceSwapParts, FaceSwapProcessor

    class StandInEnhancer:
        def __init__(self, name: str) -> None:
            self.name, self.fidelity = name, 0.5

    parts = FaceSwapParts(
        tracker=FaceTracker(FakeDetector(), proc_max_dim=640),
        swapper=object(),
        load_enhancer=lambda enhancer_id, fidelity: StandInEnhancer(enhancer_id),
    )
    stage = FaceSwapProcessor(parts, look=FaceLook(enhancer="gpen_bfr_512", opacity=0.8))
    caps: list[float] = []
    quality = AdaptiveQuality(stage, caps.append, 30.0)
    # the face stage reuses its latest swap between swaps (temporal reuse): the swap-rate rung is there
    assert set(quality.controller.knobs) == {"fps", "enhancer", "resolution", "swap_rate"}
    deadline, i = time.perf_counter() + 10.0, 0
    while quality.controller.level < len(quality.controller.levels) - 1 and time.perf_counter() < deadline:
        quality.observe(500.0, i / 30)  # judged only once a newly chosen enhancer has loaded
        i += 1
        time.sleep(0.0005)
    assert stage.look == FaceLook(enhancer="", opacity=0.8)  # only the enhancer was changed
    assert stage.enhancer_state == "off"
    assert parts.tracker.proc_max_dim == 256 and caps == [24.0, 20.0, 15.0]
    assert stage.swap_interval == 3
