"""Stand-ins for inswapper_128 with its exact contract.

Inputs ``target`` [1,3,128,128] and ``source`` [1,512], output ``output`` [1,3,128,128], all in
[0,1]; the 512×512 ``emap`` is the graph's last initializer, where the real model keeps it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mirage_desktop.testmodels.arcface import _save, conv_stack

SIZE = 128
#: the real inswapper_128's cost per face (its authors' table), in GFLOPs
INSWAPPER_GFLOPS = 174.7


def make_emap(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((512, 512)))
    return q.astype(np.float32)


def _graph(
    nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], emap: np.ndarray, elem: int
) -> onnx.GraphProto:
    return helper.make_graph(
        nodes,
        "inswapper_stand_in",
        [
            helper.make_tensor_value_info("target", elem, [1, 3, SIZE, SIZE]),
            helper.make_tensor_value_info("source", elem, [1, 512]),
        ],
        [helper.make_tensor_value_info("output", elem, [1, 3, SIZE, SIZE])],
        initializer=[*inits, numpy_helper.from_array(emap, "emap")],  # emap last, as in the real file
    )


def _source_zero(elem: int) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """``source`` folded in as an exact zero, so the graph keeps (and checks) both inputs."""
    zero = numpy_helper.from_array(
        np.zeros((1,), dtype=np.float16 if elem == TensorProto.FLOAT16 else np.float32), "zero"
    )
    nodes = [
        helper.make_node("ReduceMean", ["source"], ["src_mean"], name="src_mean", keepdims=1),
        helper.make_node("Mul", ["src_mean", "zero"], ["src_zero"], name="src_zero"),
    ]
    return nodes, [zero]


def build_identity(path: Path, fp16: bool = False, emap_seed: int = 0) -> Path:
    """Returns ``target`` unchanged: with it the whole swap + paste path must round-trip the frame."""
    elem = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    nodes, inits = _source_zero(elem)
    nodes.append(helper.make_node("Add", ["target", "src_zero"], ["output"], name="passthrough"))
    return _save(_graph(nodes, inits, make_emap(emap_seed), elem), path)


def build_visible(path: Path, seed: int = 1) -> Path:
    """Replaces most of the face with a pattern computed from ``source``: other identities, other faces."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((512, 3 * 16 * 16)) * 3.0).astype(np.float32)
    inits = [
        numpy_helper.from_array(w, "w_pattern"),
        numpy_helper.from_array(np.array([1, 3, 16, 16], dtype=np.int64), "pattern_shape"),
        numpy_helper.from_array(np.array([1, 1, 8, 8], dtype=np.float32), "scales"),
        numpy_helper.from_array(np.array([0.3], dtype=np.float32), "keep"),
        numpy_helper.from_array(np.array([0.7], dtype=np.float32), "mix"),
    ]
    nodes = [
        helper.make_node("MatMul", ["source", "w_pattern"], ["p_flat"], name="pattern"),
        helper.make_node("Reshape", ["p_flat", "pattern_shape"], ["p_small"], name="pattern_reshape"),
        helper.make_node("Resize", ["p_small", "", "scales"], ["p_big"], name="pattern_up", mode="linear"),
        helper.make_node("Sigmoid", ["p_big"], ["p_img"], name="pattern_sigmoid"),
        helper.make_node("Mul", ["target", "keep"], ["t_part"], name="keep_target"),
        helper.make_node("Mul", ["p_img", "mix"], ["p_part"], name="mix_pattern"),
        helper.make_node("Add", ["t_part", "p_part"], ["output"], name="blend"),
    ]
    return _save(_graph(nodes, inits, make_emap(), TensorProto.FLOAT), path)


def build_degenerate(path: Path, mode: Literal["nan", "black"] = "nan") -> Path:
    """fp16 I/O like inswapper_128_fp16, producing what broken fp16 kernels produce: NaN or black."""
    elem = TensorProto.FLOAT16
    value = np.array([np.nan if mode == "nan" else 0.0], dtype=np.float16)
    nodes, inits = _source_zero(elem)
    inits.append(numpy_helper.from_array(value, "broken"))
    nodes += [
        helper.make_node("Mul", ["target", "broken"], ["t_broken"], name="broken_kernel"),
        helper.make_node("Add", ["t_broken", "src_zero"], ["output"], name="out"),
    ]
    return _save(_graph(nodes, inits, make_emap(), elem), path)


def build_cost(path: Path, gmacs: float = INSWAPPER_GFLOPS, channels: int = 256) -> tuple[Path, float]:
    """Costs ``gmacs`` multiply-adds per face; output = target + a tiny residual (still a face)."""
    body = conv_stack("body", "target", 3, SIZE, gmacs, channels=channels)
    rng = np.random.default_rng(3)
    inits = [
        *body.initializers,
        numpy_helper.from_array(
            (rng.standard_normal((3, body.channels, 1, 1)) * 1e-3).astype(np.float32), "w_out"
        ),
        numpy_helper.from_array((rng.standard_normal((512, 3)) * 1e-3).astype(np.float32), "w_src"),
        numpy_helper.from_array(np.array([1, 3, 1, 1], dtype=np.int64), "src_shape"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "lo"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "hi"),
    ]
    nodes = [
        *body.nodes,
        helper.make_node("Conv", [body.output, "w_out"], ["res_small"], name="to_rgb"),
        helper.make_node("Resize", ["res_small", "", "scales"], ["res"], name="res_up", mode="nearest"),
        helper.make_node("MatMul", ["source", "w_src"], ["src_rgb"], name="src_rgb"),
        helper.make_node("Reshape", ["src_rgb", "src_shape"], ["src_bias"], name="src_bias"),
        helper.make_node("Add", ["target", "res"], ["t1"], name="add_res"),
        helper.make_node("Add", ["t1", "src_bias"], ["t2"], name="add_src"),
        helper.make_node("Clip", ["t2", "lo", "hi"], ["output"], name="clip"),
    ]
    cost = body.gmacs + 3 * body.channels * body.size**2 / 1e9
    return _save(_graph(nodes, inits, make_emap(), TensorProto.FLOAT), path), cost


def build_fails_when_run(path: Path) -> Path:
    """Declares inswapper's exact I/O (so it passes the contract check) but every run fails in ORT.

    It reshapes ``target`` into 7 rows, which 3×128×128 values cannot fill; the 7 is computed from
    ``source`` so ONNX Runtime cannot notice it while loading, only when the swap first runs.
    """
    inits = [
        numpy_helper.from_array(np.zeros((1, 1), dtype=np.float32), "zero"),
        numpy_helper.from_array(np.full((1, 1), 7.0, dtype=np.float32), "seven"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one_dim"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "lead"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "rest"),
        numpy_helper.from_array(np.array([1, 3, SIZE, SIZE], dtype=np.int64), "out_shape"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["source"], ["src_mean"], name="src_mean", keepdims=1),
        helper.make_node("Mul", ["src_mean", "zero"], ["src_zero"], name="src_zero"),
        helper.make_node("Add", ["src_zero", "seven"], ["rows_f"], name="rows_f"),
        helper.make_node("Cast", ["rows_f"], ["rows_2d"], name="rows_int", to=TensorProto.INT64),
        helper.make_node("Reshape", ["rows_2d", "one_dim"], ["rows"], name="rows"),
        helper.make_node("Concat", ["lead", "rows", "rest"], ["bad_shape"], name="bad_shape", axis=0),
        helper.make_node("Reshape", ["target", "bad_shape"], ["bad"], name="impossible_reshape"),
        # an op in between: ORT folds Reshape→Reshape into one and the bad shape would vanish
        helper.make_node("Sigmoid", ["bad"], ["bad_sig"], name="keep_apart"),
        helper.make_node("Reshape", ["bad_sig", "out_shape"], ["output"], name="back"),
    ]
    return _save(_graph(nodes, inits, make_emap(), TensorProto.FLOAT), path)
