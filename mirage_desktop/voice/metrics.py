"""Live voice metrics: what the engine measured, as plain JSON-able numbers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class VoiceMetrics:
    converter: str = ""
    device_rate: int = 0
    converter_rate: int = 0
    block_ms: float = 0.0
    crossfade_ms: float = 0.0
    search_ms: float = 0.0
    lookahead_ms: float = 0.0
    buffer_ms: float = 0.0
    #: block + crossfade + SOLA search + converter look-ahead + resampler delays (worst case)
    algorithmic_latency_ms: float = 0.0
    #: "portaudio" or "pulse" (a direct PulseAudio client)
    backend: str = ""
    #: what the backend reports for the open stream(s): PortAudio's stream.latency, or the PulseAudio
    #: server's live figures
    device_input_latency_ms: float = 0.0
    device_output_latency_ms: float = 0.0
    #: algorithmic + output jitter buffer + device latencies
    estimated_latency_ms: float = 0.0
    #: sampled twice a second from the rings and the backend's live device figures (see
    #: VoiceEngine.live_latency_s): the latest, the worst, and last-5-s minus first-5-s (the drift)
    live_latency_ms: float = 0.0
    live_latency_ms_max: float = 0.0
    latency_drift_ms: float = 0.0
    #: lip sync: how long the voice is held back for the picture now, and what it is moving toward
    #: (on top of the latencies above)
    sync_delay_ms: float = 0.0
    sync_target_ms: float = 0.0
    blocks: int = 0
    converted_blocks: int = 0
    #: blocks whose conversion was not ready in time and were replaced by the fallback (dry or silence)
    dropped_blocks: int = 0
    late_blocks: int = 0
    busy_blocks: int = 0
    runtime_ms_last: float = 0.0
    runtime_ms_mean: float = 0.0
    runtime_ms_p95: float = 0.0
    runtime_ms_max: float = 0.0
    #: conversion runtime / block duration: above 1.0 the converter cannot keep up
    ratio_last: float = 0.0
    ratio_mean: float = 0.0
    ratio_max: float = 0.0
    #: per-block ratios, most recent last (bounded)
    ratios: list[float] = field(default_factory=list)
    block_changes: int = 0
    #: PortAudio CallbackFlags counts
    input_overflows: int = 0
    input_underflows: int = 0
    output_overflows: int = 0
    output_underflows: int = 0
    #: our own buffers: samples the capture ring could not take / times playback ran dry
    capture_overflow_samples: int = 0
    playback_gaps: int = 0
    #: audio skipped to keep latency bounded when the pipeline fell behind
    #: most audio ever waiting in the capture ring / the playback ring (bounded unless policy "wait")
    backlog_ms_max: float = 0.0
    queued_output_ms_max: float = 0.0
    trimmed_input_ms: float = 0.0
    trimmed_output_ms: float = 0.0
    #: times a standing excess in the output queue was cut back to the jitter buffer
    standing_queue_cuts: int = 0
    stream_restarts: int = 0
    stream_errors: int = 0
    #: times the input was found on Mirage's own output (a feedback loop) and voice was paused
    feedback_pauses: int = 0
    callbacks: int = 0
    gate_open: bool = False
    input_level_db: float = -120.0
    #: the input front end (voice/frontend.py): RNNoise engaged, which gate works ("level", "vad",
    #: "off"), whether the VAD hears speech, the delay both add, their cost in ms per block, and why
    #: a stage that was asked for is off ("" when none)
    denoise: bool = False
    gate_mode: str = "level"
    vad_speaking: bool = False
    frontend_latency_ms: float = 0.0
    denoise_ms_mean: float = 0.0
    vad_ms_mean: float = 0.0
    frontend_note: str = ""
    status: str = "stopped"

    @property
    def xruns(self) -> int:
        return self.input_overflows + self.input_underflows + self.output_overflows + self.output_underflows

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["xruns"] = self.xruns
        return data
