"""Stand-in face models shared by the face tests, and checks that they keep the real contracts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mirage_desktop.processing.face.detector import ScrfdDetector
from mirage_desktop.processing.face.types import DetectedFace
from mirage_desktop.runtime.onnx_initializer import read_last_initializer
from mirage_desktop.testmodels import arcface, inswapper
from mirage_desktop.testmodels.scrfd import build_scrfd, obama_template


@dataclass(frozen=True)
class FaceModels:
    det: Path
    arcface: Path
    identity: Path
    identity_fp16: Path
    visible: Path
    nan_fp16: Path
    black_fp16: Path


@pytest.fixture(scope="session")
def face_models(tmp_path_factory, testdata) -> FaceModels:
    d = tmp_path_factory.mktemp("face_models")
    return FaceModels(
        det=build_scrfd(d / "det_10g.onnx", obama_template(testdata)),
        arcface=arcface.build_arcface(d / "w600k_r50.onnx"),
        identity=inswapper.build_identity(d / "inswapper_128.onnx"),
        identity_fp16=inswapper.build_identity(d / "inswapper_128_fp16.onnx", fp16=True),
        visible=inswapper.build_visible(d / "inswapper_visible.onnx"),
        nan_fp16=inswapper.build_degenerate(d / "inswapper_nan_fp16.onnx", "nan"),
        black_fp16=inswapper.build_degenerate(d / "inswapper_black_fp16.onnx", "black"),
    )


@pytest.fixture(scope="session")
def detector(face_models) -> ScrfdDetector:
    return ScrfdDetector.from_path(face_models.det)


class EveryFrameTracker:
    """Runs the real detector on every frame: the simplest tracker honouring FaceTracker's interface."""

    def __init__(self, det: ScrfdDetector, max_faces: int = 0) -> None:
        self.det = det
        self.max_faces = max_faces
        self.calls = 0

    def update(self, image_bgr: np.ndarray, timestamp: float) -> list[DetectedFace]:
        self.calls += 1
        return self.det.detect(image_bgr, max_faces=self.max_faces)

    def counters(self) -> dict[str, int]:
        return {"tracker_updates": self.calls}


def _io(path: Path) -> tuple[list[tuple], list[tuple]]:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return (
        [(i.name, i.shape, i.type) for i in s.get_inputs()],
        [(o.name, o.shape, o.type) for o in s.get_outputs()],
    )


def test_arcface_stand_in_has_w600k_r50_io(face_models):
    ins, outs = _io(face_models.arcface)
    assert ins == [("input.1", ["None", 3, 112, 112], "tensor(float)")]
    assert outs == [("683", ["None", 512], "tensor(float)")]


@pytest.mark.parametrize("name", ["identity", "visible"])
def test_inswapper_stand_ins_have_the_real_io_and_emap_last(face_models, name):
    path = getattr(face_models, name)
    ins, outs = _io(path)
    assert ins == [("target", [1, 3, 128, 128], "tensor(float)"), ("source", [1, 512], "tensor(float)")]
    assert outs == [("output", [1, 3, 128, 128], "tensor(float)")]
    expected = onnx.numpy_helper.to_array(onnx.load(str(path)).graph.initializer[-1])
    assert expected.shape == (512, 512)
    name_read, emap = read_last_initializer(path)
    assert name_read == "emap"
    np.testing.assert_array_equal(emap, expected)


def test_degenerate_fp16_stand_in_really_outputs_nan(face_models):
    ins, _ = _io(face_models.nan_fp16)
    assert [i[2] for i in ins] == ["tensor(float16)", "tensor(float16)"]
    s = ort.InferenceSession(str(face_models.nan_fp16), providers=["CPUExecutionProvider"])
    out = s.run(
        None, {"target": np.full((1, 3, 128, 128), 0.5, np.float16), "source": np.ones((1, 512), np.float16)}
    )
    assert np.isnan(out[0]).all()


def test_visible_stand_in_output_depends_on_source(face_models):
    s = ort.InferenceSession(str(face_models.visible), providers=["CPUExecutionProvider"])
    target = np.random.default_rng(0).random((1, 3, 128, 128), dtype=np.float32)
    a = s.run(None, {"target": target, "source": np.eye(1, 512, 0, dtype=np.float32)})[0]
    b = s.run(None, {"target": target, "source": np.eye(1, 512, 7, dtype=np.float32)})[0]
    assert np.abs(a - b).mean() > 0.05
    assert np.abs(a - target).mean() > 0.1
