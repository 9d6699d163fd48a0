"""Live voice: microphone -> converter -> virtual microphone, with bounded latency.

See engine.py for the threading model and pipeline.py for the per-block DSP.
"""

from mirage_desktop.voice.devices import AudioDevice, AudioReport, describe_audio
from mirage_desktop.voice.errors import VoiceError

__all__ = ["AudioDevice", "AudioReport", "VoiceError", "describe_audio"]
