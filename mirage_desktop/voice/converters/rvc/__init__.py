"""RVC (Retrieval-based Voice Conversion) v1/v2 voices: ``.pth`` + optional ``.index``.

Importing this package is cheap: torch, torchfcpe and faiss load only when an RVC voice is created
(``create``), so Mirage without an RVC voice never pays for them.
"""

from __future__ import annotations

import sys
from typing import Any

#: blocks below this make the per-call overhead dominate; the engine may still grow them
DEFAULT_BLOCK_MS = 100.0


def create(**options: Any):
    """The registry's factory: ``model``, ``index``, ``semitones``, ``index_rate``, ``protect`` ..."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        from mirage_desktop.voice.errors import VoiceError

        if getattr(sys, "frozen", False):
            raise VoiceError(
                "RVC voices need PyTorch, which the Mirage app does not bundle (it would more than double "
                "its size). Use a source install (scripts/install.sh) for RVC voices; the pitch changer "
                "works here."
            ) from exc
        raise VoiceError(
            "RVC voices need PyTorch, which this installation lacks: run scripts/install.sh, or "
            "`pip install torch` (CPU build: `--index-url https://download.pytorch.org/whl/cpu`)."
        ) from exc
    from mirage_desktop.voice.converters.rvc.converter import RVCConverter

    return RVCConverter(**options)


__all__ = ["DEFAULT_BLOCK_MS", "create"]
