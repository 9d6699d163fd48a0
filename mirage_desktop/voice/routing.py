"""From VoiceSettings to what PortAudio and the engine need — shared by the CLI and the GUI."""

from __future__ import annotations

from dataclasses import dataclass, field

from mirage_desktop.config.settings import VoiceSettings
from mirage_desktop.voice.engine import EngineConfig
from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.pipeline import PipelineConfig
from mirage_desktop.voice.virtual_mic import PulseVirtualMic

PULSE_DEVICES = ("", "pulse", "default")


@dataclass(slots=True)
class Routing:
    input_device: str
    output_device: str
    #: environment for PortAudio's pulse device (set before it is initialised)
    env: dict[str, str] = field(default_factory=dict)


def route_linux(voice: VoiceSettings, pulse: PulseVirtualMic | None) -> Routing:
    """Through PulseAudio PortAudio only sees 'pulse'/'default'; PULSE_SOURCE/PULSE_SINK pick the rest."""
    env: dict[str, str] = {}
    name = voice.input_device.strip()
    input_device = name
    if pulse is not None and name.lower() not in PULSE_DEVICES:
        sources = pulse.sources()
        match = next((s for s in sources if s == name), None) or next(
            (s for s in sources if name.lower() in s.lower()), None
        )
        if match is not None:
            if match in (pulse.source_name, f"{pulse.sink_name}.monitor"):
                # Recording our own output would feed the converted voice back into itself.
                raise VoiceError(f"'{match}' is Mirage's own output; pick your real microphone as the input.")
            env["PULSE_SOURCE"] = match
            input_device = "pulse"
    elif pulse is not None:
        input_device = "pulse"
    output = voice.output_device.strip()
    if pulse is not None and not output:
        env.update(pulse.output_env())
        output = pulse.output_device
    return Routing(input_device, output, env)


def engine_config(voice: VoiceSettings) -> EngineConfig:
    return EngineConfig(
        pipeline=PipelineConfig(
            block_ms=voice.block_ms, gate_db=voice.gate_db if voice.gate_enabled else None
        ),
        buffer_ms=voice.buffer_ms,
        policy="silence" if voice.overload_policy == "silence" else "dry",
        adapt=voice.adapt_block,
    )
