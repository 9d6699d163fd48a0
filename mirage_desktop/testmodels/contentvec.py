"""Stand-ins for the ContentVec / HuBERT-base ONNX exports RVC uses, with their exact contract.

Input ``source`` float32 [1, 1, N] (16 kHz), output ``embed`` float32 [1, F, C], F = ⌊(N − 400)/320⌋ + 1,
C = 768 (v2) or 256 (v1) — see mirage_desktop/voice/converters/rvc/content.py.

``cost="tiny"``: one strided conv (receptive field 400, stride 320) and a projection — real answers
that follow the input (features of a framed waveform), for tests. ``cost="real"``: HuBERT-base's
arithmetic — the 7-layer 512-channel conv front end with its kernels and strides, a 768-d projection
and 12 transformer layers (4 attention projections, 12 heads, 3072-wide feed-forward) — with each
weight shared across the layers that have its shape, so the file stays small while ONNX Runtime
does every multiply-add (≈ 6.7 G per second of audio, as the real model), for benchmarks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT = "source"
OUTPUT = "embed"
_CONV = [(10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2)]


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array.astype(np.float32), name)


def build_contentvec(
    path: str | Path, dim: int = 768, cost: Literal["tiny", "real"] = "tiny", seed: int = 0
) -> Path:
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    if cost == "tiny":
        inits.append(_init("frame_w", rng.normal(0, 0.05, (32, 1, 400))))
        inits.append(_init("proj_w", rng.normal(0, 0.2, (32, dim))))
        nodes += [
            helper.make_node("Conv", [INPUT, "frame_w"], ["framed"], strides=[320]),
            helper.make_node("Tanh", ["framed"], ["act"]),
            helper.make_node("Transpose", ["act"], ["tc"], perm=[0, 2, 1]),
            helper.make_node("MatMul", ["tc", "proj_w"], [OUTPUT]),
        ]
    else:
        prev, width = INPUT, 1
        shared: dict[tuple[int, int, int], str] = {}
        for i, (k, s) in enumerate(_CONV):
            key = (512, width, k)
            if key not in shared:
                shared[key] = f"conv_w{len(shared)}"
                inits.append(_init(shared[key], rng.normal(0, (1.0 / (width * k)) ** 0.5, key)))
            nodes.append(helper.make_node("Conv", [prev, shared[key]], [f"c{i}"], strides=[s]))
            nodes.append(helper.make_node("Relu", [f"c{i}"], [f"a{i}"]))
            prev, width = f"a{i}", 512
        inits += [
            _init("fp_w", rng.normal(0, 0.04, (512, 768))),
            _init("qkv_w", rng.normal(0, 0.02, (768, 2304))),
            _init("o_w", rng.normal(0, 0.02, (768, 768))),
            _init("ff1_w", rng.normal(0, 0.02, (768, 3072))),
            _init("ff2_w", rng.normal(0, 0.01, (3072, 768))),
            _init("out_w", rng.normal(0, 0.05, (768, dim))),
            numpy_helper.from_array(np.array([1, -1, 12, 64], dtype=np.int64), "heads_shape"),
            numpy_helper.from_array(np.array([1, -1, 768], dtype=np.int64), "merge_shape"),
            _init("scale", np.array(0.125)),
        ]
        nodes.append(helper.make_node("Transpose", [prev], ["t0"], perm=[0, 2, 1]))
        nodes.append(helper.make_node("MatMul", ["t0", "fp_w"], ["h0"]))
        h = "h0"
        for layer in range(12):
            p = f"l{layer}_"
            nodes += [
                helper.make_node("MatMul", [h, "qkv_w"], [p + "qkv"]),
                helper.make_node("Split", [p + "qkv"], [p + "q", p + "k", p + "v"], axis=2, num_outputs=3),
            ]
            for part in ("q", "k", "v"):
                nodes.append(helper.make_node("Reshape", [p + part, "heads_shape"], [p + part + "r"]))
                nodes.append(
                    helper.make_node("Transpose", [p + part + "r"], [p + part + "t"], perm=[0, 2, 1, 3])
                )
            nodes += [
                helper.make_node("Transpose", [p + "kt"], [p + "kT"], perm=[0, 1, 3, 2]),
                helper.make_node("MatMul", [p + "qt", p + "kT"], [p + "s"]),
                helper.make_node("Mul", [p + "s", "scale"], [p + "ss"]),
                helper.make_node("Softmax", [p + "ss"], [p + "p"], axis=-1),
                helper.make_node("MatMul", [p + "p", p + "vt"], [p + "ctx"]),
                helper.make_node("Transpose", [p + "ctx"], [p + "ctxt"], perm=[0, 2, 1, 3]),
                helper.make_node("Reshape", [p + "ctxt", "merge_shape"], [p + "m"]),
                helper.make_node("MatMul", [p + "m", "o_w"], [p + "o"]),
                helper.make_node("Add", [h, p + "o"], [p + "r1"]),
                helper.make_node("MatMul", [p + "r1", "ff1_w"], [p + "f1"]),
                helper.make_node("Relu", [p + "f1"], [p + "f1a"]),
                helper.make_node("MatMul", [p + "f1a", "ff2_w"], [p + "f2"]),
                helper.make_node("Add", [p + "r1", p + "f2"], [p + "r2"]),
                helper.make_node("Tanh", [p + "r2"], [p + "out"]),
            ]
            h = p + "out"
        nodes.append(helper.make_node("MatMul", [h, "out_w"], [OUTPUT]))
    graph = helper.make_graph(
        nodes,
        "contentvec_standin",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, 1, "samples"])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [1, "frames", dim])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, path)
    return path
