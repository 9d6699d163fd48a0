"""Writes the output to a video file: into a partial file, renamed into place only when complete."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

import cv2

from mirage_desktop.frame import Frame
from mirage_desktop.sinks.base import FrameSink, SinkError, fit_to
from mirage_desktop.sinks.output_file import (
    OutputError,
    PartialFile,
    check_destination,
    describe_os_error,
    space_problem,
)

log = logging.getLogger(__name__)

# mp4v is in every OpenCV build (H.264 needs an encoder pip's OpenCV does not ship) and
# plays in VLC, ffmpeg and most desktop players.
FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}

#: how often the file's health is checked while writing; a full disk costs at most this much work
CHECK_INTERVAL_S = 0.5


class RecorderSink(FrameSink):
    """``commit_on_close``: rename into place when the pipeline closes the sink (complete or not).
    Without it the owner decides after the run: ``commit()`` or ``discard()``."""

    name = "recorder"

    def __init__(
        self, path: str | Path, *, inputs: Iterable[str | Path] = (), commit_on_close: bool = True
    ) -> None:
        self.path = Path(path).expanduser()
        self.inputs = tuple(inputs)
        self.commit_on_close = commit_on_close
        self._partial: PartialFile | None = None
        self._writer: cv2.VideoWriter | None = None
        self._size = (0, 0)
        self._next_check = 0.0
        self.frames_written = 0
        #: why the file cannot be kept (write error, verification failed); None while all is well
        self.failure: str | None = None
        self.committed: Path | None = None

    @property
    def destination(self) -> Path:
        return self._partial.dest if self._partial else self.path

    @property
    def partial_path(self) -> Path | None:
        return self._partial.path if self._partial else None

    def prepare(self) -> None:
        """Check the destination and create the partial file, so a file that cannot be written is
        known before any work is done. Raises OutputError."""
        if self._partial is not None:
            return
        dest = check_destination(self.path, inputs=self.inputs, suffixes=FOURCC_BY_SUFFIX)
        partial = PartialFile(dest)
        partial.create()
        self._partial = partial

    def open(self, width: int, height: int, fps: float) -> None:
        self.prepare()
        assert self._partial is not None and self._partial.path is not None
        fourcc = FOURCC_BY_SUFFIX[self.destination.suffix.lower()]
        writer = cv2.VideoWriter(
            str(self._partial.path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (width, height)
        )
        if not writer.isOpened():
            problem = space_problem(self._partial.path) or "the video encoder could not start"
            self.failure = f"Cannot record to {self.destination}: {problem}."
            raise SinkError(self.failure)
        self._writer = writer
        self._size = (width, height)
        self._next_check = time.monotonic() + CHECK_INTERVAL_S
        self.name = f"recorder:{self.destination.name}"

    def write(self, frame: Frame) -> None:
        if self._writer is None:
            return
        self._writer.write(fit_to(frame.image, *self._size))
        self.frames_written += 1
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + CHECK_INTERVAL_S
            assert self._partial is not None and self._partial.path is not None
            problem = space_problem(self._partial.path)
            if problem:
                self.failure = f"Writing {self.destination} failed: {problem}"
                raise SinkError(self.failure)

    def close(self) -> None:
        self._release()
        if self.commit_on_close and self._partial is not None:
            try:
                self.commit()
            except SinkError as exc:
                log.warning("%s", exc)

    def _release(self) -> None:
        if self._writer is not None:
            self._writer.release()  # writes the index (moov): from here the file is playable
            self._writer = None

    def commit(self, replace: bool = True) -> Path:
        """Verify the finished file and rename it into place; ``replace=False`` leaves an existing
        file there alone. Raises SinkError (the partial file removed) when it cannot be kept."""
        self._release()
        partial = self._partial
        if partial is None or partial.path is None:
            raise SinkError(self.failure or f"Nothing was recorded to {self.path}.")
        if self.failure is None:
            if self.frames_written == 0:
                self.failure = f"No frames were written to {self.destination}."
            else:
                self.failure = verify_video(partial.path, self.frames_written, self.destination)
        if self.failure is not None:
            self.discard()
            raise SinkError(self.failure)
        try:
            partial.commit(replace=replace)
        except FileExistsError as exc:
            self.discard()
            raise OutputError(f"{self.destination} already exists; it was left unchanged.") from exc
        except OSError as exc:
            self.failure = f"Cannot put the finished video at {self.destination}: {describe_os_error(exc)}."
            self.discard()
            raise SinkError(self.failure) from exc
        self.committed = partial.dest
        return partial.dest

    def discard(self) -> None:
        self._release()
        if self._partial is not None:
            self._partial.discard()


def verify_video(path: Path, frames: int, shown_as: Path) -> str | None:
    """Why the finished file is not a playable video of ``frames`` frames, or None.

    Reads it back: the only way to learn of write errors, which OpenCV's writer swallows.
    """
    cap = cv2.VideoCapture(str(path))
    try:
        ok = cap.isOpened() and cap.read()[0]
    finally:
        cap.release()
    counted = 0
    if ok:
        cap = cv2.VideoCapture(str(path))
        try:
            cap.set(cv2.CAP_PROP_FORMAT, -1)  # packets, not pictures: an hour reads back in about a second
            while cap.read()[0]:
                counted += 1
        finally:
            cap.release()
    if ok and counted >= frames:
        return None
    cause = space_problem(path) or "the data did not reach the disk completely (a write error)"
    what = "cannot be played" if not ok else f"holds {counted} of the {frames} frames written"
    return f"Writing {shown_as} failed: {cause}; the file {what}"
