"""Measuring the privacy cover: does a chosen face ever leave unswapped *and* uncovered?

Shared by ``scripts/bench_privacy.py`` and ``tests/test_privacy_cover.py``. The face path is the real
one (FaceTracker on the stand-in SCRFD, the stand-in inswapper that visibly changes the face, the
real paste-back, ProcessorChain with its PrivacyGuard), with faults injected around it:

* the detector path drops out: the tracker reports no face on a seeded random share of frames, and
  the detector inside it finds nothing on a share of its calls;
* the swapper returns None for a face on a share of frames;
* the swapper or the tracker raises at given frames (the chain then disables the face stage), and
  the chain can be rebuilt at given frames (the user restarting);
* the models are missing (the stage never starts).

Ground truth is an unperturbed detector run on each original frame, keeping the ``max_faces``
largest faces (the ones the face stage is set to swap; the others are counted apart). A face is
**leaked** when the published pixels in the middle of its box are mostly unchanged from the
original (``unchanged_share >= LEAK_SHARE``): neither swapped nor covered.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mirage_desktop.frame import Frame
from mirage_desktop.models.errors import ModelMissingError
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.processing.face.detector import ScrfdDetector
from mirage_desktop.processing.face.embedder import ArcFaceEmbedder
from mirage_desktop.processing.face.face_swap import FaceSwapParts, FaceSwapProcessor
from mirage_desktop.processing.face.paste import FacePaster
from mirage_desktop.processing.face.source_face import load_source_face
from mirage_desktop.processing.face.swapper import FaceSwapper, load_emap
from mirage_desktop.processing.face.tracker import FaceTracker
from mirage_desktop.processing.face.types import DetectedFace
from mirage_desktop.processing.privacy_cover import STATE_COVERED, PrivacyPolicy, pixelate
from mirage_desktop.runtime.onnx_session import SessionFactory
from mirage_desktop.runtime.providers import ProviderConfig

#: a pixel is "unchanged" within this many grey levels in every channel (no codec in between)
PIXEL_TOLERANCE = 2
#: a face whose box centre keeps at least this share of unchanged pixels went out as it was
LEAK_SHARE = 0.5
#: the middle of the face box that is compared (forehead-to-chin, cheek-to-cheek)
CORE = 0.2


@dataclass(frozen=True, slots=True)
class Faults:
    """What goes wrong during one run; frame indices count from 0 within the run.

    ``swap_raise_at``: the swapper raises on its first call at or after each of these frames (on a
    frame where no face was found it is not called); ``tracker_raise_at``: on exactly these frames.
    """

    drop_rate: float = 0.0
    detector_drop_rate: float = 0.0
    swap_none_rate: float = 0.0
    swap_raise_at: tuple[int, ...] = ()
    tracker_raise_at: tuple[int, ...] = ()
    restart_at: tuple[int, ...] = ()
    models_missing: bool = False
    seed: int = 0
    #: temporal reuse: a swap every this many frames, the latest one shown between (1 = every frame)
    swap_every: int = 1


@dataclass(slots=True)
class _Plan:
    """The run's frame counter and random source, shared by the fault wrappers of one run."""

    faults: Faults
    rng: random.Random
    index: int = 0
    fired: set[int] = field(default_factory=set)


class _DroppingDetector:
    def __init__(self, inner: ScrfdDetector, plan: _Plan) -> None:
        self.inner, self.plan = inner, plan

    def detect(self, image_bgr: np.ndarray, max_faces: int = 0) -> list[DetectedFace]:
        found = self.inner.detect(image_bgr, max_faces=max_faces)
        return [] if self.plan.rng.random() < self.plan.faults.detector_drop_rate else found


class _FlakyTracker:
    def __init__(self, inner: FaceTracker, plan: _Plan) -> None:
        self.inner, self.plan = inner, plan

    def update(self, image_bgr: np.ndarray, timestamp: float) -> list[DetectedFace]:
        if self.plan.index in self.plan.faults.tracker_raise_at:
            raise RuntimeError(f"injected tracker crash at frame {self.plan.index}")
        faces = self.inner.update(image_bgr, timestamp)  # always: keeps the tracker's state moving
        return [] if self.plan.rng.random() < self.plan.faults.drop_rate else faces

    def counters(self) -> dict[str, Any]:
        return self.inner.counters()


class _FlakySwapper:
    """FaceSwapper's interface (what FaceSwapProcessor uses) with injected failures."""

    def __init__(self, inner: FaceSwapper, plan: _Plan) -> None:
        self.inner, self.plan = inner, plan
        self.size, self.template = inner.size, inner.template

    @property
    def notice(self) -> str | None:
        return self.inner.notice

    @property
    def name(self) -> str:
        return self.inner.name

    def latent(self, normed_embedding: np.ndarray) -> np.ndarray:
        return self.inner.latent(normed_embedding)

    def swap(self, crop_bgr: np.ndarray, latent: np.ndarray) -> np.ndarray | None:
        due = [i for i in self.plan.faults.swap_raise_at if i <= self.plan.index and i not in self.plan.fired]
        if due:
            self.plan.fired.update(due)
            raise RuntimeError(f"injected swapper crash at frame {self.plan.index}")
        if self.plan.rng.random() < self.plan.faults.swap_none_rate:
            return None
        return self.inner.swap(crop_bgr, latent)


@dataclass(slots=True)
class BenchModels:
    """Stand-in models loaded once: the pipeline's parts are built from these per run."""

    det_path: Path
    detector: ScrfdDetector  # ground truth (never perturbed)
    swapper: FaceSwapper
    embedding: np.ndarray

    @classmethod
    def build(cls, folder: Path, testdata: Path) -> BenchModels:
        from mirage_desktop.testmodels import arcface, inswapper
        from mirage_desktop.testmodels.scrfd import build_scrfd, obama_template

        folder.mkdir(parents=True, exist_ok=True)
        det = build_scrfd(folder / "det_10g.onnx", obama_template(testdata))
        arc = arcface.build_arcface(folder / "w600k_r50.onnx")
        swap = inswapper.build_visible(folder / "inswapper_128.onnx")
        factory = SessionFactory(ProviderConfig(requested="cpu"))
        detector = ScrfdDetector(factory.create(det).session)
        embedding = load_source_face(
            testdata / "faces" / "obama.jpg", detector, ArcFaceEmbedder(factory.create(arc))
        ).embedding
        return cls(det, detector, FaceSwapper(factory.create(swap), load_emap(swap)), embedding)


@dataclass(slots=True)
class ClipResult:
    video: str
    scenario: str
    frames: int = 0
    faces: int = 0
    swapped: int = 0
    covered: int = 0
    leaked: int = 0
    leaked_frames: int = 0
    full_covers: int = 0
    #: the highest unchanged share among faces that were not leaked (distance to LEAK_SHARE)
    max_safe_share: float = 0.0
    #: the lowest unchanged share among leaked faces (the control shows real leaks near 1.0)
    min_leak_share: float = 1.0
    #: faces beyond max_faces (the stage never handles them: the tracker keeps max_faces tracks)
    others: int = 0
    others_raw: int = 0
    states: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def unchanged_share(published: np.ndarray, original: np.ndarray, box: np.ndarray) -> float | None:
    """Share of the detailed pixels in the middle of ``box`` that are the original's within
    PIXEL_TOLERANCE (None: the face is mostly outside the frame, or that part of it is flat)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    height, width = original.shape[:2]
    x0, x3 = max(0, int(x1 + CORE * w)), min(width, int(x2 - CORE * w))
    y0, y3 = max(0, int(y1 + CORE * h)), min(height, int(y2 - CORE * h))
    if x3 - x0 < 4 or y3 - y0 < 4:
        return None  # a face mostly outside the frame: nothing to judge
    region = original[y0:y3, x0:x3]
    diff = np.abs(published[y0:y3, x0:x3].astype(np.int16) - region.astype(np.int16))
    unchanged = diff.max(axis=2) <= PIXEL_TOLERANCE
    # only pixels that carry detail can give a face away: where the original is already as flat as
    # its own 5-block pixelation (a dark or blurred patch), a cover leaves it "unchanged" and hides
    # nothing; judged on those pixels alone, and not at all when there are too few of them
    flat = region.copy()
    pixelate(flat, (0, 0, region.shape[1], region.shape[0]), 5)
    detail = np.abs(region.astype(np.int16) - flat.astype(np.int16)).max(axis=2) > PIXEL_TOLERANCE
    if detail.sum() < max(16, 0.05 * detail.size):
        return None
    return float(unchanged[detail].mean())


def _boxes_overlap(a: np.ndarray, b: tuple[float, float, float, float]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def read_frames(video: Path, max_frames: int) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while len(frames) < max_frames:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames, float(fps)


def _chain(models: BenchModels, plan: _Plan, policy: PrivacyPolicy, max_faces: int) -> ProcessorChain:
    if plan.faults.models_missing:

        def missing() -> FaceSwapParts:
            raise ModelMissingError("The model inswapper_128 is not installed (injected).")

        proc = FaceSwapProcessor(loader=missing, source_embedding=models.embedding, max_faces=max_faces)
    else:
        tracker = FaceTracker(
            _DroppingDetector(ScrfdDetector(models.detector.session), plan), max_faces=max_faces
        )
        parts = FaceSwapParts(
            tracker=_FlakyTracker(tracker, plan),
            swapper=_FlakySwapper(models.swapper, plan),  # type: ignore[arg-type]
            paster=FacePaster(),
            providers=["CPUExecutionProvider"],
        )
        proc = FaceSwapProcessor(parts, source_embedding=models.embedding, max_faces=max_faces)
        proc.set_swap_interval(plan.faults.swap_every)
    chain = ProcessorChain([proc], privacy=policy)
    chain.start()
    return chain


def run_clip(
    video: Path,
    models: BenchModels,
    faults: Faults,
    *,
    scenario: str = "",
    policy: PrivacyPolicy | None = None,
    max_frames: int = 10_000,
    max_faces: int = 2,
    frames: list[np.ndarray] | None = None,
    fps: float | None = None,
) -> ClipResult:
    """Publish every frame of ``video`` through the faulty face path and count what leaked."""
    policy = policy or PrivacyPolicy()
    if frames is None:
        frames, fps = read_frames(video, max_frames)
    fps = fps or 30.0
    plan = _Plan(faults, random.Random(faults.seed))
    result = ClipResult(video=video.name, scenario=scenario)
    chain = _chain(models, plan, policy, max_faces)
    try:
        for index, original in enumerate(frames):
            if index in faults.restart_at:
                chain.close()
                chain = _chain(models, plan, policy, max_faces)
            plan.index = index
            # capture time as a live camera at the file's rate would stamp it
            frame = Frame(image=original.copy(), index=index, captured_at=index / fps)
            out = chain.process(frame)
            published = out.image
            result.frames += 1
            result.states[out.privacy or "none"] += 1
            full = out.privacy == STATE_COVERED and out.face_outcome is None
            result.full_covers += int(full)
            swapped_boxes = [f.box for f in (out.face_outcome.faces if out.face_outcome else ()) if f.swapped]
            leaked_here = False
            for rank, face in enumerate(models.detector.detect(original)):
                share = unchanged_share(published, original, face.box)
                if share is None:
                    continue
                if rank >= max_faces:
                    result.others += 1
                    result.others_raw += int(share >= LEAK_SHARE)
                    continue
                result.faces += 1
                if share >= LEAK_SHARE:
                    result.leaked += 1
                    result.min_leak_share = min(result.min_leak_share, share)
                    leaked_here = True
                    continue
                result.max_safe_share = max(result.max_safe_share, share)
                if not full and any(_boxes_overlap(face.box, b) for b in swapped_boxes):
                    result.swapped += 1
                else:
                    result.covered += 1
            result.leaked_frames += int(leaked_here)
    finally:
        result.problems = chain.problems()
        chain.close()
    return result


__all__ = [
    "LEAK_SHARE",
    "BenchModels",
    "ClipResult",
    "Faults",
    "read_frames",
    "run_clip",
    "unchanged_share",
]
