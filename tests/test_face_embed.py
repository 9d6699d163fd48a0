"""Alignment, ArcFace embeddings and the reference photo → identity step, on the real test photos."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from mirage_desktop.processing.face.align import align_matrix, template_for
from mirage_desktop.processing.face.contract import ModelContractError
from mirage_desktop.processing.face.embedder import ArcFaceEmbedder
from mirage_desktop.processing.face.source_face import SourceFaceError, load_source_face
from mirage_desktop.runtime.onnx_session import SessionFactory
from mirage_desktop.runtime.providers import ProviderConfig
from mirage_desktop.testmodels import arcface, inswapper
from tests.test_face_swap_models import detector, face_models

# shared session-scoped fixtures, used by name in the tests below
SHARED_FIXTURES = (detector, face_models)

CPU_ONLY = SessionFactory(ProviderConfig(requested="cpu"))


@pytest.fixture(scope="module")
def embedder(face_models):
    return ArcFaceEmbedder(CPU_ONLY.create(face_models.arcface))


def test_alignment_matches_insightface():
    face_align = pytest.importorskip("insightface.utils.face_align")
    rng = np.random.default_rng(0)
    for size in (112, 128):
        for _ in range(5):
            kps = (
                face_align.arcface_dst * rng.uniform(0.5, 4)
                + rng.uniform(0, 500, 2)
                + rng.normal(0, 2, (5, 2))
            )
            ours = align_matrix(kps.astype(np.float32), size)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                theirs = face_align.estimate_norm(kps.astype(np.float32), size)
            np.testing.assert_allclose(ours, theirs, atol=1e-3)
    with pytest.raises(ValueError):
        template_for(100)


def test_embedding_matches_insightface_arcface_preprocessing(testdata, face_models, detector, embedder):
    arcface_onnx = pytest.importorskip("insightface.model_zoo.arcface_onnx")
    image = cv2.imread(str(testdata / "faces" / "obama.jpg"))
    face = max(detector.detect(image), key=lambda f: f.area)
    ours = embedder.embed(image, face.kps)
    ref_model = arcface_onnx.ArcFaceONNX(model_file=str(face_models.arcface))

    class RefFace(dict):
        kps = face.kps

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = ref_model.get(image, RefFace())
    assert abs(float(np.linalg.norm(ours)) - 1.0) < 1e-5
    np.testing.assert_allclose(ours, theirs / np.linalg.norm(theirs), atol=1e-4)


def test_different_people_get_different_identities(testdata, detector, embedder):
    obama = load_source_face(testdata / "faces" / "obama.jpg", detector, embedder)
    again = load_source_face(testdata / "faces" / "obama.jpg", detector, embedder)
    biden = load_source_face(testdata / "faces" / "biden.jpg", detector, embedder)
    assert float(obama.embedding @ again.embedding) > 0.9999
    assert float(obama.embedding @ biden.embedding) < 0.99
    assert obama.notes == [] or all("faces were found" in n for n in obama.notes)


def test_several_faces_uses_the_largest_and_says_so(testdata, detector, embedder):
    source = load_source_face(testdata / "faces" / "two_people.jpg", detector, embedder)
    assert any("faces were found" in n and "largest" in n for n in source.notes)
    faces = detector.detect(cv2.imread(str(testdata / "faces" / "two_people.jpg")))
    assert len(faces) >= 2
    assert source.face.area == pytest.approx(max(f.area for f in faces), rel=1e-4)


def test_photo_without_a_face_is_refused_with_advice(testdata, tmp_path, detector, embedder):
    image = cv2.imread(str(testdata / "faces" / "obama.jpg"))
    background = np.ascontiguousarray(image[-180:, :180])  # a corner of suit/backdrop, no face
    path = tmp_path / "background.png"
    cv2.imwrite(str(path), background)
    assert detector.detect(background) == []
    with pytest.raises(SourceFaceError, match=r"No face was found.*clear, well-lit photo"):
        load_source_face(path, detector, embedder)


def test_text_file_named_jpg_is_not_an_image(tmp_path, detector, embedder):
    path = tmp_path / "face.jpg"
    path.write_text("definitely not a JPEG")
    with pytest.raises(SourceFaceError, match=r"is a text file, not a photo.*JPEG or PNG"):
        load_source_face(path, detector, embedder)
    with pytest.raises(SourceFaceError, match="does not exist"):
        load_source_face(tmp_path / "missing.jpg", detector, embedder)


def test_huge_photo_is_downscaled_and_landmarks_map_back(testdata, tmp_path, detector, embedder):
    image = cv2.imread(str(testdata / "faces" / "obama.jpg"))
    scale = 6000 / image.shape[0]
    upscaled = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    pad = 8000 - upscaled.shape[1]
    huge = cv2.copyMakeBorder(
        upscaled, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_CONSTANT, value=(128, 128, 128)
    )
    path = tmp_path / "huge.jpg"
    cv2.imwrite(str(path), huge, [cv2.IMWRITE_JPEG_QUALITY, 80])
    big = load_source_face(path, detector, embedder)
    normal = load_source_face(testdata / "faces" / "obama.jpg", detector, embedder)
    assert big.image_size == (8000, 6000)
    assert any("scaled down" in n for n in big.notes)
    expected = normal.face.kps * scale + np.array([pad // 2, 0], np.float32)
    # the stand-in detector places landmarks to a few % of the face width, depending on scale
    tolerance = 0.06 * float(big.face.box[2] - big.face.box[0])
    assert np.abs(big.face.kps - expected).max() < tolerance
    biden = load_source_face(testdata / "faces" / "biden.jpg", detector, embedder)
    assert float(big.embedding @ normal.embedding) > float(big.embedding @ biden.embedding)


def test_model_with_unexpected_io_names_file_expected_and_found(face_models, tmp_path):
    wrong, _ = arcface.build_head_model(
        tmp_path / "renamed_arcface.onnx", input_name="data", output_name="fc1", size=112, out_dim=512
    )
    with pytest.raises(ModelContractError) as info:
        ArcFaceEmbedder(CPU_ONLY.create(wrong))
    message = str(info.value)
    assert "renamed_arcface.onnx" in message
    assert "'input.1'" in message and "'data'" in message
    assert "w600k_r50" in message
    with pytest.raises(ModelContractError, match=r"inswapper_128.onnx.*2 inputs.*'target'"):
        ArcFaceEmbedder(CPU_ONLY.create(face_models.identity))


def test_swapper_refuses_a_non_swapper_model(face_models):
    from mirage_desktop.processing.face.swapper import FaceSwapper, load_emap

    model = CPU_ONLY.create(face_models.arcface)
    with pytest.raises(ModelContractError, match=r"w600k_r50.onnx.*has 1 inputs but 2 were expected"):
        FaceSwapper(model, inswapper.make_emap())
    with pytest.raises(ModelContractError, match="512×512 identity map"):
        load_emap(face_models.arcface)
