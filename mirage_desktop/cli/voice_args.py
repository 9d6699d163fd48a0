"""The voice changer's options for commands that run it beside something else (`mirage-cli run
--voice pitch`), with the same checks and ranges as `mirage-cli voice`."""

from __future__ import annotations

import argparse

from mirage_desktop.cli import validate
from mirage_desktop.config.settings import VoiceSettings
from mirage_desktop.voice.converters import CONVERTERS
from mirage_desktop.voice.converters.pitch import FORMANT_RANGE, MAX_SEMITONES
from mirage_desktop.voice.routing import BACKENDS

#: option → VoiceSettings field, for the options that map one to one
_FIELDS = {
    "voice": "converter",
    "semitones": "semitones",
    "formant": "formant",
    "mic": "input_device",
    "voice_output_device": "output_device",
    "voice_model": "rvc_model",
    "voice_index": "rvc_index",
    "voice_backend": "audio_backend",
}


def add_pitch_args(group: argparse._ActionsContainer) -> None:
    """--semitones and --formant, checked as `mirage-cli voice` checks them."""
    group.add_argument(
        "--semitones",
        type=validate.finite_float(-MAX_SEMITONES, MAX_SEMITONES),
        help=f"pitch shift, e.g. 4 or -3.5 (±{MAX_SEMITONES:g})",
    )
    group.add_argument(
        "--formant",
        type=validate.finite_float(*FORMANT_RANGE),
        help=f"formant factor, 1.0 = unchanged, e.g. 1.15 or 0.9 ({FORMANT_RANGE[0]:g}–{FORMANT_RANGE[1]:g})",
    )


def add_live_voice_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "voice changer, live beside the picture (--voice; the other settings as for `mirage-cli voice`)"
    )
    group.add_argument(
        "--voice",
        choices=sorted(CONVERTERS),
        help="also run the voice changer into the virtual microphone with this converter; with "
        "--output the converted microphone is recorded as the video's sound",
    )
    add_pitch_args(group)
    group.add_argument("--mic", help="microphone: PortAudio name, or on Linux a PulseAudio source name")
    group.add_argument("--voice-output-device", help="play the voice here instead of the virtual microphone")
    group.add_argument(
        "--voice-backend", choices=BACKENDS, help="audio I/O: auto, pulse or portaudio (default: settings)"
    )
    group.add_argument("--voice-model", type=validate.existing_file("voice model", (".pth",)),
                       help="the RVC voice, VOICE.pth (--voice rvc)")  # fmt: skip
    group.add_argument("--voice-index", type=validate.existing_file("voice index", (".index",)),
                       help="its feature index, VOICE.index (optional)")  # fmt: skip


def voice_options_without_voice(args: argparse.Namespace) -> list[str]:
    """The voice options given without --voice (they would do nothing), as the user wrote them."""
    if getattr(args, "voice", None) is not None:
        return []
    return [
        "--" + dest.replace("_", "-")
        for dest in _FIELDS
        if dest != "voice" and getattr(args, dest, None) is not None
    ]


def apply_live_voice_args(voice: VoiceSettings, args: argparse.Namespace) -> VoiceSettings:
    """``voice`` (the user's settings) with the command line's voice options on top."""
    for dest, name in _FIELDS.items():
        value = getattr(args, dest, None)
        if value is not None:
            setattr(voice, name, value)
    return voice
