"""Real time under pressure: live on this machine's CPU, against the plain every-frame loop.

    .venv/bin/python scripts/bench_realtime.py [--trace-seconds 60] [--live-seconds 45] [--json]

1. The controller's trace under a slowed processor: a real Pipeline (1280×720 test pattern at
   30 fps) through a face-stage stand-in whose per-frame time follows its enhancer and processing
   size (it sleeps, so the trace does not depend on what else runs on these cores). From
   ``--slow-from`` to ``--slow-to`` seconds it becomes ``--slowdown``× slower.
2. CPU live at 720p, one face: the real face stage (FaceSwapProcessor) with stand-ins of the real
   models' cost, det_10g (9.76 GFLOPs at 640²) and inswapper_128 (174.7 G multiply-adds), on
   testdata/video/talking_head_d0.mp4 (--live-video) scaled to 1280×720, in two loops run here one
   after the other: the plain loop (every frame waits for its own swap: what other tools do live)
   and Mirage's (swap on its own thread with temporal reuse, pipelined detection, the controller).
   Each gives output fps, swap refresh rate, capture→sink latency p95 and what was published
   (privacy verdicts per frame: swapped / covered / ...).
3. The quality cost of reuse: face-region PSNR/SSIM of swapping every k-th frame (the same reuse,
   made deterministic) against swapping every frame, on the three testdata videos with dlib's faces
   and a stand-in swapper that keeps the target's expression and visibly changes the face.
4. The A/V offset through both real pipelines (scripts/bench_av_sync.py), with and without the delay.

``--json`` prints the keys cpu_live_fps_720p, cpu_swap_refresh_hz, cpu_latency_p95_ms, av_offset_ms
(and plain_loop_fps_720p for the comparison).
"""

from __future__ import annotations

import argparse
import dataclasses
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
from mirage_desktop.processing.face.reuse import background_threads
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


class Published(FrameSink):
    """What leaves Mirage: each new frame's privacy verdict and capture→sink age (repeats skipped)."""

    name = "published"

    def __init__(self) -> None:
        self.states: dict[str, int] = {}
        self.ages_ms: list[tuple[float, float]] = []  # (time written, age)
        self._last: Frame | None = None

    def open(self, width, height, fps):
        pass

    def write(self, frame: Frame) -> None:
        if frame is self._last:
            return
        self._last = frame
        now = time.perf_counter()
        self.states[frame.privacy or "none"] = self.states.get(frame.privacy or "none", 0) + 1
        self.ages_ms.append((now, (now - frame.captured_at) * 1000.0))

    def close(self):
        pass


def _p95(values: list[float]) -> float | None:
    return None if not values else float(np.percentile(values, 95))


def run_live(args: argparse.Namespace, log, mode: str) -> dict[str, Any]:
    """The live loop at 720p on the real face stage with full-cost stand-ins, in one of two modes:

    * ``plain``: every frame waits for its own swap, one thread after another (what every
      competitor's live loop does), no controller;
    * ``reuse``: temporal reuse on its own thread, detection in line with the paste, no controller;
    * ``mirage``: the shipped live path: swap on its own thread with temporal reuse, detection
      pipelined, adaptive quality on.
    """
    reuse = mode in ("reuse", "piped", "mirage")
    piped = mode in ("piped", "mirage")
    mirage = mode == "mirage"
    with tempfile.TemporaryDirectory(prefix="mirage-realtime-") as tmp:
        root = Path(tmp)
        print(f"[{mode}] building stand-in models ...", file=log, flush=True)
        det_path = build_scrfd_flops(root / "det_10g.onnx", obama_template(args.testdata))
        swap_path, swap_gmacs = inswapper.build_cost(root / "inswapper_cost.onnx", gmacs=args.swap_gmacs)
        files: dict[str, Path] = {}
        if args.enhancer:
            gflops = {
                "gpen_bfr_512": enhancers.GPEN_BFR_512_GFLOPS,
                "gpen_bfr_256": enhancers.GPEN_BFR_256_GFLOPS,
            }
            for eid, size in (("gpen_bfr_512", 512), ("gpen_bfr_256", 256)):
                files[eid] = enhancers.build_enhancer(
                    root / f"{eid}.onnx", size, kind="cost", gflops=gflops[eid]
                )
        factory = SessionFactory(ProviderConfig(requested="cpu"), intra_op_threads=args.threads)
        tracker = FaceTracker(ScrfdDetector(factory.create(det_path).session), detect_interval=5)
        # as build_face_swap_processor does: with reuse the swap thread gets one core fewer
        swap_factory = (
            dataclasses.replace(factory, intra_op_threads=background_threads()) if reuse else factory
        )
        parts = FaceSwapParts(
            tracker,
            FaceSwapper(swap_factory.create(swap_path), load_emap(swap_path)),
            FacePaster(),
            providers=["CPUExecutionProvider"],
            load_enhancer=lambda eid, fidelity: load_enhancer(eid, swap_factory, files.__getitem__, fidelity),
        )
        rng = np.random.default_rng(0)
        stage = FaceSwapProcessor(
            parts,
            source_embedding=rng.standard_normal(512),
            look=FaceLook(enhancer=args.enhancer),
            temporal_reuse=reuse,
        )
        # warm-up off the clock: the first run of each model allocates and plans its memory
        warm = cv2.resize(cv2.imread(str(args.testdata / "faces" / "obama.jpg")), (1280, 720))
        t0 = time.perf_counter()
        FaceSwapProcessor(parts, source_embedding=rng.standard_normal(512)).process(
            Frame(image=warm, index=0, captured_at=t0)
        )
        print(f"[{mode}] warm-up frame: {time.perf_counter() - t0:.1f} s", file=log, flush=True)
        source = Resized(VideoFileSource(args.testdata / "video" / args.live_video, loop=True), 1280, 720)
        sink = Published()
        pipeline = Pipeline(
            source,
            ProcessorChain([stage], privacy=PrivacyPolicy(enabled=True)),
            [sink],
            # the stand-in detector matches a template: below 384 px it takes dark patches for faces
            # (the real SCRFD does not), so the controller may not shrink detection that far here
            PipelineOptions(
                live=True, adaptive_quality=mirage, pipelined=piped, quality_pins=tuple(args.pin)
            ),
        )
        print(f"[{mode}] live loop at 1280×720 for {args.live_seconds:g} s ...", file=log, flush=True)
        started = time.perf_counter()
        rows = []
        pipeline.start()
        try:
            while time.perf_counter() - started < args.live_seconds:
                time.sleep(args.sample_s)
                row = sample(pipeline, started)
                row["refresh_hz"] = pipeline.metrics().processors.get("swap_refresh_hz")
                rows.append(row)
                if args.progress:
                    print(_row(rows[-1], 1.0), file=log, flush=True)
        finally:
            pipeline.stop(timeout=120.0)  # a frame in flight can take seconds on a busy CPU
        snap = pipeline.metrics()
        end_t = sink.ages_ms[-1][0] if sink.ages_ms else time.perf_counter()
        window = [(t, a) for t, a in sink.ages_ms if t >= end_t - args.measure_seconds]
        fps = (len(window) - 1) / max(1e-9, window[-1][0] - window[0][0]) if len(window) > 1 else 0.0
        c = snap.processors
        published = sum(sink.states.values())
        return {
            "mode": mode,
            "fps": fps,
            "rows": rows,
            "changes": changes(pipeline, started),
            "swap_gmacs": swap_gmacs,
            "frames_published": published,
            "published_states": dict(sink.states),
            "frames_swapped": c.get("frames_swapped", 0),
            "swaps_run": c.get("swaps_run"),
            "refresh_hz": c.get("swap_refresh_hz") if reuse else (fps if c.get("frames_swapped") else 0.0),
            "swap_ms": c.get("swap_ms"),
            "latency_ms_p95": _p95([a for _, a in window]),
            "stage_ms": snap.stage_ms,
            "late_dropped": c.get("late_dropped"),
            "load_average": _load_average(),
        }


class PatternSwapper:
    """A swapper stand-in that keeps the target's expression and visibly changes the face: the crop
    with a fixed zero-mean texture laid over it in aligned space (colour transfer, which matches
    mean and spread, cannot take it out). What reuse loses is then exactly the motion between swaps."""

    size, template, notice, name = 128, "arcface", None, "pattern"

    def __init__(self, strength: float = 40.0) -> None:
        rng = np.random.default_rng(7)
        texture = cv2.resize(rng.standard_normal((16, 16, 3)).astype(np.float32), (128, 128))
        self._texture = texture / max(1e-6, float(texture.std())) * strength

    def latent(self, normed: np.ndarray) -> np.ndarray:
        return np.asarray(normed, np.float32).reshape(1, -1)

    def swap(self, crop: np.ndarray, latent: np.ndarray) -> np.ndarray:
        return np.clip(crop.astype(np.float32) + self._texture, 0, 255).astype(np.uint8)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two BGR images on their luma (Wang et al. 2004: Gaussian σ 1.5, K1 0.01, K2 0.03)."""
    x = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z):
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(m.mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


REUSE_VIDEOS = ("talking_head_d0.mp4", "hamilton_clip.mp4", "talking_head_long_d9.mp4")


def run_reuse_quality(args: argparse.Namespace, log, intervals: list[int]) -> dict[str, Any]:
    """Face-region PSNR/SSIM of temporal reuse against swapping every frame, on the testdata videos.

    Faces and their 5 points come from dlib on every frame (a real tracker's job). Swapping every
    ``k``-th frame in line is the same reuse as the live thread's at a refresh of fps/k, made
    deterministic. The reference is the same stage swapping every frame."""
    from mirage_desktop.processing.face.face_swap import FaceSwapParts as Parts
    from mirage_desktop.testmodels.face_quality import DlibFaces, GivenFaces, detected_face

    dlib_faces = DlibFaces()
    per_video: dict[str, list[tuple[np.ndarray, Any]]] = {}
    for name in REUSE_VIDEOS:
        cap = cv2.VideoCapture(str(args.testdata / "video" / name))
        frames = []
        while len(frames) < args.quality_frames:
            ok, image = cap.read()
            if not ok:
                break
            found = dlib_faces.faces(image, upsample=0)
            if found:
                frames.append((image, detected_face(dlib_faces.kps5(found[0]), dlib_faces.box(found[0]))))
        cap.release()
        per_video[name] = frames
        print(f"[quality] {name}: {len(frames)} frames with a face", file=log, flush=True)

    def render(frames, every: int, live_mouth: bool = True, mouth_mask: bool = False) -> list[np.ndarray]:
        tracker = GivenFaces()
        stage = FaceSwapProcessor(
            Parts(tracker, PatternSwapper()),
            source_embedding=np.ones(512, np.float32),
            look=FaceLook(mouth_mask=mouth_mask),
        )
        stage.live_mouth = live_mouth
        stage.set_swap_interval(every)
        out = []
        for i, (image, face) in enumerate(frames):
            tracker.faces = [face]
            out.append(stage.process(Frame(image=image.copy(), index=i, captured_at=i / 30.0)).image)
        return out

    rows = []
    for name, frames in per_video.items():
        if not frames:
            continue
        # reuse with the live mouth is compared with swapping every frame with the mouth mask on (the
        # mouth is the camera's in both); reuse without it with swapping every frame without it
        references = {mouth: render(frames, 1, mouth_mask=mouth) for mouth in (True, False)}
        boxes = [tuple(int(v) for v in f.box) for _, f in frames]
        unswapped = [
            psnr(_crop(img, b), _crop(ref, b))
            for (img, _), ref, b in zip(frames, references[False], boxes, strict=True)
        ]
        cases = [(k, True) for k in intervals] + [(k, False) for k in intervals]
        for every, mouth in cases:
            reference = references[mouth]
            out = render(frames, every, mouth)
            p = [psnr(_crop(o, b), _crop(r, b)) for o, r, b in zip(out, reference, boxes, strict=True)]
            q = [ssim(_crop(o, b), _crop(r, b)) for o, r, b in zip(out, reference, boxes, strict=True)]
            finite = [v for v in p if np.isfinite(v)]
            rows.append(
                {
                    "video": name,
                    "every": every,
                    "live_mouth": mouth,
                    "refresh_hz_at_30fps": round(30.0 / every, 2),
                    "psnr_db": round(float(np.mean(finite)), 2) if finite else float("inf"),
                    "psnr_db_min": round(float(min(p)), 2),
                    "ssim": round(float(np.mean(q)), 4),
                    "ssim_min": round(float(min(q)), 4),
                    "swap_vs_camera_psnr_db": round(float(np.mean(unswapped)), 2),
                }
            )
    return {"rows": rows, "frames": {k: len(v) for k, v in per_video.items()}}


def _crop(image: np.ndarray, box: tuple[int, ...]) -> np.ndarray:
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    return image[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]


def run_av(args: argparse.Namespace, log) -> dict[str, Any] | None:
    """The A/V offset with and without the voice delay (scripts/bench_av_sync.py)."""
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_av_sync import measure_av_offset
    except ImportError as exc:
        return {"error": f"bench_av_sync is not available: {exc}"}
    try:
        return measure_av_offset(events=args.av_events, slow_ms=args.av_slow_ms)
    except Exception as exc:  # no PulseAudio here: the rest of the benchmark still counts
        print(f"A/V offset not measured: {exc}", file=log, flush=True)
        return {"error": str(exc)}


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


LOOP_LABELS = {
    "plain": "plain: every frame waits its swap",
    "reuse": "reuse, detection in line",
    "piped": "reuse + pipelined detection",
    "mirage": "Mirage: reuse + pipelined + ctrl",
}


def print_live(loops: list[dict[str, Any]], args) -> None:
    print(
        "\nCPU live at 1280×720, one face, swapper stand-in of "
        f"{loops[0].get('swap_gmacs', 0):.1f} GMACs ({args.live_video} looped, scaled to "
        f"1280×720), last {args.measure_seconds:g} s of each run"
    )
    print(f"{'loop':<34} {'fps out':>8} {'refresh Hz':>10} {'latency p95':>12} {'swap ms':>8}  published")
    for r in loops:
        lat = "n/a" if r["latency_ms_p95"] is None else f"{r['latency_ms_p95']:.0f} ms"
        swap_ms = r.get("swap_ms")
        swap = "n/a" if swap_ms is None else f"{swap_ms:.0f}"
        states = ", ".join(f"{k} {v}" for k, v in sorted(r["published_states"].items()))
        label = LOOP_LABELS[r["mode"]]
        print(f"{label:<34} {r['fps']:>8.2f} {r['refresh_hz'] or 0:>10.2f} {lat:>12} {swap:>8}  {states}")
    base = next((r for r in loops if r["mode"] == "plain"), None)
    if base and base["fps"] > 0:
        for r in loops:
            if r is not base:
                print(f"fps gained, {r['mode']} against plain: {r['fps'] / base['fps']:.1f}×")


def print_quality(result: dict[str, Any]) -> None:
    print("\nQuality cost of reuse: face-region PSNR / SSIM against swapping every frame (dlib faces)")
    print(
        f"{'video':<26} {'swap every':>10} {'≈ Hz at 30':>10} {'mouth':>6} {'PSNR dB':>8} {'min':>6} "
        f"{'SSIM':>7} {'min':>7}"
    )
    for r in result["rows"]:
        print(
            f"{r['video']:<26} {r['every']:>10} {r['refresh_hz_at_30fps']:>10.2f} "
            f"{'live' if r['live_mouth'] else 'old':>6} {r['psnr_db']:>8.2f} {r['psnr_db_min']:>6.1f} "
            f"{r['ssim']:>7.4f} {r['ssim_min']:>7.4f}"
        )
    if result["rows"]:
        print(
            "(the swap itself puts the face region at "
            f"{result['rows'][0]['swap_vs_camera_psnr_db']:.1f} dB from the camera)"
        )


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
    parser.add_argument("--live-seconds", type=float, default=45.0, help="0 = skip the 720p live loops")
    parser.add_argument(
        "--plain-seconds", type=float, default=30.0, help="the plain and unpipelined loops (0 = skip)"
    )
    parser.add_argument("--measure-seconds", type=float, default=15.0)
    parser.add_argument("--sample-s", type=float, default=2.0)
    parser.add_argument(
        "--live-video",
        default="talking_head_d0.mp4",
        help="testdata video for the live loops (the stand-in detector finds its face in every frame)",
    )
    parser.add_argument("--swap-gmacs", type=float, default=inswapper.INSWAPPER_GFLOPS)
    parser.add_argument("--enhancer", default="", help="enhancer in the live loops ('' = none, the goal's)")
    parser.add_argument(
        "--pin",
        action="append",
        default=["resolution"],
        help="knobs the controller leaves alone in the Mirage loop (default: resolution; see run_live)",
    )
    parser.add_argument("--threads", type=int, default=0, help="ORT intra-op threads (0 = all cores)")
    parser.add_argument("--quality-frames", type=int, default=90, help="frames per video (0 = skip)")
    parser.add_argument("--av-events", type=int, default=6, help="A/V flash+click events (0 = skip)")
    parser.add_argument("--av-slow-ms", type=float, default=200.0)
    parser.add_argument("--testdata", type=Path, default=TESTDATA)
    parser.add_argument("--progress", action="store_true", help="print each sample as it is taken")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    log = sys.stderr

    def profile(t: float) -> float:
        return args.slowdown if args.slow_from <= t < args.slow_to else 1.0

    trace = run_trace(args, log) if args.trace_seconds > 0 else {"rows": [], "changes": []}
    mirage = run_live(args, log, "mirage") if args.live_seconds > 0 else None
    others = argparse.Namespace(**{**vars(args), "live_seconds": args.plain_seconds})
    plain = run_live(others, log, "plain") if args.plain_seconds > 0 else None
    unpiped = run_live(others, log, "reuse") if args.plain_seconds > 0 else None
    piped = run_live(others, log, "piped") if args.plain_seconds > 0 else None
    intervals = [2, 5, 10, 30]
    if mirage and mirage.get("refresh_hz"):
        intervals.append(max(2, round(29.97 / mirage["refresh_hz"])))
    intervals = sorted(set(intervals))
    quality = run_reuse_quality(args, log, intervals) if args.quality_frames > 0 else None
    av = run_av(args, log) if args.av_events > 0 else None
    summary: dict[str, Any] = {
        "cpu_live_fps_720p": None if mirage is None else round(mirage["fps"], 2),
        "cpu_swap_refresh_hz": None if mirage is None else mirage["refresh_hz"],
        "cpu_latency_p95_ms": None
        if mirage is None or mirage["latency_ms_p95"] is None
        else round(mirage["latency_ms_p95"], 1),
        "av_offset_ms": None if not av or "error" in av else av.get("av_offset_ms"),
        "plain_loop_fps_720p": None if plain is None else round(plain["fps"], 2),
        "plain_loop_latency_p95_ms": None
        if plain is None or plain["latency_ms_p95"] is None
        else round(plain["latency_ms_p95"], 1),
        "controller_trace": trace,
        "live_720p": mirage,
        "plain_720p": plain,
        "reuse_unpipelined_720p": unpiped,
        "reuse_pipelined_720p": piped,
        "reuse_quality": quality,
        "av_sync": av,
    }
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
        return 0
    if trace["rows"]:
        print_table(
            f"Controller trace: 1280×720 test pattern at 30 fps, stand-in stage {args.slowdown:g}× slower "
            f"from {args.slow_from:g} s to {args.slow_to:g} s",
            trace,
            profile,
        )
    if mirage is not None:
        print_table("Mirage live loop at 1280×720 (reuse, pipelined, controller on)", mirage, lambda t: 1.0)
    loops = [r for r in (plain, unpiped, piped, mirage) if r is not None]
    if loops:
        print_live(loops, args)
    if quality is not None:
        print_quality(quality)
    if av is not None:
        if "error" in av:
            print(f"\nA/V offset: not measured ({av['error']})")
        else:
            from bench_av_sync import table as av_table

            print("\n" + av_table(av))
    keys = (
        "cpu_live_fps_720p",
        "cpu_swap_refresh_hz",
        "cpu_latency_p95_ms",
        "av_offset_ms",
        "plain_loop_fps_720p",
    )
    print("\n" + "  ".join(f"{k} = {summary[k]}" for k in keys))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
