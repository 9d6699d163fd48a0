"""Turns a source spec ("test", "camera:0", "camera:Logitech", "0", a file path) into a source."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mirage_desktop.sources.base import FrameSource, SourceError
from mirage_desktop.sources.camera import CameraSource
from mirage_desktop.sources.fallback import FallbackSource
from mirage_desktop.sources.test_pattern import TestPatternSource
from mirage_desktop.sources.video_file import VideoFileSource

_VIDEO_NODE = re.compile(r"^/dev/video[0-9]+$")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    kind: str  # "test" | "camera" | "file"
    value: str = ""

    @classmethod
    def parse(cls, text: str) -> SourceSpec:
        # Keywords may come with stray spaces; a file path is kept exactly as given (a trailing
        # space stripped once processed a *different* file).
        raw = text or ""
        word = raw.strip()
        lowered = word.lower()
        if lowered in ("", "test", "pattern", "test-pattern", "testpattern"):
            return cls("test")
        if lowered.startswith("camera:") or lowered.startswith("cam:"):
            return cls("camera", word.split(":", 1)[1].strip() or "0")
        if lowered == "camera":
            return cls("camera", "0")
        if word.isascii() and word.isdigit():  # "²".isdigit() is true too
            return cls("camera", word)
        if raw.startswith("file:"):
            return cls("file", raw[5:])
        if is_camera_device(raw):
            return cls("camera", raw)
        return cls("file", raw)


def is_camera_device(path: str) -> bool:
    """A camera given by its device path (Linux: /dev/video2, /dev/v4l/by-id/...): a device, where
    a video file source must be a regular file."""
    if not path.startswith("/dev/"):
        return False
    if _VIDEO_NODE.match(path):
        return True  # a camera even while unplugged: the fallback waits for it
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


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
        value = spec.value
        device: int | str = int(value) if value.isascii() and value.isdigit() else value

        def primary() -> FrameSource:
            return CameraSource(device, width, height, fps)

    elif spec.kind == "file":
        path = Path(spec.value).expanduser()  # "~/clip.mp4" in settings.json, as a shell would

        def primary() -> FrameSource:
            return VideoFileSource(path, loop=live, paced=live)

    else:
        raise SourceError(f"Unknown source '{spec.kind}'. Use 'test', 'camera:N' or a video file path.")
    if live and fallback:
        return FallbackSource(primary, width, height, fps, on_problem=on_problem)
    return primary()
