"""Stand-ins for the face enhancers GFPGAN 1.4, GPEN-BFR-256/512 and CodeFormer, with their exact I/O.

Contract (FaceFusion's exports, as its ``processors/modules/face_enhancer/core.py`` drives them):

* ``input`` float32 [1,3,S,S], RGB in [-1,1]: ``prepare_crop_frame`` does BGR→RGB, ``/255``, ``(x-0.5)/0.5``;
  S = 512 for gfpgan_1.4 / gpen_bfr_512 / codeformer and 256 for gpen_bfr_256 (its model table).
* CodeFormer only: ``weight`` tensor(double) [1], the fidelity, fed as
  ``numpy.array([w]).astype(numpy.double)``; ``forward`` looks inputs up by name ('input', 'weight'),
  so a model without ``weight`` is a plain enhancer. A third-party runner notes other CodeFormer
  exports use float32 or a scalar shape; FaceFusion's [1] double is the one copied here.
* one output float32 [1,3,S,S] in [-1,1]: FaceFusion reads ``run(None, ...)[0][0]`` and
  ``normalize_crop_frame`` clips to [-1,1] before ``(x+1)/2``. The real output name is not used by
  FaceFusion (it takes the first output); it is ``output`` here.

Cost per face, in G multiply-adds (the project's "GFLOPs", see arcface.py), counted layer by layer
from the published architectures (convs, linears, attention matmuls; norms, activations and
resampling left out, as in the SCRFD/ArcFace tables):

* GFPGAN v1.4 ≈ 197.8: ``GFPGANv1Clean(out_size=512, channel_multiplier=2, sft_half=True,
  different_w=True, input_is_latent=True)`` (TencentARC/GFPGAN gfpganv1_clean_arch.py +
  stylegan2_clean_arch.py): U-Net at half the StyleGAN channels, SFT scale/shift convs, and a
  StyleGAN2 decoder whose up-convs run *after* bilinear upsampling (at the output resolution).
* GPEN-BFR-512 ≈ 137.6 and GPEN-BFR-256 ≈ 8.6: yangxy/GPEN face_model/gpen_model.py
  ``FullGenerator`` (stride-2 conv encoder whose features are concatenated as "noise", so every
  decoder conv sees 2× channels; transposed-conv upsampling + 4×4 blur), with the repo's run
  flags ``channel_multiplier 2, narrow 1`` (512) and ``channel_multiplier 1, narrow 0.5`` (256).
* CodeFormer ≈ 404.9: sczhou/CodeFormer codeformer_arch.py + vqgan_arch.py (VQGAN encoder and
  decoder nf=64, ch_mult [1,2,2,4,4,8], 2 res-blocks per level, attention at 16²; 9-layer 512-d
  transformer on 256 tokens; the four Fuse_sft blocks at 32..256, which the ``weight`` input drives).

No published per-model FLOP figures were found; these derivations are the source. The ``cost``
stand-ins are a conv body of that many multiply-adds (``arcface.conv_stack``, one shared weight).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mirage_desktop.testmodels.arcface import _save, conv_stack

INPUT = "input"
WEIGHT = "weight"
OUTPUT = "output"
#: G multiply-adds per face, derived from each architecture's layer config (see the module doc)
GFPGAN_1_4_GFLOPS = 197.8
GPEN_BFR_256_GFLOPS = 8.6
GPEN_BFR_512_GFLOPS = 137.6
CODEFORMER_GFLOPS = 404.9

EnhancerKind = Literal["identity", "sharpen", "cost"]


def _graph(
    name: str, size: int, codeformer: bool, nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto]
) -> onnx.GraphProto:
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, 3, size, size])]
    if codeformer:
        inputs.append(helper.make_tensor_value_info(WEIGHT, TensorProto.DOUBLE, [1]))
    return helper.make_graph(
        nodes,
        name,
        inputs,
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [1, 3, size, size])],
        initializer=inits,
    )


def _bounds() -> list[onnx.TensorProto]:
    return [
        numpy_helper.from_array(np.array(-1.0, dtype=np.float32), "lo"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "hi"),
    ]


def _gaussian_5x5(channels: int = 3, sigma: float = 1.0) -> np.ndarray:
    t = np.arange(5, dtype=np.float64) - 2.0
    g = np.exp(-(t**2) / (2 * sigma**2))
    k = np.outer(g, g)
    k /= k.sum()
    return np.broadcast_to(k, (channels, 1, 5, 5)).astype(np.float32)


def _sharpen_nodes(x: str, out: str, amount: float, contrast: float) -> tuple[list, list]:
    """``out`` = clip(contrast · (x + amount · (x − blur(x))), −1, 1): unsharp mask + contrast.

    The blur is a 5×5 Gaussian over reflect-padded edges, so borders are not darkened.
    """
    inits = [
        numpy_helper.from_array(_gaussian_5x5(), "blur_w"),
        numpy_helper.from_array(np.array([0, 0, 2, 2, 0, 0, 2, 2], dtype=np.int64), "blur_pads"),
        numpy_helper.from_array(np.array(amount, dtype=np.float32), "amount"),
        numpy_helper.from_array(np.array(contrast, dtype=np.float32), "contrast"),
        *_bounds(),
    ]
    nodes = [
        helper.make_node("Pad", [x, "blur_pads"], ["x_pad"], name="reflect_pad", mode="reflect"),
        helper.make_node("Conv", ["x_pad", "blur_w"], ["x_blur"], name="blur", group=3),
        helper.make_node("Sub", [x, "x_blur"], ["detail"], name="detail"),
        helper.make_node("Mul", ["detail", "amount"], ["detail_amt"], name="detail_amount"),
        helper.make_node("Add", [x, "detail_amt"], ["sharp"], name="unsharp"),
        helper.make_node("Mul", ["sharp", "contrast"], ["sharp_c"], name="contrast_gain"),
        helper.make_node("Clip", ["sharp_c", "lo", "hi"], [out], name="clip_sharp"),
    ]
    return nodes, inits


def _fidelity_nodes(x: str, enhanced: str) -> tuple[list, list]:
    """CodeFormer's fidelity: ``output`` = clip(x + (1 − weight) · (enhanced − x), −1, 1).

    weight 1 gives the input back exactly, weight 0 the full change: like the real model, where a
    higher w keeps more of the input.
    """
    inits = [numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one"), *_bounds()]
    nodes = [
        helper.make_node("Cast", [WEIGHT], ["w_f"], name="weight_float", to=TensorProto.FLOAT),
        helper.make_node("Sub", ["one", "w_f"], ["one_minus_w"], name="one_minus_w"),
        helper.make_node("Sub", [enhanced, x], ["change"], name="change"),
        helper.make_node("Mul", ["change", "one_minus_w"], ["change_w"], name="change_by_fidelity"),
        helper.make_node("Add", [x, "change_w"], ["fid"], name="apply_fidelity"),
        helper.make_node("Clip", ["fid", "lo", "hi"], [OUTPUT], name="clip_out"),
    ]
    return nodes, inits


def default_gflops(size: int, codeformer: bool = False) -> float:
    """The real model's cost for a given enhancer contract (512 without weight: GFPGAN 1.4)."""
    if codeformer:
        return CODEFORMER_GFLOPS
    if size == 512:
        return GFPGAN_1_4_GFLOPS
    if size == 256:
        return GPEN_BFR_256_GFLOPS
    raise ValueError(f"no default cost for a {size}² enhancer: pass gflops")


def build_enhancer(
    path: Path,
    size: int = 512,
    kind: EnhancerKind = "sharpen",
    gflops: float | None = None,
    codeformer: bool = False,
    amount: float = 1.5,
    contrast: float = 1.15,
    name: str | None = None,
) -> Path:
    """An enhancer with the real I/O at ``size`` (CodeFormer's extra ``weight`` if ``codeformer``).

    * ``identity``: ``output`` is ``input`` bit for bit (``weight``, if any, is folded in as an exact 0);
    * ``sharpen``: unsharp mask + contrast, clipped to [-1,1]; with ``codeformer`` it is scaled by
      (1 − weight), so weight 1 returns the input exactly and weight 0 sharpens fully;
    * ``cost``: ``gflops`` G multiply-adds (default: the real model's, see ``default_gflops``) in a
      conv body; ``output`` = clip(input + 0.05·tanh(residual), −1, 1), the residual scaled by
      (1 − weight) for CodeFormer.

    ``name`` is the graph's name (default from the contract); files for different models should
    differ in it, so they never hash alike.
    """
    if size <= 0 or size % 2:
        raise ValueError(f"size must be a positive even number, got {size}")
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    if kind == "identity":
        if codeformer:
            inits.append(numpy_helper.from_array(np.zeros((1,), dtype=np.float32), "zero"))
            nodes += [
                helper.make_node("Cast", [WEIGHT], ["w_f"], name="weight_float", to=TensorProto.FLOAT),
                helper.make_node("Mul", ["w_f", "zero"], ["w_zero"], name="weight_zero"),
                helper.make_node("Add", [INPUT, "w_zero"], [OUTPUT], name="passthrough"),
            ]
        else:
            nodes.append(helper.make_node("Identity", [INPUT], [OUTPUT], name="passthrough"))
    elif kind == "sharpen":
        target = "sharpened" if codeformer else OUTPUT
        n, i = _sharpen_nodes(INPUT, target, amount, contrast)
        nodes += n
        inits += i
        if codeformer:
            n, i = _fidelity_nodes(INPUT, target)
            nodes += n
            inits += [t for t in i if t.name not in {"lo", "hi"}]
    elif kind == "cost":
        gmacs = default_gflops(size, codeformer) if gflops is None else gflops
        half = size // 2
        head = 3 * 64 * half * half / 1e9
        body = conv_stack("body", INPUT, 3, size, gmacs - head, channels=64)
        rng = np.random.default_rng(5)
        w_out = (rng.standard_normal((3, body.channels, 1, 1)) / np.sqrt(body.channels)).astype(np.float32)
        inits += [
            *body.initializers,
            numpy_helper.from_array(w_out, "w_out"),
            numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales"),
            numpy_helper.from_array(np.array(0.05, dtype=np.float32), "res_scale"),
        ]
        nodes += [
            *body.nodes,
            helper.make_node("Conv", [body.output, "w_out"], ["res_small"], name="to_rgb"),
            helper.make_node(
                "Resize", ["res_small", "", "scales"], ["res_up"], name="res_up", mode="nearest"
            ),
            helper.make_node("Tanh", ["res_up"], ["res_tanh"], name="res_tanh"),
            helper.make_node("Mul", ["res_tanh", "res_scale"], ["res"], name="res_scale"),
            helper.make_node("Add", [INPUT, "res"], ["enhanced"], name="add_res"),
        ]
        if codeformer:
            n, i = _fidelity_nodes(INPUT, "enhanced")
            nodes += n
            inits += i
        else:
            inits += _bounds()
            nodes.append(helper.make_node("Clip", ["enhanced", "lo", "hi"], [OUTPUT], name="clip_out"))
    else:
        raise ValueError(f"unknown enhancer kind {kind!r}")
    if name is None:
        name = "codeformer_stand_in" if codeformer else f"enhancer_{size}_stand_in"
    return _save(_graph(name, size, codeformer, nodes, inits), path)


#: the files FaceFusion ships, with their input size and whether they take ``weight``
ENHANCER_FILES: dict[str, tuple[int, bool, float]] = {
    "gfpgan_1.4.onnx": (512, False, GFPGAN_1_4_GFLOPS),
    "gpen_bfr_256.onnx": (256, False, GPEN_BFR_256_GFLOPS),
    "gpen_bfr_512.onnx": (512, False, GPEN_BFR_512_GFLOPS),
    "codeformer.onnx": (512, True, CODEFORMER_GFLOPS),
}


def build_enhancer_set(out_dir: Path, kind: EnhancerKind = "sharpen") -> list[Path]:
    """Writes all four ``ENHANCER_FILES`` into ``out_dir`` (``cost`` gives each its own model's cost)."""
    paths = []
    for filename, (size, codeformer, gmacs) in ENHANCER_FILES.items():
        paths.append(
            build_enhancer(
                Path(out_dir) / filename,
                size,
                kind=kind,
                gflops=gmacs if kind == "cost" else None,
                codeformer=codeformer,
                name=f"{filename.removesuffix('.onnx')}_{kind}_stand_in",
            )
        )
    return paths
