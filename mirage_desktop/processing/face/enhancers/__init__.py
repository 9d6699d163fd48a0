"""The face enhancers Mirage can run, one registry line each.

A restorer with the shared contract (see ``base``) is one line here; another kind of model is one new
module with a class that has ``name``, ``size``, ``template`` and ``enhance(crop) -> crop``.
Templates and sizes follow the files the models manager fetches (FaceFusion's exports).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mirage_desktop.processing.face.enhancers.base import DEFAULT_FIDELITY, EnhancerSpec, FaceEnhancer
from mirage_desktop.runtime.onnx_session import SessionFactory

ENHANCERS: dict[str, EnhancerSpec] = {
    "gfpgan_1.4": EnhancerSpec("gfpgan_1.4", 512, "ffhq", "GFPGAN 1.4"),
    "gpen_bfr_256": EnhancerSpec("gpen_bfr_256", 256, "arcface", "GPEN-BFR-256"),
    "gpen_bfr_512": EnhancerSpec("gpen_bfr_512", 512, "ffhq", "GPEN-BFR-512"),
    "codeformer": EnhancerSpec("codeformer", 512, "ffhq", "CodeFormer", fidelity_input=True),
}

#: what the settings and the CLI accept ("" = no enhancer)
ENHANCER_CHOICES = ("", *ENHANCERS)


def load_enhancer(
    enhancer_id: str,
    factory: SessionFactory,
    model_path: Callable[[str], Path],
    fidelity: float = DEFAULT_FIDELITY,
) -> FaceEnhancer:
    """Open and check one enhancer; KeyError for an unknown id, ModelContractError/RuntimeError else."""
    spec = ENHANCERS[enhancer_id]
    return FaceEnhancer(factory.create(model_path(enhancer_id)), spec, fidelity)


__all__ = [
    "DEFAULT_FIDELITY",
    "ENHANCERS",
    "ENHANCER_CHOICES",
    "EnhancerSpec",
    "FaceEnhancer",
    "load_enhancer",
]
