"""A stand-in for insightface's SCRFD det_10g that really finds faces, with det_10g's exact I/O.

How it computes (all in ONNX ops, from the image it is given):

* grey image and a soft skin mask (Cr/Cb box) → average-pooled by s/4 for stride s (8, 16, 32);
* zero-mean normalised cross-correlation (ZNCC) of the (blurred) grey image with a blurred face
  template, one template size per anchor (two anchors per cell, like det_10g), sampled every 2
  pooled pixels, i.e. twice per anchor cell in each direction;
* evidence = ZNCC × skin contrast (skin share in the window's centre minus the share in a ring
  around it), which keeps textured clothes, hands and parts of a face from scoring like a face;
* score = sigmoid(sharpness · (best evidence in the cell − threshold));
* the face centre inside the cell comes from a soft-argmax of the evidence over the 4×4 samples
  around the anchor, so boxes and keypoints move smoothly with the face, not in stride-sized steps;
* box and keypoint distances place the template's face box and five keypoints, at that anchor's
  template scale, around that centre (in units of the stride, like det_10g).

Face sizes covered at the model input (template window side, ±~20 % each): 36, 56, 80, 120, 176
and 272 pixels. Keypoints are good to roughly a quarter of the eye distance (one layout, six
scales); frontal faces are found reliably, crowded scenes give some false positives. Cost: 0.146
GFLOPs at 640×640 (``build_scrfd``), 9.76 GFLOPs for ``build_scrfd_flops``.

Everything here is dev tooling: ``onnx`` is imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

INPUT_NAME = "input.1"
#: det_10g's output names, in its graph order: scores, boxes, keypoints for strides 8, 16, 32
DET10G_OUTPUT_NAMES = ("448", "471", "494", "451", "474", "497", "454", "477", "500")
STRIDES = (8, 16, 32)
OPSET = 17

#: insightface's ArcFace 5-point layout in its 112×112 crop
ARCFACE_KPS_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
#: the template window is the 84×84 square (14..98, 28..112) of that crop: brows to chin, cheek to cheek
_WINDOW_ORIGIN = np.array([14.0, 28.0], dtype=np.float32)
_WINDOW_SIDE = 84.0
#: keypoints in template-window units (0..1)
CANON_KPS = (ARCFACE_KPS_112 - _WINDOW_ORIGIN) / _WINDOW_SIDE
#: the face box reported for a match, in template-window units (x1, y1, x2, y2)
CANON_BOX = (0.0, -0.1, 1.0, 1.0)

#: hand-measured keypoints of faces/obama.jpg in the shared test media (left eye, right eye, nose,
#: left and right mouth corner), enough to cut a face template from it
OBAMA_KPS = np.array(
    [[442.0, 213.0], [549.0, 212.0], [491.0, 284.0], [442.0, 325.0], [546.0, 322.0]], np.float32
)


@dataclass(frozen=True, slots=True)
class StandInParams:
    """Knobs of the template-matching stand-in.

    ``kernel_sizes[k]`` are the two anchors' template sides, in pixels of the image pooled by
    STRIDES[k] / 4 (so the face window at the input is side · stride / 4). Sides must be even.
    """

    kernel_sizes: tuple[tuple[int, int], ...] = ((18, 28), (20, 30), (22, 34))
    #: evidence (ZNCC × skin contrast) at which the score is 0.5
    threshold: float = 0.2
    #: slope of the score around the threshold
    sharpness: float = 25.0
    #: Gaussian blur (pooled pixels) applied to image and template before correlating
    blur_sigma: float = 1.0
    #: skin box in YCrCb (0..255 units) and the steepness of its soft edges (per level)
    skin_cr: tuple[float, float] = (135.0, 175.0)
    skin_cb: tuple[float, float] = (77.0, 130.0)
    skin_slope: float = 0.4
    #: side of the surrounding ring's outer edge relative to the window, and the ring's weight
    ring_scale: float = 1.5
    ring_weight: float = 1.0
    #: inverse temperature of the soft-argmax that locates the face inside a cell
    softargmax_beta: float = 20.0
    #: windows with less grey-level spread than this (in normalised units, 1 ≈ 128 levels) score
    #: lower, so flat areas such as the letterbox border never look like faces
    min_std: float = 0.06


def face_template(
    image_bgr: np.ndarray, kps: np.ndarray, size: int = 96, symmetric: bool = True
) -> np.ndarray:
    """Cut a size×size grey template window from a face photo, aligned by its five keypoints.

    ``symmetric`` averages the crop with its mirror image, which removes one-sided lighting and
    makes the template match both head-turn directions equally.
    """
    target = CANON_KPS * size
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(kps, np.float32), target, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("could not align the template face from its keypoints")
    grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY) if image_bgr.ndim == 3 else image_bgr
    crop = cv2.warpAffine(grey, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    crop = crop.astype(np.float32)
    if symmetric:
        crop = 0.5 * (crop + crop[:, ::-1])
    return crop


def synthetic_face_template(size: int = 96) -> np.ndarray:
    """A drawn face (lit oval, dark eyes, brows, nostrils and mouth) for when no photo is at hand."""
    canvas = np.full((size, size), 90.0, np.float32)
    s = size / 84.0

    def pt(x: float, y: float) -> tuple[int, int]:
        return round(x * s), round(y * s)

    cv2.ellipse(canvas, pt(42, 46), pt(36, 50), 0, 0, 360, 170, -1)
    for kx, ky in CANON_KPS[:2] * 84:
        cv2.ellipse(canvas, pt(kx, ky - 9), pt(10, 3), 0, 0, 360, 80, -1)
        cv2.ellipse(canvas, pt(kx, ky), pt(7, 4), 0, 0, 360, 60, -1)
    nx, ny = CANON_KPS[2] * 84
    cv2.ellipse(canvas, pt(nx, ny + 4), pt(7, 3), 0, 0, 360, 120, -1)
    (lx, ly), (rx, ry) = CANON_KPS[3] * 84, CANON_KPS[4] * 84
    cv2.ellipse(canvas, pt((lx + rx) / 2, (ly + ry) / 2), pt((rx - lx) / 2, 4), 0, 0, 360, 85, -1)
    return cv2.GaussianBlur(canvas, (0, 0), 1.5 * s)


def obama_template(testdata: Path, size: int = 96) -> np.ndarray:
    """The default test template: the face in the shared test media's faces/obama.jpg."""
    image = cv2.imread(str(Path(testdata) / "faces" / "obama.jpg"))
    if image is None:
        raise FileNotFoundError(f"faces/obama.jpg not found under {testdata}")
    return face_template(image, OBAMA_KPS, size)


class _Graph:
    """Accumulates ONNX nodes and initialisers with generated names."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, value: Any, dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        name = self._name("c")
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        output = out or self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attrs))
        return output

    def conv(
        self,
        x: str,
        weight: np.ndarray,
        stride: tuple[int, int],
        pads: tuple[int, int, int, int],
        group: int = 1,
    ):
        kh, kw = weight.shape[2:]
        return self.op(
            "Conv",
            [x, self.const(weight)],
            kernel_shape=[kh, kw],
            strides=list(stride),
            pads=list(pads),
            group=group,
        )


def _unit_template(small: np.ndarray) -> np.ndarray:
    small = small - small.mean()
    norm = float(np.linalg.norm(small))
    if norm < 1e-6:
        raise ValueError("the face template is flat (no contrast); use a real face crop")
    return small / norm


def _edge_pad(g: _Graph, x: str, top: int, left: int, bottom: int, right: int) -> str:
    # Repeating the border (rather than zeros) keeps windows that overhang the image from seeing a
    # frame of "no skin, flat grey" around it, which would look like a face outline.
    pads = g.const([0, 0, top, left, 0, 0, bottom, right], np.int64)
    return g.op("Pad", [x, pads], mode="edge")


def _even_box(g: _Graph, x: str, side: int) -> str:
    """Mean over side×side windows, sampled every 2 pixels, centred like ``_zncc``'s windows."""
    pad = side // 2 - 1
    x = _edge_pad(g, x, pad, pad, pad, pad)
    h = g.conv(x, np.full((1, 1, 1, side), 1.0 / side, np.float32), (1, 2), (0, 0, 0, 0))
    return g.conv(h, np.full((1, 1, side, 1), 1.0 / side, np.float32), (2, 1), (0, 0, 0, 0))


def _blur(g: _Graph, x: str, sigma: float) -> str:
    taps = cv2.getGaussianKernel(5, sigma).astype(np.float32).ravel()
    x = _edge_pad(g, x, 2, 2, 2, 2)
    h = g.conv(x, taps.reshape(1, 1, 1, 5), (1, 1), (0, 0, 0, 0))
    return g.conv(h, taps.reshape(1, 1, 5, 1), (1, 1), (0, 0, 0, 0))


def _zncc(g: _Graph, pooled: str, template: np.ndarray, sides: tuple[int, int], params: StandInParams) -> str:
    """ZNCC of the pooled grey image with the template at each anchor's side, sampled every 2 pixels.

    Sample q's window is pooled pixels [2q + 1 - k/2, 2q + 1 + k/2): centred on the boundary that
    lies at input coordinate (2q + 1)·p, which keeps both anchors' windows concentric. Image and
    template are blurred alike: a blurred face matches other people's faces and nearby scales,
    where a sharp one matches mostly itself.
    """
    corr, means, squares = [], [], []
    smooth = _blur(g, pooled, params.blur_sigma)
    squared = g.op("Mul", [smooth, smooth])
    for side in sides:
        if side % 2 or side < 8:
            raise ValueError(f"template sides must be even and at least 8, got {side}")
        pad = side // 2 - 1
        small = cv2.GaussianBlur(
            cv2.resize(template, (side, side), interpolation=cv2.INTER_AREA), (5, 5), params.blur_sigma
        )
        kernel = _unit_template(small) / side  # /side: ZNCC = A / (side · std)
        padded = _edge_pad(g, smooth, pad, pad, pad, pad)
        corr.append(g.conv(padded, kernel[np.newaxis, np.newaxis], (2, 2), (0, 0, 0, 0)))
        means.append(_even_box(g, smooth, side))
        squares.append(_even_box(g, squared, side))
    a = g.op("Concat", corr, axis=1)
    mean = g.op("Concat", means, axis=1)
    square = g.op("Concat", squares, axis=1)
    var = g.op("Sub", [square, g.op("Mul", [mean, mean])])
    min_std = params.min_std
    std = g.op("Sqrt", [g.op("Max", [var, g.const(min_std * min_std)])])
    return g.op("Div", [a, std])


def _skin(g: _Graph, params: StandInParams) -> str:
    """Soft skin mask (1, 1, H, W): Cr and Cb inside the classic skin box, with sigmoid edges.

    Cr/Cb are linear in the normalised RGB input (their coefficients sum to zero, so the mean
    offset cancels), which makes the whole mask one 1×1 convolution, a sigmoid and a product.
    """
    cr = np.array([0.5, -0.4187, -0.0813], np.float32) * 128.0
    cb = np.array([-0.1687, -0.3313, 0.5], np.float32) * 128.0
    (cr_lo, cr_hi), (cb_lo, cb_hi) = params.skin_cr, params.skin_cb
    slope = params.skin_slope
    weight = slope * np.stack([cr, -cr, cb, -cb]).reshape(4, 3, 1, 1)
    bias = slope * np.array([128.0 - cr_lo, cr_hi - 128.0, 128.0 - cb_lo, cb_hi - 128.0], np.float32)
    z = g.op("Conv", [INPUT_NAME, g.const(weight), g.const(bias)], kernel_shape=[1, 1])
    return g.op("ReduceProd", [g.op("Sigmoid", [z])], axes=[1], keepdims=1)


def _skin_contrast(g: _Graph, pooled_skin: str, sides: tuple[int, int], params: StandInParams) -> str:
    """Skin share in the inner half of each anchor's window minus the share in a ring around the window.

    A face is skin surrounded by hair, background or collar; a window on part of a face (an eye, a
    cheek) or on skin-coloured wood is skin all round, so the ring cancels it.
    """
    contrasts = []
    for side in sides:
        inner = max(4, (side // 2) // 2 * 2)
        outer = round(side * params.ring_scale / 2) * 2
        window_area, outer_area = float(side * side), float(outer * outer)
        window_sum = g.op("Mul", [_even_box(g, pooled_skin, side), g.const(window_area)])
        outer_sum = g.op("Mul", [_even_box(g, pooled_skin, outer), g.const(outer_area)])
        ring = g.op("Div", [g.op("Sub", [outer_sum, window_sum]), g.const(outer_area - window_area)])
        weighted_ring = g.op("Mul", [ring, g.const(params.ring_weight)])
        contrasts.append(g.op("Relu", [g.op("Sub", [_even_box(g, pooled_skin, inner), weighted_ring])]))
    return g.op("Concat", contrasts, axis=1)


def _cell_offsets(g: _Graph, ncc: str, stride: int, beta: float) -> str:
    """Soft-argmax of the ZNCC over the 4×4 samples around each anchor → (1, anchor, [dx, dy], cells)."""
    p = stride / 4.0
    offsets = np.array([-3.0, -1.0, 1.0, 3.0], np.float32) * p  # sample centres relative to the anchor
    kernels = np.stack(
        [np.ones((4, 4), np.float32), np.tile(offsets, (4, 1)), np.tile(offsets[:, None], (1, 4))]
    )
    weight = np.concatenate([kernels, kernels])[:, np.newaxis]  # (6, 1, 4, 4): [sum, x, y] per anchor
    e = g.op("Exp", [g.op("Mul", [ncc, g.const(beta)])])
    moments = g.conv(e, weight, (2, 2), (2, 2, 1, 1), group=2)
    moments = g.op("Reshape", [moments, g.const([0, 2, 3, -1], np.int64)])
    total, sx, sy = (
        g.op("Slice", [moments, g.const([i], np.int64), g.const([i + 1], np.int64), g.const([2], np.int64)])
        for i in range(3)
    )
    return g.op("Concat", [g.op("Div", [sx, total]), g.op("Div", [sy, total])], axis=2)


def _place(g: _Graph, offsets: str, stride: int, windows: tuple[float, float], pattern: np.ndarray, out: str):
    """Distances (units of stride) of points at ``pattern`` (window units) around each face centre.

    Columns of ``pattern`` alternate x and y; ``sign`` handles box left/top being measured leftwards.
    """
    cols = pattern.shape[0]
    linear = np.zeros((2, cols), np.float32)
    bias = np.zeros((2, cols), np.float32)
    for c, (axis, value, sign) in enumerate(pattern):
        linear[int(axis), c] = sign / stride
        for a, window in enumerate(windows):
            bias[a, c] = sign * (value - 0.5) * window / stride
    cells = g.op("Transpose", [offsets], perm=[0, 3, 1, 2])  # (1, cells, anchor, 2)
    dist = g.op("Add", [g.op("MatMul", [cells, g.const(linear)]), g.const(bias)])
    return g.op("Reshape", [dist, g.const([-1, cols], np.int64)], out=out)


def _box_pattern() -> np.ndarray:
    x1, y1, x2, y2 = CANON_BOX
    # left = centre - x1 → sign -1; right = x2 - centre → sign +1
    return np.array([[0, x1, -1], [1, y1, -1], [0, x2, 1], [1, y2, 1]], np.float32)


def _kps_pattern() -> np.ndarray:
    return np.array([[axis, CANON_KPS[k, axis], 1] for k in range(5) for axis in (0, 1)], np.float32)


def _stride_head(
    g: _Graph,
    pooled: tuple[str, str],
    stride: int,
    sides: tuple[int, int],
    template: np.ndarray,
    params: StandInParams,
    extra_logit: str | None,
    names: tuple[str, str, str],
) -> None:
    grey, skin = pooled
    # Texture alone matches clothes and furniture; requiring skin in the window's centre leaves faces.
    evidence = g.op("Mul", [_zncc(g, grey, template, sides, params), _skin_contrast(g, skin, sides, params)])
    best = g.op("MaxPool", [evidence], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 0, 0])
    logit = g.op("Mul", [g.op("Sub", [best, g.const(params.threshold)]), g.const(params.sharpness)])
    if extra_logit is not None:
        logit = g.op("Add", [logit, extra_logit])
    score = g.op("Transpose", [g.op("Sigmoid", [logit])], perm=[0, 2, 3, 1])
    g.op("Reshape", [score, g.const([-1, 1], np.int64)], out=names[0])
    offsets = _cell_offsets(g, evidence, stride, params.softargmax_beta)
    windows = (sides[0] * stride / 4.0, sides[1] * stride / 4.0)
    _place(g, offsets, stride, windows, _box_pattern(), names[1])
    _place(g, offsets, stride, windows, _kps_pattern(), names[2])


def _save(g: _Graph, path: Path, graph_name: str, metadata: dict[str, str]) -> Path:
    import onnx
    from onnx import TensorProto, helper

    inp = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, "height", "width"])
    widths = (1, 1, 1, 4, 4, 4, 10, 10, 10)
    outs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, [f"n{n}", w])
        for n, w in zip(DET10G_OUTPUT_NAMES, widths, strict=True)
    ]
    graph = helper.make_graph(g.nodes, graph_name, [inp], outs, g.initializers)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mirage-testmodels"
    )
    model.ir_version = 9
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _build(path: Path, template: np.ndarray | None, params: StandInParams, extra: bool) -> Path:
    if len(params.kernel_sizes) != len(STRIDES):
        raise ValueError(f"kernel_sizes needs one pair per stride {STRIDES}")
    template = synthetic_face_template() if template is None else np.asarray(template, np.float32)
    if template.ndim == 3:
        template = cv2.cvtColor(template, cv2.COLOR_BGR2GRAY)
    g = _Graph()
    # Input is RGB after the detector's channel swap, normalised; ZNCC ignores the affine offset.
    grey = g.conv(
        INPUT_NAME, np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 3, 1, 1), (1, 1), (0, 0, 0, 0)
    )
    pooled, level = (grey, _skin(g, params)), 1
    extra_logits = _flops_branch(g) if extra else {}
    for k, stride in enumerate(STRIDES):
        while level < stride // 4:
            pooled = tuple(g.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2]) for x in pooled)
            level *= 2
        names = (DET10G_OUTPUT_NAMES[k], DET10G_OUTPUT_NAMES[k + 3], DET10G_OUTPUT_NAMES[k + 6])
        _stride_head(
            g, pooled, stride, params.kernel_sizes[k], template, params, extra_logits.get(stride), names
        )
    metadata = {"mirage_standin": "scrfd-zncc", "flop_matched": str(extra).lower()}
    return _save(g, path, "scrfd_standin_flops" if extra else "scrfd_standin", metadata)


#: (out channels, kernel, stride) of the cost-only convolutions of the FLOP-matched variant
_FLOPS_LAYERS = (
    (32, 3, 2),
    (64, 3, 2),
    (64, 3, 1),
    (64, 3, 1),
    (64, 3, 1),
    (64, 3, 1),
    (128, 3, 2),
    (1, 1, 1),
)
#: weight of the cost-only branch in the score logits: it must reach the outputs, so ORT cannot
#: drop it, yet leave the scores unchanged to float32 precision
_FLOPS_WEIGHT = 1e-7


def _flops_branch(g: _Graph) -> dict[int, str]:
    """A small CNN on the input whose (vanishing) result is added to every stride's score logits."""
    rng = np.random.default_rng(0)
    x, channels = INPUT_NAME, 3
    for index, (out_ch, kernel, stride) in enumerate(_FLOPS_LAYERS):
        # He initialisation keeps activations O(1) through the ReLU stack.
        w = rng.normal(0.0, np.sqrt(2.0 / (channels * kernel * kernel)), (out_ch, channels, kernel, kernel))
        pad = kernel // 2
        x = g.conv(x, w.astype(np.float32), (stride, stride), (pad, pad, pad, pad))
        if index < len(_FLOPS_LAYERS) - 1:
            x = g.op("Relu", [x])
        channels = out_ch
    feature = g.op("Mul", [x, g.const(_FLOPS_WEIGHT)])  # stride 8
    per_stride = {8: feature}
    for stride in (16, 32):
        feature = g.op("AveragePool", [feature], kernel_shape=[2, 2], strides=[2, 2])
        per_stride[stride] = feature
    return per_stride


def build_scrfd(
    path: str | Path, template: np.ndarray | None = None, params: StandInParams | None = None
) -> Path:
    """Write the template-matching SCRFD stand-in (det_10g's exact I/O, dynamic batch/H/W) to ``path``.

    ``template``: a grey (or BGR) face window from ``face_template``/``obama_template``; without
    one a drawn face is used, which finds clear frontal faces only.
    """
    return _build(Path(path), template, params or StandInParams(), extra=False)


def build_scrfd_flops(
    path: str | Path, template: np.ndarray | None = None, params: StandInParams | None = None
) -> Path:
    """Like ``build_scrfd`` plus a convolution stack costing about 10 GFLOPs at 640×640, as det_10g does.

    The stack (3→32 s2, 32→64 s2, 4× 64→64, 64→128 s2, all 3×3, then 128→1 1×1; 4.81 G
    multiply-accumulates at 640×640) feeds the score logits scaled by 1e-7: results match
    ``build_scrfd``'s to float32 precision while the runtime has to compute every layer. Total
    Conv cost: 9.76 GFLOPs at 640×640, 2.44 at 320×320; ``conv_flops`` recounts it for any size.
    """
    return _build(Path(path), template, params or StandInParams(), extra=True)


def conv_flops(path: str | Path, height: int, width: int) -> int:
    """FLOPs of all Conv nodes for one height×width image (2 × multiply-accumulates, bias ignored)."""
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, (1, 3, height, width), strict=True):
        dim.Clear()
        dim.dim_value = value
    model = shape_inference.infer_shapes(model)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in list(model.graph.value_info) + list(model.graph.output)
    }
    weights = {init.name: list(init.dims) for init in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        out_shape = shapes[node.output[0]]
        _, in_per_group, kh, kw = weights[node.input[1]]
        total += 2 * int(np.prod(out_shape)) * in_per_group * kh * kw
    return total
