"""A video file as a camera: looping and paced at its own frame rate for live use,
or read once as fast as possible for offline processing."""

from __future__ import annotations

import math
import time
from pathlib import Path

import cv2

from mirage_desktop.frame import Frame
from mirage_desktop.sources.base import FrameSource, Pacer, SourceError, SourceExhausted, SourceInfo

DEFAULT_FPS = 30.0


class VideoFileSource(FrameSource):
    def __init__(
        self, path: str | Path, loop: bool = True, paced: bool = True, clock=time.perf_counter
    ) -> None:
        self.path = Path(path)
        self.loop = loop
        self.paced = paced
        self._clock = clock
        self._cap: cv2.VideoCapture | None = None
        self._pacer: Pacer | None = None
        self._info: SourceInfo | None = None
        self._index = 0
        self._announced = 0
        self.loops = 0

    def _open_capture(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"Cannot read the video file {self.path}: its format is not supported or the file is "
                "damaged. Try converting it to MP4 (H.264), e.g. `ffmpeg -i INPUT -c:v libx264 out.mp4`."
            )
        return cap

    def open(self) -> SourceInfo:
        if self.path.is_dir():
            raise SourceError(f"{self.path} is a folder, not a video file. Give the path of a video file.")
        if not self.path.is_file():
            raise SourceError(f"The video file {self.path} does not exist. Check the path.")
        cap = self._open_capture()
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(
                f"The video file {self.path} has no readable video frames. Use another file, or convert it "
                "to MP4 (H.264)."
            )
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        fps = cap.get(cv2.CAP_PROP_FPS)
        if not fps or math.isnan(fps) or fps <= 0 or fps > 240:
            fps = DEFAULT_FPS
        self._cap = cap
        self._pacer = Pacer(fps, clock=self._clock)
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._announced = max(0, frames)
        self._info = SourceInfo(
            name=self.path.name,
            kind="file",
            width=int(first.shape[1]),
            height=int(first.shape[0]),
            fps=float(fps),
            detail=f"{frames} frames" + (", looping" if self.loop else ""),
        )
        return self._info

    @property
    def info(self) -> SourceInfo | None:
        return self._info

    def read(self) -> Frame:
        if self._cap is None:
            raise SourceExhausted(str(self.path))
        if self.paced and self._pacer is not None:
            self._pacer.wait()
        ok, image = self._cap.read()
        if not ok or image is None:
            if not self.loop:
                self._check_complete()
                raise SourceExhausted(str(self.path))
            # Seeking back is unreliable for some codecs; reopening always restarts cleanly.
            self._cap.release()
            self._cap = self._open_capture()
            self.loops += 1
            ok, image = self._cap.read()
            if not ok or image is None:
                raise SourceExhausted(str(self.path))
        frame = Frame(image, self._index, self._clock(), source=f"file:{self.path.name}")
        self._index += 1
        return frame

    def _check_complete(self) -> None:
        # A file cut short (a copy or download that did not finish) reads like a short video;
        # offline that would silently give a short output. Some containers only estimate their
        # frame count from the duration, hence the slack.
        if self._announced and self._index < self._announced * 0.98 - 1:
            raise SourceError(
                f"The video file {self.path} ended after {self._index} of its {self._announced} frames: "
                "it is damaged or incomplete (was it still being copied or downloaded?)."
            )

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
