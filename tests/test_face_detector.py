"""SCRFD detector: decoding against insightface's reference, coordinates, NMS, selection, bad models."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from mirage_desktop.processing.face.contract import IOSpec, ModelContractError, check_session_io
from mirage_desktop.processing.face.detector import ScrfdDetector, letterbox, nms
from mirage_desktop.testmodels.scrfd import (
    DET10G_OUTPUT_NAMES,
    OBAMA_KPS,
    build_scrfd,
    build_scrfd_flops,
    conv_flops,
    obama_template,
)


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def model_path(tmp_path_factory, testdata) -> Path:
    return build_scrfd(tmp_path_factory.mktemp("models") / "det_10g.onnx", obama_template(testdata))


@pytest.fixture(scope="module")
def session(model_path) -> ort.InferenceSession:
    return _session(model_path)


def _image(testdata: Path, name: str) -> np.ndarray:
    image = cv2.imread(str(testdata / "faces" / name))
    assert image is not None, name
    return image


def test_standin_has_det10g_io(session):
    inputs, outputs = session.get_inputs(), session.get_outputs()
    assert [i.name for i in inputs] == ["input.1"]
    assert inputs[0].type == "tensor(float)" and inputs[0].shape[1] == 3
    assert all(isinstance(d, str) for d in (inputs[0].shape[0], *inputs[0].shape[2:]))  # dynamic N, H, W
    assert tuple(o.name for o in outputs) == DET10G_OUTPUT_NAMES
    assert [o.shape[1] for o in outputs] == [1, 1, 1, 4, 4, 4, 10, 10, 10]
    blob = np.zeros((1, 3, 320, 480), np.float32)
    counts = [o.shape[0] for o in session.run(None, {"input.1": blob})[:3]]
    assert counts == [(320 // s) * (480 // s) * 2 for s in (8, 16, 32)]


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("obama.jpg", 640),
        ("two_people.jpg", 640),
        ("group_t1.jpg", 640),
        ("two_people.jpg", 416),
        ("group_t1.jpg", 320),
    ],
)
def test_decoder_matches_insightface(session, testdata, name, size):
    from insightface.model_zoo.scrfd import SCRFD

    reference = SCRFD(session=session)
    reference.prepare(-1, det_thresh=0.5, nms_thresh=0.4, input_size=(size, size))
    image = _image(testdata, name)
    if size < 640:
        # As the tracker hands it over (at most proc_max_dim): shrinking more than 2× at once, we
        # average by area where insightface samples bilinearly, by design.
        image = cv2.resize(
            image, (640, round(640 * image.shape[0] / image.shape[1])), interpolation=cv2.INTER_AREA
        )
    ref_det, ref_kps = reference.detect(image, input_size=(size, size))
    detector = ScrfdDetector(session, input_size=size, score_threshold=0.5, nms_threshold=0.4)
    detector.compact = False  # insightface's square canvas
    ours = detector.detect(image)

    assert len(ours) == len(ref_det) >= 1
    if name != "obama.jpg" and size == 640:
        assert len(ours) >= 2  # several faces (and some clutter): exercises NMS and ordering
    by_score = sorted(ours, key=lambda f: -f.score)
    ref_order = np.argsort(-ref_det[:, 4], kind="stable")
    np.testing.assert_allclose([f.score for f in by_score], ref_det[ref_order, 4], atol=1e-5)
    np.testing.assert_allclose(np.stack([f.box for f in by_score]), ref_det[ref_order, :4], atol=0.05)
    np.testing.assert_allclose(np.stack([f.kps for f in by_score]), ref_kps[ref_order], atol=0.05)


@pytest.mark.parametrize("size", [320, 480, 640])
def test_coordinates_map_back_at_every_input_size(session, testdata, size):
    image = _image(testdata, "obama.jpg")  # taller than wide
    detector = ScrfdDetector(session, input_size=size)
    face = max(detector.detect(image), key=lambda f: f.score)
    eye_distance = float(np.linalg.norm(OBAMA_KPS[1] - OBAMA_KPS[0]))
    # The stand-in places one template layout at six discrete scales, so its keypoints are only
    # good to a share of the face size; a mapping error would be off by hundreds of pixels.
    assert np.abs(face.kps - OBAMA_KPS).max() < 0.4 * eye_distance
    assert face.box[0] < OBAMA_KPS[:, 0].min() and face.box[2] > OBAMA_KPS[:, 0].max()

    # Wider than tall, with the face off the origin: letterboxing scales by width instead.
    wide = cv2.copyMakeBorder(image, 40, 0, 700, 500, cv2.BORDER_REPLICATE)
    moved = max(detector.detect(wide), key=lambda f: f.score)
    assert np.abs(moved.kps - (OBAMA_KPS + np.array([700, 40]))).max() < 0.4 * eye_distance * (
        wide.shape[1] / 1137
    )


@pytest.mark.parametrize("factor", [2, 3])
def test_detections_scale_with_the_image(session, testdata, factor):
    # Pixel-replicated enlargements letterbox to exactly the same canvas (bilinear at 1/2 and area
    # at 1/3 average identical pixels), so every detection must scale by exactly the factor.
    small = cv2.resize(_image(testdata, "two_people.jpg"), (640, 376), interpolation=cv2.INTER_AREA)
    big = np.repeat(np.repeat(small, factor, axis=0), factor, axis=1)
    detector = ScrfdDetector(session, input_size=640)
    found_small, found_big = detector.detect(small), detector.detect(big)
    assert len(found_small) == len(found_big) >= 2
    for a, b in zip(found_small, found_big, strict=True):
        np.testing.assert_allclose(b.kps, factor * a.kps, atol=0.01)
        np.testing.assert_allclose(b.box, factor * a.box, atol=0.01)
        assert abs(a.score - b.score) < 1e-6


def test_max_faces_keeps_the_largest_first(session, testdata):
    detector = ScrfdDetector(session)
    image = _image(testdata, "group_t1.jpg")
    every = detector.detect(image)
    assert len(every) >= 3
    areas = [f.area for f in every]
    assert all(a >= b * (1 - 1e-5) for a, b in itertools.pairwise(areas))  # equal sizes may go by score
    top = detector.detect(image, max_faces=2)
    assert len(top) == 2
    for a, b in zip(top, every[:2], strict=True):
        np.testing.assert_array_equal(a.box, b.box)
    assert all(f.track_id == -1 for f in every)
    assert every[0].box.dtype == np.float32 and every[0].kps.shape == (5, 2)


def test_score_threshold_filters(session, testdata):
    image = _image(testdata, "two_people.jpg")
    loose = ScrfdDetector(session, score_threshold=0.3).detect(image)
    strict = ScrfdDetector(session, score_threshold=0.9).detect(image)
    assert len(strict) < len(loose)
    assert all(f.score >= 0.9 for f in strict) and all(f.score >= 0.3 for f in loose)


def test_nothing_to_find_returns_empty(session):
    flat = np.full((480, 640, 3), 90, np.uint8)
    assert ScrfdDetector(session).detect(flat) == []


def test_nms_keeps_best_of_overlapping_boxes():
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5], [21, 20, 31, 30]], np.float32
    )
    scores = np.array([0.6, 0.9, 0.5, 0.7, 0.8], np.float32)
    # 1 (0.9) suppresses 0 and 3 (IoU 0.68, 0.66); 4 (0.8) suppresses 2 (IoU 0.82).
    assert nms(boxes, scores, 0.4).tolist() == [1, 4]
    assert nms(boxes, scores, 0.9).tolist() == [1, 4, 3, 2]  # 3 still covers 0 (IoU 0.95)
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.4).tolist() == []


@pytest.mark.parametrize("size", [256, 336, 672, 640.0, True])
def test_input_size_out_of_range_is_refused(session, size):
    with pytest.raises(ValueError, match=r"multiple of 32|whole number"):
        ScrfdDetector(session, input_size=size)


def test_bad_images_get_clear_messages(session):
    detector = ScrfdDetector(session)
    with pytest.raises(ValueError, match="numpy array"):
        detector.detect(None)
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((100, 100, 3), np.float32))
    with pytest.raises(ValueError, match="H×W×3"):
        detector.detect(np.zeros((100, 100, 2), np.uint8))
    # Grey and BGRA frames are converted rather than refused.
    assert detector.detect(np.full((120, 160), 80, np.uint8)) == []
    assert detector.detect(np.full((120, 160, 4), 80, np.uint8)) == []


def _tiny_model(path: Path, input_name: str = "input.1", outputs: int = 9) -> Path:
    """A model that is not SCRFD: a 1×1 convolution and pooled copies as outputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((1, 3, 1, 1), np.float32), "w")
    nodes = [helper.make_node("Conv", [input_name, "w"], ["y"])]
    outs = []
    for k in range(outputs):
        nodes.append(helper.make_node("Flatten", ["y"], [f"o{k}"], axis=1))
        outs.append(helper.make_tensor_value_info(f"o{k}", TensorProto.FLOAT, [1, None]))
    graph = helper.make_graph(
        nodes,
        "bad",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, "h", "w"])],
        outs,
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def test_wrong_input_name_is_a_clear_error(tmp_path):
    path = _tiny_model(tmp_path / "renamed.onnx", input_name="data")
    with pytest.raises(ModelContractError, match=r"renamed\.onnx.*'input\.1'.*'data'"):
        ScrfdDetector.from_path(path)


def test_wrong_output_count_is_a_clear_error(tmp_path):
    path = _tiny_model(tmp_path / "three.onnx", outputs=3)
    with pytest.raises(ModelContractError, match=r"three\.onnx.* 3 outputs but 9"):
        ScrfdDetector.from_path(path)


def test_fixed_size_model_must_match_the_input_size(tmp_path, model_path):
    import onnx

    model = onnx.load(str(model_path))
    for dim in model.graph.input[0].type.tensor_type.shape.dim[2:]:
        dim.Clear()
        dim.dim_value = 640
    onnx.save(model, str(tmp_path / "det_640.onnx"))
    with pytest.raises(ModelContractError, match=r"only accepts 640×640.*set to 320"):
        ScrfdDetector.from_path(tmp_path / "det_640.onnx", input_size=320)
    assert ScrfdDetector.from_path(tmp_path / "det_640.onnx", input_size=640).input_size == 640


def test_missing_and_damaged_files(tmp_path):
    with pytest.raises(ModelContractError, match="not found"):
        ScrfdDetector.from_path(tmp_path / "nope.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(ModelContractError, match=r"could not be loaded.*download it again"):
        ScrfdDetector.from_path(junk)


def test_check_session_io_reports_shape_and_type(session):
    with pytest.raises(ModelContractError, match=r"input 0 should be 'input\.1' float32 \[\?, 1, \?, \?\]"):
        check_session_io(session, "det.onnx", [IOSpec("input.1", (None, 1, None, None))], 9)
    with pytest.raises(ModelContractError, match="type float32 instead of float16"):
        check_session_io(session, "det.onnx", [IOSpec("input.1", None, "float16")], 9)
    with pytest.raises(ModelContractError, match="2 dimensions instead of 3"):
        check_session_io(session, "det.onnx", [IOSpec("input.1")], [IOSpec(None, (1, None, 1))] * 9)
    found_in, found_out = check_session_io(session, Path("/x/det.onnx"), [IOSpec("input.1")], 9)
    assert found_in[0].shape[1] == 3 and len(found_out) == 9


def test_flop_matched_standin(tmp_path, testdata, session):
    path = build_scrfd_flops(tmp_path / "det_10g_flops.onnx", obama_template(testdata))
    flops = conv_flops(path, 640, 640)
    assert 9.5e9 < flops < 10.5e9
    assert conv_flops(tmp_path / "det_10g_flops.onnx", 320, 320) < flops / 3.5
    heavy = ScrfdDetector(_session(path), input_size=640)
    light = ScrfdDetector(session, input_size=640)
    image = _image(testdata, "obama.jpg")
    a, b = heavy.detect(image), light.detect(image)
    assert len(a) == len(b) >= 1
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x.kps, y.kps, atol=1e-2)
        assert abs(x.score - y.score) < 1e-4


@pytest.mark.parametrize(
    ("name", "reference_canvas"),
    [("hamilton_frame", "rectangle"), ("two_people.jpg", "rectangle"), ("obama.jpg", "square")],
)
def test_compact_canvas_matches_insightface(session, testdata, name, reference_canvas):
    """A dynamic-size model gets a canvas trimmed to the image (640×384 for 16:9, 40 % fewer pixels
    than 640×640). For a wide frame that is exactly insightface's SCRFD asked for that rectangle; for
    a portrait whose rounded-up width would make insightface fit the width instead, the placement
    (one scale from the height) is still insightface's square one, and so are the faces."""
    from insightface.model_zoo.scrfd import SCRFD

    if name == "hamilton_frame":
        cap = cv2.VideoCapture(str(testdata / "video" / "hamilton_clip.mp4"))
        ok, image = cap.read()
        cap.release()
        assert ok
        image = cv2.resize(image, (1280, 720))
    else:
        image = _image(testdata, name)
    detector = ScrfdDetector(session, input_size=640, score_threshold=0.5, nms_threshold=0.4)
    assert detector.compact
    box = letterbox(image, 640, compact=True)
    h, w = box.canvas.shape[:2]
    assert max(h, w) == 640 and h % 32 == 0 and w % 32 == 0 and min(h, w) < 640
    if name == "hamilton_frame":
        assert (h, w) == (384, 640)
    size = (w, h) if reference_canvas == "rectangle" else (640, 640)
    reference = SCRFD(session=session)
    reference.prepare(-1, det_thresh=0.5, nms_thresh=0.4, input_size=size)
    ref_det, ref_kps = reference.detect(image, input_size=size)
    ours = detector.detect(image)
    assert len(ours) == len(ref_det) >= 1
    by_score = sorted(ours, key=lambda f: -f.score)
    ref_order = np.argsort(-ref_det[:, 4], kind="stable")
    np.testing.assert_allclose([f.score for f in by_score], ref_det[ref_order, 4], atol=1e-5)
    np.testing.assert_allclose(np.stack([f.box for f in by_score]), ref_det[ref_order, :4], atol=0.05)
    np.testing.assert_allclose(np.stack([f.kps for f in by_score]), ref_kps[ref_order], atol=0.05)


def test_a_fixed_size_model_keeps_the_square_canvas(tmp_path, testdata):
    import onnx

    model = onnx.load(str(build_scrfd(tmp_path / "det.onnx", obama_template(testdata))))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = 640, 640
    onnx.save(model, str(tmp_path / "fixed.onnx"))
    detector = ScrfdDetector(_session(tmp_path / "fixed.onnx"), input_size=640)
    assert not detector.compact
    assert detector.detect(_image(testdata, "two_people.jpg"))
