"""macOS: Mirage plays into BlackHole; apps then select "BlackHole" as their microphone."""

from __future__ import annotations

from types import ModuleType

from mirage_desktop.voice.virtual_mic.base import VirtualMicStatus
from mirage_desktop.voice.virtual_mic.detect import find_output

PLAYBACK_NAME = "BlackHole"
INSTALL_HINT = (
    "No virtual microphone driver found. Install BlackHole 2ch (`brew install blackhole-2ch` or "
    "existential.audio/blackhole), then start voice again. Voice keeps working meanwhile with "
    "--output-device."
)


def probe(sd: ModuleType) -> VirtualMicStatus:
    device = find_output(sd, PLAYBACK_NAME)
    if device is None:
        return VirtualMicStatus("darwin", "", False, message=INSTALL_HINT)
    return VirtualMicStatus("darwin", "blackhole", True, visible_name=device, output_device=device)
