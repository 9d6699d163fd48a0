"""The virtual microphone per OS: created by Mirage on Linux, a detected driver on Windows and macOS."""

from __future__ import annotations

import logging
import sys
from types import ModuleType

from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.virtual_mic import macos, windows
from mirage_desktop.voice.virtual_mic.base import VirtualMic, VirtualMicStatus
from mirage_desktop.voice.virtual_mic.pulse import PulseVirtualMic

log = logging.getLogger(__name__)


class DetectedVirtualMic:
    """A driver-provided cable (VB-Cable, BlackHole): nothing to create, just play into it."""

    def __init__(self, status: VirtualMicStatus) -> None:
        self._status = status

    def open(self) -> VirtualMicStatus:
        if not self._status.available:
            raise VoiceError(self._status.message)
        return self._status

    def close(self) -> None:
        pass

    def output_env(self) -> dict[str, str]:
        return {}

    @property
    def output_device(self) -> str:
        return self._status.output_device


def probe_virtual_mic(sd: ModuleType, platform: str | None = None) -> VirtualMicStatus:
    platform = platform or sys.platform
    if platform.startswith("linux"):
        return PulseVirtualMic().probe()
    if platform == "win32":
        return windows.probe(sd)
    if platform == "darwin":
        return macos.probe(sd)
    return VirtualMicStatus(platform, "", False, message=f"No virtual microphone support for {platform}.")


def make_virtual_mic(sd: ModuleType | None, platform: str | None = None) -> VirtualMic:
    platform = platform or sys.platform
    if platform.startswith("linux"):
        return PulseVirtualMic()
    return DetectedVirtualMic(probe_virtual_mic(sd, platform))


def remove_crashed_leftovers(platform: str | None = None) -> list[int]:
    """Unload the virtual microphone a crashed Mirage left behind; best effort, at every start.

    Without it a crash's "Mirage Microphone" would stay listed (and silent) in every call app
    until the user next turned voice on.
    """
    platform = platform or sys.platform
    if not platform.startswith("linux"):
        return []
    try:
        return PulseVirtualMic().remove_crashed()
    except (VoiceError, OSError) as exc:  # no sound server or no pactl: nothing can be left over
        log.debug("no leftover check: %s", exc)
        return []


__all__ = [
    "DetectedVirtualMic",
    "PulseVirtualMic",
    "VirtualMic",
    "VirtualMicStatus",
    "make_virtual_mic",
    "probe_virtual_mic",
    "remove_crashed_leftovers",
]
