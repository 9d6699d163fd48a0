"""RVC (Retrieval-based Voice Conversion) v1/v2 voices: ``.pth`` + optional ``.index``.

Importing this package is cheap: torch, torchfcpe and faiss load only when an RVC voice is created
(``create``), so Mirage without an RVC voice never pays for them.
"""

from __future__ import annotations

import sys
from pathlib import Path
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


#: the settings an RVC voice takes while it plays: parameters at once, a new voice (and index) after
#: it loads on a worker thread; the stream never stops
LIVE_SETTINGS = ("semitones", "rvc_model", "rvc_index", "rvc_index_rate", "rvc_protect")
#: what switch_live returns when the new voice needs the stream restarted (another sample rate)
RESTART = "restart"


def switch_live(converter: Any, running: Any, wanted: Any) -> str:
    """Apply ``wanted``'s RVC settings to a running converter. Blocks while a voice loads (call it
    on a worker). Returns a note for the user; a voice that fails to load leaves the current one
    playing (and ``wanted`` then records it), another sample rate returns RESTART."""
    from mirage_desktop.voice.converters.rvc.converter import SampleRateChange
    from mirage_desktop.voice.errors import VoiceError

    converter.set_params(
        semitones=wanted.semitones, index_rate=wanted.rvc_index_rate, protect=wanted.rvc_protect
    )
    if (wanted.rvc_model, wanted.rvc_index) == (running.rvc_model, running.rvc_index):
        return ""
    try:
        converter.load(wanted.rvc_model, wanted.rvc_index or None)
    except SampleRateChange:
        return RESTART
    except VoiceError as exc:
        wanted.rvc_model, wanted.rvc_index = running.rvc_model, running.rvc_index
        return f"kept the previous voice: {exc}"
    return f"voice {Path(wanted.rvc_model).name} loaded"


def settings_options(voice: Any) -> dict[str, Any]:
    """What create_converter needs from VoiceSettings (each converter takes the keys it knows)."""
    from mirage_desktop.voice.errors import VoiceError

    options: dict[str, Any] = {"semitones": voice.semitones, "formant": voice.formant}
    if voice.converter == "rvc":
        if not voice.rvc_model:
            raise VoiceError(
                "the RVC voice needs a voice file: --model VOICE.pth (or pick one in the Voice tab)"
            )
        options.update(
            model=voice.rvc_model,
            index=voice.rvc_index or None,
            index_rate=voice.rvc_index_rate,
            protect=voice.rvc_protect,
            pitch=voice.rvc_pitch,
        )
    return options


def block_ms(voice: Any) -> float:
    """The block size to run: RVC calls cost tens of ms whatever their length, so tiny blocks only add
    overhead; at least DEFAULT_BLOCK_MS for an RVC voice."""
    return max(voice.block_ms, DEFAULT_BLOCK_MS) if voice.converter == "rvc" else voice.block_ms


__all__ = [
    "DEFAULT_BLOCK_MS",
    "LIVE_SETTINGS",
    "RESTART",
    "block_ms",
    "create",
    "settings_options",
    "switch_live",
]
