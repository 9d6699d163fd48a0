"""Stand-ins for FaceFusion's hyperswap_1a_256 (and 1b/1c, same contract) with its exact I/O.

Contract, and where each part comes from:

* inputs ``source`` float32 [1,512] then ``target`` float32 [1,3,256,256], outputs ``output`` float32
  [1,3,256,256] and ``mask`` float32 [1,1,256,256]: facefusion/facefusion-labs hyperswap/src/
  exporting.py exports ``torch.onnx.export(model, (source [1,512], target [1,3,S,S]), ...,
  input_names=['source','target'], output_names=['output','mask'])`` with S = ``target_size`` 256.
  The released .onnx files themselves could not be inspected here; this is their exporter.
* ``source`` is the L2-normalised ArcFace embedding (FaceFusion face_swapper/core.py
  ``prepare_source_embedding``: ``source_face.embedding_norm``, then ``balance_source_embedding``
  mixes in the normalised target embedding by ``face_swapper_weight``).
* ``target``: RGB crop (arcface_128 template, 256²) normalised (x/255 − 0.5)/0.5 (model table:
  mean = std = 0.5).
* ``output`` in [-1,1]: labs generator.py computes ``tanh(AAD(...)) · mask + target · (1 − mask)``,
  so it is already blended with the target; FaceFusion de-normalises with ·0.5 + 0.5 and clips.
  ``mask`` in [0,1] (MaskNet ends in a sigmoid) is where the generated face was used. FaceFusion
  itself reads only ``run(None, ...)[0][0]``.

Cost: ≈ 31.9 G multiply-adds per face, counted from the labs networks (unet.py, aad.py,
masknet.py) with the README's generator config (source_channels 512, output_size 256,
num_blocks 2) and masker (67 in, 16 filters): U-Net encoder/decoder ≈ 2.2, AAD ≈ 28.9,
MaskNet ≈ 0.9. No official figure was found, and whether 1a/1b/1c differ in width is not public.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mirage_desktop.testmodels.arcface import _save, conv_stack

SIZE = 256
SOURCE = "source"
TARGET = "target"
OUTPUT = "output"
MASK = "mask"
#: hyperswap_1a_256's cost per face in G multiply-adds, derived from its architecture (module doc)
HYPERSWAP_GFLOPS = 31.9


def face_mask(size: int = SIZE) -> np.ndarray:
    """A soft ellipse over the face area of the arcface_128 crop, [1,1,size,size] in (0,1)."""
    t = (np.arange(size, dtype=np.float64) + 0.5) / size
    x, y = np.meshgrid(t, t)
    d = ((x - 0.5) / 0.36) ** 2 + ((y - 0.54) / 0.44) ** 2
    m = 1.0 / (1.0 + np.exp(-(1.0 - d) * 10.0))
    return m.reshape(1, 1, size, size).astype(np.float32)


def _graph(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto]) -> onnx.GraphProto:
    return helper.make_graph(
        nodes,
        "hyperswap_stand_in",
        [
            helper.make_tensor_value_info(SOURCE, TensorProto.FLOAT, [1, 512]),
            helper.make_tensor_value_info(TARGET, TensorProto.FLOAT, [1, 3, SIZE, SIZE]),
        ],
        [
            helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [1, 3, SIZE, SIZE]),
            helper.make_tensor_value_info(MASK, TensorProto.FLOAT, [1, 1, SIZE, SIZE]),
        ],
        initializer=inits,
    )


def _source_zero() -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """``source`` folded in as an exact zero (like inswapper's), so both inputs stay required."""
    nodes = [
        helper.make_node("ReduceMean", [SOURCE], ["src_mean"], name="src_mean", keepdims=1),
        helper.make_node("Mul", ["src_mean", "zero"], ["src_zero"], name="src_zero"),
    ]
    return nodes, [numpy_helper.from_array(np.zeros((1,), dtype=np.float32), "zero")]


def _identity(nodes: list, inits: list) -> None:
    n, i = _source_zero()
    nodes += [*n, helper.make_node("Add", [TARGET, "src_zero"], [OUTPUT], name="passthrough")]
    inits += [*i, numpy_helper.from_array(face_mask(), "face_mask")]
    nodes.append(helper.make_node("Identity", ["face_mask"], [MASK], name="mask_out"))


def _visible(nodes: list, inits: list, seed: int) -> None:
    """output = target + m·(pattern(source) − target), m = 0.8 · face ellipse; mask = m."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((512, 3 * 16 * 16)) * 3.0).astype(np.float32)
    inits += [
        numpy_helper.from_array(w, "w_pattern"),
        numpy_helper.from_array(np.array([1, 3, 16, 16], dtype=np.int64), "pattern_shape"),
        numpy_helper.from_array(np.array([1, 1, 16, 16], dtype=np.float32), "scales"),
        numpy_helper.from_array(face_mask() * np.float32(0.8), "face_mask"),
    ]
    nodes += [
        helper.make_node("MatMul", [SOURCE, "w_pattern"], ["p_flat"], name="pattern"),
        helper.make_node("Reshape", ["p_flat", "pattern_shape"], ["p_small"], name="pattern_reshape"),
        helper.make_node("Resize", ["p_small", "", "scales"], ["p_big"], name="pattern_up", mode="linear"),
        helper.make_node("Tanh", ["p_big"], ["p_img"], name="pattern_tanh"),
        helper.make_node("Sub", ["p_img", TARGET], ["delta"], name="delta"),
        helper.make_node("Mul", ["delta", "face_mask"], ["delta_m"], name="delta_masked"),
        helper.make_node("Add", [TARGET, "delta_m"], [OUTPUT], name="blend"),
        helper.make_node("Identity", ["face_mask"], [MASK], name="mask_out"),
    ]


def _cost(nodes: list, inits: list, gmacs: float, channels: int) -> None:
    """A ``gmacs`` conv body; output = clip(target + 0.05·tanh(res) + source bias, −1, 1)."""
    half = SIZE // 2
    heads = 4 * channels * half * half / 1e9  # to_rgb (3) + to_mask (1) 1×1 convs
    body = conv_stack("body", TARGET, 3, SIZE, gmacs - heads - 512 * 3 / 1e9, channels=channels)
    rng = np.random.default_rng(7)
    c = body.channels
    inits += [
        *body.initializers,
        numpy_helper.from_array((rng.standard_normal((3, c, 1, 1)) / np.sqrt(c)).astype(np.float32), "w_rgb"),
        numpy_helper.from_array(
            (rng.standard_normal((1, c, 1, 1)) / np.sqrt(c)).astype(np.float32), "w_mask"
        ),
        numpy_helper.from_array((rng.standard_normal((512, 3)) * 1e-3).astype(np.float32), "w_src"),
        numpy_helper.from_array(np.array([1, 3, 1, 1], dtype=np.int64), "src_shape"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales"),
        numpy_helper.from_array(np.array(0.05, dtype=np.float32), "res_scale"),
        numpy_helper.from_array(np.array(-1.0, dtype=np.float32), "lo"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "hi"),
    ]
    nodes += [
        *body.nodes,
        helper.make_node("Conv", [body.output, "w_rgb"], ["rgb_small"], name="to_rgb"),
        helper.make_node("Resize", ["rgb_small", "", "scales"], ["rgb_up"], name="rgb_up", mode="nearest"),
        helper.make_node("Tanh", ["rgb_up"], ["rgb_tanh"], name="rgb_tanh"),
        helper.make_node("Mul", ["rgb_tanh", "res_scale"], ["res"], name="res_scale"),
        helper.make_node("MatMul", [SOURCE, "w_src"], ["src_rgb"], name="src_rgb"),
        helper.make_node("Reshape", ["src_rgb", "src_shape"], ["src_bias"], name="src_bias"),
        helper.make_node("Add", [TARGET, "res"], ["t1"], name="add_res"),
        helper.make_node("Add", ["t1", "src_bias"], ["t2"], name="add_src"),
        helper.make_node("Clip", ["t2", "lo", "hi"], [OUTPUT], name="clip"),
        helper.make_node("Conv", [body.output, "w_mask"], ["mask_small"], name="to_mask"),
        helper.make_node("Resize", ["mask_small", "", "scales"], ["mask_up"], name="mask_up", mode="nearest"),
        helper.make_node("Sigmoid", ["mask_up"], [MASK], name="mask_sigmoid"),
    ]


def build_hyperswap(
    path: Path,
    kind: Literal["identity", "visible", "cost"] = "visible",
    gflops: float | None = None,
    seed: int = 1,
    channels: int = 64,
) -> Path:
    """A hyperswap_1a_256 stand-in (``source`` [1,512], ``target`` → ``output``, ``mask``).

    * ``identity``: ``output`` is ``target`` bit for bit (``source`` folded in as an exact 0), ``mask``
      the fixed soft face ellipse of ``face_mask``;
    * ``visible``: blends a ``source``-dependent pattern over the face (80 % at its centre, fading
      out at the ellipse's edge); ``mask`` is that blend weight; other identities, other faces;
    * ``cost``: ``gflops`` G multiply-adds (default ``HYPERSWAP_GFLOPS``); ``output`` is the target
      plus a small residual and a tiny ``source`` bias, ``mask`` a sigmoid of the body's features.
    """
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    if kind == "identity":
        _identity(nodes, inits)
    elif kind == "visible":
        _visible(nodes, inits, seed)
    elif kind == "cost":
        _cost(nodes, inits, HYPERSWAP_GFLOPS if gflops is None else gflops, channels)
    else:
        raise ValueError(f"unknown hyperswap kind {kind!r}")
    return _save(_graph(nodes, inits), path)
