"""Assembles a pipeline from settings: which source, which processors, which sinks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mirage_desktop.config.settings import Settings
from mirage_desktop.engine.metrics import MetricsCollector
from mirage_desktop.engine.pipeline import Pipeline, PipelineOptions, ProblemListener
from mirage_desktop.processing.base import FrameProcessor
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.processing.debug_overlay import DebugOverlayProcessor
from mirage_desktop.processing.passthrough import PassThroughProcessor
from mirage_desktop.processing.privacy_cover import PrivacyPolicy
from mirage_desktop.sinks.base import FrameSink
from mirage_desktop.sinks.preview import PreviewListener, PreviewSink
from mirage_desktop.sinks.recorder import FILE_PRESET, LIVE_PRESET, RecorderSink
from mirage_desktop.sinks.virtual_camera import VirtualCameraSink
from mirage_desktop.sources.open import SourceSpec, make_source


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


def recording_sound(spec: SourceSpec, suffix: str):
    """The sound to record beside the live picture: a video file's own sound, looping with it
    (frames keep the file's timestamps, so it stays on the lips). None for a camera or the test
    pattern: the converted microphone is not recorded yet (the voice engine has no output tap)."""
    if spec.kind != "file":
        return None
    from mirage_desktop.media.audio import audio_for

    try:
        return audio_for(Path(spec.value).expanduser(), suffix, loop=True)
    except (OSError, ValueError):  # unreadable: the source reports it; record the picture anyway
        return None


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
