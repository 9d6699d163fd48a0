"""Windows: Mirage plays into VB-Audio Virtual Cable; apps then select "CABLE Output" as their mic."""

from __future__ import annotations

from types import ModuleType

from mirage_desktop.voice.virtual_mic.base import VirtualMicStatus
from mirage_desktop.voice.virtual_mic.detect import find_output

PLAYBACK_NAME = "CABLE Input"
VISIBLE_NAME = "CABLE Output (VB-Audio Virtual Cable)"
INSTALL_HINT = (
    "No virtual microphone driver found. Install VB-Audio Virtual Cable (free, vb-audio.com/Cable), "
    "reboot, then start voice again; apps will list it as 'CABLE Output'. Voice keeps working meanwhile "
    "with --output-device."
)


def probe(sd: ModuleType) -> VirtualMicStatus:
    device = find_output(sd, PLAYBACK_NAME)
    if device is None:
        return VirtualMicStatus("win32", "", False, message=INSTALL_HINT)
    return VirtualMicStatus("win32", "vb-cable", True, visible_name=VISIBLE_NAME, output_device=device)
