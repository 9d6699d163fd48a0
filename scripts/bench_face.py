"""Face pipeline benchmark: Mirage's path against insightface's reference path, same models, same frames.

    .venv/bin/python scripts/bench_face.py [--frames 20] [--ref-frames 4] [--e2e-frames 2] [--json]

Reference path = what Deep-Live-Cam-style tools run per frame: ``FaceAnalysis.get`` (detector on every
frame, then 2d106 + 1k3d68 landmarks, gender/age and ArcFace on every face) followed by
``INSwapper.get(paste_back=True)``. Mirage path = ``FaceSwapProcessor.process`` (detector every 5th
frame at ≤640 px, optical-flow tracking between, no per-frame analysis, ROI-only paste-back).

Both run the same stand-in models (real ONNX Runtime sessions, cost-matched to the real models; see
the FLOPs table printed first) on frames of testdata/video/hamilton_clip.mp4 resized to 640×360,
1280×720 and 1920×1080. Figure 1 uses an identity swapper (≈0 FLOPs) so it measures everything
except the swapper's inference; figure 2 uses a swapper stand-in of inswapper_128's full cost
(--swap-gmacs, 174.7 G multiply-adds) at 720p, for --e2e-frames frames per path.

Needs the dev extras plus insightface (installed with --no-deps; see the report). Runs on CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mirage_desktop.frame import Frame
from mirage_desktop.processing.face.detector import ScrfdDetector
from mirage_desktop.processing.face.embedder import ArcFaceEmbedder
from mirage_desktop.processing.face.face_swap import FaceSwapParts, FaceSwapProcessor
from mirage_desktop.processing.face.paste import FacePaster
from mirage_desktop.processing.face.source_face import load_source_face
from mirage_desktop.processing.face.swapper import FaceSwapper, load_emap
from mirage_desktop.processing.face.tracker import FaceTracker
from mirage_desktop.runtime.onnx_session import SessionFactory
from mirage_desktop.runtime.providers import ProviderConfig
from mirage_desktop.runtime.telemetry import create_session, onnxruntime_module
from mirage_desktop.testmodels import arcface, inswapper
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

    def add(self, stage: str, ms: float) -> None:
        self.stages.setdefault(stage, []).append(ms)

    def mean(self, stage: str) -> float:
        values = self.stages.get(stage, [])
        return statistics.fmean(values) if values else 0.0

    @property
    def total(self) -> float:
        return statistics.fmean(self.frame_ms) if self.frame_ms else float("nan")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


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


def mirage_path(models: dict[str, Path], swap_path: Path, source: np.ndarray, threads: int):
    factory = SessionFactory(ProviderConfig(requested="cpu"), intra_op_threads=threads)
    det_model = factory.create(models["det"])
    tracker = FaceTracker(ScrfdDetector(det_model.session), detect_interval=5, max_faces=1, proc_max_dim=640)
    swapper = FaceSwapper(factory.create(swap_path), load_emap(swap_path))
    parts = FaceSwapParts(tracker, swapper, FacePaster(), providers=CPU)
    return FaceSwapProcessor(parts, source_embedding=source, max_faces=1)


def run_mirage(proc: FaceSwapProcessor, frames: list[np.ndarray]) -> PathResult:
    result = PathResult()
    for i, image in enumerate(frames):
        frame = Frame(image=image.copy(), index=i, captured_at=time.perf_counter())
        t0 = time.perf_counter()
        frame = proc.process(frame)
        result.frame_ms.append((time.perf_counter() - t0) * 1000)
        faces = proc.counters()["swap_faces_last"]
        result.faces += faces
        for stage in ("face.detect_track", "face.swap", "face.paste"):
            result.add(stage, frame.stage_ms.get(stage, 0.0))
        if faces:
            result.add("paste_per_face", frame.stage_ms.get("face.paste", 0.0) / faces)
        if i == 0:
            result.psnr = psnr(frame.image, image)
    return result


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

        class Source:
            normed_embedding = source_embedding

        for i, image in enumerate(frames):
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
            if i == 0:
                result.psnr = psnr(out, image)
        return result


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
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    ort.set_default_logger_severity(3)
    log = sys.stderr if args.json else sys.stdout

    with tempfile.TemporaryDirectory(prefix="mirage-bench-") as tmp:
        root = Path(tmp)
        models = build_models(root, args.testdata)
        cpu = SessionFactory(ProviderConfig(requested="cpu"))
        embedder = ArcFaceEmbedder(cpu.create(models["arcface"]))
        source = load_source_face(
            args.testdata / "faces" / "obama.jpg", ScrfdDetector(cpu.create(models["det"]).session), embedder
        ).embedding
        base = load_frames(args.testdata, max(args.frames, args.ref_frames, args.e2e_frames))
        reference = Reference(root, models["swap_identity"], args.threads)
        print(f"reference FaceAnalysis modules: {reference.tasks}", file=log)

        fig1: dict[str, dict[str, PathResult]] = {}
        for w, h in SIZES:
            frames = [cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in base]
            proc = mirage_path(models, models["swap_identity"], source, args.threads)
            run_mirage(proc, frames[:2])  # warm-up
            mirage = run_mirage(
                mirage_path(models, models["swap_identity"], source, args.threads), frames[: args.frames]
            )
            ref = reference.run(frames[: args.ref_frames], source)
            fig1[f"{w}x{h}"] = {"mirage": mirage, "reference": ref}

        e2e: dict[str, PathResult] = {}
        if args.e2e_frames > 0:
            cost_path, _ = inswapper.build_cost(
                root / "swappers" / "inswapper_cost.onnx", gmacs=args.swap_gmacs
            )
            frames = [cv2.resize(f, (1280, 720)) for f in base[: args.e2e_frames]]
            proc = mirage_path(models, cost_path, source, args.threads)
            run_mirage(proc, frames[:1])  # warm-up (and the first detection)
            e2e["mirage"] = run_mirage(proc, frames)
            e2e["reference"] = Reference(root, cost_path, args.threads).run(frames, source)
        flops = flops_table(models, args.swap_gmacs)

    m720, r720 = fig1["1280x720"]["mirage"], fig1["1280x720"]["reference"]
    summary = {
        "nonmodel_ratio_720p": r720.total / m720.total,
        "paste_ms_720p": m720.mean("paste_per_face"),
        "reference_paste_ms_720p": r720.mean("paste_per_face"),
        "figure1": {
            res: {
                path: {
                    "frame_ms": r.total,
                    "fps": 1000.0 / r.total,
                    "stages_ms": {k: statistics.fmean(v) for k, v in r.stages.items()},
                    "frames": len(r.frame_ms),
                    "faces_swapped": r.faces,
                    "psnr_identity_db": r.psnr,
                }
                for path, r in paths.items()
            }
            for res, paths in fig1.items()
        },
        "e2e_720p": {
            path: {"frame_ms": r.total, "fps": 1000.0 / r.total, "frames": len(r.frame_ms)}
            for path, r in e2e.items()
        },
        "swap_gmacs": args.swap_gmacs,
        "stand_in_costs": dict(flops),
        "cpu_threads": args.threads or "all",
    }
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
        return 0
    print("\nStand-in model costs (multiply-adds = MACs; FLOPs = 2×MACs)")
    for name, cost in flops:
        print(f"  {name:<58} {cost}")
    print("\nFigure 1: everything except the swapper's inference (identity swapper), ms per frame")
    print(
        f"{'res':<10}{'path':<10}{'detect/track':>13}{'analysis':>10}{'swap':>8}{'paste/face':>11}"
        f"{'frame':>9}{'fps':>8}{'PSNR':>7}  ratio"
    )
    for res, paths in fig1.items():
        m, r = paths["mirage"], paths["reference"]
        print(
            f"{res:<10}{'mirage':<10}{m.mean('face.detect_track'):>13.2f}{0.0:>10.2f}{m.mean('face.swap'):>8.2f}"
            f"{m.mean('paste_per_face'):>11.3f}{m.total:>9.2f}{1000 / m.total:>8.1f}{m.psnr:>7.1f}  "
            f"{r.total / m.total:.1f}× cheaper"
        )
        swap_only = r.mean("swap+paste") - r.mean("paste_per_face")
        print(
            f"{'':<10}{'reference':<10}{r.mean('detect'):>13.2f}{r.mean('per_face_models'):>10.2f}{swap_only:>8.2f}"
            f"{r.mean('paste_per_face'):>11.3f}{r.total:>9.2f}{1000 / r.total:>8.1f}{r.psnr:>7.1f}"
        )
    print(f"\nnonmodel_ratio_720p = {summary['nonmodel_ratio_720p']:.1f}  (target ≥ 10)")
    print(
        f"paste_ms_720p = {summary['paste_ms_720p']:.3f} ms per face (target ≤ 0.74; reference "
        f"{summary['reference_paste_ms_720p']:.2f} ms)"
    )
    if e2e:
        print(f"\nFigure 2: end to end at 1280×720 with a {args.swap_gmacs:.1f} GMAC/face swapper stand-in")
        for path, r in e2e.items():
            print(
                f"  {path:<10} {r.total:9.1f} ms/frame  {1000 / r.total:6.2f} fps  ({len(r.frame_ms)} frames)"
            )
        print(f"  speed-up: {e2e['reference'].total / e2e['mirage'].total:.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
