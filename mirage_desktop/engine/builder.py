"""Assembles a pipeline from settings: which source, which processors, which sinks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mirage_desktop.config.settings import Settings
from mirage_desktop.engine.metrics import MetricsCollector
from mirage_desktop.engine.pipeline import Pipeline, PipelineOptions, ProblemListener
from mirage_desktop.media.audio import ENCODER, LiveAudio, audio_for
from mirage_desktop.processing.base import FrameProcessor
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.processing.debug_overlay import DebugOverlayProcessor
from mirage_desktop.processing.passthrough import PassThroughProcessor
from mirage_desktop.processing.privacy_cover import PrivacyPolicy
from mirage_desktop.safe_read import not_regular_reason
from mirage_desktop.sinks.base import FrameSink
from mirage_desktop.sinks.preview import PreviewListener, PreviewSink
from mirage_desktop.sinks.recorder import FILE_PRESET, LIVE_PRESET, RecorderSink
from mirage_desktop.sinks.virtual_camera import VirtualCameraSink
from mirage_desktop.sources.open import SourceSpec, make_source

if TYPE_CHECKING:
    from mirage_desktop.voice.engine import VoiceEngine


@dataclass(slots=True)
class PipelineRequest:
    """What one run should do, beyond the persisted settings."""

    live: bool = True
    virtual_camera: bool = True
    record_to: Path | None = None
    preview: PreviewListener | None = None
    preview_max_fps: float = 30.0
    #: processors placed before the debug overlay (face swap, enhancer, ...)
    processors: Sequence[FrameProcessor] = field(default_factory=tuple)
    extra_sinks: Sequence[FrameSink] = field(default_factory=tuple)
    #: where model files come from (default: the user's model store)
    model_path: Callable[[str], Path] | None = None
    #: end the run when every sink has failed (see PipelineOptions.stop_without_sinks)
    stop_without_sinks: bool = False


def face_processors(
    settings: Settings, model_path: Callable[[str], Path] | None = None, live: bool = True
) -> list[FrameProcessor]:
    """The face swap, when it is switched on and has a face to wear. Models load later, on the
    processing thread, so a missing model shows up as a message and pass-through, not a crash."""
    if not (settings.face.swap_enabled and settings.face.source_face):
        return []
    from mirage_desktop.processing.face.face_swap import build_face_swap_processor

    if model_path is None:
        from mirage_desktop.models import ModelStore

        model_path = ModelStore().path
    return [build_face_swap_processor(settings.face, model_path, live=live)]


#: how long a live recording waits, when it ends, for the converted voice of its last frame
VOICE_TAIL_WAIT_S = 0.5
#: voice blocks (10–20 ms each) a recording keeps while its picture has not started
VOICE_QUEUE_BEFORE_PICTURE = 250


def recording_sound(spec: SourceSpec, suffix: str, voice: VoiceEngine | None = None):
    """The sound to record beside the live picture.

    ``voice``: the voice changer running live; its converted microphone is recorded (a
    ``VoiceRecording`` on the engine's output tap; it is what the call hears, so it wins over a
    video file's own sound). Otherwise a video file's own sound, looping with it (frames keep the
    file's timestamps, so it stays on the lips); None for a camera or the test pattern."""
    if voice is not None:
        return VoiceRecording(voice, codec=ENCODER.get(suffix.lower(), "aac"))
    if spec.kind != "file":
        return None
    if not_regular_reason(Path(spec.value).expanduser()):  # a FIFO blocks the open; the source says why
        return None
    try:
        return audio_for(Path(spec.value).expanduser(), suffix, loop=True)
    except (OSError, ValueError):  # unreadable: the source reports it; record the picture anyway
        return None


class VoiceRecording(LiveAudio):
    """The converted microphone as a recording's sound: a ``LiveAudio`` fed by the voice engine's
    output tap, each block placed by the time its first sample was captured, as the frames are.

    The voice reaches the tap a little after the picture of the same instant reaches the recorder
    (conversion latency), so at the end it waits (at most ``VOICE_TAIL_WAIT_S``) for the voice up
    to the last frame's end and writes exactly that far: both tracks end together."""

    def __init__(self, engine: VoiceEngine, *, codec: str = "aac", bit_rate: int = 160_000) -> None:
        super().__init__(engine.spec.sample_rate, 1, codec=codec, bit_rate=bit_rate)
        self.describe = f"the converted microphone ({engine.converter.name}), {codec.upper()}, live"
        self._engine: VoiceEngine | None = engine
        self._end_s: float | None = None  # the picture's end so far, on the recording's timeline
        self._until: float | None = None  # perf_counter time the voice is wanted up to, at the end
        self._reached = threading.Event()
        engine.add_output_tap(self.push)

    def push(self, block: np.ndarray, captured_at: float) -> None:
        until = self._until
        if until is not None and captured_at + len(block) / self.rate >= until:
            self._reached.set()
        if self.clock_origin is None:
            with self._lock:  # no picture yet: keep only the last seconds (older ones are dropped)
                while len(self._queue) > VOICE_QUEUE_BEFORE_PICTURE:
                    self._queue.popleft()
        super().push(block, captured_at)

    def detach(self) -> None:
        """Stop taking the voice (the recording ended or failed); idempotent."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.remove_output_tap(self.push)

    def write_until(self, container, t: float) -> None:
        self._end_s = t
        super().write_until(container, t)

    def finish(self, container, to_end: bool) -> None:
        if self._finished:
            return
        if self._end_s is not None and self.clock_origin is not None and self._engine is not None:
            self._until = self.clock_origin + self._end_s
            self._reached.wait(VOICE_TAIL_WAIT_S)
        self.detach()
        if self._end_s is not None:
            super().write_until(container, self._end_s)  # up to the picture's end, not beyond
        super().finish(container, to_end=False)

    def close(self) -> None:
        self.detach()
        super().close()


def build_pipeline(
    settings: Settings,
    request: PipelineRequest,
    on_problem: ProblemListener | None = None,
) -> Pipeline:
    video = settings.video
    collector = MetricsCollector()
    pipeline_ref: list[Pipeline] = []

    def problem(message: str) -> None:
        if pipeline_ref:
            pipeline_ref[0].report("source", message)

    source = make_source(
        SourceSpec.parse(video.source),
        width=video.width,
        height=video.height,
        fps=video.fps,
        live=request.live,
        fallback=video.fallback_to_test_pattern,
        on_problem=problem,
    )
    processors: list[FrameProcessor] = (
        list(request.processors)
        or face_processors(settings, request.model_path, live=request.live)
        or [PassThroughProcessor()]
    )
    if settings.face.debug_overlay:
        processors.append(DebugOverlayProcessor(lambda: pipeline_ref[0].metrics() if pipeline_ref else None))
    sinks: list[FrameSink] = []
    if request.virtual_camera and settings.output.virtual_camera:
        sinks.append(
            VirtualCameraSink(
                settings.output.virtual_camera_name, backend=settings.output.virtual_camera_backend or None
            )
        )
    if request.record_to is not None:
        sound = recording_sound(SourceSpec.parse(video.source), request.record_to.suffix)
        preset = LIVE_PRESET if request.live else FILE_PRESET
        sinks.append(RecorderSink(request.record_to, audio=sound, preset=preset))
    if request.preview is not None:
        sinks.append(PreviewSink(request.preview, request.preview_max_fps))
    sinks.extend(request.extra_sinks)
    pipeline = Pipeline(
        source,
        ProcessorChain(processors, privacy=PrivacyPolicy(enabled=settings.face.privacy_cover)),
        sinks,
        PipelineOptions(
            live=request.live,
            max_fps=video.max_fps,
            stop_without_sinks=request.stop_without_sinks,
            adaptive_quality=video.adaptive_quality,
            quality_pins=tuple(p.strip() for p in video.quality_pins.split(",") if p.strip()),
            quality_min_fps=video.quality_min_fps,
            pipelined=video.pipelined_detection,
        ),
        metrics=collector,
        on_problem=on_problem,
    )
    pipeline_ref.append(pipeline)
    return pipeline
