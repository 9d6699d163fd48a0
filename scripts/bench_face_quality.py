"""Face quality on real media: who does a real face recogniser see in the pasted face, and is there a seam?

    .venv/bin/python scripts/bench_face_quality.py [--frames 3] [--face-px 400] [--json]

A benchmark table, not a timed test. The swap is an *oracle*: a swapper (Swapper interface) that
returns the SOURCE photo's aligned crop whatever the target, at 128 (inswapper's crop) and at 256
(hyperswap's), so what is measured is only what Mirage's stages do with a perfect swap: the paste
blend, the face mask and colour transfer. Sources: testdata/faces/obama.jpg and biden.jpg; targets:
frames of testdata/video/talking_head_d0.mp4 and hamilton_clip.mp4 and the portraits
portrait_s0.jpg / portrait_s6.jpg, each scaled so the face is --face-px wide (the issue's 400 px
talking head). Faces and their 5 points come from dlib (HOG detector + 68 landmarks).

Per paste mode (detail / replace / mix) × face mask (box / ellipse) × colour transfer (off / on) ×
oracle size (128 / 256), averaged over every source × target pair:

* ``d_src`` / ``d_orig``: dlib ResNet descriptor distance of the output face to the source photo's
  face and to the target's original face (same person < 0.6; the recogniser refits its landmarks on
  the output, inside the original face's box);
* ``seam``: mean CIEDE2000 across the pasted mask's border (testmodels/face_quality.seam_delta_e);
* ``ghost``: correlation of the output's fine detail (σ 1.5 px high-pass) with the *original's* fine
  detail around the eyes: high = the target's own eyelids and eye contours show through the pasted
  face (the "double eyes" of the detail blend); 1.0 = the original eyes untouched.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import cv2
import numpy as np

from mirage_desktop.frame import Frame
from mirage_desktop.processing.face.face_swap import FaceSwapParts, FaceSwapProcessor
from mirage_desktop.processing.face.look import FaceLook
from mirage_desktop.processing.face.paste import PASTE_MODES
from mirage_desktop.testmodels.face_quality import (
    DlibFaces,
    GivenFaces,
    OracleSwapper,
    RecordingRenderer,
    detected_face,
    job_seam,
)

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"
SOURCES = ("obama.jpg", "biden.jpg")
PORTRAITS = ("portrait_s0.jpg", "portrait_s6.jpg")
VIDEOS = ("talking_head_d0.mp4", "hamilton_clip.mp4")
MASKS = ("box", "ellipse")
SIZES = (128, 256)


@dataclass
class Target:
    label: str
    image: np.ndarray
    face: object  # DetectedFace
    box: tuple[int, int, int, int]
    descriptor: np.ndarray
    eyes: list[tuple[int, int, int, int]]


@dataclass
class Cell:
    d_src: list[float] = field(default_factory=list)
    d_orig: list[float] = field(default_factory=list)
    seam: list[float] = field(default_factory=list)
    ghost: list[float] = field(default_factory=list)

    def mean(self, name: str) -> float:
        values = [v for v in getattr(self, name) if np.isfinite(v)]
        return statistics.fmean(values) if values else float("nan")


def _scaled(image: np.ndarray, dlib_faces: DlibFaces, face_px: int) -> tuple[np.ndarray, object] | None:
    found = dlib_faces.faces(image)
    if not found:
        return None
    x0, _, x1, _ = dlib_faces.box(found[0])
    scale = face_px / max(1, x1 - x0)
    image = cv2.resize(
        image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    )
    found = dlib_faces.faces(image, upsample=0)
    return (image, found[0]) if found else None


def _target(label: str, image: np.ndarray, dlib_faces: DlibFaces, face_px: int) -> Target | None:
    got = _scaled(image, dlib_faces, face_px)
    if got is None:
        return None
    image, shape = got
    kps = dlib_faces.kps5(shape)
    box = dlib_faces.box(shape)
    pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)])
    eyes = []
    for lo, hi in ((36, 42), (42, 48)):
        (ex0, ey0), (ex1, ey1) = pts[lo:hi].min(0), pts[lo:hi].max(0)
        w = ex1 - ex0
        eyes.append((int(ex0 - 0.35 * w), int(ey0 - 0.6 * w), int(ex1 + 0.35 * w), int(ey1 + 0.45 * w)))
    return Target(label, image, detected_face(kps, box), box, dlib_faces.descriptor(image, shape), eyes)


def load_targets(testdata: Path, dlib_faces: DlibFaces, frames: int, face_px: int) -> list[Target]:
    targets = []
    for name in VIDEOS:
        cap = cv2.VideoCapture(str(testdata / "video" / name))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 60
        for k in range(frames):
            cap.set(cv2.CAP_PROP_POS_FRAMES, int((k + 0.5) * total / frames))
            ok, image = cap.read()
            if ok and (t := _target(f"{name}#{k}", image, dlib_faces, face_px)) is not None:
                targets.append(t)
        cap.release()
    for name in PORTRAITS:
        image = cv2.imread(str(testdata / "faces" / name))
        if image is not None and (t := _target(name, image, dlib_faces, face_px)) is not None:
            targets.append(t)
    return targets


def _high_pass(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return grey - cv2.GaussianBlur(grey, (0, 0), 1.5)


def ghost(out: np.ndarray, original: np.ndarray, eyes: list[tuple[int, int, int, int]]) -> float:
    a, b = _high_pass(out), _high_pass(original)
    va, vb = [], []
    for x0, y0, x1, y1 in eyes:
        va.append(a[max(0, y0) : y1, max(0, x0) : x1].ravel())
        vb.append(b[max(0, y0) : y1, max(0, x0) : x1].ravel())
    x, y = np.concatenate(va), np.concatenate(vb)
    x, y = x - x.mean(), y - y.mean()
    return float((x @ y) / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-9))


def run(args: argparse.Namespace) -> dict:
    dlib_faces = DlibFaces()
    sources = {}
    for name in SOURCES:
        photo = cv2.imread(str(args.testdata / "faces" / name))
        (shape,) = dlib_faces.faces(photo)[:1]
        sources[name] = (photo, dlib_faces.kps5(shape), dlib_faces.descriptor(photo, shape))
    targets = load_targets(args.testdata, dlib_faces, args.frames, args.face_px)
    print(f"{len(targets)} target faces: {', '.join(t.label for t in targets)}", file=sys.stderr)
    cells: dict[tuple, Cell] = {}
    baseline = Cell()
    for (src_name, (photo, kps, src_desc)), target in product(sources.items(), targets):
        baseline.d_src.append(float(np.linalg.norm(target.descriptor - src_desc)))
        baseline.d_orig.append(0.0)
        for size in SIZES:
            oracle = OracleSwapper(photo, kps, size)
            for mode, mask, colour in product(PASTE_MODES, MASKS, (False, True)):
                look = FaceLook(face_mask=mask, paste_mode=mode, color_transfer=colour)
                proc = FaceSwapProcessor(
                    FaceSwapParts(GivenFaces([target.face]), oracle, providers=["cpu"]),
                    source_embedding=np.ones(512, np.float32),
                    look=look,
                )
                renderer = RecordingRenderer()
                proc._renderer = renderer  # to read the final mask of the pasted face
                out = proc.process(Frame(image=target.image.copy(), index=0, captured_at=0.0)).image
                shape = dlib_faces.shape_at(out, target.box)
                desc = dlib_faces.descriptor(out, shape)
                cell = cells.setdefault((size, mode, mask, colour), Cell())
                cell.d_src.append(float(np.linalg.norm(desc - src_desc)))
                cell.d_orig.append(float(np.linalg.norm(desc - target.descriptor)))
                cell.seam += [job_seam(out, target.image, job) for job in renderer.jobs]
                cell.ghost.append(ghost(out, target.image, target.eyes))
        print(f"  {src_name} → {target.label} done", file=sys.stderr)
    return {
        "pairs": len(sources) * len(targets),
        "targets": [t.label for t in targets],
        "baseline_target_vs_source": {"d_src": baseline.mean("d_src")},
        "table": [
            {
                "oracle_size": size,
                "paste_mode": mode,
                "face_mask": mask,
                "color_transfer": colour,
                "d_src": c.mean("d_src"),
                "d_orig": c.mean("d_orig"),
                "seam_delta_e": c.mean("seam"),
                "ghost": c.mean("ghost"),
                "matched_source": sum(d < 0.6 for d in c.d_src) / len(c.d_src),
            }
            for (size, mode, mask, colour), c in sorted(cells.items())
        ],
    }


def print_table(result: dict, face_px: int) -> None:
    print(
        f"\nOracle swap (the source photo's own aligned face) onto {len(result['targets'])} target faces "
        f"× {len(SOURCES)} sources = {result['pairs']} pairs; target faces {face_px} px wide"
    )
    print(
        f"unswapped target vs source: d_src {result['baseline_target_vs_source']['d_src']:.3f} "
        "(dlib: same person < 0.6)"
    )
    print(
        f"{'crop':>5} {'paste':<8}{'mask':<8}{'colour':<7}{'d_src':>7}{'d_orig':>8}{'match':>7}"
        f"{'seam ΔE':>9}{'ghost':>7}"
    )
    for r in result["table"]:
        print(
            f"{r['oracle_size']:>5} {r['paste_mode']:<8}{r['face_mask']:<8}"
            f"{'on' if r['color_transfer'] else 'off':<7}"
            f"{r['d_src']:>7.3f}{r['d_orig']:>8.3f}{r['matched_source']:>7.0%}{r['seam_delta_e']:>9.2f}"
            f"{r['ghost']:>7.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=3, help="target frames per video")
    parser.add_argument("--face-px", type=int, default=400, help="target face width (dlib box), px")
    parser.add_argument("--testdata", type=Path, default=TESTDATA)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except RuntimeError as exc:
        print(f"cannot run: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print_table(result, args.face_px)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
