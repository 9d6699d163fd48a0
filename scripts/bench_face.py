"""Face pipeline benchmark: Mirage's path against insightface's reference path, same models, same frames.

    .venv/bin/python scripts/bench_face.py [--frames 20] [--ref-frames 4] [--e2e-frames 2] [--json]
    .venv/bin/python scripts/bench_face.py --stages-only [--stage-frames 4] [--heavy-frames 1] [--json]

Reference path = what Deep-Live-Cam-style tools run per frame: ``FaceAnalysis.get`` (detector on every
frame, then 2d106 + 1k3d68 landmarks, gender/age and ArcFace on every face) followed by
``INSwapper.get(paste_back=True)``. Mirage path = ``FaceSwapProcessor.process`` (detector every 5th
frame at ≤640 px, optical-flow tracking between, no per-frame analysis, ROI-only paste-back).

Both run the same stand-in models (real ONNX Runtime sessions, cost-matched to the real models; see
the FLOPs table printed first) on frames of testdata/video/hamilton_clip.mp4 resized to 640×360,
1280×720 and 1920×1080. Figure 1 uses an identity swapper (≈0 FLOPs) so it measures everything
except the swapper's inference; figure 2 uses a swapper stand-in of inswapper_128's full cost
(--swap-gmacs, 174.7 G multiply-adds) at 720p, for --e2e-frames frames per path.

Figure 3 (issue 11's face stages, ``--stages-only`` runs just this): at 720p, one row per stage set —
enhancer off / each enhancer, mask stages (box, ellipse, +mouth, +occlusion, +colour), inswapper vs
hyperswap, all faces vs map mode, and the default swapper + the fastest enhancer on every frame —
with per-stage ms and fps. The stand-ins are FLOP-matched (GPEN-BFR-256 8.6, GPEN-BFR-512 137.6,
GFPGAN 1.4 197.8, CodeFormer 404.9, hyperswap_1a_256 31.9, inswapper_128 174.7 G multiply-adds per
face; the table prints each stated figure next to what the stand-in's convs really cost). Rows with an
identity swapper isolate the stage they vary. Each row runs 1 warm-up frame, then --stage-frames
frames (--heavy-frames for rows with a ≥100 GMAC model: on 2 CPU cores one such frame takes seconds).
``--json`` adds ``stages_720p``, ``enhanced_fps_720p`` (that last row: every frame enhanced) and
``seam_delta_e_off`` / ``seam_delta_e_on``: mean CIEDE2000 across the pasted mask's border (pasted face
vs the frame's own colour on the border's inner ring, see testmodels/face_quality.py) for an oracle
swap of obama.jpg onto faces of talking_head_d0.mp4 and hamilton_clip.mp4 (dlib landmarks), without
and with colour transfer.

Needs the dev extras plus insightface (installed with --no-deps; see the report). Runs on CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from mirage_desktop.frame import Frame
from mirage_desktop.processing.face.detector import ScrfdDetector
from mirage_desktop.processing.face.embedder import ArcFaceEmbedder
from mirage_desktop.processing.face.face_swap import FaceSwapParts, FaceSwapProcessor
from mirage_desktop.processing.face.look import FaceLook
from mirage_desktop.processing.face.paste import FacePaster
from mirage_desktop.processing.face.source_face import load_source_face
from mirage_desktop.processing.face.swapper import FaceSwapper, load_emap
from mirage_desktop.processing.face.tracker import FaceTracker
from mirage_desktop.runtime.onnx_session import SessionFactory
from mirage_desktop.runtime.providers import ProviderConfig
from mirage_desktop.runtime.telemetry import create_session, onnxruntime_module
from mirage_desktop.testmodels import arcface, inswapper
from mirage_desktop.testmodels import enhancers as enh_models
from mirage_desktop.testmodels import hyperswap as hs_models
from mirage_desktop.testmodels.scrfd import build_scrfd_flops, conv_flops, obama_template

# the reference path (insightface) imports ORT too; importing Mirage first switched its telemetry off
ort = onnxruntime_module()

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"
SIZES = ((640, 360), (1280, 720), (1920, 1080))
CPU = ["CPUExecutionProvider"]
# real-model costs used for the stand-ins, in multiply-adds (see the printed table for sources)
GMACS = {
    "w600k_r50 (ArcFace R50, 112²)": arcface.ARCFACE_R50_GMACS,
    "1k3d68 (ResNet-50 @192², 3309 out)": 3.0,
    "2d106det (MobileNet-0.5 @192², 212 out)": 0.11,
    "genderage (MobileNet-0.25 @96², 3 out)": 0.01,
}


@dataclass
class PathResult:
    stages: dict[str, list[float]] = field(default_factory=dict)
    frame_ms: list[float] = field(default_factory=list)
    faces: int = 0
    psnr: float = float("nan")
    detections: int = 0

    def add(self, stage: str, ms: float) -> None:
        self.stages.setdefault(stage, []).append(ms)

    def mean(self, stage: str) -> float:
        values = self.stages.get(stage, [])
        return statistics.fmean(values) if values else 0.0

    def median(self, stage: str) -> float:
        """Per-face stage figures are medians: on a shared machine one stalled frame moves a mean of
        20 sub-millisecond values more than any change to the code does."""
        values = self.stages.get(stage, [])
        return statistics.median(values) if values else 0.0

    @property
    def total(self) -> float:
        return statistics.fmean(self.frame_ms) if self.frame_ms else float("nan")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def face_work(r: PathResult) -> float:
    """ms per frame of everything but face detection (the reference's own detect figure, Mirage's
    detect/track stage)."""
    detect = r.mean("detect") if "detect" in r.stages else r.mean("face.detect_track")
    return r.total - detect


def build_models(root: Path, testdata: Path) -> dict[str, Path]:
    pack = root / "models" / "bench_pack"
    pack.mkdir(parents=True)
    det = build_scrfd_flops(pack / "det_10g.onnx", obama_template(testdata))
    paths = {"det": det}
    paths["arcface"] = arcface.build_arcface(pack / "w600k_r50.onnx", gmacs=arcface.ARCFACE_R50_GMACS)
    heads = (
        ("2d106det.onnx", "data", "fc1", 192, 212, GMACS["2d106det (MobileNet-0.5 @192², 212 out)"]),
        ("1k3d68.onnx", "data", "fc1", 192, 3309, GMACS["1k3d68 (ResNet-50 @192², 3309 out)"]),
        ("genderage.onnx", "data", "fc1", 96, 3, GMACS["genderage (MobileNet-0.25 @96², 3 out)"]),
    )
    for name, inp, out, size, dim, gmacs in heads:
        paths[name], _ = arcface.build_head_model(
            pack / name, input_name=inp, output_name=out, size=size, out_dim=dim, gmacs=gmacs, batch=1
        )
    swap_dir = root / "swappers"
    paths["swap_identity"] = inswapper.build_identity(swap_dir / "inswapper_identity.onnx")
    return paths


def load_frames(testdata: Path, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(testdata / "video" / "hamilton_clip.mp4"))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise SystemExit("could not read testdata/video/hamilton_clip.mp4")
    return frames


#: figure 1's Mirage rows: the look each runs, and a swap every N frames (N > 1: the frames between
#: show the latest swap re-aligned, as live temporal reuse does)
MIRAGE_ROWS = {
    # what a user gets: ellipse, colour transfer, replace paste (the ratio and paste figures)
    "mirage": (FaceLook(), 1),
    "mirage, colour off": (FaceLook(color_transfer=False), 1),
    # the live path on a CPU: a swap every 5th frame, the latest swap shown between
    "mirage, reuse 1/5": (FaceLook(), 5),
    # the round trip against insightface's paste: "detail" without colour gives an unchanged face
    # back bit-exact, like the reference's identity case (the PSNR column)
    "mirage, round trip": (FaceLook(paste_mode="detail", color_transfer=False), 1),
}


def mirage_path(
    models: dict[str, Path],
    swap_path: Path,
    source: np.ndarray,
    threads: int,
    look: FaceLook | None = None,
    swap_every: int = 1,
):
    factory = SessionFactory(ProviderConfig(requested="cpu"), intra_op_threads=threads)
    det_model = factory.create(models["det"])
    tracker = FaceTracker(ScrfdDetector(det_model.session), detect_interval=5, max_faces=1, proc_max_dim=640)
    swapper = FaceSwapper(factory.create(swap_path), load_emap(swap_path))
    parts = FaceSwapParts(tracker, swapper, FacePaster(), providers=CPU)
    proc = FaceSwapProcessor(parts, source_embedding=source, max_faces=1, look=look or FaceLook())
    proc.set_swap_interval(swap_every)
    return proc


def run_mirage(proc: FaceSwapProcessor, frames: list[np.ndarray]) -> PathResult:
    return run_mirages({"mirage": proc}, frames)["mirage"]


def run_mirages(
    procs: dict[str, FaceSwapProcessor],
    frames: list[np.ndarray],
    between: Callable[[int], None] | None = None,
) -> dict[str, PathResult]:
    """Each processor on the same frames, frame by frame in turn: on a shared machine another
    program's load then falls on every row alike, and the rows compare within the run. ``between(i)``
    runs after frame i (the reference's frames, spread over the same stretch of time)."""
    results = {name: PathResult() for name in procs}
    for i, image in enumerate(frames):
        if between is not None:
            between(i)
        for name, proc in procs.items():
            result = results[name]
            frame = Frame(image=image.copy(), index=i, captured_at=time.perf_counter())
            t0 = time.perf_counter()
            frame = proc.process(frame)
            result.frame_ms.append((time.perf_counter() - t0) * 1000)
            faces = proc.counters()["swap_faces_last"]
            result.faces += faces
            for stage in ("face.detect_track", "face.swap", "face.mask", "face.paste"):
                result.add(stage, frame.stage_ms.get(stage, 0.0))
            if faces:
                result.add("paste_per_face", frame.stage_ms.get("face.paste", 0.0) / faces)
                # masks + colour: the per-face work the look adds between the swap and the paste
                result.add("mask_per_face", frame.stage_ms.get("face.mask", 0.0) / faces)
            if i == 0:
                result.psnr = psnr(frame.image, image)
    for name, proc in procs.items():
        results[name].detections = int(proc.counters().get("detections_run", 0))
    return results


class Reference:
    """insightface's FaceAnalysis + INSwapper on the same stand-ins."""

    def __init__(self, root: Path, swap_path: Path, threads: int) -> None:
        from insightface.app import FaceAnalysis
        from insightface.model_zoo.inswapper import INSwapper

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.app = FaceAnalysis(name=str(root / "models" / "bench_pack"), providers=CPU, sess_options=options)
        self.app.prepare(ctx_id=0, det_size=(640, 640))
        session = create_session(swap_path, options, CPU)
        self.swapper = INSwapper(model_file=str(swap_path), session=session)
        self.tasks = sorted(self.app.models)

    def run(self, frames: list[np.ndarray], source_embedding: np.ndarray) -> PathResult:
        result = PathResult()
        for i, image in enumerate(frames):
            self.run_frame(image, source_embedding, result, first=i == 0)
        return result

    def run_frame(
        self, image: np.ndarray, source_embedding: np.ndarray, result: PathResult, first: bool
    ) -> None:
        class Source:
            normed_embedding = source_embedding

        t0 = time.perf_counter()
        faces = self.app.get(image)
        t1 = time.perf_counter()
        out = image
        if faces:
            face = max(faces, key=lambda f: (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
            out = self.swapper.get(image, face, Source, paste_back=True)
        t2 = time.perf_counter()
        result.frame_ms.append((t2 - t0) * 1000)
        result.add("analysis", (t1 - t0) * 1000)
        result.add("swap+paste", (t2 - t1) * 1000)
        if faces:
            result.faces += 1
            # split detection from the per-face analysis, and paste-back from the swap
            d0 = time.perf_counter()
            self.app.det_model.detect(image, max_num=0, metric="default")
            d1 = time.perf_counter()
            self.swapper.get(image, face, Source, paste_back=False)
            d2 = time.perf_counter()
            result.add("detect", (d1 - d0) * 1000)
            result.add("per_face_models", (t1 - t0) * 1000 - (d1 - d0) * 1000)
            result.add("paste_per_face", (t2 - t1) * 1000 - (d2 - d1) * 1000)
        if first:
            result.psnr = psnr(out, image)


# --- face stages at 720p (issue 11) ---------------------------------------------------------------------
#: G multiply-adds per face of the real models the stage stand-ins are cost-matched to
STAGE_GMACS = {
    "gpen_bfr_256": enh_models.GPEN_BFR_256_GFLOPS,
    "gpen_bfr_512": enh_models.GPEN_BFR_512_GFLOPS,
    "gfpgan_1.4": enh_models.GFPGAN_1_4_GFLOPS,
    "codeformer": enh_models.CODEFORMER_GFLOPS,
    "hyperswap_1a_256": hs_models.HYPERSWAP_GFLOPS,
    "inswapper_128": inswapper.INSWAPPER_GFLOPS,
    "w600k_r50": arcface.ARCFACE_R50_GMACS,
}
STAGE_KEYS = ("face.detect_track", "face.swap", "face.enhance", "face.mask", "face.paste")
#: rows whose models cost at least this (G multiply-adds per face) run --heavy-frames frames
HEAVY_GMACS = 100.0


def conv_gmacs(path: Path) -> float:
    """Multiply-adds of every Conv and MatMul of a model with static shapes (what the stand-in costs)."""
    import onnx
    from onnx import shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*model.graph.value_info, *model.graph.output, *model.graph.input]
    }
    weights = {init.name: list(init.dims) for init in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            _, in_per_group, kh, kw = weights[node.input[1]]
            total += int(np.prod(shapes[node.output[0]])) * in_per_group * kh * kw
        elif node.op_type == "MatMul" and node.input[1] in weights:
            k = weights[node.input[1]][0]
            total += int(np.prod(shapes[node.output[0]])) * k
    return total / 1e9


@dataclass
class StageRow:
    name: str
    cost: str  # the FLOPs stated for the stand-ins in the row
    frames: int
    stages: dict[str, float]
    frame_ms: float
    faces: int
    enhanced_frames: int
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return 1000.0 / self.frame_ms if self.frame_ms > 0 else float("nan")


class _TimedEmbedder:
    """ArcFace for map mode, timed (its cost lands inside face.swap otherwise)."""

    def __init__(self, inner: ArcFaceEmbedder) -> None:
        self.inner = inner
        self.ms: list[float] = []

    def embed(self, image: np.ndarray, kps: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self.inner.embed(image, kps)
        finally:
            self.ms.append((time.perf_counter() - t0) * 1000.0)


def build_stage_models(root: Path) -> dict[str, Path]:
    d = root / "stages"
    paths: dict[str, Path] = {}
    for filename, (size, codeformer, gmacs) in enh_models.ENHANCER_FILES.items():
        stem = filename.removesuffix(".onnx")
        paths[stem] = enh_models.build_enhancer(
            d / filename, size, kind="cost", gflops=gmacs, codeformer=codeformer, name=f"{stem}_cost_stand_in"
        )
    paths["hyperswap_1a_256"] = hs_models.build_hyperswap(d / "hyperswap_1a_256.onnx", "cost")
    paths["inswapper_128"], _ = inswapper.build_cost(d / "inswapper_128.onnx")
    paths["inswapper_identity"] = inswapper.build_identity(d / "inswapper_identity.onnx")
    return paths


def stage_rows(
    args: argparse.Namespace, models: dict[str, Path], stage_models: dict[str, Path], source: np.ndarray
) -> list[StageRow]:
    from mirage_desktop.processing.face.enhancers import load_enhancer
    from mirage_desktop.processing.face.look import FaceLook
    from mirage_desktop.processing.face.swappers import load_swapper_model

    factory = SessionFactory(ProviderConfig(requested="cpu"), intra_op_threads=args.threads)
    det_model = factory.create(models["det"])

    def path(name: str) -> Path:
        return stage_models[name]

    count = max(args.stage_frames, args.heavy_frames) + 1
    frames = [cv2.resize(f, (1280, 720)) for f in load_frames(args.testdata, count)]
    swappers_cache: dict[str, object] = {}

    def get_swapper(name: str):
        if name not in swappers_cache:
            if name == "inswapper_identity":
                swappers_cache[name] = FaceSwapper(
                    factory.create(stage_models[name]), load_emap(stage_models[name])
                )
            else:
                swappers_cache[name] = load_swapper_model(name, factory, path)
        return swappers_cache[name]

    arc = ArcFaceEmbedder(factory.create(models["arcface"]))

    def row(
        name: str,
        swapper_name: str,
        look: FaceLook,
        heavy: bool,
        max_faces: int = 1,
        map_mode: bool = False,
    ) -> StageRow:
        tracker = FaceTracker(
            ScrfdDetector(det_model.session), detect_interval=5, max_faces=max_faces, proc_max_dim=640
        )
        embedder = _TimedEmbedder(arc) if map_mode else None
        parts = FaceSwapParts(
            tracker,
            get_swapper(swapper_name),
            providers=CPU,
            load_enhancer=lambda i, fid: load_enhancer(i, factory, path, fid),
            embedder=embedder,
        )
        proc = FaceSwapProcessor(parts, source_embedding=source, max_faces=max_faces, look=look)
        n = args.heavy_frames if heavy else args.stage_frames
        warm = proc.process(Frame(image=frames[0].copy(), index=0, captured_at=0.0))  # + first detection
        extra: dict[str, float] = {}
        if map_mode and embedder is not None:
            # map the largest face of the warm-up frame; the threshold sits halfway between it and
            # the most similar other face (the stand-in ArcFace is no real recogniser)
            faces = list(warm.face_outcome.faces) if warm.face_outcome else []
            found = tracker.update(frames[0], 0.0)
            target = max(found, key=lambda f: f.area)
            vector = arc.embed(frames[0], target.kps)
            others = [float(vector @ arc.embed(frames[0], f.kps)) for f in found if f is not target]
            threshold = (1.0 + max(others)) / 2.0 if others else 0.5
            proc.set_face_map([(vector, source, "largest")], threshold=threshold)
            embedder.ms.clear()
            extra["faces_in_frame"] = float(len(faces))
            extra["threshold"] = threshold
        before = proc.counters()["enhanced_frames"]
        stages: dict[str, list[float]] = {k: [] for k in STAGE_KEYS}
        frame_ms: list[float] = []
        faces = 0
        for i, image in enumerate(frames[1 : n + 1], start=1):
            frame = Frame(image=image.copy(), index=i, captured_at=i / 30.0)
            t0 = time.perf_counter()
            frame = proc.process(frame)
            frame_ms.append((time.perf_counter() - t0) * 1000.0)
            for k in STAGE_KEYS:
                stages[k].append(frame.stage_ms.get(k, 0.0))
            faces += proc.counters()["swap_faces_last"]
        counters = proc.counters()
        if map_mode and embedder is not None:
            extra["recognitions"] = float(len(embedder.ms))
            extra["recognise_ms_per_frame"] = sum(embedder.ms) / max(1, n)
            extra["map_bystanders"] = float(counters["map_bystanders"])
            extra["map_matched"] = float(counters["map_faces_matched"])
        cost = []
        if swapper_name != "inswapper_identity":
            cost.append(f"{swapper_name} {STAGE_GMACS[swapper_name]:.1f}")
        else:
            cost.append("identity swapper ≈0")
        if look.enhancer:
            cost.append(f"{look.enhancer} {STAGE_GMACS[look.enhancer]:.1f}")
        if map_mode:
            cost.append(f"w600k_r50 {STAGE_GMACS['w600k_r50']:.1f}/recognition")
        if counters["enhancer_state"] not in ("on", "off"):
            print(f"  {name}: enhancer {counters['enhancer_state']}", file=sys.stderr)
        return StageRow(
            name,
            " + ".join(cost) + " GMACs",
            n,
            {k: statistics.median(v) for k, v in stages.items()},
            statistics.median(frame_ms),
            faces,
            counters["enhanced_frames"] - before,
            extra,
        )

    rows = []
    base = FaceLook()  # ellipse, detail paste: the defaults
    rows.append(row("enhancer off", "inswapper_identity", base, heavy=False))
    for enhancer_id in ("gpen_bfr_256", "gpen_bfr_512", "gfpgan_1.4", "codeformer"):
        heavy = STAGE_GMACS[enhancer_id] >= HEAVY_GMACS
        rows.append(row(f"+ {enhancer_id}", "inswapper_identity", replace(base, enhancer=enhancer_id), heavy))
    masks_looks = (
        ("mask: box", replace(base, face_mask="box")),
        ("mask: ellipse", base),
        ("ellipse + mouth", replace(base, mouth_mask=True)),
        ("+ occlusion", replace(base, mouth_mask=True, occlusion_mask=True)),
        ("+ colour", replace(base, mouth_mask=True, occlusion_mask=True, color_transfer=True)),
    )
    for name, look in masks_looks:
        rows.append(row(name, "inswapper_identity", look, heavy=False))
    rows.append(row("swapper: inswapper_128", "inswapper_128", base, heavy=True))
    rows.append(row("swapper: hyperswap_1a_256", "hyperswap_1a_256", base, heavy=False))
    rows.append(row("all faces (max 4)", "inswapper_identity", base, heavy=False, max_faces=4))
    rows.append(
        row("map mode (1 mapped, max 4)", "inswapper_identity", base, heavy=False, max_faces=4, map_mode=True)
    )
    # the best enhancer (fastest per face) behind the default swapper at full cost, on every frame
    enh_rows = [r for r in rows if r.name.startswith("+ ") and r.enhanced_frames == r.frames]
    if enh_rows:
        best = min(enh_rows, key=lambda r: r.stages["face.enhance"]).name.removeprefix("+ ")
        rows.append(
            row(
                f"inswapper_128 + {best} (enhanced)",
                "inswapper_128",
                replace(base, enhancer=best),
                heavy=True,
            )
        )
    return rows


def seam_figures(args: argparse.Namespace, models: dict[str, Path]) -> dict[str, float]:
    """Mean CIEDE2000 across the pasted mask's border on testdata video, colour transfer off / on.

    The swap is the oracle (the source photo's own aligned face, obama.jpg) onto the videos' faces,
    found by dlib's detector + 68-point landmarks (the stand-in detector's landmarks are only a
    template match); default look otherwise (ellipse mask, detail paste).
    """
    from mirage_desktop.processing.face.look import FaceLook
    from mirage_desktop.testmodels.face_quality import (
        DlibFaces,
        GivenFaces,
        OracleSwapper,
        RecordingRenderer,
        detected_face,
        job_seam,
    )

    try:
        dlib_faces = DlibFaces()
    except (RuntimeError, ImportError) as exc:
        print(f"seam figures skipped: {exc}", file=sys.stderr)
        return {}
    photo = cv2.imread(str(args.testdata / "faces" / "obama.jpg"))
    (src,) = dlib_faces.faces(photo)[:1]
    oracle = OracleSwapper(photo, dlib_faces.kps5(src), 128)
    seams: dict[bool, list[float]] = {False: [], True: []}
    for video in ("talking_head_d0.mp4", "hamilton_clip.mp4"):
        cap = cv2.VideoCapture(str(args.testdata / "video" / video))
        index = 0
        taken = 0
        while taken < args.seam_frames:
            ok, image = cap.read()
            if not ok:
                break
            index += 1
            if index % 10:
                continue
            found = dlib_faces.faces(image, upsample=0 if image.shape[0] >= 720 else 1)
            if not found:
                continue
            face = detected_face(dlib_faces.kps5(found[0]), dlib_faces.box(found[0]))
            taken += 1
            for on in (False, True):
                parts = FaceSwapParts(GivenFaces([face]), oracle, providers=CPU)
                proc = FaceSwapProcessor(
                    parts, source_embedding=np.ones(512, np.float32), look=FaceLook(color_transfer=on)
                )
                renderer = RecordingRenderer()
                proc._renderer = renderer  # to read the final mask of the pasted face
                out = proc.process(Frame(image=image.copy(), index=index, captured_at=0.0)).image
                seams[on] += [job_seam(out, image, job) for job in renderer.jobs]
        cap.release()
    if not seams[False]:
        return {}
    return {
        "seam_delta_e_off": float(np.nanmean(seams[False])),
        "seam_delta_e_on": float(np.nanmean(seams[True])),
        "seam_faces": float(len(seams[False])),
    }


def colour_reuse_figures(args: argparse.Namespace) -> dict[str, float]:
    """Per-swap colour match (what frames showing an earlier swap use) against a per-frame match.

    On --colour-frames frames of each test video, dlib's landmarks per frame (the head moves), the
    oracle swap tinted (so the colour match has work to do), a swap every 5th frame and the latest
    swap shown between, default look (live mouth on): once with the swap's own colour match, once
    matched again on every frame. Face-region PSNR between the two outputs on the frames between
    swaps, and the seam ΔE of each.
    """
    from mirage_desktop.processing.face.job import SwapFinish
    from mirage_desktop.processing.face.reuse import SwapCache
    from mirage_desktop.testmodels.face_quality import (
        DlibFaces,
        GivenFaces,
        OracleSwapper,
        RecordingRenderer,
        TintSwapper,
        detected_face,
        job_seam,
    )

    class PerFrame(SwapCache):
        """Hands out each swap with an empty colour match: it is made again on every frame."""

        def find(self, *a, **k):
            found = super().find(*a, **k)
            return None if found is None else replace(found, finish=SwapFinish())

    if args.colour_frames <= 0:
        return {}
    try:
        dlib_faces = DlibFaces()
    except (RuntimeError, ImportError) as exc:
        print(f"colour reuse figures skipped: {exc}", file=sys.stderr)
        return {}
    photo = cv2.imread(str(args.testdata / "faces" / "obama.jpg"))
    (src,) = dlib_faces.faces(photo)[:1]
    swapper = TintSwapper(OracleSwapper(photo, dlib_faces.kps5(src), 128), (30.0, -10.0, -25.0))
    out: dict[str, float] = {}
    for video in ("talking_head_d0.mp4", "talking_head_long_d9.mp4", "hamilton_clip.mp4"):
        stages = {}
        for name, cache in (("swap", SwapCache()), ("frame", PerFrame())):
            tracker = GivenFaces()
            proc = FaceSwapProcessor(
                FaceSwapParts(tracker, swapper, providers=CPU), source_embedding=np.ones(512, np.float32)
            )
            proc.set_swap_interval(5)
            proc._cache = cache
            proc._renderer = RecordingRenderer()
            stages[name] = (proc, tracker)
        psnrs, seams, colour_ms = [], {"swap": [], "frame": []}, {"swap": [], "frame": []}
        cap = cv2.VideoCapture(str(args.testdata / "video" / video))
        index = 0
        while index < args.colour_frames:
            ok, image = cap.read()
            if not ok:
                break
            found = dlib_faces.faces(image, upsample=0 if image.shape[0] >= 720 else 1)
            if not found:
                continue
            face = detected_face(dlib_faces.kps5(found[0]), dlib_faces.box(found[0]), track_id=0)
            shown = {}
            for name, (proc, tracker) in stages.items():
                tracker.faces = [face]
                proc._renderer.jobs.clear()
                done = proc.process(Frame(image=image.copy(), index=index, captured_at=float(index)))
                jobs = list(proc._renderer.jobs)
                shown[name] = (done.image, jobs)
                if index % 5 and jobs:
                    seams[name].append(job_seam(done.image, image, jobs[0]))
                    colour_ms[name].append(jobs[0].ms.get("colour", 0.0))
            (a, jobs_a), (b, _) = shown["swap"], shown["frame"]
            if index % 5 and jobs_a:
                box = stages["swap"][0]._renderer.paster(jobs_a[0].size).roi(jobs_a[0].matrix, image.shape)
                if box is not None:
                    x0, y0, x1, y1 = box
                    psnrs.append(psnr(a[y0:y1, x0:x1], b[y0:y1, x0:x1]))
            index += 1
        cap.release()
        if psnrs:
            stem = video.removesuffix(".mp4")
            finite = [p for p in psnrs if np.isfinite(p)] or [float("inf")]
            out[f"{stem}_psnr_min_db"] = float(min(finite))
            out[f"{stem}_psnr_median_db"] = float(statistics.median(psnrs))
            out[f"{stem}_frames"] = float(len(psnrs))
            out[f"{stem}_seam_de_per_swap"] = float(np.nanmean(seams["swap"]))
            out[f"{stem}_seam_de_per_frame"] = float(np.nanmean(seams["frame"]))
            out[f"{stem}_colour_ms_per_swap"] = float(statistics.median(colour_ms["swap"]))
            out[f"{stem}_colour_ms_per_frame"] = float(statistics.median(colour_ms["frame"]))
    return out


def flops_table(models: dict[str, Path], swap_gmacs: float) -> list[tuple[str, str]]:
    det_gflops = conv_flops(models["det"], 640, 640) / 1e9
    rows = [("det_10g stand-in (engineer A's build_scrfd_flops), 640²", f"{det_gflops:.2f} GFLOPs (2×MACs)")]
    for name, g in GMACS.items():
        rows.append((name, f"{g:.2f} GMACs = {2 * g:.2f} GFLOPs"))
    rows.append(
        ("inswapper_128 cost stand-in, 128²", f"{swap_gmacs:.1f} GMACs = {2 * swap_gmacs:.1f} GFLOPs")
    )
    rows.append(("inswapper identity stand-in (figure 1)", "≈0"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=20, help="Mirage frames per resolution")
    parser.add_argument("--ref-frames", type=int, default=4, help="reference frames per resolution")
    parser.add_argument(
        "--e2e-frames", type=int, default=2, help="frames per path with the full-cost swapper"
    )
    parser.add_argument("--swap-gmacs", type=float, default=inswapper.INSWAPPER_GFLOPS)
    parser.add_argument("--threads", type=int, default=0, help="ORT intra-op threads (0 = all cores)")
    parser.add_argument("--testdata", type=Path, default=TESTDATA)
    parser.add_argument("--stage-frames", type=int, default=6, help="timed frames per face-stage row")
    parser.add_argument(
        "--heavy-frames",
        type=int,
        default=1,
        help=f"timed frames for rows with a ≥{HEAVY_GMACS:.0f} GMAC model",
    )
    parser.add_argument("--seam-frames", type=int, default=6, help="frames per video for the seam ΔE")
    parser.add_argument(
        "--colour-frames",
        type=int,
        default=30,
        help="frames per video for per-swap vs per-frame colour (0 = skip; with figure 1)",
    )
    parser.add_argument("--stages-only", action="store_true", help="only the face-stage rows and seam ΔE")
    parser.add_argument("--no-stages", action="store_true", help="skip the face-stage rows and seam ΔE")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    ort.set_default_logger_severity(3)
    log = sys.stderr if args.json else sys.stdout
    # insightface prints as it loads models: with --json, stdout carries the JSON alone
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        figures = measure(args, log)
    return report(args, *figures)


def measure(args: argparse.Namespace, log):

    fig1: dict[str, dict[str, PathResult]] = {}
    e2e: dict[str, PathResult] = {}
    colour: dict[str, float] = {}
    rows: list[StageRow] = []
    seams: dict[str, float] = {}
    stage_costs: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mirage-bench-") as tmp:
        root = Path(tmp)
        models = build_models(root, args.testdata)
        cpu = SessionFactory(ProviderConfig(requested="cpu"))
        embedder = ArcFaceEmbedder(cpu.create(models["arcface"]))
        source = load_source_face(
            args.testdata / "faces" / "obama.jpg", ScrfdDetector(cpu.create(models["det"]).session), embedder
        ).embedding
        if not args.stages_only:
            base = load_frames(args.testdata, max(args.frames, args.ref_frames, args.e2e_frames))
            reference = Reference(root, models["swap_identity"], args.threads)
            print(f"reference FaceAnalysis modules: {reference.tasks}", file=log)
            for w, h in SIZES:
                frames = [cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in base]
                proc = mirage_path(models, models["swap_identity"], source, args.threads)
                run_mirage(proc, frames[:2])  # warm-up
                procs = {
                    name: mirage_path(models, models["swap_identity"], source, args.threads, look, every)
                    for name, (look, every) in MIRAGE_ROWS.items()
                }
                ref = PathResult()
                ref_frames = frames[: args.ref_frames]
                step = max(1, args.frames // max(1, len(ref_frames)))

                def between(i: int, ref=ref, ref_frames=ref_frames, step=step) -> None:
                    # the reference's frames interleaved with Mirage's: the same load falls on both
                    if i % step == 0 and i // step < len(ref_frames):
                        reference.run_frame(ref_frames[i // step], source, ref, first=i == 0)

                paths = run_mirages(procs, frames[: args.frames], between)
                paths["reference"] = ref
                fig1[f"{w}x{h}"] = paths
            colour = colour_reuse_figures(args)
            if args.e2e_frames > 0:
                cost_path, _ = inswapper.build_cost(
                    root / "swappers" / "inswapper_cost.onnx", gmacs=args.swap_gmacs
                )
                frames = [cv2.resize(f, (1280, 720)) for f in base[: args.e2e_frames]]
                proc = mirage_path(models, cost_path, source, args.threads)
                run_mirage(proc, frames[:1])  # warm-up (and the first detection)
                e2e["mirage"] = run_mirage(proc, frames)
                e2e["reference"] = Reference(root, cost_path, args.threads).run(frames, source)
        if not args.no_stages:
            stage_models = build_stage_models(root)
            for name, stated in STAGE_GMACS.items():
                if name in stage_models:
                    stage_costs[name] = (stated, conv_gmacs(stage_models[name]))
            rows = stage_rows(args, models, stage_models, source)
            seams = seam_figures(args, models)
        flops = flops_table(models, args.swap_gmacs)
    return fig1, e2e, rows, seams, stage_costs, flops, colour


def report(args: argparse.Namespace, fig1, e2e, rows, seams, stage_costs, flops, colour) -> int:
    summary: dict[str, object] = {}
    if colour:
        summary["colour_per_swap_vs_per_frame"] = colour
    if fig1:
        m720, r720 = fig1["1280x720"]["mirage"], fig1["1280x720"]["reference"]
        summary |= {
            # the default look (colour on, ellipse, replace paste), every frame swapped
            "nonmodel_ratio_720p": r720.total / m720.total,
            "paste_ms_720p": m720.median("paste_per_face"),
            "mask_colour_ms_720p": m720.median("mask_per_face"),
            "paste_ms_720p_mean": m720.mean("paste_per_face"),
            "mask_colour_ms_720p_mean": m720.mean("mask_per_face"),
            "reference_paste_ms_720p": r720.mean("paste_per_face"),
            # the same without detection (which is most of both paths and varies with the clip)
            "face_work_ratio_720p": face_work(r720) / face_work(m720),
            "detections_720p": m720.detections,
            "frames_720p": len(m720.frame_ms),
            **{
                f"{key}_720p_{suffix}": value
                for name, suffix in (("mirage, colour off", "colour_off"), ("mirage, reuse 1/5", "reuse"))
                for key, value in (
                    ("nonmodel_ratio", r720.total / fig1["1280x720"][name].total),
                    ("paste_ms", fig1["1280x720"][name].median("paste_per_face")),
                    ("mask_colour_ms", fig1["1280x720"][name].median("mask_per_face")),
                )
            },
            "figure1": {
                res: {
                    path: {
                        "frame_ms": r.total,
                        "fps": 1000.0 / r.total,
                        "stages_ms": {k: statistics.fmean(v) for k, v in r.stages.items()},
                        "stages_median_ms": {k: statistics.median(v) for k, v in r.stages.items()},
                        "frames": len(r.frame_ms),
                        "faces_swapped": r.faces,
                        "psnr_identity_db": r.psnr,
                        "detections": r.detections,
                    }
                    for path, r in paths.items()
                }
                for res, paths in fig1.items()
            },
            "e2e_720p": {
                path: {"frame_ms": r.total, "fps": 1000.0 / r.total, "frames": len(r.frame_ms)}
                for path, r in e2e.items()
            },
        }
    summary |= {
        "swap_gmacs": args.swap_gmacs,
        "stand_in_costs": dict(flops),
        "cpu_threads": args.threads or "all",
    }
    if rows:
        enhanced = [r for r in rows if r.name.endswith("(enhanced)")]
        summary["stages_720p"] = {
            r.name: {
                "cost": r.cost,
                "frames": r.frames,
                "frame_ms": r.frame_ms,
                "fps": r.fps,
                "stages_ms": r.stages,
                "faces_swapped": r.faces,
                "enhanced_frames": r.enhanced_frames,
                **r.extra,
            }
            for r in rows
        }
        summary["stage_stand_in_gmacs"] = {
            k: {"stated": v[0], "stand_in": v[1]} for k, v in stage_costs.items()
        }
        if enhanced and enhanced[0].enhanced_frames == enhanced[0].frames:
            summary["enhanced_fps_720p"] = enhanced[0].fps
            summary["enhanced_fps_720p_row"] = enhanced[0].name
    summary |= seams
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
        return 0
    print("\nStand-in model costs (multiply-adds = MACs; FLOPs = 2×MACs)")
    for name, cost in flops:
        print(f"  {name:<58} {cost}")
    for name, (stated, got) in stage_costs.items():
        print(f"  {name + ' cost stand-in':<58} {stated:.1f} GMACs stated, {got:.1f} in the stand-in's convs")
    if fig1:
        m720, r720 = fig1["1280x720"]["mirage"], fig1["1280x720"]["reference"]
        print(
            "\nFigure 1: everything except the swapper's inference (identity swapper), ms per frame "
            "(mask+col and paste/face: medians per face; det: detections run)"
        )
        print(
            f"{'res':<10}{'path':<20}{'detect/track':>13}{'det':>5}{'analysis':>10}{'swap':>8}{'mask+col':>9}"
            f"{'paste/face':>11}{'frame':>9}{'fps':>8}{'PSNR':>7}  ratio (without detection)"
        )
        for res, paths in fig1.items():
            r = paths["reference"]
            for name in MIRAGE_ROWS:
                m = paths[name]
                print(
                    f"{res if name == 'mirage' else '':<10}{name:<20}{m.mean('face.detect_track'):>13.2f}"
                    f"{m.detections:>5}{0.0:>10.2f}{m.mean('face.swap'):>8.2f}{m.median('mask_per_face'):>9.3f}"
                    f"{m.median('paste_per_face'):>11.3f}{m.total:>9.2f}{1000 / m.total:>8.1f}"
                    f"{m.psnr:>7.1f}  "
                    f"{r.total / m.total:.1f}× cheaper ({face_work(r) / face_work(m):.1f}×)"
                )
            swap_only = r.mean("swap+paste") - r.mean("paste_per_face")
            print(
                f"{'':<10}{'reference':<20}{r.mean('detect'):>13.2f}{len(r.frame_ms):>5}"
                f"{r.mean('per_face_models'):>10.2f}{swap_only:>8.2f}{0.0:>9.3f}"
                f"{r.mean('paste_per_face'):>11.3f}{r.total:>9.2f}{1000 / r.total:>8.1f}{r.psnr:>7.1f}"
            )
        print(
            f"\nnonmodel_ratio_720p = {summary['nonmodel_ratio_720p']:.1f}  (target ≥ 15; default look, "
            f"colour on; {m720.detections} detections in {len(m720.frame_ms)} frames), without "
            f"detection {summary['face_work_ratio_720p']:.1f}×"
        )
        print(
            f"paste_ms_720p = {summary['paste_ms_720p']:.3f} ms per face (target ≤ 0.3; reference "
            f"{summary['reference_paste_ms_720p']:.2f} ms); masks + colour "
            f"{summary['mask_colour_ms_720p']:.3f} ms per face, with reuse 1/5 "
            f"{summary['mask_colour_ms_720p_reuse']:.3f} ms"
        )
    if colour:
        print("\nPer-swap colour match vs per-frame (frames between swaps, swap every 5th, dlib faces)")
        for stem in sorted({k.split("_psnr_min_db")[0] for k in colour if k.endswith("_psnr_min_db")}):
            c = {k.removeprefix(stem + "_"): v for k, v in colour.items() if k.startswith(stem + "_")}
            print(
                f"  {stem:<22} face-region PSNR min {c['psnr_min_db']:.1f} dB, median "
                f"{c['psnr_median_db']:.1f} dB over {c['frames']:.0f} frames; seam ΔE per swap "
                f"{c['seam_de_per_swap']:.2f} vs per frame {c['seam_de_per_frame']:.2f}; colour ms "
                f"{c['colour_ms_per_swap']:.3f} vs {c['colour_ms_per_frame']:.3f}"
            )
    if e2e:
        print(f"\nFigure 2: end to end at 1280×720 with a {args.swap_gmacs:.1f} GMAC/face swapper stand-in")
        for path, r in e2e.items():
            print(
                f"  {path:<10} {r.total:9.1f} ms/frame  {1000 / r.total:6.2f} fps  ({len(r.frame_ms)} frames)"
            )
        print(f"  speed-up: {e2e['reference'].total / e2e['mirage'].total:.2f}×")
    if rows:
        print(
            "\nFigure 3: face stages at 1280×720 (hamilton_clip), ms per frame; "
            "medians of N timed frames after 1 warm-up"
        )
        print(
            f"{'row':<40}{'N':>3}{'detect':>9}{'swap':>9}{'enhance':>9}{'mask':>7}{'paste':>7}"
            f"{'frame':>10}{'fps':>8}{'enh/N':>7}  FLOPs stated"
        )
        for r in rows:
            st = r.stages
            print(
                f"{r.name:<40}{r.frames:>3}{st['face.detect_track']:>9.1f}{st['face.swap']:>9.1f}"
                f"{st['face.enhance']:>9.1f}{st['face.mask']:>7.2f}{st['face.paste']:>7.2f}"
                f"{r.frame_ms:>10.1f}{r.fps:>8.2f}{r.enhanced_frames:>5}/{r.frames}  {r.cost}"
            )
            if r.extra:
                print(f"{'':<40}   " + ", ".join(f"{k} {v:.2f}" for k, v in r.extra.items()))
        if "enhanced_fps_720p" in summary:
            print(
                f"\nenhanced_fps_720p = {summary['enhanced_fps_720p']:.3f}  "
                f"({summary['enhanced_fps_720p_row']})"
            )
    if seams:
        print(
            f"seam_delta_e_off = {seams['seam_delta_e_off']:.2f}, "
            f"seam_delta_e_on = {seams['seam_delta_e_on']:.2f} (CIEDE2000 across the mask border, "
            f"oracle swap of obama.jpg on {seams['seam_faces']:.0f} video faces)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
