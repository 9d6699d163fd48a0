"""FaceSwapProcessor end to end on real media with real ONNX Runtime sessions of the stand-in models."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mirage_desktop.config.settings import FaceSettings
from mirage_desktop.frame import Frame
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.processing.face.align import align_matrix
from mirage_desktop.processing.face.detector import ScrfdDetector
from mirage_desktop.processing.face.embedder import ArcFaceEmbedder
from mirage_desktop.processing.face.face_swap import (
    NO_SOURCE,
    FaceSwapParts,
    FaceSwapProcessor,
    build_face_swap_processor,
)
from mirage_desktop.processing.face.look import FaceLook
from mirage_desktop.processing.face.paste import FacePaster
from mirage_desktop.processing.face.source_face import SourceFaceError, load_source_face
from mirage_desktop.processing.face.swapper import FaceSwapper, load_emap
from mirage_desktop.runtime.onnx_session import SessionFactory
from mirage_desktop.runtime.providers import ProviderConfig
from tests.test_face_paste import psnr
from tests.test_face_swap_models import EveryFrameTracker, detector, face_models

# shared session-scoped fixtures, used by name in the tests below
SHARED_FIXTURES = (detector, face_models)

CPU_ONLY = SessionFactory(ProviderConfig(requested="cpu"))
PHOTOS = [
    "obama.jpg",
    "biden.jpg",
    "two_people.jpg",
    "obama_partial_face.jpg",
    "group_t1.jpg",
    "portrait_s0.jpg",
    "portrait_s6.jpg",
]
VIDEOS = ["talking_head_d0.mp4", "talking_head_long_d9.mp4", "hamilton_clip.mp4"]


def swapper_for(path: Path, fallback: Path | None = None) -> FaceSwapper:
    loader = (lambda: FaceSwapper(CPU_ONLY.create(fallback), load_emap(fallback))) if fallback else None
    return FaceSwapper(CPU_ONLY.create(path), load_emap(path), fallback=loader)


@pytest.fixture(scope="module")
def embedder(face_models):
    return ArcFaceEmbedder(CPU_ONLY.create(face_models.arcface))


@pytest.fixture(scope="module")
def obama_identity(testdata, detector, embedder):
    return load_source_face(testdata / "faces" / "obama.jpg", detector, embedder).embedding


def processor(
    detector, swapper, embedding=None, max_faces=1, debug=False, embedder=None
) -> FaceSwapProcessor:
    # photos are read on another thread: give them their own detector object on the shared session
    photo_detector = ScrfdDetector(detector.session)
    finder = (lambda p: load_source_face(p, photo_detector, embedder)) if embedder is not None else None
    parts = FaceSwapParts(
        EveryFrameTracker(detector), swapper, FacePaster(), source_finder=finder, providers=["cpu"]
    )
    # "detail" without colour transfer gives an unchanged face back bit-exact: what these checks use
    look = FaceLook(paste_mode="detail", color_transfer=False)
    return FaceSwapProcessor(
        parts, source_embedding=embedding, max_faces=max_faces, debug_overlay=debug, look=look
    )


def video_frames(path: Path, count: int, step: int = 7) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    index = 0
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(frame)
        index += 1
    cap.release()
    return frames


def run(proc: FaceSwapProcessor, image: np.ndarray, index: int = 0) -> Frame:
    return proc.process(Frame(image=image.copy(), index=index, captured_at=time.perf_counter()))


def test_identity_swapper_leaves_every_real_photo_and_video_frame_unchanged(
    testdata, face_models, detector, obama_identity
):
    proc = processor(detector, swapper_for(face_models.identity), obama_identity, max_faces=4)
    images = [cv2.imread(str(testdata / "faces" / n)) for n in PHOTOS]
    for name in VIDEOS:
        images += video_frames(testdata / "video" / name, 3)
    swapped = 0
    for i, image in enumerate(images):
        frame = run(proc, image, i)
        assert frame.image.shape == image.shape
        assert psnr(frame.image, image) >= 60.0, f"image {i}"
        swapped += proc.counters()["swap_faces_last"]
        assert {"face.detect_track", "face.swap", "face.paste"} <= set(frame.stage_ms)
    assert swapped >= len(images)  # the path really ran: faces were found and pasted


def test_visible_swapper_changes_the_face_and_nothing_outside_its_roi(
    testdata, face_models, detector, embedder
):
    image = cv2.imread(str(testdata / "faces" / "biden.jpg"))
    obama = load_source_face(testdata / "faces" / "obama.jpg", detector, embedder).embedding
    swapper = swapper_for(face_models.visible)
    proc = processor(detector, swapper, obama, debug=True, embedder=embedder)
    out = run(proc, image).image
    face = max(detector.detect(image), key=lambda f: f.area)
    x0, y0, x1, y1 = FacePaster().roi(align_matrix(face.kps, 128), image.shape)
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], image[outside])
    fx0, fy0, fx1, fy1 = face.box.astype(int)
    cx, cy = (fx0 + fx1) // 2, (fy0 + fy1) // 2
    core = (slice(cy - 20, cy + 20), slice(cx - 20, cx + 20))
    assert np.abs(out[core].astype(int) - image[core]).mean() > 20
    # another identity gives another face
    proc.set_source_image(testdata / "faces" / "two_people.jpg")
    other = run(proc, image).image
    assert np.abs(other[core].astype(int) - out[core]).mean() > 5


def test_debug_overlay_and_counters(testdata, face_models, detector, obama_identity):
    proc = processor(detector, swapper_for(face_models.identity), obama_identity, debug=True)
    frame = run(proc, cv2.imread(str(testdata / "faces" / "biden.jpg")))
    assert [a.label for a in frame.annotations] == ["SWAP"]
    assert frame.annotations[0].points.shape == (5, 2)
    counters = proc.counters()
    assert counters["swap_faces_last"] == 1 and counters["total_faces_swapped"] == 1
    assert counters["enhanced_frames"] == 0
    assert counters["face_providers"] == ["cpu"]
    assert counters["tracker_updates"] == 1


def test_no_source_face_passes_through_with_a_message(testdata, face_models, detector):
    proc = processor(detector, swapper_for(face_models.visible))
    image = cv2.imread(str(testdata / "faces" / "biden.jpg"))
    frame = run(proc, image)
    assert np.array_equal(frame.image, image)
    assert proc.notice == NO_SOURCE
    assert proc.counters()["face_swap_notice"] == NO_SOURCE


def test_bad_source_photo_keeps_the_old_identity(
    testdata, tmp_path, face_models, detector, embedder, obama_identity
):
    proc = processor(detector, swapper_for(face_models.identity), obama_identity, embedder=embedder)
    bad = tmp_path / "notes.jpg"
    bad.write_text("hello")
    with pytest.raises(SourceFaceError, match="not a photo"):
        proc.set_source_image(bad)
    np.testing.assert_allclose(proc.source.embedding, obama_identity)


@pytest.mark.parametrize("broken", ["nan_fp16", "black_fp16"])
def test_degenerate_fp16_output_falls_back_to_fp32_once(
    testdata, face_models, detector, obama_identity, broken, caplog
):
    swapper = swapper_for(getattr(face_models, broken), fallback=face_models.identity)
    assert swapper.is_fp16
    proc = processor(detector, swapper, obama_identity)
    image = cv2.imread(str(testdata / "faces" / "biden.jpg"))
    with caplog.at_level("WARNING"):
        for i in range(3):
            frame = run(proc, image, i)
            assert psnr(frame.image, image) >= 60.0  # the fp32 model's (identity) result, not a black face
    assert proc.counters()["swap_faces_last"] == 1
    assert swapper.name == "inswapper_128.onnx"
    assert "switched to the fp32 model" in proc.notice
    assert sum("switched to the fp32 model" in r.message for r in caplog.records) == 1


def test_healthy_fp16_model_runs_with_float16_io(testdata, face_models, detector, obama_identity):
    swapper = swapper_for(face_models.identity_fp16, fallback=face_models.visible)
    proc = processor(detector, swapper, obama_identity)
    image = cv2.imread(str(testdata / "faces" / "biden.jpg"))
    frame = run(proc, image)
    assert (
        swapper.name == "inswapper_128_fp16.onnx" and proc.notice != "" and "fp32" not in (proc.notice or "")
    )
    assert psnr(frame.image, image) >= 45.0  # fp16 rounding of the crop, pasted as a change


def test_many_faces_are_bounded_by_max_faces(testdata, face_models, detector, obama_identity):
    group = cv2.imread(str(testdata / "faces" / "group_t1.jpg"))
    tiled = np.vstack([np.hstack([group, group]), np.hstack([group, group])])
    assert len(detector.detect(tiled)) >= 10
    proc = processor(detector, swapper_for(face_models.visible), obama_identity, max_faces=3, debug=True)
    frame = run(proc, tiled)
    assert proc.counters()["swap_faces_last"] == 3
    assert len(frame.annotations) == 3


def test_source_can_change_from_another_thread_while_frames_flow(testdata, face_models, detector, embedder):
    proc = processor(detector, swapper_for(face_models.visible), embedder=embedder)
    frames = video_frames(testdata / "video" / "talking_head_d0.mp4", 6, step=1)
    errors: list[BaseException] = []

    def switch() -> None:
        try:
            for name in ("obama.jpg", "biden.jpg", "obama.jpg"):
                proc.set_source_image(testdata / "faces" / name)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=switch)
    thread.start()
    for i, image in enumerate(frames):
        run(proc, image, i)
    thread.join(timeout=30)
    assert not errors
    assert proc.source is not None and proc.source.label == "obama.jpg"


def _model_path(face_models, missing: str = ""):
    from mirage_desktop.models import ModelMissingError

    files = {
        "det_10g": face_models.det,
        "w600k_r50": face_models.arcface,
        "inswapper_128": face_models.identity,
    }

    def path(name: str) -> Path:
        if name == missing or name not in files:
            raise ModelMissingError(
                f"The model {name} is not installed. Run `mirage-cli models download {name}`."
            )
        return files[name]

    return path


def test_builder_loads_models_in_start_and_swaps(testdata, face_models):
    pytest.importorskip("mirage_desktop.processing.face.tracker")
    # The stand-in detector also takes two spots low in biden.jpg for faces; the tracker reports every
    # face and the privacy guard covers those not swapped, so all three are swapped (by the identity
    # model: the image must come back unchanged).
    # "detail" without colour transfer gives an unchanged face back bit-exact: the check of the path
    settings = FaceSettings(
        providers="cpu",
        detect_interval=2,
        debug_overlay=True,
        swapper_precision="fp16",
        max_faces=3,
        paste_mode="detail",
        color_transfer=False,
    )
    proc = build_face_swap_processor(settings, _model_path(face_models), testdata / "faces" / "obama.jpg")
    image = cv2.imread(str(testdata / "faces" / "biden.jpg"))
    chain = ProcessorChain([proc])
    chain.start()
    assert chain.problems() == []
    for i in range(3):
        frame = chain.process(Frame(image=image.copy(), index=i, captured_at=time.perf_counter()))
        assert psnr(frame.image, image) >= 60.0
    counters = proc.counters()
    assert counters["total_faces_swapped"] == 9
    assert counters["face_providers"] == ["CPUExecutionProvider"]
    assert counters["face_swap_source"] == "obama.jpg"
    assert "frames" in counters  # the tracker's own counters


def test_builder_with_a_missing_model_fails_start_and_the_chain_passes_through(testdata, face_models):
    pytest.importorskip("mirage_desktop.processing.face.tracker")
    proc = build_face_swap_processor(FaceSettings(providers="cpu"), _model_path(face_models, "inswapper_128"))
    chain = ProcessorChain([proc])
    chain.start()
    assert len(chain.problems()) == 1
    assert "inswapper_128 is not installed" in chain.problems()[0]
    image = cv2.imread(str(testdata / "faces" / "biden.jpg"))
    frame = chain.process(Frame(image=image.copy(), index=0, captured_at=time.perf_counter()))
    assert np.array_equal(frame.image, image)


def test_builder_with_cuda_only_and_no_cuda_fails_start_clearly(face_models):
    pytest.importorskip("mirage_desktop.processing.face.tracker")
    from mirage_desktop.runtime.providers import probe_providers

    if "CUDAExecutionProvider" in probe_providers().working:
        pytest.skip("CUDA works here")
    proc = build_face_swap_processor(FaceSettings(cuda_only=True), _model_path(face_models))
    chain = ProcessorChain([proc])
    chain.start()
    assert "CUDA only is on" in chain.problems()[0]
