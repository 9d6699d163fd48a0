"""inswapper_128: one aligned 128² face crop + a source identity → the crop wearing that identity."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mirage_desktop.processing.face.contract import IOSpec, ModelContractError, check_session_io
from mirage_desktop.runtime.onnx_initializer import OnnxFormatError, read_last_initializer
from mirage_desktop.runtime.onnx_session import OnnxModel

log = logging.getLogger(__name__)

SWAP_SIZE = 128
LATENT_DIM = 512
_HINT = "Mirage needs inswapper_128.onnx (or inswapper_128_fp16.onnx)."


@dataclass(frozen=True, slots=True)
class OutputCheck:
    """Thresholds for calling a swapper output broken (what bad fp16 kernels produce)."""

    #: brightest value (0..1) below which the face counts as black
    black_max: float = 0.02
    #: standard deviation (0..1) below which the face counts as one flat colour
    flat_std: float = 2e-3

    def problem(self, output: np.ndarray) -> str | None:
        if not np.isfinite(output).all():
            return "NaN/inf values"
        if float(output.max()) < self.black_max:
            return "an all-black face"
        if float(output.std()) < self.flat_std:
            return "a flat, single-colour face"
        return None


def load_emap(path: Path) -> np.ndarray:
    """The 512×512 embedding map, read from the file without loading the whole model."""
    try:
        _name, emap = read_last_initializer(Path(path))
    except (OSError, OnnxFormatError) as exc:
        raise ModelContractError(
            f"Could not read the identity map from '{Path(path).name}' ({exc}). {_HINT}"
        ) from exc
    if emap.shape != (LATENT_DIM, LATENT_DIM):
        raise ModelContractError(
            f"The model '{Path(path).name}' does not look like inswapper_128: its last weight should be the "
            f"{LATENT_DIM}×{LATENT_DIM} identity map but is {list(emap.shape)}. {_HINT}"
        )
    return emap.astype(np.float32)


class FaceSwapper:
    """Runs inswapper on aligned crops; fp16 models are watched and replaced by fp32 when they misbehave.

    ``fallback`` loads the fp32 swapper on demand, so the 554 MB model is only read when the fp16 one
    really produced garbage (some GPUs/drivers give black or NaN faces in fp16).
    """

    #: native crop size and alignment template (see swappers/ for the registry of swapper families)
    size = SWAP_SIZE
    template = "arcface"

    def __init__(
        self,
        model: OnnxModel,
        emap: np.ndarray,
        fallback: Callable[[], FaceSwapper] | None = None,
        check: OutputCheck | None = None,
    ) -> None:
        found_in, _ = check_session_io(
            model.session,
            model.path,
            [
                IOSpec("target", (1, 3, SWAP_SIZE, SWAP_SIZE), dtype=_dtype_of(model, "target")),
                IOSpec("source", (1, LATENT_DIM), dtype=_dtype_of(model, "target")),
            ],
            [IOSpec("output", (1, 3, SWAP_SIZE, SWAP_SIZE), dtype=_dtype_of(model, "target"))],
            hint=_HINT,
        )
        self.model = model
        self.emap = np.asarray(emap, dtype=np.float32)
        self.input_dtype = np.float16 if found_in[0].dtype == "float16" else np.float32
        self._fallback_loader = fallback
        self._fallback: FaceSwapper | None = None
        self._fallback_lock = threading.Lock()
        self.check = check or OutputCheck()
        self.notice: str | None = None

    @property
    def is_fp16(self) -> bool:
        return self.input_dtype == np.float16

    @property
    def active(self) -> FaceSwapper:
        return self._fallback or self

    @property
    def name(self) -> str:
        return Path(self.active.model.path).name

    def latent(self, normed_embedding: np.ndarray) -> np.ndarray:
        """The model's ``source`` input for an identity: normalize(embedding @ emap), shape 1×512."""
        vec = np.asarray(normed_embedding, dtype=np.float32).reshape(1, LATENT_DIM) @ self.emap
        norm = float(np.linalg.norm(vec))
        if not np.isfinite(norm) or norm < 1e-12:
            raise ValueError("the source face embedding is empty")
        return (vec / norm).astype(np.float32)

    def _run(self, crop_bgr: np.ndarray, latent: np.ndarray) -> np.ndarray:
        blob = cv2.dnn.blobFromImage(crop_bgr, 1.0 / 255.0, (SWAP_SIZE, SWAP_SIZE), (0, 0, 0), swapRB=True)
        (out,) = self.model.run(
            {
                "target": blob.astype(self.input_dtype, copy=False),
                "source": latent.astype(self.input_dtype, copy=False),
            },
            ["output"],
        )
        return np.asarray(out[0], dtype=np.float32)

    def swap(self, crop_bgr: np.ndarray, latent: np.ndarray) -> np.ndarray | None:
        """The swapped crop as BGR uint8, or None when even the fp32 model returned garbage."""
        if self._fallback is not None:
            return self._fallback.swap(crop_bgr, latent)
        out = self._run(crop_bgr, latent)
        problem = self.check.problem(out)
        if problem is not None:
            if self.is_fp16 and self._fallback_loader is not None:
                self._switch_to_fallback(problem)
                return self._fallback.swap(crop_bgr, latent) if self._fallback else None
            log.debug("%s returned %s; leaving this face unchanged", self.name, problem)
            return None
        # round, not truncate: an exact [0,1] output must come back as the same uint8 pixels
        rgb = np.clip(out.transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)

    def _switch_to_fallback(self, problem: str) -> None:
        with self._fallback_lock:
            if self._fallback is not None:
                return
            assert self._fallback_loader is not None
            fallback = self._fallback_loader()
            self.notice = (
                f"The fp16 face swapper ({Path(self.model.path).name}) produced {problem} on this GPU; "
                f"switched to the fp32 model ({Path(fallback.model.path).name}). Set precision to fp32 to "
                "skip the fp16 model next time."
            )
            log.warning(self.notice)
            self._fallback = fallback


def _dtype_of(model: OnnxModel, name: str) -> str:
    """The element type the session declares (fp16 and fp32 variants are both valid)."""
    for spec in model.session.get_inputs():
        if spec.name == name and spec.type == "tensor(float16)":
            return "float16"
    return "float32"
