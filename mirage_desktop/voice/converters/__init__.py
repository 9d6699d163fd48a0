"""Converter registry: names the CLI and settings use, mapped to factories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mirage_desktop.voice.converters import rvc
from mirage_desktop.voice.converters.base import VoiceConverter
from mirage_desktop.voice.converters.passthrough import PassthroughConverter
from mirage_desktop.voice.converters.pitch import PitchShiftConverter
from mirage_desktop.voice.errors import VoiceError

CONVERTERS: dict[str, Callable[..., VoiceConverter]] = {
    "passthrough": lambda **_: PassthroughConverter(),
    "pitch": lambda semitones=0.0, formant=1.0, **_: PitchShiftConverter(
        semitones=semitones, formant=formant
    ),
    # torch and the models load only when an RVC voice is created (rvc.create)
    "rvc": rvc.create,
}


def create_converter(name: str, **options: Any) -> VoiceConverter:
    factory = CONVERTERS.get(name)
    if factory is None:
        known = ", ".join(sorted(CONVERTERS))
        raise VoiceError(f"unknown voice converter {name!r}; choose one of: {known}")
    return factory(**options)


__all__ = ["CONVERTERS", "PassthroughConverter", "PitchShiftConverter", "VoiceConverter", "create_converter"]
