"""What every platform's virtual microphone reports and provides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class VirtualMicStatus:
    platform: str
    #: "pulse" (Mirage creates it), "vb-cable", "blackhole", or "" when none is usable
    backend: str
    available: bool
    #: the name apps (Zoom, Meet, Discord, OBS) show for the microphone
    visible_name: str = ""
    #: the output device Mirage plays into to feed it
    output_device: str = ""
    #: what the user should do, when something is missing
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class VirtualMic(Protocol):
    def open(self) -> VirtualMicStatus:
        """Make the microphone available (create or find it); raise VoiceError if impossible."""

    def close(self) -> None:
        """Undo what open() created."""

    def output_env(self) -> dict[str, str]:
        """Environment PortAudio needs to route playback into the microphone (may be empty)."""

    @property
    def output_device(self) -> str:
        """PortAudio device name to play into."""
