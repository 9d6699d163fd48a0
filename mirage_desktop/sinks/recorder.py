"""Writes the output to a video file."""

from __future__ import annotations

from pathlib import Path

import cv2

from mirage_desktop.frame import Frame
from mirage_desktop.sinks.base import FrameSink, SinkError, fit_to

# mp4v is in every OpenCV build (H.264 needs an encoder pip's OpenCV does not ship) and
# plays in VLC, ffmpeg and most desktop players.
_FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class RecorderSink(FrameSink):
    name = "recorder"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._writer: cv2.VideoWriter | None = None
        self._size = (0, 0)
        self.frames_written = 0

    def open(self, width: int, height: int, fps: float) -> None:
        fourcc = _FOURCC_BY_SUFFIX.get(self.path.suffix.lower())
        if fourcc is None:
            raise SinkError(
                f"Cannot record to {self.path}: use a .mp4, .mov, .avi or .mkv file name "
                f"(got '{self.path.suffix or 'no extension'}')."
            )
        if not self.path.parent.is_dir():
            raise SinkError(f"Cannot record to {self.path}: the folder {self.path.parent} does not exist.")
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (width, height))
        if not writer.isOpened():
            raise SinkError(
                f"Cannot record to {self.path}: the file could not be created (is the folder writable "
                "and is there free disk space?)."
            )
        self._writer = writer
        self._size = (width, height)
        self.name = f"recorder:{self.path.name}"

    def write(self, frame: Frame) -> None:
        if self._writer is None:
            return
        self._writer.write(fit_to(frame.image, *self._size))
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
