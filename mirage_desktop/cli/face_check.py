"""Before `process` decodes a frame: can the face asked for really be worn?

Left to the pipeline, a missing photo, a photo without a face or missing models only switch the
swap off, and `process` wrote a whole video without the swap and exited 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mirage_desktop.config.settings import Settings
from mirage_desktop.engine.builder import face_processors
from mirage_desktop.processing.base import FrameProcessor, ProcessorError


@dataclass(slots=True)
class FaceCheck:
    #: the face processors, already started (models loaded, photo read): hand them to the pipeline
    processors: list[FrameProcessor] = field(default_factory=list)
    #: why the face cannot be worn; None when it can (or when no face was asked for)
    problem: str | None = None


def check_face(settings: Settings) -> FaceCheck:
    if not (settings.face.swap_enabled and settings.face.source_face):
        return FaceCheck()
    from mirage_desktop.processing.face.source_face import SourceFaceError, read_image

    try:
        read_image(Path(settings.face.source_face))  # seconds before the models would have told us
    except SourceFaceError as exc:
        return FaceCheck(problem=str(exc))
    processors = face_processors(settings, live=False)  # a file: every frame gets its own swap
    for processor in processors:
        try:
            processor.start()  # idempotent: the chain's start() on the processing thread is then a no-op
        except ProcessorError as exc:
            return FaceCheck(processors, str(exc))
        except (RuntimeError, OSError, ValueError) as exc:
            return FaceCheck(processors, f"{processor.name} cannot start: {exc}")
        if getattr(processor, "face_chosen", False) and getattr(processor, "source", True) is None:
            notice = getattr(processor, "notice", None)
            return FaceCheck(processors, notice or f"The face in {settings.face.source_face} cannot be used.")
        state = str(processor.counters().get("enhancer_state", ""))
        if settings.face.enhancer and state.startswith(("failed", "unavailable")):
            # asked for by name: a file without it is not what was asked for
            reason = state.split(":", 1)[1].strip() if ":" in state else state
            return FaceCheck(
                processors,
                f"The face enhancer {settings.face.enhancer} cannot run: {reason} "
                "(leave out --enhancer to process without it).",
            )
    return FaceCheck(processors)
