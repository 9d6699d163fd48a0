"""The enhancer and hyperswap stand-ins: exact I/O of the real exports, and each kind does what it says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

from mirage_desktop.testmodels import enhancers, hyperswap


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _io(sess: ort.InferenceSession) -> tuple[list, list]:
    ins = [(i.name, i.type, i.shape) for i in sess.get_inputs()]
    outs = [(o.name, o.type, o.shape) for o in sess.get_outputs()]
    return ins, outs


def _graph_gmacs(path: Path) -> float:
    """Multiply-adds of every Conv and MatMul, from the graph's (inferred) shapes alone."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    g = model.graph
    shapes = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
    macs = 0
    for node in g.node:
        if node.op_type == "Conv":
            out = shapes[node.output[0]]
            _, ci_per_group, kh, kw = shapes[node.input[1]]
            macs += int(np.prod(out)) * ci_per_group * kh * kw
        elif node.op_type == "MatMul":
            macs += int(np.prod(shapes[node.output[0]])) * shapes[node.input[1]][-2]
    return macs / 1e9


def _face(size: int, seed: int = 0) -> np.ndarray:
    """A smooth face-like test picture in [-1,1] (gradients + a few soft blobs + mild texture)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    x, y = np.meshgrid(t, t)
    img = np.stack([0.4 * x, 0.3 * y, 0.2 * (x * y)])
    for cx, cy, r, v in ((-0.35, -0.2, 0.12, -0.8), (0.35, -0.2, 0.12, -0.8), (0.0, 0.4, 0.2, 0.5)):
        img += v * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
    img += 0.05 * rng.standard_normal(img.shape).astype(np.float32)
    return np.clip(img, -1, 1).astype(np.float32)[None]


def _laplacian(a: np.ndarray) -> np.ndarray:
    c = a[..., 1:-1, 1:-1]
    return np.abs(4 * c - a[..., :-2, 1:-1] - a[..., 2:, 1:-1] - a[..., 1:-1, :-2] - a[..., 1:-1, 2:])


def _weight(w: float) -> np.ndarray:
    return np.array([w]).astype(np.double)  # exactly how FaceFusion feeds it


ENHANCER_IO = {
    "gfpgan_1.4.onnx": 512,
    "gpen_bfr_256.onnx": 256,
    "gpen_bfr_512.onnx": 512,
    "codeformer.onnx": 512,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("enhancers")
    paths: dict[str, Path] = {}
    for kind in ("identity", "sharpen"):
        for p in enhancers.build_enhancer_set(d / kind, kind=kind):
            paths[f"{kind}/{p.name}"] = p
    for kind in ("identity", "visible", "cost"):
        paths[f"hyperswap/{kind}"] = hyperswap.build_hyperswap(d / f"hyperswap_{kind}.onnx", kind=kind)
    return paths


@pytest.mark.parametrize("kind", ["identity", "sharpen"])
@pytest.mark.parametrize("filename", list(ENHANCER_IO))
def test_enhancer_declares_the_real_io(built, kind, filename):
    size = ENHANCER_IO[filename]
    ins, outs = _io(_session(built[f"{kind}/{filename}"]))
    expected_in = [("input", "tensor(float)", [1, 3, size, size])]
    if filename == "codeformer.onnx":
        expected_in.append(("weight", "tensor(double)", [1]))
    assert ins == expected_in
    assert outs == [("output", "tensor(float)", [1, 3, size, size])]


def test_enhancer_files_never_hash_alike(built):
    for kind in ("identity", "sharpen"):
        blobs = [built[f"{kind}/{f}"].read_bytes() for f in ENHANCER_IO]
        assert len(set(blobs)) == len(blobs)


@pytest.mark.parametrize("filename", list(ENHANCER_IO))
def test_identity_enhancer_is_exact(built, filename):
    size = ENHANCER_IO[filename]
    sess = _session(built[f"identity/{filename}"])
    x = _face(size)
    feeds = {"input": x}
    if filename == "codeformer.onnx":
        feeds["weight"] = _weight(0.3)
    (y,) = sess.run(None, feeds)
    assert y.dtype == np.float32
    assert np.array_equal(y, x)


@pytest.mark.parametrize("filename", list(ENHANCER_IO))
def test_sharpen_enhancer_changes_the_face_and_stays_in_range(built, filename):
    size = ENHANCER_IO[filename]
    sess = _session(built[f"sharpen/{filename}"])
    x = _face(size)
    feeds = {"input": x}
    if filename == "codeformer.onnx":
        feeds["weight"] = _weight(0.0)
    (y,) = sess.run(None, feeds)
    assert y.shape == x.shape and y.dtype == np.float32
    assert y.min() >= -1.0 and y.max() <= 1.0
    diff = np.abs(y - x)
    assert diff.mean() > 0.03  # a visible change (≈ 4/255 per channel on average at the least)
    (y2,) = sess.run(None, feeds)
    assert np.array_equal(y, y2)  # deterministic
    # and it is a sharpening: more local detail (Laplacian energy) than the input
    assert _laplacian(y).mean() > 1.3 * _laplacian(x).mean()
    # nothing shifts: the change is local, the centre of brightness stays put
    assert abs(float(y.mean() - x.mean())) < 0.05


def test_codeformer_weight_is_the_fidelity(built):
    sess = _session(built["sharpen/codeformer.onnx"])
    x = _face(512)
    outs = {w: sess.run(None, {"input": x, "weight": _weight(w)})[0] for w in (0.0, 0.5, 1.0)}
    assert np.array_equal(outs[1.0], x)  # full fidelity: the input back
    d0 = np.abs(outs[0.0] - x).mean()
    d5 = np.abs(outs[0.5] - x).mean()
    assert d0 > 0.03 and d5 == pytest.approx(d0 / 2, rel=0.05)
    with pytest.raises(InvalidArgument):  # float32 weight is refused, like by the real (double) export
        sess.run(None, {"input": x, "weight": np.array([0.5], dtype=np.float32)})


def test_hyperswap_declares_the_real_io(built):
    for kind in ("identity", "visible", "cost"):
        ins, outs = _io(_session(built[f"hyperswap/{kind}"]))
        assert ins == [
            ("source", "tensor(float)", [1, 512]),
            ("target", "tensor(float)", [1, 3, 256, 256]),
        ]
        assert outs == [
            ("output", "tensor(float)", [1, 3, 256, 256]),
            ("mask", "tensor(float)", [1, 1, 256, 256]),
        ]


def _embedding(seed: int) -> np.ndarray:
    e = np.random.default_rng(seed).standard_normal((1, 512)).astype(np.float32)
    return e / np.linalg.norm(e)


def test_hyperswap_identity_is_exact_and_needs_source(built):
    sess = _session(built["hyperswap/identity"])
    t = _face(256)
    out, mask = sess.run(None, {"source": _embedding(1), "target": t})
    assert np.array_equal(out, t)
    assert mask.min() >= 0.0 and mask.max() <= 1.0 and mask[0, 0, 128, 128] > 0.99 and mask[0, 0, 0, 0] < 0.01
    with pytest.raises(ValueError, match="source"):
        sess.run(None, {"target": t})


def test_hyperswap_visible_depends_on_source_inside_the_face(built):
    sess = _session(built["hyperswap/visible"])
    t = _face(256)
    a, mask = sess.run(None, {"source": _embedding(1), "target": t})
    b, _ = sess.run(None, {"source": _embedding(2), "target": t})
    assert a.min() >= -1.0 and a.max() <= 1.0
    assert mask.min() >= 0.0 and mask.max() <= 0.8 + 1e-6
    centre = np.s_[..., 96:160, 96:160]
    assert np.abs(a - t)[centre].mean() > 0.2  # the face is painted over
    assert np.abs(a - b)[centre].mean() > 0.1  # differently for another identity
    assert np.abs(a - t)[..., :8, :8].mean() < 0.01  # the crop's corners stay the target


def test_hyperswap_cost_runs_bounded(built):
    sess = _session(built["hyperswap/cost"])
    t = _face(256)
    out, mask = sess.run(None, {"source": _embedding(1), "target": t})
    assert out.min() >= -1.0 and out.max() <= 1.0 and np.abs(out - t).mean() < 0.05
    assert mask.min() >= 0.0 and mask.max() <= 1.0


@pytest.mark.parametrize(
    ("size", "codeformer", "gflops", "stated"),
    [
        (512, False, None, enhancers.GFPGAN_1_4_GFLOPS),
        (256, False, None, enhancers.GPEN_BFR_256_GFLOPS),
        (512, False, enhancers.GPEN_BFR_512_GFLOPS, enhancers.GPEN_BFR_512_GFLOPS),
        (512, True, None, enhancers.CODEFORMER_GFLOPS),
    ],
)
def test_cost_enhancers_match_the_real_cost(tmp_path, size, codeformer, gflops, stated):
    path = enhancers.build_enhancer(
        tmp_path / "cost.onnx", size, kind="cost", gflops=gflops, codeformer=codeformer
    )
    assert path.stat().st_size < 1_000_000  # weights are shared, the file stays small
    assert _graph_gmacs(path) == pytest.approx(stated, rel=0.05)
    ins, outs = _io(_session(path))
    assert ins[0] == ("input", "tensor(float)", [1, 3, size, size])
    assert [i[0] for i in ins] == (["input", "weight"] if codeformer else ["input"])
    assert outs == [("output", "tensor(float)", [1, 3, size, size])]


def test_cheapest_cost_enhancer_runs_bounded(tmp_path):
    sess = _session(enhancers.build_enhancer(tmp_path / "gpen256.onnx", 256, kind="cost"))
    x = _face(256)
    (y,) = sess.run(None, {"input": x})
    assert y.min() >= -1.0 and y.max() <= 1.0 and np.abs(y - x).mean() < 0.05


def test_hyperswap_cost_matches_the_real_cost(built):
    assert _graph_gmacs(built["hyperswap/cost"]) == pytest.approx(hyperswap.HYPERSWAP_GFLOPS, rel=0.05)


def test_unknown_kinds_and_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError):
        enhancers.build_enhancer(tmp_path / "x.onnx", 512, kind="blur")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        enhancers.build_enhancer(tmp_path / "x.onnx", 1024, kind="cost")
    with pytest.raises(ValueError):
        hyperswap.build_hyperswap(tmp_path / "x.onnx", kind="blur")  # type: ignore[arg-type]


def test_make_test_models_writes_enhancers_and_hyperswap(tmp_path, capsys):
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "scripts" / "make_test_models.py"
    spec = importlib.util.spec_from_file_location("make_test_models", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "models"
    argv = [
        str(out),
        "--enhancers",
        "--enhancer-kind",
        "identity",
        "--hyperswap",
        "--testdata",
        str(tmp_path),
    ]
    assert module.main(argv) == 0
    for filename in (*ENHANCER_IO, "hyperswap_1a_256.onnx"):
        assert (out / filename).is_file(), filename
    x = _face(256)
    (y,) = _session(out / "gpen_bfr_256.onnx").run(None, {"input": x})
    assert np.array_equal(y, x)
