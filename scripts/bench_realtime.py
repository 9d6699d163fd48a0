"""Real time under pressure: the adaptive-quality controller live, on this machine's CPU.

    .venv/bin/python scripts/bench_realtime.py [--trace-seconds 60] [--live-seconds 45] [--json]

1. The controller's trace under a slowed processor: a real Pipeline (1280×720 test pattern at
   30 fps) through a face-stage stand-in whose per-frame time follows its enhancer and processing
   size (it sleeps, so the trace does not depend on what else runs on these cores). From
   ``--slow-from`` to ``--slow-to`` seconds it becomes ``--slowdown``× slower, as when another
   program takes the CPU; the table samples level, setting, output fps and frame-time p90.
2. ``cpu_live_fps_720p``: the live loop with the controller on, on the real face stage
   (FaceSwapProcessor) with stand-ins of the real models' size: det_10g (9.76 GFLOPs at 640²),
   inswapper_128 (174.7 G multiply-adds) and the GPEN-BFR-512 enhancer (137.6), on
   testdata/video/hamilton_clip.mp4 scaled to 1280×720, looping at its 29.97 fps. The figure is
   the output rate over the last ``--measure-seconds`` of the run.

Not measured here yet (issue 13 names them; they need temporal reuse and the A/V path):
``cpu_swap_refresh_hz``, ``cpu_latency_p95_ms``, ``av_offset_ms``, and the plain every-frame loop
beside the controlled one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mirage_desktop.engine.pipeline import Pipeline, PipelineOptions
from mirage_desktop.frame import Frame
from mirage_desktop.processing.base import FrameProcessor
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.processing.face.detector import ScrfdDetector
from mirage_desktop.processing.face.enhancers import load_enhancer
from mirage_desktop.processing.face.face_swap import FaceSwapParts, FaceSwapProcessor
from mirage_desktop.processing.face.look import FaceLook
from mirage_desktop.processing.face.paste import FacePaster
from mirage_desktop.processing.face.swapper import FaceSwapper, load_emap
from mirage_desktop.processing.face.tracker import FaceTracker
from mirage_desktop.processing.privacy_cover import PrivacyPolicy
from mirage_desktop.runtime.onnx_session import SessionFactory
from mirage_desktop.runtime.providers import ProviderConfig
from mirage_desktop.sinks.base import FrameSink
from mirage_desktop.sources.base import FrameSource, SourceInfo
from mirage_desktop.sources.test_pattern import TestPatternSource
from mirage_desktop.sources.video_file import VideoFileSource
from mirage_desktop.testmodels import enhancers, inswapper
from mirage_desktop.testmodels.scrfd import build_scrfd_flops, obama_template

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"
#: the trace's stand-in costs, ms per frame at full speed: fixed + enhancer + 6 × (size / 640)²
TRACE_FIXED_MS = 4.0
TRACE_ENHANCER_MS = {"gpen_bfr_512": 10.0, "gpen_bfr_256": 2.0, "": 0.0}
TRACE_SIZE_MS = 6.0


class SlowedFaceStage(FrameProcessor):
    """A face-stage stand-in: its time per frame follows the look and the tracker's size."""

    name = "slowed_face"
    face_stage = True
    face_chosen = False  # nothing to protect: the privacy guard stays idle

    def __init__(self, slowdown) -> None:
        self.look = FaceLook(enhancer="gpen_bfr_512")
        self.tracker = FaceTracker(_NoFaces(), proc_max_dim=640)
        self.enhancer_state = "on"
        self._slowdown = slowdown  # () -> factor, from the bench's load profile

    def set_look(self, look: FaceLook) -> None:
        self.look = look

    def cost_ms(self) -> float:
        size = TRACE_SIZE_MS * (self.tracker.proc_max_dim / 640) ** 2
        return (TRACE_FIXED_MS + TRACE_ENHANCER_MS.get(self.look.enhancer, 0.0) + size) * self._slowdown()

    def process(self, frame: Frame) -> Frame:
        time.sleep(self.cost_ms() / 1000.0)
        return frame


class _NoFaces:
    input_size = 640

    def detect(self, image, max_faces=0):
        return []


class NullSink(FrameSink):
    name = "null"

    def open(self, width, height, fps):
        pass

    def write(self, frame):
        pass

    def close(self):
        pass


class Resized(FrameSource):
    """Another source's frames scaled to width×height (testdata is 640×360; the goal is 720p)."""

    def __init__(self, inner: FrameSource, width: int, height: int) -> None:
        self.inner, self.size = inner, (width, height)

    def open(self) -> SourceInfo:
        info = self.inner.open()
        return SourceInfo(info.name, info.kind, *self.size, info.fps, info.detail)

    def read(self) -> Frame:
        frame = self.inner.read()
        frame.image = cv2.resize(frame.image, self.size, interpolation=cv2.INTER_LINEAR)
        return frame

    def close(self) -> None:
        self.inner.close()

    @property
    def info(self) -> SourceInfo | None:
        return self.inner.info


def sample(pipeline: Pipeline, started: float) -> dict[str, Any]:
    snap = pipeline.metrics()
    c = snap.processors
    return {
        "t_s": round(time.perf_counter() - started, 1),
        "level": c.get("quality_level"),
        "setting": c.get("quality_setting", ""),
        "fps_out": round(snap.fps_out, 1),
        "frame_ms_p90": c.get("quality_frame_ms_p90"),
        "budget_ms": c.get("quality_budget_ms"),
        "latency_ms_p95": None if snap.latency_ms_p95 is None else round(snap.latency_ms_p95, 1),
    }


def changes(pipeline: Pipeline, started: float) -> list[dict[str, Any]]:
    quality = pipeline.quality
    if quality is None:
        return []
    return [
        {"t_s": round(d.at - started, 2), "level": d.level, "reason": d.reason}
        for d in quality.controller.history
    ]


def run_trace(args: argparse.Namespace, log) -> dict[str, Any]:
    started = time.perf_counter()

    def slowdown() -> float:
        t = time.perf_counter() - started
        return args.slowdown if args.slow_from <= t < args.slow_to else 1.0

    pipeline = Pipeline(
        TestPatternSource(1280, 720, fps=30.0),
        ProcessorChain([SlowedFaceStage(slowdown)]),
        [NullSink()],
        PipelineOptions(live=True, adaptive_quality=True),
    )
    rows = []
    pipeline.start()
    try:
        while time.perf_counter() - started < args.trace_seconds:
            time.sleep(args.sample_s)
            rows.append(sample(pipeline, started))
            if args.progress:
                print(_row(rows[-1], slowdown()), file=log, flush=True)
    finally:
        pipeline.stop()
    return {"rows": rows, "changes": changes(pipeline, started)}


def run_live(args: argparse.Namespace, log) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mirage-realtime-") as tmp:
        root = Path(tmp)
        print("building stand-in models ...", file=log, flush=True)
        det_path = build_scrfd_flops(root / "det_10g.onnx", obama_template(args.testdata))
        swap_path, swap_gmacs = inswapper.build_cost(root / "inswapper_cost.onnx", gmacs=args.swap_gmacs)
        enhancer_path = enhancers.build_enhancer(
            root / "gpen_bfr_512.onnx", 512, kind="cost", gflops=enhancers.GPEN_BFR_512_GFLOPS
        )
        small_path = enhancers.build_enhancer(
            root / "gpen_bfr_256.onnx", 256, kind="cost", gflops=enhancers.GPEN_BFR_256_GFLOPS
        )
        files = {"gpen_bfr_512": enhancer_path, "gpen_bfr_256": small_path}
        factory = SessionFactory(ProviderConfig(requested="cpu"), intra_op_threads=args.threads)
        tracker = FaceTracker(ScrfdDetector(factory.create(det_path).session), detect_interval=5)
        parts = FaceSwapParts(
            tracker,
            FaceSwapper(factory.create(swap_path), load_emap(swap_path)),
            FacePaster(),
            providers=["CPUExecutionProvider"],
            load_enhancer=lambda eid, fidelity: load_enhancer(eid, factory, files.__getitem__, fidelity),
        )
        rng = np.random.default_rng(0)
        stage = FaceSwapProcessor(
            parts, source_embedding=rng.standard_normal(512), look=FaceLook(enhancer="gpen_bfr_512")
        )
        # warm-up off the clock: the first run of each model allocates and plans its memory
        warm = cv2.resize(cv2.imread(str(args.testdata / "faces" / "obama.jpg")), (1280, 720))
        t0 = time.perf_counter()
        stage.process(Frame(image=warm, index=0, captured_at=t0))
        print(f"warm-up frame: {time.perf_counter() - t0:.1f} s", file=log, flush=True)
        source = Resized(VideoFileSource(args.testdata / "video" / "hamilton_clip.mp4", loop=True), 1280, 720)
        pipeline = Pipeline(
            source,
            ProcessorChain([stage], privacy=PrivacyPolicy(enabled=True)),
            [NullSink()],
            PipelineOptions(live=True, adaptive_quality=True),
        )
        print(f"live loop at 1280×720 for {args.live_seconds:g} s ...", file=log, flush=True)
        started = time.perf_counter()
        rows = []
        pipeline.start()
        frames_at: list[tuple[float, int]] = []
        try:
            while time.perf_counter() - started < args.live_seconds:
                time.sleep(args.sample_s)
                rows.append(sample(pipeline, started))
                frames_at.append((time.perf_counter(), pipeline.metrics().frames_output))
                if args.progress:
                    print(_row(rows[-1], 1.0), file=log, flush=True)
        finally:
            pipeline.stop(timeout=120.0)  # a frame in flight can take seconds on a busy CPU
        snap = pipeline.metrics()
        end_t, end_n = frames_at[-1]
        begin = next((p for p in frames_at if p[0] >= end_t - args.measure_seconds), frames_at[0])
        fps = (end_n - begin[1]) / max(1e-9, end_t - begin[0])
        return {
            "fps": fps,
            "rows": rows,
            "changes": changes(pipeline, started),
            "swap_gmacs": swap_gmacs,
            "frames_output": snap.frames_output,
            "frames_swapped": snap.processors.get("frames_swapped", 0),
            "covered_frames": snap.processors.get("covered_frames"),
            "latency_ms_p95": snap.latency_ms_p95,
            "stage_ms": snap.stage_ms,
            "load_average": _load_average(),
        }


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _row(r: dict[str, Any], slow: float) -> str:
    p90 = "n/a" if r["frame_ms_p90"] is None else f"{r['frame_ms_p90']:.1f}"
    budget = "n/a" if r["budget_ms"] is None else f"{r['budget_ms']:.1f}"
    level = "-" if r["level"] is None else str(r["level"])
    return (
        f"{r['t_s']:>6.1f} {slow:>5.1f}× {level:>5} {r['fps_out']:>7.1f} {p90:>9} {budget:>8}  {r['setting']}"
    )


def print_table(title: str, result: dict[str, Any], profile) -> None:
    print(f"\n{title}")
    print(f"{'t s':>6} {'load':>6} {'level':>5} {'fps out':>7} {'p90 ms':>9} {'budget':>8}  setting")
    for r in result["rows"]:
        print(_row(r, profile(r["t_s"])))
    print("changes:")
    for c in result["changes"]:
        print(f"  {c['t_s']:>6.2f} s  → level {c['level']}: {c['reason']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trace-seconds", type=float, default=60.0)
    parser.add_argument("--slow-from", type=float, default=3.0)
    parser.add_argument("--slow-to", type=float, default=15.0)
    parser.add_argument(
        "--slowdown", type=float, default=7.0, help="how much slower, from --slow-from to --slow-to"
    )
    parser.add_argument("--live-seconds", type=float, default=45.0, help="0 = skip the 720p live loop")
    parser.add_argument("--measure-seconds", type=float, default=10.0)
    parser.add_argument("--sample-s", type=float, default=2.0)
    parser.add_argument("--swap-gmacs", type=float, default=inswapper.INSWAPPER_GFLOPS)
    parser.add_argument("--threads", type=int, default=0, help="ORT intra-op threads (0 = all cores)")
    parser.add_argument("--testdata", type=Path, default=TESTDATA)
    parser.add_argument("--progress", action="store_true", help="print each sample as it is taken")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    log = sys.stderr

    def profile(t: float) -> float:
        return args.slowdown if args.slow_from <= t < args.slow_to else 1.0

    trace = run_trace(args, log) if args.trace_seconds > 0 else {"rows": [], "changes": []}
    live = run_live(args, log) if args.live_seconds > 0 else None
    summary: dict[str, Any] = {
        "cpu_live_fps_720p": None if live is None else round(live["fps"], 2),
        "controller_trace": trace,
        "live_720p": live,
        "not_measured_yet": ["cpu_swap_refresh_hz", "cpu_latency_p95_ms", "av_offset_ms", "plain_loop"],
    }
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
        return 0
    print_table(
        f"Controller trace: 1280×720 test pattern at 30 fps, stand-in stage {args.slowdown:g}× slower "
        f"from {args.slow_from:g} s to {args.slow_to:g} s",
        trace,
        profile,
    )
    if live is not None:
        print_table(
            "Live loop at 1280×720, real face stage with stand-in models, controller on", live, lambda t: 1.0
        )
        print(
            f"\ncpu_live_fps_720p = {live['fps']:.2f} fps over the last {args.measure_seconds:g} s "
            f"({live['frames_output']} frames out, {live['frames_swapped']} swapped; swapper "
            f"{live['swap_gmacs']:.1f} GMACs/face; load average {live['load_average']})"
        )
    print("not measured yet: " + ", ".join(summary["not_measured_yet"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
