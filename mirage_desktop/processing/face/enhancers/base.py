"""Face restorers that take one aligned crop in [-1, 1] and give it back restored (GFPGAN, GPEN, CodeFormer).

They all share one contract (FaceFusion's ONNX exports): input ``input`` float32 [1,3,N,N], RGB scaled
to [-1, 1]; first output the same shape and range. CodeFormer adds ``weight``, its fidelity (0 = the
model's own face, 1 = closest to the input), a float64 of shape [1]. A model is checked once, when it
loads, so a wrong file fails with its name and what was expected instead of deep inside a frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mirage_desktop.processing.face.contract import (
    IOSpec,
    ModelContractError,
    describe_all,
    require_io,
    session_io,
)
from mirage_desktop.runtime.onnx_session import OnnxModel

#: the seeds' default: CodeFormer leaning to the input (fewer invented details, steadier live)
DEFAULT_FIDELITY = 0.75


@dataclass(frozen=True, slots=True)
class EnhancerSpec:
    """One restorer model: its file id, crop size, alignment template and whether it takes a fidelity."""

    id: str
    size: int
    template: str
    label: str
    fidelity_input: bool = False


class FaceEnhancer:
    """Runs one restorer on aligned BGR crops; ``fidelity`` is read on every call (live control)."""

    def __init__(self, model: OnnxModel, spec: EnhancerSpec, fidelity: float = DEFAULT_FIDELITY) -> None:
        self.model = model
        self.spec = spec
        self.fidelity = float(fidelity)
        self._weight_dtype: type[np.generic] = np.float64
        self._weight_shape: tuple[int, ...] = (1,)
        self._check()

    @property
    def name(self) -> str:
        return self.spec.id

    @property
    def size(self) -> int:
        return self.spec.size

    @property
    def template(self) -> str:
        return self.spec.template

    def _check(self) -> None:
        label = Path(self.model.path).name
        hint = f"Mirage expects the {self.spec.label} ONNX file ({self.spec.id}.onnx) from its models list."
        found_in, found_out = session_io(self.model.session)
        image = IOSpec("input", (1, 3, self.size, self.size))
        by_name = {f.name: f for f in found_in}
        if "input" not in by_name:
            raise ModelContractError(
                f"The model '{label}' is not a {self.spec.label} face enhancer: it has no input named "
                f"'input' (found: {describe_all(found_in)}). {hint}"
            )
        require_io(label, "input", image, by_name["input"], hint)
        extra = [f for f in found_in if f.name != "input"]
        if self.spec.fidelity_input:
            weight = [f for f in extra if f.name == "weight"]
            if not weight or weight[0].dtype not in ("float64", "float32"):
                raise ModelContractError(
                    f"The model '{label}' lacks CodeFormer's fidelity input 'weight' (float64 [1]); "
                    f"found: {describe_all(found_in)}. {hint}"
                )
            self._weight_dtype = np.float64 if weight[0].dtype == "float64" else np.float32
            self._weight_shape = tuple(d or 1 for d in (weight[0].shape or (1,)))
            extra = [f for f in extra if f.name != "weight"]
        if extra:
            raise ModelContractError(
                f"The model '{label}' has inputs a {self.spec.label} enhancer does not have: "
                f"{describe_all(extra)}. {hint}"
            )
        if not found_out:
            raise ModelContractError(f"The model '{label}' has no outputs. {hint}")
        require_io(label, "output", IOSpec(None, (1, 3, self.size, self.size)), found_out[0], hint)
        self._output = found_out[0].name

    def enhance(self, crop_bgr: np.ndarray) -> np.ndarray:
        """The restored crop, BGR uint8, same size."""
        blob = cv2.dnn.blobFromImage(
            crop_bgr, 1.0 / 127.5, (self.size, self.size), (127.5, 127.5, 127.5), swapRB=True
        )
        feeds = {"input": blob.astype(np.float32, copy=False)}
        if self.spec.fidelity_input:
            value = min(1.0, max(0.0, self.fidelity))
            feeds["weight"] = np.full(self._weight_shape, value, dtype=self._weight_dtype)
        (out,) = self.model.run(feeds, [self._output])
        face = np.asarray(out[0], dtype=np.float32)
        if not np.isfinite(face).all():
            raise ValueError(f"{self.name} returned NaN/inf values")
        rgb = np.clip((face.transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
