"""Stand-ins for ArcFace w600k_r50 and other single-input face-crop models, plus a cost-matched conv body.

Cost is counted in multiply-adds (MACs), the convention of the SCRFD and arcface_torch model tables
("10 GFLOPs" SCRFD-10G, "6.3 GFLOPs" ResNet-50 ArcFace are both multiply-add counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ARCFACE_INPUT = "input.1"
ARCFACE_OUTPUT = "683"
EMBEDDING_DIM = 512
#: ResNet-50 ArcFace (iresnet50) at 112², counted layer by layer: ≈ 6.3 G multiply-adds
ARCFACE_R50_GMACS = 6.3


@dataclass(slots=True)
class ConvStack:
    """Nodes and weights of a plain conv body: stride-2 stem, then N 3×3 convs sharing one weight.

    Sharing the weight keeps the file small while ORT still does every layer's arithmetic.
    """

    nodes: list[onnx.NodeProto]
    initializers: list[onnx.TensorProto]
    output: str
    channels: int
    size: int
    gmacs: float


def conv_stack(
    prefix: str, x: str, in_ch: int, size: int, gmacs: float, channels: int = 64, seed: int = 0
) -> ConvStack:
    rng = np.random.default_rng(seed)
    half = (size + 1) // 2
    stem_macs = in_ch * channels * 9 * half * half
    layer_macs = channels * channels * 9 * half * half
    layers = max(0, round((gmacs * 1e9 - stem_macs) / layer_macs))
    w_stem = (rng.standard_normal((channels, in_ch, 3, 3)) * np.sqrt(2.0 / (9 * in_ch))).astype(np.float32)
    # slightly below He scale so activations shrink rather than overflow across many layers
    w_body = (rng.standard_normal((channels, channels, 3, 3)) * np.sqrt(1.0 / (9 * channels))).astype(
        np.float32
    )
    inits = [
        numpy_helper.from_array(w_stem, f"{prefix}_w_stem"),
        numpy_helper.from_array(w_body, f"{prefix}_w_body"),
    ]
    nodes = [
        helper.make_node(
            "Conv",
            [x, f"{prefix}_w_stem"],
            [f"{prefix}_c0"],
            name=f"{prefix}_stem",
            pads=[1, 1, 1, 1],
            strides=[2, 2],
        ),
        helper.make_node("Relu", [f"{prefix}_c0"], [f"{prefix}_r0"], name=f"{prefix}_relu0"),
    ]
    cur = f"{prefix}_r0"
    for i in range(1, layers + 1):
        nodes.append(
            helper.make_node(
                "Conv",
                [cur, f"{prefix}_w_body"],
                [f"{prefix}_c{i}"],
                name=f"{prefix}_conv{i}",
                pads=[1, 1, 1, 1],
            )
        )
        nodes.append(
            helper.make_node("Relu", [f"{prefix}_c{i}"], [f"{prefix}_r{i}"], name=f"{prefix}_relu{i}")
        )
        cur = f"{prefix}_r{i}"
    return ConvStack(nodes, inits, cur, channels, half, (stem_macs + layers * layer_macs) / 1e9)


def _save(graph: onnx.GraphProto, path: Path, opset: int = 17) -> Path:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="mirage-testmodels"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def build_head_model(
    path: Path,
    *,
    input_name: str,
    output_name: str,
    size: int,
    out_dim: int,
    gmacs: float = 0.0,
    batch: str | int = "None",
    seed: int = 0,
) -> tuple[Path, float]:
    """A 1×3×size×size → 1×out_dim model whose output really depends on the pixels.

    With ``gmacs`` = 0 it pools the crop to 8×8 and projects it (cheap but identity-discriminating);
    otherwise a conv body of that cost feeds the projection. Returns (path, GMACs).
    """
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    if gmacs > 0:
        body = conv_stack("body", input_name, 3, size, gmacs, seed=seed)
        nodes += body.nodes
        inits += body.initializers
        nodes.append(helper.make_node("GlobalAveragePool", [body.output], ["pooled"], name="gap"))
        features, cost = body.channels, body.gmacs
    else:
        k = size // 8
        nodes.append(
            helper.make_node(
                "AveragePool", [input_name], ["pooled"], name="pool", kernel_shape=[k, k], strides=[k, k]
            )
        )
        features, cost = 3 * 8 * 8, 0.0
    nodes.append(helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten", axis=1))
    proj = (rng.standard_normal((features, out_dim)) / np.sqrt(features)).astype(np.float32)
    inits.append(numpy_helper.from_array(proj, "proj"))
    nodes.append(helper.make_node("MatMul", ["flat", "proj"], [output_name], name="project"))
    cost += features * out_dim / 1e9
    graph = helper.make_graph(
        nodes,
        "stand_in",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, out_dim])],
        initializer=inits,
    )
    return _save(graph, path), cost


def build_arcface(path: Path, gmacs: float = 0.0, seed: int = 0) -> Path:
    """w600k_r50's exact I/O: ``input.1`` float32 [None,3,112,112] → ``683`` float32 [None,512].

    ``gmacs`` = ARCFACE_R50_GMACS gives the real model's cost.
    """
    out, _ = build_head_model(
        path,
        input_name=ARCFACE_INPUT,
        output_name=ARCFACE_OUTPUT,
        size=112,
        out_dim=EMBEDDING_DIM,
        gmacs=gmacs,
        seed=seed,
    )
    return out
