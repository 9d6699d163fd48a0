"""Provider choice and probing on this machine's CPU-only ONNX Runtime; initializers read without onnx."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from mirage_desktop.config.paths import AppPaths
from mirage_desktop.config.settings import Settings
from mirage_desktop.runtime.onnx_initializer import OnnxFormatError, read_last_initializer
from mirage_desktop.runtime.onnx_session import SessionFactory
from mirage_desktop.runtime.probe_model import identity_model_bytes
from mirage_desktop.runtime.providers import (
    CPU,
    CUDA,
    TENSORRT,
    ProviderConfig,
    ProviderError,
    choose_providers,
    parse_providers,
    probe_providers,
    provider_options,
)


@pytest.fixture(scope="module")
def report():
    return probe_providers()


def test_hand_serialised_probe_model_is_valid_onnx_and_runs():
    data = identity_model_bytes((2, 3))
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["Identity"]
    session = ort.InferenceSession(data, providers=[CPU])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(session.run(None, {"x": x})[0], x)


def test_probe_reports_what_really_works(report):
    assert CPU in report.available
    assert CPU in report.working
    assert report.chosen[-1] == CPU
    # this ORT build lists CUDA/TensorRT although their libraries are missing: the probe must not trust that
    for name in (CUDA, TENSORRT):
        if name in report.available and name not in report.working:
            assert any(name in note for note in report.notes)
    data = report.to_dict()
    assert set(data) >= {"available", "working", "chosen", "notes"}
    json.dumps(data)


def test_parse_providers_accepts_aliases_and_rejects_unknown_names():
    assert parse_providers(" CUDA, cpu,cuda ") == [CUDA, CPU]
    assert parse_providers("TensorrtExecutionProvider") == [TENSORRT]
    with pytest.raises(ProviderError, match=r"Unknown execution provider 'vulkan'.*tensorrt, cuda"):
        parse_providers("vulkan")


def test_env_override_is_honoured_by_the_session_factory(monkeypatch, report):
    monkeypatch.setenv("MIRAGE_PROVIDERS", "cpu")
    settings = Settings()
    assert settings.apply_env() == []
    config = ProviderConfig(requested=settings.face.providers)
    assert [name for name, _ in choose_providers(config, report)] == [CPU]
    model = SessionFactory(config).create(identity_model_bytes(), name="probe")
    assert model.providers == [CPU]
    assert not model.on_gpu
    np.testing.assert_array_equal(model.run({"x": np.ones((1, 4), np.float32)})[0], np.ones((1, 4)))


def test_cuda_only_without_working_cuda_is_a_clear_error(report):
    if CUDA in report.working:
        pytest.skip("CUDA works on this machine")
    config = ProviderConfig(cuda_only=True)
    with pytest.raises(
        ProviderError, match=r"CUDA only is on.*onnxruntime-gpu\[cuda,cudnn\].*MIRAGE_CUDA_ONLY=0"
    ):
        choose_providers(config, report)
    with pytest.raises(ProviderError):
        SessionFactory(config).create(identity_model_bytes())
    # the doctor's probe never raises: it explains instead
    probed = probe_providers(config)
    assert probed.chosen == []
    assert any("CUDA only" in note for note in probed.notes)


def test_tensorrt_options_cache_engines_and_use_fp16_only_when_asked():
    cache = AppPaths.from_env().cache_dir
    options = provider_options(TENSORRT, ProviderConfig(cache_dir=cache))
    assert options["trt_engine_cache_enable"] == "1"
    assert options["trt_engine_cache_path"].startswith(str(cache))
    assert options["trt_fp16_enable"] == "0"
    assert provider_options(TENSORRT, ProviderConfig(trt_fp16=True))["trt_fp16_enable"] == "1"


def _save(path, tensors):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        initializer=tensors,
    )
    onnx.save(helper.make_model(graph), str(path))


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_read_last_initializer_matches_onnx(tmp_path, dtype):
    rng = np.random.default_rng(1)
    last = rng.standard_normal((7, 5)).astype(dtype)
    path = tmp_path / "m.onnx"
    _save(
        path,
        [numpy_helper.from_array(np.zeros(3, np.float32), "first"), numpy_helper.from_array(last, "last")],
    )
    name, value = read_last_initializer(path)
    assert name == "last"
    assert value.dtype == dtype
    np.testing.assert_array_equal(value, last)


def test_read_last_initializer_handles_float_data_and_external_data(tmp_path):
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "float_data.onnx"
    _save(path, [helper.make_tensor("fd", TensorProto.FLOAT, [3, 4], values.ravel().tolist())])
    np.testing.assert_array_equal(read_last_initializer(path)[1], values)

    big = np.random.default_rng(2).standard_normal((64, 64)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        initializer=[numpy_helper.from_array(big, "emap")],
    )
    ext = tmp_path / "ext.onnx"
    onnx.save(
        helper.make_model(graph), str(ext), save_as_external_data=True, location="ext.bin", size_threshold=0
    )
    np.testing.assert_array_equal(read_last_initializer(ext)[1], big)


def test_read_last_initializer_rejects_non_models(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_text("this is not a model")
    with pytest.raises(OnnxFormatError):
        read_last_initializer(junk)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(OnnxFormatError):
        read_last_initializer(empty)
