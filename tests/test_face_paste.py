"""Paste-back: ROI-only, round-trip fidelity with an identity swapper, edge cases at the frame border."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mirage_desktop.processing.face.align import align_matrix, warp_crop
from mirage_desktop.processing.face.paste import FacePaster, MaskShape, build_mask
from tests.test_face_swap_models import detector, face_models

# shared session-scoped fixtures, used by name in the tests below
SHARED_FIXTURES = (detector, face_models)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def hamilton(testdata) -> np.ndarray:
    cap = cv2.VideoCapture(str(testdata / "video" / "hamilton_clip.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame


def test_mask_is_soft_inside_and_exactly_zero_at_the_border():
    mask, (x0, y0, x1, y1) = build_mask(128, MaskShape())
    assert mask.dtype == np.float32 and mask.shape == (128, 128)
    assert mask[64, 64] == pytest.approx(1.0, abs=1e-3)
    assert mask[0].max() == 0 and mask[-1].max() == 0 and mask[:, 0].max() == 0 and mask[:, -1].max() == 0
    assert 0 < x0 < 64 < x1 < 128 and 0 < y0 < 64 < y1 < 128
    assert np.count_nonzero((mask > 0.05) & (mask < 0.95)) > 500  # a real feather, not a hard edge


@pytest.mark.parametrize("size", [(640, 360), (1280, 720), (1920, 1080)])
def test_replace_paste_round_trips_a_video_frame(hamilton, detector, size):
    frame = cv2.resize(hamilton, size, interpolation=cv2.INTER_CUBIC)
    faces = detector.detect(frame)
    assert faces, "the stand-in detector should find the faces in the hamilton clip"
    paster = FacePaster(shape=MaskShape(mode="replace"))
    out = frame.copy()
    touched = np.zeros(frame.shape[:2], bool)
    for face in faces:
        matrix = align_matrix(face.kps, 128)
        crop = warp_crop(frame, matrix, 128)
        x0, y0, x1, y1 = paster.paste(out, crop, matrix)
        touched[y0:y1, x0:x1] = True
        # the ROI hugs the face: no larger than ~2× its detected box side
        side = max(face.box[2] - face.box[0], face.box[3] - face.box[1])
        assert max(x1 - x0, y1 - y0) < 2.0 * side
    assert psnr(out, frame) >= 60.0
    assert np.array_equal(out[~touched], frame[~touched])


def test_detail_paste_is_exact_where_the_swapper_changed_nothing(testdata, detector):
    image = cv2.imread(str(testdata / "faces" / "obama.jpg"))  # a large face: far more detail than 128²
    face = max(detector.detect(image), key=lambda f: f.area)
    matrix = align_matrix(face.kps, 128)
    crop = warp_crop(image, matrix, 128)
    out = image.copy()
    FacePaster().paste(out, crop, matrix, crop)
    assert np.array_equal(out, image)
    # the classic blend cannot keep that detail: this is why "detail" is the default
    classic = image.copy()
    FacePaster(shape=MaskShape(mode="replace")).paste(classic, crop, matrix)
    assert psnr(classic, image) < 55


def test_detail_paste_applies_the_change_inside_the_face_only(testdata, detector):
    image = cv2.imread(str(testdata / "faces" / "biden.jpg"))
    face = max(detector.detect(image), key=lambda f: f.area)
    matrix = align_matrix(face.kps, 128)
    crop = warp_crop(image, matrix, 128)
    changed = crop.copy()
    changed[..., 2] = 255  # make the whole crop red
    out = image.copy()
    x0, y0, x1, y1 = FacePaster().paste(out, changed, matrix, crop)
    cx, cy = face.kps[2].astype(int)  # nose tip
    assert out[cy, cx, 2] >= 250 and image[cy, cx, 2] < 240
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], image[outside])


def test_faces_at_or_beyond_the_frame_edge(hamilton, detector):
    paster = FacePaster()
    frame = hamilton.copy()
    face = max(detector.detect(frame), key=lambda f: f.area)
    shifted = face.kps - face.kps.mean(axis=0) + np.array([2.0, 2.0])  # face centred on the top-left corner
    matrix = align_matrix(shifted, 128)
    crop = warp_crop(frame, matrix, 128)
    box = paster.paste(frame, np.full_like(crop, 200), matrix, crop)
    assert box is not None and box[0] == 0 and box[1] == 0
    gone = align_matrix(face.kps + np.array([5000.0, 5000.0]), 128)
    assert paster.paste(frame, crop, gone, crop) is None
