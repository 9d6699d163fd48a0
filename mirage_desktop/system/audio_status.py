"""Can Mirage reach audio devices at all (PortAudio loaded, devices listed)?"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field


@dataclass(slots=True)
class AudioStatus:
    available: bool
    message: str
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def audio_status() -> AudioStatus:
    try:
        import sounddevice as sd
    except OSError as exc:
        fix = "sudo apt install libportaudio2" if platform.system() == "Linux" else "reinstall Mirage"
        return AudioStatus(False, f"PortAudio is not available ({exc}); {fix}")
    try:
        devices = sd.query_devices()
    except Exception as exc:
        return AudioStatus(False, f"audio devices cannot be listed: {exc}")
    inputs = [f"{d['name']}" for d in devices if d["max_input_channels"] > 0]
    outputs = [f"{d['name']}" for d in devices if d["max_output_channels"] > 0]
    if not inputs and not outputs:
        return AudioStatus(False, "no audio devices found (no sound server or card)")
    return AudioStatus(True, f"{len(inputs)} input(s), {len(outputs)} output(s)", inputs, outputs)
