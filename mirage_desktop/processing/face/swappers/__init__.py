"""The face swappers Mirage can run, one registry line each.

A swapper has ``name``, ``size`` (its native crop), ``template`` (the alignment family), ``notice``,
``latent(normed_embedding)`` (the identity in the form the model takes) and
``swap(crop_bgr, latent) -> crop_bgr | None``. A new family is one module with such a class plus a
loader line here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mirage_desktop.runtime.onnx_session import SessionFactory

log = logging.getLogger(__name__)


class Swapper(Protocol):
    size: int
    template: str
    notice: str | None

    @property
    def name(self) -> str: ...

    def latent(self, normed_embedding: np.ndarray) -> np.ndarray: ...

    def swap(self, crop_bgr: np.ndarray, latent: np.ndarray) -> np.ndarray | None: ...


ModelPath = Callable[[str], Path]


def _inswapper(factory: SessionFactory, model_path: ModelPath, precision: str) -> Any:
    from mirage_desktop.processing.face.swapper import FaceSwapper, load_emap

    def fp32() -> FaceSwapper:
        path = model_path("inswapper_128")
        return FaceSwapper(factory.create(path), load_emap(path))

    if precision != "fp16":
        return fp32()
    try:
        path16 = model_path("inswapper_128_fp16")
    except RuntimeError as exc:
        log.warning("fp16 swapper unavailable (%s); using fp32", exc)
        return fp32()
    return FaceSwapper(factory.create(path16), load_emap(path16), fallback=fp32)


def _hyperswap(model_id: str) -> Callable[[SessionFactory, ModelPath, str], Any]:
    def load(factory: SessionFactory, model_path: ModelPath, _precision: str) -> Any:
        from mirage_desktop.processing.face.swappers.hyperswap import HyperSwapper

        return HyperSwapper(factory.create(model_path(model_id)))

    return load


SWAPPERS: dict[str, Callable[[SessionFactory, ModelPath, str], Any]] = {
    "inswapper_128": _inswapper,
    "hyperswap_1a_256": _hyperswap("hyperswap_1a_256"),
    "hyperswap_1b_256": _hyperswap("hyperswap_1b_256"),
    "hyperswap_1c_256": _hyperswap("hyperswap_1c_256"),
}
DEFAULT_SWAPPER = "inswapper_128"


def load_swapper_model(
    swapper_id: str, factory: SessionFactory, model_path: ModelPath, precision: str = "fp32"
) -> Swapper:
    """Open one swapper by registry id; KeyError for an unknown id, RuntimeError/ModelContractError else."""
    return SWAPPERS[swapper_id](factory, model_path, precision)


__all__ = ["DEFAULT_SWAPPER", "SWAPPERS", "Swapper", "load_swapper_model"]
