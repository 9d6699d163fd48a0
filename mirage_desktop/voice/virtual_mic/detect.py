"""Find an output device by name among what PortAudio lists."""

from __future__ import annotations

from types import ModuleType


def find_output(sd: ModuleType, needle: str) -> str | None:
    try:
        devices = sd.query_devices()
    except sd.PortAudioError:
        return None
    for dev in devices:
        if dev["max_output_channels"] > 0 and needle.lower() in dev["name"].lower():
            return str(dev["name"])
    return None
