"""From VoiceSettings to a ready (not started) VoiceEngine — shared by `mirage-cli voice` and the GUI.

On Linux with a PulseAudio/PipeWire server Mirage talks to the server directly (the "pulse"
backend): devices are the server's own source/sink names and the server's queue is exactly what we
ask for. PortAudio is the route everywhere else, and on Linux only when asked for or when
libpulse-simple is missing: through ALSA's pulse plugin it measured 3x the latency and a full CPU
core here (scripts/bench_voice.py).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

from mirage_desktop import VIRTUAL_MICROPHONE_NAME
from mirage_desktop.config.settings import VoiceSettings
from mirage_desktop.voice import pulse_simple
from mirage_desktop.voice.audio_io import (
    StreamSpec,
    check_sample_rate,
    negotiate_sample_rate,
    reinitialize_portaudio,
    resolve_device,
)
from mirage_desktop.voice.converters.base import VoiceConverter
from mirage_desktop.voice.devices import load_sounddevice
from mirage_desktop.voice.engine import EngineConfig, VoiceEngine
from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.pipeline import PipelineConfig
from mirage_desktop.voice.virtual_mic import PulseVirtualMic, VirtualMic

PULSE_DEVICES = pulse_simple.DEFAULT_DEVICE_NAMES
BACKENDS = ("auto", "pulse", "portaudio")
#: the pulse backend's I/O fragment and server-side playback queue, chosen with bench_voice.py:
#: 5 ms fragments and a 20 ms queue had no gaps with a busy core beside them; 10 ms/30 ms added ~30 ms
PULSE_FRAGMENT_S = 0.005
PULSE_QUEUE_S = 0.02
PULSE_RATE = 48000


@dataclass(slots=True)
class Routing:
    input_device: str
    output_device: str
    #: environment for PortAudio's pulse device (set before it is initialised)
    env: dict[str, str] = field(default_factory=dict)
    backend: str = "portaudio"


def choose_backend(voice: VoiceSettings, pulse: PulseVirtualMic | None, platform: str) -> str:
    wanted = (voice.audio_backend or "auto").lower()
    if wanted not in BACKENDS:
        raise VoiceError(f"Unknown audio backend {voice.audio_backend!r}; use one of {', '.join(BACKENDS)}.")
    if wanted == "portaudio":
        return "portaudio"
    usable, why = pulse_simple.available()
    if platform.startswith("linux") and pulse is not None and usable:
        return "pulse"
    if wanted == "pulse":
        reason = why or "it needs Linux with PulseAudio or PipeWire's pulse server running"
        raise VoiceError(f"The PulseAudio audio backend cannot be used: {reason}. Use --backend portaudio.")
    return "portaudio"


def _match(name: str, names: list[str]) -> str | None:
    return next((n for n in names if n == name), None) or next(
        (n for n in names if name.lower() in n.lower()), None
    )


def _refuse_own_output(pulse: PulseVirtualMic, source: str) -> None:
    if source in pulse.own_sources():
        raise VoiceError(f"'{source}' is Mirage's own output; pick your real microphone as the input.")


def _pick(wanted: str, names: list[str], label: str, kind: str, hint: str = "") -> str:
    """A server name for ``wanted`` ("" = the server's default), or a message listing what exists."""
    if wanted.lower() in PULSE_DEVICES:
        return ""
    match = _match(wanted, names)
    if match is None:
        raise VoiceError(
            f"No {label} matches {wanted!r}. PulseAudio {kind}: {'; '.join(names) or 'none'}.{hint}"
        )
    return match


def route_pulse(voice: VoiceSettings, pulse: PulseVirtualMic, to_virtual_mic: bool) -> Routing:
    """Server names for the direct client: "" means the server's default source/sink."""
    name = voice.input_device.strip()
    sources = pulse.sources() if name.lower() not in PULSE_DEVICES else []
    hint = " Pick one with --input (or in Settings), or run `mirage-cli devices`."
    source = _pick(name, sources, "microphone", "sources", hint)
    default_source = pulse.server_info().get("Default Source", "")
    _refuse_own_output(pulse, source or default_source)
    if to_virtual_mic:
        sink = pulse.sink_name
    else:
        wanted = voice.output_device.strip()
        sinks = pulse.sinks() if wanted.lower() not in PULSE_DEVICES else []
        sink = _pick(wanted, sinks, "output device", "sinks")
    return Routing(source, sink, backend="pulse")


def pulse_spec(source: str | None, sink: str | None, rate: int = PULSE_RATE) -> StreamSpec:
    """A stream spec for the direct PulseAudio client with the measured fragment and queue."""
    return StreamSpec(
        source,
        sink,
        rate,
        frames_per_callback=round(PULSE_FRAGMENT_S * rate),
        latency=PULSE_QUEUE_S,
        backend="pulse",
    )


def open_outputs(
    voice: VoiceSettings,
    platform: str,
    vmic_factory: Callable[[ModuleType | None], VirtualMic],
    sd_loader: Callable[[], ModuleType] = load_sounddevice,
) -> tuple[VirtualMic | None, PulseVirtualMic | None, str]:
    """Open the virtual microphone unless the user plays to a device of their own.

    Returns it (or None), a PulseAudio control handle where a server answers (Linux), and where
    the voice goes, in words. Only Windows/macOS need PortAudio here, to find the driver's cable.
    """
    linux = platform.startswith("linux")
    target = voice.output_device.strip()
    if target:
        candidate = PulseVirtualMic() if linux else None
        return None, candidate if candidate is not None and candidate.reachable() else None, target
    vmic = vmic_factory(None if linux else sd_loader())
    status = vmic.open()
    pulse = vmic if isinstance(vmic, PulseVirtualMic) else None
    return vmic, pulse, status.visible_name or VIRTUAL_MICROPHONE_NAME


def route_linux(voice: VoiceSettings, pulse: PulseVirtualMic | None) -> Routing:
    """PortAudio through PulseAudio only sees 'pulse'/'default'; PULSE_SOURCE/PULSE_SINK pick the rest."""
    env: dict[str, str] = {}
    name = voice.input_device.strip()
    input_device = name
    if pulse is not None and name.lower() not in PULSE_DEVICES:
        match = _match(name, pulse.sources())
        if match is not None:
            _refuse_own_output(pulse, match)
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
            block_ms=voice.block_ms,
            gate_db=voice.gate_db if voice.gate_enabled else None,
            gate_mode=voice.gate_mode if voice.gate_mode in ("level", "vad") else "level",
            denoise=voice.denoise,
        ),
        buffer_ms=voice.buffer_ms,
        policy="silence" if voice.overload_policy == "silence" else "dry",
        adapt=voice.adapt_block,
    )


def build_engine(
    voice: VoiceSettings,
    converter: VoiceConverter,
    vmic: VirtualMic | None,
    pulse: PulseVirtualMic | None,
    *,
    platform: str | None = None,
    sample_rate: int | None = None,
    sd_loader: Callable[[], ModuleType] = load_sounddevice,
) -> VoiceEngine:
    """Route devices, pick the backend and the rate, set up the monitor; the engine is not started.

    ``vmic`` is the virtual microphone already opened (None when the user plays to a device of their
    own); ``pulse`` is a PulseAudio control handle when a server is reachable (Linux).
    """
    platform = platform or sys.platform
    to_virtual_mic = vmic is not None
    backend = choose_backend(voice, pulse, platform)
    if backend == "pulse":
        assert pulse is not None
        routing = route_pulse(voice, pulse, to_virtual_mic and vmic is pulse)
        rate = sample_rate or PULSE_RATE  # the server converts to and from the devices' own rates
        spec = pulse_spec(routing.input_device or None, routing.output_device or None, rate)
        monitor_spec = None
        if voice.monitor:
            if vmic is pulse:
                pulse.start_monitor(voice.monitor_device or None)  # inside the server: no 2nd stream
            else:
                monitor_spec = pulse_spec(None, voice.monitor_device.strip() or None, rate)
        source = routing.input_device or None
        return VoiceEngine(
            converter,
            spec,
            engine_config(voice),
            None,
            monitor_spec,
            input_guard=lambda: pulse.input_feedback(source),
        )

    sd = sd_loader()
    if platform.startswith("linux"):
        routing = route_linux(voice, pulse)
    else:
        routing = Routing(voice.input_device, voice.output_device or (vmic.output_device if vmic else ""))
    reinitialize_portaudio(sd, routing.env)
    in_index = resolve_device(sd, routing.input_device, "input")
    out_index = resolve_device(sd, routing.output_device, "output")
    if sample_rate:
        check_sample_rate(sd, in_index, out_index, sample_rate)
        rate = sample_rate
    else:
        rate = negotiate_sample_rate(sd, in_index, out_index)
    monitor_spec = None
    if voice.monitor:
        if pulse is not None and vmic is pulse:
            pulse.start_monitor(voice.monitor_device or None)
        else:
            monitor_spec = StreamSpec(None, resolve_device(sd, voice.monitor_device, "output"), rate)
    guard = None
    if pulse is not None:
        source = routing.env.get("PULSE_SOURCE")
        guard = lambda: pulse.input_feedback(source)  # noqa: E731
    return VoiceEngine(
        converter,
        StreamSpec(in_index, out_index, rate),
        engine_config(voice),
        sd,
        monitor_spec,
        input_guard=guard,
    )


@dataclass(slots=True)
class ServerWatch:
    """Notices that the sound server itself has gone (killed, crashed, hung), not a stall.

    The engine's watchdog reopens a stalled stream for ever, which is right for a microphone
    unplugged for a moment but not for a server that died: the virtual microphone went with it, and
    `mirage-cli voice` ran on, silent, until it was killed. A server that hangs (stopped, deadlocked)
    even leaves the engine's status at "running", its watchdog stuck in the reopen. So the server is
    asked (``pactl info``, a short timeout) whenever the engine reports trouble or its audio stopped
    moving; failed answers for ``grace_s`` mean it is gone.
    """

    pulse: PulseVirtualMic | None
    grace_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _since: float | None = None
    _callbacks: int = -1

    def check(self, status: str, callbacks: int) -> str:
        """ "" while all is well; the message for the user once the server is gone."""
        moving, self._callbacks = callbacks != self._callbacks, callbacks
        if self.pulse is None or (moving and status.startswith("running")) or self.pulse.reachable():
            self._since = None
            return ""
        now = self.clock()
        if self._since is None:
            self._since = now
        if now - self._since < self.grace_s:
            return ""
        return (
            "the sound server (PulseAudio / PipeWire) stopped or stopped answering, and the voice and "
            f"'{VIRTUAL_MICROPHONE_NAME}' ended with it. Start it again (`pulseaudio --start`, or "
            "`systemctl --user restart pipewire-pulse`) and start the voice again."
        )
