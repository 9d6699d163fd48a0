"""What audio hardware and virtual-microphone support this machine has, as plain data.

``describe_audio()`` never raises: a missing PortAudio or sound server becomes a message in the report,
so `mirage-cli devices` can always print something useful.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from mirage_desktop.voice import pulse_simple
from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.virtual_mic import PulseVirtualMic, VirtualMicStatus, probe_virtual_mic


@dataclass(slots=True)
class AudioDevice:
    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    is_default_input: bool = False
    is_default_output: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class AudioReport:
    inputs: list[AudioDevice] = field(default_factory=list)
    outputs: list[AudioDevice] = field(default_factory=list)
    #: PulseAudio/PipeWire sources and sinks (Linux), usable as `--input NAME`
    pulse_sources: list[str] = field(default_factory=list)
    pulse_sinks: list[str] = field(default_factory=list)
    virtual_mic: VirtualMicStatus | None = None
    #: the route `voice --backend auto` takes here: "pulse" (direct client) or "portaudio"
    voice_backend: str = "portaudio"
    voice_backend_note: str = ""
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [d.to_dict() for d in self.inputs],
            "outputs": [d.to_dict() for d in self.outputs],
            "pulse_sources": list(self.pulse_sources),
            "pulse_sinks": list(self.pulse_sinks),
            "virtual_mic": self.virtual_mic.to_dict() if self.virtual_mic else None,
            "voice_backend": self.voice_backend,
            "voice_backend_note": self.voice_backend_note,
            "errors": list(self.errors),
        }


def load_sounddevice() -> ModuleType:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        raise VoiceError(
            f"PortAudio is not available ({exc}). Install it (Debian/Ubuntu: `sudo apt install "
            "libportaudio2`) and reinstall Mirage."
        ) from exc
    return sounddevice


def describe_audio(sd: ModuleType | None = None, platform: str | None = None) -> AudioReport:
    platform = platform or sys.platform
    report = AudioReport()
    try:
        sd = sd or load_sounddevice()
    except VoiceError as exc:
        report.errors.append(str(exc))
        report.virtual_mic = VirtualMicStatus(platform, "", False, message=str(exc))
        return report
    try:
        apis = sd.query_hostapis()
        default_in, default_out = sd.default.device
        for dev in sd.query_devices():
            item = AudioDevice(
                index=int(dev["index"]),
                name=str(dev["name"]),
                host_api=str(apis[dev["hostapi"]]["name"]),
                max_input_channels=int(dev["max_input_channels"]),
                max_output_channels=int(dev["max_output_channels"]),
                default_samplerate=float(dev["default_samplerate"]),
                is_default_input=dev["index"] == default_in,
                is_default_output=dev["index"] == default_out,
            )
            if item.max_input_channels > 0:
                report.inputs.append(item)
            if item.max_output_channels > 0:
                report.outputs.append(item)
    except sd.PortAudioError as exc:
        report.errors.append(f"could not list audio devices: {exc}")
    if not report.inputs:
        report.errors.append("no microphone found: connect one (or check the sound server is running)")
    report.virtual_mic = probe_virtual_mic(sd, platform)
    if platform.startswith("linux") and report.virtual_mic.backend == "pulse":
        try:
            pulse = PulseVirtualMic()
            report.pulse_sources = pulse.sources()
            report.pulse_sinks = pulse.sinks()
        except VoiceError as exc:
            report.errors.append(str(exc))
        usable, why = pulse_simple.available()
        if usable:
            report.voice_backend = "pulse"
            report.voice_backend_note = "PulseAudio/PipeWire directly (libpulse-simple)"
        else:
            report.voice_backend_note = f"PortAudio, because {why}"
    return report
