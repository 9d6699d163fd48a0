"""Turns a source spec ("test", "camera:0", "camera:Logitech", "0", a file path) into a source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mirage_desktop.sources.base import FrameSource, SourceError
from mirage_desktop.sources.camera import CameraSource
from mirage_desktop.sources.fallback import FallbackSource
from mirage_desktop.sources.test_pattern import TestPatternSource
from mirage_desktop.sources.video_file import VideoFileSource


@dataclass(frozen=True, slots=True)
class SourceSpec:
    kind: str  # "test" | "camera" | "file"
    value: str = ""

    @classmethod
    def parse(cls, text: str) -> SourceSpec:
        raw = (text or "").strip()
        lowered = raw.lower()
        if lowered in ("", "test", "pattern", "test-pattern", "testpattern"):
            return cls("test")
        if lowered.startswith("camera:") or lowered.startswith("cam:"):
            return cls("camera", raw.split(":", 1)[1].strip() or "0")
        if lowered == "camera":
            return cls("camera", "0")
        if raw.isdigit():
            return cls("camera", raw)
        if lowered.startswith("file:"):
            return cls("file", raw[5:])
        return cls("file", raw)


def make_source(
    spec: SourceSpec,
    *,
    width: int,
    height: int,
    fps: float,
    live: bool = True,
    fallback: bool = True,
    on_problem: Callable[[str], None] | None = None,
) -> FrameSource:
    """Live sources loop and are paced; with ``fallback`` a missing or lost camera or file
    shows the test pattern instead of ending the stream. Offline (``live=False``) a file is
    read once, as fast as possible."""
    if spec.kind == "test":
        return TestPatternSource(width, height, fps, paced=live)
    if spec.kind == "camera":
        device: int | str = int(spec.value) if spec.value.isdigit() else spec.value

        def primary() -> FrameSource:
            return CameraSource(device, width, height, fps)

    elif spec.kind == "file":
        path = Path(spec.value).expanduser()

        def primary() -> FrameSource:
            return VideoFileSource(path, loop=live, paced=live)

    else:
        raise SourceError(f"Unknown source '{spec.kind}'. Use 'test', 'camera:N' or a video file path.")
    if live and fallback:
        return FallbackSource(primary, width, height, fps, on_problem=on_problem)
    return primary()
