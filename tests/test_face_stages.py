"""The per-face stages (issue 11) on real photos with real ONNX Runtime sessions of the stand-in models.

Faces come from the stand-in detector run once per photo; a fixed tracker then hands the processor
those faces (moved with the image where a test moves it), so each test controls exactly where the
face is and the stage code is what is measured.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from mirage_desktop.config import settings as settings_module
from mirage_desktop.frame import Frame
from mirage_desktop.models import ModelMissingError
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.processing.face import enhancers, masks, paste, swappers
from mirage_desktop.processing.face.align import align_matrix, invert
from mirage_desktop.processing.face.contract import ModelContractError
from mirage_desktop.processing.face.embedder import ArcFaceEmbedder
from mirage_desktop.processing.face.enhancers import FaceEnhancer, load_enhancer
from mirage_desktop.processing.face.face_swap import FaceSwapParts, FaceSwapProcessor
from mirage_desktop.processing.face.look import FaceLook
from mirage_desktop.processing.face.masks.shape import EllipseMask, box_mask
from mirage_desktop.processing.face.swappers import load_swapper_model
from mirage_desktop.processing.face.swappers.hyperswap import HyperSwapper
from mirage_desktop.processing.face.types import DetectedFace
from mirage_desktop.runtime.onnx_session import SessionFactory
from mirage_desktop.runtime.providers import ProviderConfig
from mirage_desktop.testmodels import enhancers as enh_models
from mirage_desktop.testmodels import hyperswap as hs_models
from mirage_desktop.testmodels.face_quality import (
    RecordingRenderer,
    TintSwapper,
    ciede2000_numpy,
    job_seam,
)
from tests.test_face_paste import psnr
from tests.test_face_swap_models import detector, face_models


def _look(**changes) -> FaceLook:
    """These checks are about alignment and each stage's own effect, measured against the paste
    that gives an unchanged face back bit-exact: "detail" without colour transfer (the shipped
    defaults, "replace" + colour, were chosen by scripts/bench_face_quality.py)."""
    return FaceLook(**{"paste_mode": "detail", "color_transfer": False, **changes})


SHARED_FIXTURES = (detector, face_models)
CPU = SessionFactory(ProviderConfig(requested="cpu"))
SOURCE = np.random.default_rng(3).standard_normal(512).astype(np.float32)
#: photos are scaled so the face is ~150 px: the 128² swap crop then holds the face's own detail,
#: and resampling alone cannot hide a misalignment
SCALE = 0.5


# --- fixtures and helpers -------------------------------------------------------------------------------
class FixedTracker:
    """Hands out the faces it is given (``faces`` may be replaced between frames)."""

    def __init__(self, faces: list[DetectedFace]) -> None:
        self.faces = faces

    def update(self, image_bgr: np.ndarray, timestamp: float) -> list[DetectedFace]:
        return [DetectedFace(f.box.copy(), f.kps.copy(), f.score, f.track_id) for f in self.faces]

    def counters(self) -> dict[str, int]:
        return {}


def shifted(face: DetectedFace, dx: float = 0.0, dy: float = 0.0, scale: float = 1.0) -> DetectedFace:
    off = np.array([dx, dy], np.float32)
    box = face.box * scale + np.tile(off, 2)
    return DetectedFace(
        box.astype(np.float32), (face.kps * scale + off).astype(np.float32), face.score, face.track_id
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory, face_models) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("stage_models")
    files: dict[str, Path] = {
        "det_10g": face_models.det,
        "w600k_r50": face_models.arcface,
        "inswapper_128": face_models.identity,
        "inswapper_visible": face_models.visible,
        "hyperswap_1a_256": hs_models.build_hyperswap(d / "hyperswap_1a_256.onnx", "identity"),
        "hyperswap_1b_256": hs_models.build_hyperswap(d / "hyperswap_1b_256.onnx", "visible"),
    }
    for kind in ("identity", "sharpen"):
        for path in enh_models.build_enhancer_set(d / kind, kind=kind):
            files[f"{kind}/{path.stem}"] = path
    return files


def model_path(files: dict[str, Path], kind: str = "identity", **overrides: Path):
    """The models manager's ``path``: enhancer ids resolve to the ``kind`` stand-ins."""

    def path(name: str) -> Path:
        if name in overrides:
            return overrides[name]
        for key in (name, f"{kind}/{name}"):
            if key in files:
                return files[key]
        raise ModelMissingError(f"The model {name} is not installed.")

    return path


def swapper(files, name: str = "inswapper_128"):
    if name == "inswapper_visible":
        from mirage_desktop.processing.face.swapper import FaceSwapper, load_emap

        return FaceSwapper(CPU.create(files[name]), load_emap(files[name]))
    return load_swapper_model(name, CPU, model_path(files))


def make_proc(
    files, swap, faces, look=None, kind="identity", embedder=None, overrides=None, swapper_id="inswapper_128"
) -> FaceSwapProcessor:
    path = model_path(files, kind, **(overrides or {}))
    parts = FaceSwapParts(
        FixedTracker(faces),
        swap,
        providers=["cpu"],
        load_enhancer=lambda enhancer_id, fidelity: load_enhancer(enhancer_id, CPU, path, fidelity),
        load_swapper=lambda swapper_id: load_swapper_model(swapper_id, CPU, path),
        embedder=embedder,
    )
    return FaceSwapProcessor(parts, source_embedding=SOURCE, look=look or _look(), swapper_id=swapper_id)


def run(proc, image: np.ndarray, index: int = 0) -> np.ndarray:
    return proc.process(Frame(image=image.copy(), index=index, captured_at=float(index))).image


@pytest.fixture(scope="module")
def photo(testdata, detector) -> tuple[np.ndarray, DetectedFace]:
    """obama.jpg at SCALE and its face (largest detection, found at full size)."""
    full = cv2.imread(str(testdata / "faces" / "obama.jpg"))
    face = max(detector.detect(full), key=lambda f: f.area)
    image = cv2.resize(full, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)
    return image, shifted(face, scale=SCALE)


def crop_point(face: DetectedFace, x: float, y: float, size: int = 128) -> tuple[int, int]:
    """Frame pixel of crop point (x, y) of the face's ``size``² arcface crop."""
    inv = invert(align_matrix(face.kps, size))
    fx, fy = inv @ np.array([x, y, 1.0])
    return round(fx), round(fy)


def patch(image: np.ndarray, xy: tuple[int, int], r: int = 3) -> np.ndarray:
    x, y = xy
    return image[y - r : y + r + 1, x - r : x + r + 1].astype(np.float64)


def change_at(out, image, xy, r=3) -> float:
    return float(np.abs(patch(out, xy, r) - patch(image, xy, r)).mean())


def face_psnr(out, image, face) -> float:
    x0, y0, x1, y1 = face.box.astype(int)
    return psnr(out[y0:y1, x0:x1], image[y0:y1, x0:x1])


def wait_for(pred, timeout=20.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.02)


# --- registries -----------------------------------------------------------------------------------------
def test_settings_choices_are_the_registries():
    assert tuple(swappers.SWAPPERS) == settings_module.SWAPPER_IDS
    assert ("", *enhancers.ENHANCERS) == settings_module.ENHANCER_IDS
    assert set(settings_module.FACE_MASK_IDS) == set(masks.FACE_MASKS)
    assert len(settings_module.FACE_MASK_IDS) == len(masks.FACE_MASKS)
    assert settings_module.PASTE_MODE_IDS == paste.PASTE_MODES


def test_ciede2000_reference_pairs():
    # Sharma, Wu & Dalal (2005), table 1: pairs 1, 7, 17 and 25
    lab1 = np.array([[50, 2.6772, -79.7751], [50, 0, 0], [50, 2.5, 0], [60.2574, -34.0099, 36.2677]])
    lab2 = np.array([[50, 0, -82.7485], [50, -1, 2], [73, 25, -18], [60.4626, -34.1751, 39.4387]])
    np.testing.assert_allclose(ciede2000_numpy(lab1, lab2), [2.0425, 2.3669, 27.1492, 1.2644], atol=1e-4)
    skimage_color = pytest.importorskip("skimage.color")
    rng = np.random.default_rng(0)
    a = rng.uniform([0, -80, -80], [100, 80, 80], (500, 3))
    b = rng.uniform([0, -80, -80], [100, 80, 80], (500, 3))
    np.testing.assert_allclose(ciede2000_numpy(a, b), skimage_color.deltaE_ciede2000(a, b), atol=1e-6)


# --- enhancers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("enhancer_id", list(enhancers.ENHANCERS))
def test_every_enhancer_round_trips_the_face_with_the_identity_swapper(models, photo, enhancer_id):
    image, face = photo
    enhancer = load_enhancer(enhancer_id, CPU, model_path(models))
    assert isinstance(enhancer, FaceEnhancer) and enhancer.name == enhancer_id
    crop = np.random.default_rng(1).integers(0, 256, (enhancer.size, enhancer.size, 3), dtype=np.uint8)
    assert np.abs(enhancer.enhance(crop).astype(int) - crop).max() <= 1
    proc = make_proc(models, swapper(models), [face], _look(enhancer=enhancer_id))
    frame = proc.process(Frame(image=image.copy(), index=0, captured_at=0.0))
    counters = proc.counters()
    assert counters["enhancer"] == enhancer_id and counters["enhancer_state"] == "on"
    assert counters["enhanced_frames"] == 1 and counters["swap_faces_last"] == 1
    assert "face.enhance" in frame.stage_ms
    # resampling into the enhancer's crop and back costs a little; a 1-px misalignment costs far more
    one_px = face_psnr(np.roll(image, 1, axis=1), image, face)
    got = face_psnr(frame.image, image, face)
    assert got >= 35.0 and got >= one_px + 8.0, (got, one_px)


def test_the_enhancer_follows_a_moving_face_on_every_frame(models, photo):
    image, face = photo
    step, frames = 14, 6
    canvas = cv2.copyMakeBorder(image, 0, 0, 0, step * frames, cv2.BORDER_REPLICATE)
    tracker_faces = [face]
    proc = make_proc(models, swapper(models), tracker_faces, _look(enhancer="gpen_bfr_512"), kind="sharpen")
    centres = []
    for k in range(frames):
        moved = cv2.warpAffine(
            canvas,
            np.float64([[1, 0, k * step], [0, 1, 0]]),
            canvas.shape[1::-1],
            borderMode=cv2.BORDER_REPLICATE,
        )
        proc._parts.tracker.faces = [shifted(face, dx=k * step)]
        out = run(proc, moved, k)
        diff = np.abs(out.astype(np.float64) - moved).sum(axis=2)
        assert diff.sum() > 0
        ys, xs = np.mgrid[: diff.shape[0], : diff.shape[1]]
        centres.append((float((diff * xs).sum() / diff.sum()), float((diff * ys).sum() / diff.sum())))
        # nothing changes outside the face's (moved) neighbourhood
        x0, _, x1, _ = shifted(face, dx=k * step).box
        pad = (x1 - x0) * 0.8
        assert diff[:, : max(0, int(x0 - pad))].sum() == 0 and diff[:, int(x1 + pad) :].sum() == 0
    for k, (cx, cy) in enumerate(centres):
        assert abs(cx - (centres[0][0] + k * step)) < 1.5, centres
        assert abs(cy - centres[0][1]) < 1.5, centres
    fx0, fy0, fx1, fy1 = face.box
    assert fx0 < centres[0][0] < fx1 and fy0 < centres[0][1] < fy1
    assert proc.counters()["enhanced_frames"] == frames


def test_codeformer_fidelity_changes_live(models, photo):
    image, face = photo
    look = _look(enhancer="codeformer", codeformer_fidelity=1.0)
    proc = make_proc(models, swapper(models), [face], look, kind="sharpen")
    faithful = run(proc, image)
    assert proc.counters()["enhancer_fidelity"] == 1.0
    assert face_psnr(faithful, image, face) >= 35.0  # weight 1: the stand-in gives its input back
    proc.set_look(replace(look, codeformer_fidelity=0.0))
    restored = run(proc, image, 1)
    counters = proc.counters()
    assert counters["enhancer_fidelity"] == 0.0 and counters["enhanced_frames"] == 2
    assert face_psnr(restored, image, face) < face_psnr(faithful, image, face) - 2.0
    proc.set_look(replace(look, codeformer_fidelity=0.5))
    half = run(proc, image, 2)
    assert face_psnr(restored, image, face) < face_psnr(half, image, face) < face_psnr(faithful, image, face)


def _visible_changed(out, image, face) -> bool:
    cx, cy = crop_point(face, 64, 64)
    return change_at(out, image, (cx, cy), 10) > 10.0


@pytest.mark.parametrize("broken", ["not_onnx", "wrong_io"])
def test_a_broken_enhancer_says_why_and_the_swap_goes_on(models, photo, tmp_path, broken):
    image, face = photo
    bad = tmp_path / "gfpgan_1.4.onnx"
    if broken == "not_onnx":
        bad.write_bytes(b"this is not an ONNX model\n" * 40)
        expected = "gfpgan_1.4.onnx"
    else:  # a GFPGAN built for 256² where the real one is 512²
        enh_models.build_enhancer(bad, 256, kind="identity")
        expected = "should be"
    with pytest.raises(RuntimeError, match=r"gfpgan_1\.4\.onnx"):
        load_enhancer("gfpgan_1.4", CPU, model_path(models, **{"gfpgan_1.4": bad}))
    if broken == "wrong_io":
        with pytest.raises(ModelContractError, match=r"512"):
            load_enhancer("gfpgan_1.4", CPU, model_path(models, **{"gfpgan_1.4": bad}))
    overrides = {"gfpgan_1.4": bad}
    # at start (the CLI's path) ...
    proc = make_proc(
        models,
        swapper(models, "inswapper_visible"),
        [face],
        _look(enhancer="gfpgan_1.4"),
        overrides=overrides,
    )
    out = run(proc, image)
    counters = proc.counters()
    assert counters["enhancer_state"].startswith("failed: ") and expected in counters["enhancer_state"]
    assert (
        "Face enhancer off" in counters["face_swap_notice"]
        and "gfpgan_1.4.onnx" in counters["face_swap_notice"]
    )
    assert counters["swap_faces_last"] == 1 and counters["enhanced_frames"] == 0
    assert _visible_changed(out, image, face)
    # ... and switched on live (loads on a worker thread)
    proc = make_proc(models, swapper(models, "inswapper_visible"), [face], overrides=overrides)
    run(proc, image)
    proc.set_look(_look(enhancer="gfpgan_1.4"))
    wait_for(lambda: proc.counters()["enhancer_state"].startswith("failed"))
    out = run(proc, image, 1)
    assert proc.counters()["swap_faces_last"] == 1 and _visible_changed(out, image, face)


def test_switching_to_a_broken_enhancer_switches_the_running_one_off(models, photo, tmp_path):
    image, face = photo
    bad = tmp_path / "gfpgan_1.4.onnx"
    bad.write_bytes(b"not a model")
    proc = make_proc(
        models,
        swapper(models),
        [face],
        _look(enhancer="gpen_bfr_256"),
        kind="sharpen",
        overrides={"gfpgan_1.4": bad},
    )
    enhanced = run(proc, image)
    assert proc.counters()["enhanced_frames"] == 1 and face_psnr(enhanced, image, face) < 45.0
    proc.set_look(_look(enhancer="gfpgan_1.4"))
    wait_for(lambda: proc.counters()["enhancer_state"].startswith("failed"))
    out = run(proc, image, 1)
    counters = proc.counters()
    # the notice says the enhancer is off: GPEN must not go on running behind it
    assert counters["enhancer"] == "" and counters["enhanced_frames"] == 1
    np.testing.assert_array_equal(out, image)


class _FailsWhenRun:
    name = "gpen_bfr_256"
    size = 256
    template = "arcface"
    fidelity = 0.0

    def enhance(self, crop_bgr):
        raise RuntimeError("The model 'gpen_bfr_256.onnx' failed when run: boom")


def test_an_enhancer_failing_mid_run_is_dropped_and_the_frame_is_still_swapped(models, photo):
    image, face = photo
    proc = make_proc(models, swapper(models, "inswapper_visible"), [face])
    proc._parts.load_enhancer = lambda _id, _fid: _FailsWhenRun()
    proc.set_look(_look(enhancer="gpen_bfr_256"))
    wait_for(lambda: proc.counters()["enhancer_state"] == "on")
    out = run(proc, image)
    counters = proc.counters()
    assert counters["enhancer_state"].startswith("failed: ") and "boom" in counters["enhancer_state"]
    assert counters["swap_faces_last"] == 1 and _visible_changed(out, image, face)


# --- hyperswap ------------------------------------------------------------------------------------------
def test_hyperswap_round_trips_changes_and_switches_live(models, photo):
    image, face = photo
    identity = swapper(models, "hyperswap_1a_256")
    assert isinstance(identity, HyperSwapper) and identity.size == 256
    proc = make_proc(models, identity, [face], swapper_id="hyperswap_1a_256")
    assert face_psnr(run(proc, image), image, face) >= 45.0
    # with an enhancer on its 256 alignment too
    proc.set_look(_look(enhancer="gpen_bfr_256"))
    wait_for(lambda: proc.counters()["enhancer_state"] == "on")
    assert face_psnr(run(proc, image, 1), image, face) >= 35.0
    visible = make_proc(models, swapper(models, "hyperswap_1b_256"), [face], swapper_id="hyperswap_1b_256")
    hyper_out = run(visible, image)
    assert _visible_changed(hyper_out, image, face)
    # live switch from inswapper to HyperSwap: no restart, every frame swapped
    proc = make_proc(models, swapper(models, "inswapper_visible"), [face])
    ins_out = run(proc, image)
    assert _visible_changed(ins_out, image, face)
    proc.set_swapper("hyperswap_1b_256")
    for i in range(1, 40):
        out = run(proc, image, i)
        assert proc.counters()["swap_faces_last"] == 1 and _visible_changed(out, image, face)
        if proc.counters()["face_swapper_model"] == "hyperswap_1b_256.onnx":
            break
        time.sleep(0.05)
    assert proc.counters()["face_swapper_model"] == "hyperswap_1b_256.onnx"
    assert proc.source is not None and proc.source.swapper == "hyperswap_1b_256.onnx"
    np.testing.assert_array_equal(run(proc, image, 99), hyper_out)


# --- map mode -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_faces(testdata, detector) -> tuple[np.ndarray, list[DetectedFace], list[np.ndarray]]:
    """obama.jpg and biden.jpg side by side (same height), their faces and their photos' embeddings."""
    left = cv2.imread(str(testdata / "faces" / "obama.jpg"))
    right = cv2.imread(str(testdata / "faces" / "biden.jpg"))
    s = left.shape[0] / right.shape[0]
    right_s = cv2.resize(right, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    image = np.hstack([left, right_s[: left.shape[0]]])
    fl = max(detector.detect(left), key=lambda f: f.area)
    fr = max(detector.detect(right), key=lambda f: f.area)
    faces = [shifted(fl), shifted(fr, dx=left.shape[1], scale=s)]
    faces[0].track_id, faces[1].track_id = 0, 1
    small = cv2.resize(image, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)
    return small, [shifted(f, scale=SCALE) for f in faces], [left, right]


@pytest.fixture(scope="module")
def embedder(face_models) -> ArcFaceEmbedder:
    return ArcFaceEmbedder(CPU.create(face_models.arcface))


class _Unrecognisable:
    """An embedder that cannot read faces right of ``x`` (e.g. too blurred to recognise)."""

    def __init__(self, inner, x: float) -> None:
        self.inner, self.x = inner, x

    def embed(self, image, kps):
        if float(np.mean(kps[:, 0])) > self.x:
            raise ValueError("no usable face")
        return self.inner.embed(image, kps)


def test_map_mode_swaps_the_mapped_person_only_and_bystanders_stay_bit_identical(
    models, two_faces, embedder, detector
):
    image, faces, photos = two_faces
    target = embedder.embed(image, faces[0].kps)
    other = embedder.embed(image, faces[1].kps)
    alone = [embedder.embed(p, max(detector.detect(p), key=lambda f: f.area).kps) for p in photos]
    # the stand-in ArcFace tells these two people apart and recognises each in the composite
    assert float(target @ alone[0]) > 0.8 and float(other @ alone[1]) > 0.8
    assert float(target @ other) < 0.5 and float(alone[0] @ alone[1]) < 0.5
    proc = make_proc(models, swapper(models, "inswapper_visible"), faces, embedder=embedder)
    proc.set_face_map([(np.stack([alone[0], target]), SOURCE, "obama")], threshold=0.6)
    chain = ProcessorChain([proc])
    chain.start()
    for i in range(3):
        frame = chain.process(Frame(image=image.copy(), index=i, captured_at=float(i)))
        x0, y0, x1, y1 = faces[1].box.astype(int)
        np.testing.assert_array_equal(frame.image[y0:y1, x0:x1], image[y0:y1, x0:x1])
        half = image.shape[1] * (photos[0].shape[1] / (image.shape[1] / SCALE))
        assert np.array_equal(frame.image[:, int(half) + 1 :], image[:, int(half) + 1 :])
        assert _visible_changed(frame.image, image, faces[0])
        assert frame.privacy == "swapped"
    counters = chain.counters()
    assert counters["map_mode"] and counters["map_faces_matched"] == 3 and counters["map_bystanders"] == 3
    assert counters["map_unrecognised"] == 0 and counters["swap_faces_last"] == 1
    # a face that cannot be recognised is not a known bystander: the privacy guard covers it
    proc = make_proc(
        models,
        swapper(models, "inswapper_visible"),
        faces,
        embedder=_Unrecognisable(embedder, image.shape[1] / 2),
    )
    proc.set_face_map([(alone[0], SOURCE, "obama")], threshold=0.6)
    chain = ProcessorChain([proc])
    chain.start()
    frame = chain.process(Frame(image=image.copy(), index=0, captured_at=0.0))
    assert frame.privacy == "covered" and chain.counters()["map_unrecognised"] == 1
    x0, y0, x1, y1 = faces[1].box.astype(int)
    assert np.abs(frame.image[y0:y1, x0:x1].astype(int) - image[y0:y1, x0:x1]).mean() > 3
    assert _visible_changed(frame.image, image, faces[0])


# --- masks, colour, opacity -----------------------------------------------------------------------------
def test_mouth_mask_keeps_the_real_mouth_and_its_size_control_works(models, photo):
    image, face = photo
    mouth = tuple(int(v) for v in np.rint((face.kps[3] + face.kps[4]) / 2 + [0, 2]))
    eye_to_mouth = face.kps[3] - face.kps[0]
    cheek = tuple(
        int(v) for v in np.rint(face.kps[0] + 0.6 * eye_to_mouth - [0.2 * np.hypot(*eye_to_mouth), 0])
    )
    outs = {}
    # 0.6, not the 0.3 minimum: at 0.3 the feathered cut-out may keep no pixel exactly original
    for size in (0.0, 0.6, 1.0, 3.0):
        look = _look(mouth_mask=size > 0, mouth_mask_size=size or 1.0)
        outs[size] = run(make_proc(models, swapper(models, "inswapper_visible"), [face], look), image)
    assert change_at(outs[0.0], image, mouth) > 15.0  # without it the swap redraws the mouth
    assert change_at(outs[1.0], image, mouth) < 3.0
    assert change_at(outs[1.0], image, cheek) > 15.0
    x0, y0, x1, y1 = face.box.astype(int)

    def kept(out):
        return int((np.abs(out[y0:y1, x0:x1].astype(int) - image[y0:y1, x0:x1]).max(axis=2) <= 2).sum())

    assert kept(outs[0.0]) < kept(outs[0.6]) < kept(outs[1.0]) < kept(outs[3.0])
    assert kept(outs[3.0]) > 3 * kept(outs[0.6]) - 2 * kept(outs[0.0])


def test_colour_transfer_lowers_the_seam(models, photo):
    image, face = photo
    tinted = TintSwapper(swapper(models), (30.0, 5.0, -25.0))
    seams = {}
    for on in (False, True):
        proc = make_proc(models, tinted, [face], _look(color_transfer=on))
        proc._renderer = RecordingRenderer()
        out = run(proc, image)
        (job,) = proc._renderer.jobs
        seams[on] = job_seam(out, image, job)
    assert seams[False] > 8.0 and seams[True] < 0.3 * seams[False], seams


class _PaintsOverOccluders:
    """Swaps the way real swappers fail on a hand or a microphone: whatever covers the face is redrawn
    as more face (here: the face under it, from the clean photo), with a modest change everywhere."""

    size, template, notice, name = 128, "arcface", None, "paints_over"

    def __init__(self, clean: np.ndarray, face: DetectedFace) -> None:
        self.crop = cv2.warpAffine(
            clean, align_matrix(face.kps, 128), (128, 128), borderMode=cv2.BORDER_REPLICATE
        )

    def latent(self, normed_embedding):
        return normed_embedding

    def swap(self, crop_bgr, latent):
        return np.clip(self.crop.astype(np.int16) + 14, 0, 255).astype(np.uint8)


def test_occlusion_keeps_an_occluder_original(models, photo):
    image, face = photo
    occluded = image.copy()
    # a dark flat block (a microphone) over the lower-left cheek and mouth corner
    x, y = crop_point(face, 34, 84)
    x2, y2 = crop_point(face, 64, 112)
    occluded[y:y2, x:x2] = (35, 30, 30)
    inside = (slice(y + 3, y2 - 3), slice(x + 3, x2 - 3))
    outs = {}
    for on in (False, True):
        proc = make_proc(models, _PaintsOverOccluders(image, face), [face], _look(occlusion_mask=on))
        outs[on] = run(proc, occluded)
    off_change = np.abs(outs[False][inside].astype(int) - occluded[inside]).mean()
    on_change = np.abs(outs[True][inside].astype(int) - occluded[inside]).mean()
    assert off_change > 30.0 and on_change < 0.1 * off_change, (off_change, on_change)
    cheek = crop_point(face, 88, 80)  # the other cheek is still swapped
    assert change_at(outs[True], occluded, cheek) > 8.0
    # a swap that changes the whole face a lot (the visible stand-in) is not taken for an occluder
    visible = {}
    for on in (False, True):
        proc = make_proc(models, swapper(models, "hyperswap_1b_256"), [face], _look(occlusion_mask=on))
        visible[on] = run(proc, image)
    x0, y0, x1, y1 = face.box.astype(int)
    changed = [
        np.abs(v[y0:y1, x0:x1].astype(int) - image[y0:y1, x0:x1]).mean()
        for v in (visible[False], visible[True])
    ]
    assert changed[1] > 0.8 * changed[0], changed


@pytest.mark.parametrize("mode", list(paste.PASTE_MODES))
def test_opacity_zero_gives_the_frame_back(models, photo, mode):
    image, face = photo
    proc = make_proc(
        models, swapper(models, "inswapper_visible"), [face], _look(opacity=0.0, paste_mode=mode)
    )
    np.testing.assert_array_equal(run(proc, image), image)
    half = make_proc(
        models, swapper(models, "inswapper_visible"), [face], _look(opacity=0.5, paste_mode=mode)
    )
    full = make_proc(models, swapper(models, "inswapper_visible"), [face], _look(paste_mode=mode))
    centre = crop_point(face, 64, 64)
    assert (
        0.35
        < change_at(run(half, image), image, centre, 10) / change_at(run(full, image), image, centre, 10)
        < 0.65
    )


def test_the_ellipse_leaves_the_crop_corners_where_the_box_changes_them(models, photo):
    image, face = photo
    outs = {
        name: run(
            make_proc(models, swapper(models, "inswapper_visible"), [face], _look(face_mask=name)), image
        )
        for name in masks.FACE_MASKS
    }
    matrix = align_matrix(face.kps, 128)
    kps = face.kps.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    ellipse, box = EllipseMask().shape(kps, 128), box_mask(128)
    # in the square's upper corners (forehead edge, hair, background), the point where the ellipse
    # cuts the box's weight most: the box swaps it, the ellipse leaves most of it original (below, the
    # box itself already fades at the chin)
    for y0, x0 in ((0, 0), (0, 64)):
        e, b = ellipse[y0 : y0 + 64, x0 : x0 + 64], box[y0 : y0 + 64, x0 : x0 + 64]
        cut = b * (1.0 - e)
        cy, cx = np.unravel_index(int(np.argmax(cut)), cut.shape)
        assert cut[cy, cx] > 0.2
        xy = crop_point(face, cx + x0, cy + y0)
        with_box, with_ellipse = (
            change_at(outs["box"], image, xy, 1),
            change_at(outs["ellipse"], image, xy, 1),
        )
        assert with_box > 2.5 and with_ellipse < 0.85 * with_box, (cx, cy, with_box, with_ellipse)
    centre = crop_point(face, 64, 70)
    assert change_at(outs["ellipse"], image, centre) > 15.0


def test_the_look_mirrors_the_face_settings_field_for_field():
    """FaceLook.from_settings copies by name, and a default changed in one place only would make
    the CLI, the window and a bare FaceSwapProcessor look different."""
    import dataclasses

    from mirage_desktop.config.settings import FaceSettings

    face = FaceSettings()
    for f in dataclasses.fields(FaceLook):
        assert getattr(face, f.name) == f.default, f.name
    assert FaceLook.from_settings(face) == FaceLook()
