"""A video file as a camera: looping and paced at its own timestamps for live use, or read once as
fast as possible for offline processing.

Read with PyAV (FFmpeg): every frame keeps the presentation timestamp the file gives it
(``Frame.pts`` / ``Frame.time_base``), so a writer can keep the source's timing, variable frame rate
included, and put the file's sound back in sync with it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mirage_desktop.frame import Frame
from mirage_desktop.media.audio import video_span
from mirage_desktop.sources.base import FrameSource, SourceError, SourceExhausted, SourceInfo
from mirage_desktop.sources.orientation import Orientation, frame_orientation
from mirage_desktop.sources.user_path import path_problem, shown

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
#: the largest picture read: 8K (DCI 8192×4320) either way up; a header saying more is damaged or
#: hostile (one 65535×65535 frame is 12 GB of BGR)
MAX_VIDEO_SIDE = 8192
MAX_VIDEO_PIXELS = 8192 * 4320
#: this many undecodable packets in a row and the file is called damaged (one bad packet is skipped)
MAX_BAD_PACKETS = 50


def _unreadable(path: Path) -> SourceError:
    return SourceError(
        f"Cannot read the video file {path}: its format is not supported or the file is "
        "damaged. Try converting it to MP4 (H.264), e.g. `ffmpeg -i INPUT -c:v libx264 out.mp4`."
    )


def _no_video(path: Path) -> SourceError:
    return SourceError(
        f"The video file {path} has no readable video frames. Use another file, or convert it to MP4 (H.264)."
    )


def stream_fps(stream) -> float:
    """The stream's frame rate (its average; a variable-rate file is still timed frame by frame)."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            fps = float(rate)
            if math.isfinite(fps) and 0 < fps <= 240:
                return fps
    return DEFAULT_FPS


def _check_size(path: Path, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise SourceError(
            f"The video file {shown(path)} says its picture is {width}×{height}: it is damaged."
        )
    if max(width, height) > MAX_VIDEO_SIDE or width * height > MAX_VIDEO_PIXELS:
        raise SourceError(
            f"The video file {shown(path)} is {width}×{height}, larger than Mirage reads (at most "
            f"{MAX_VIDEO_SIDE} pixels a side and {MAX_VIDEO_PIXELS / 1e6:.1f} megapixels, 8K). Convert it "
            "to a smaller size, e.g. `ffmpeg -i INPUT -vf scale=-2:1080 out.mp4`."
        )


class _Reader:
    """One pass over the file's video frames: (BGR image, pts, time_base), each the size of the
    first and turned upright as the file's display matrix says."""

    def __init__(self, path: Path) -> None:
        try:
            self.container = av.open(str(path), metadata_errors="ignore")
        except PermissionError as exc:  # not "damaged": the file is fine, this user may not read it
            raise SourceError(
                f"Mirage may not read the video file {shown(path)}: permission denied."
            ) from exc
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise _unreadable(path) from exc
        if not self.container.streams.video:
            self.container.close()
            raise _no_video(path)
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"  # frame threads: several times faster, a few frames' delay
        self.path = path
        self.bad_packets = 0
        #: things the user should know about the picture (turned upright, scaled), said once each
        self.notes: list[str] = []
        self.orientation = Orientation()
        self._size: tuple[int, int] | None = None  # every frame's stored size: the first one's
        width, height = self.stream.codec_context.width, self.stream.codec_context.height
        if width or height:  # 0×0: the container does not say; the first frame will
            try:
                _check_size(path, width, height)
            except SourceError:
                self.container.close()
                raise

    def _picture(self, vf: av.VideoFrame, index: int) -> np.ndarray:
        if self._size is None:
            _check_size(self.path, vf.width, vf.height)
            self._size = (vf.width, vf.height)
            self.orientation = frame_orientation(vf)
            if self.orientation.unsupported:
                self.notes.append(
                    f"the file asks for {self.orientation.unsupported}, which Mirage does not apply: "
                    "shown as stored"
                )
            elif not self.orientation.identity:
                self.notes.append(
                    f"{self.orientation.describe()}, as the file's display matrix asks (as players show it)"
                )
        if (vf.width, vf.height) != self._size:
            width, height = self._size
            if not any(n.startswith("frames change size") for n in self.notes):
                self.notes.append(
                    f"frames change size at frame {index + 1} ({width}×{height} → "
                    f"{vf.width}×{vf.height}): each is scaled to {width}×{height}, as players do"
                )
            image = vf.reformat(width=width, height=height, format="bgr24").to_ndarray()
        else:
            image = vf.to_ndarray(format="bgr24")
        return self.orientation.apply(image)

    def frames(self) -> Iterator[tuple[np.ndarray, int | None, Fraction]]:
        tb = self.stream.time_base or Fraction(1, 90000)
        bad_in_a_row = 0
        index = 0
        for packet in self.container.demux(self.stream):
            try:
                decoded = packet.decode()
            except av.FFmpegError as exc:  # one damaged packet: skip it, as players do
                self.bad_packets += 1
                bad_in_a_row += 1
                log.debug("%s: undecodable packet skipped: %s", self.path.name, exc)
                if bad_in_a_row >= MAX_BAD_PACKETS:
                    raise SourceError(
                        f"The video file {self.path} is damaged: {bad_in_a_row} packets in a row could "
                        "not be decoded."
                    ) from exc
                continue
            bad_in_a_row = 0
            for vf in decoded:
                pts = vf.pts if vf.pts is not None else vf.dts
                yield self._picture(vf, index), pts, tb
                index += 1

    def close(self) -> None:
        self.container.close()


class VideoFileSource(FrameSource):
    def __init__(
        self,
        path: str | Path,
        loop: bool = True,
        paced: bool = True,
        clock=time.perf_counter,
        sleep=time.sleep,
    ) -> None:
        self.path = Path(path)
        self.loop = loop
        self.paced = paced
        self._clock = clock
        self._sleep = sleep
        self._reader: _Reader | None = None
        #: what was done to the picture (turned upright, frames scaled to one size), said once each
        self.notes: list[str] = []
        self._frames: Iterator[tuple[np.ndarray, int | None, Fraction]] | None = None
        self._info: SourceInfo | None = None
        self._index = 0
        self._announced = 0
        self._in_pass = 0
        self.loops = 0
        #: the file's timing: first pts, the length of one pass (both in time_base units)
        self.time_base = Fraction(1, 90000)
        self.start_pts = 0
        self._period = 0
        self._frame_ticks = 0
        self._last_pts: int | None = None
        self._loop_offset = 0
        self._anchor: tuple[float, float] | None = None  # (clock, media seconds) pacing is measured from
        #: length of the video in seconds (0 when the file does not say)
        self.duration_s = 0.0

    @property
    def frame_count(self) -> int:
        """Frames the file announces (0: it does not say)."""
        return self._announced

    def _open_reader(self) -> _Reader:
        reader = _Reader(self.path)
        self._frames = reader.frames()
        self._in_pass = 0
        return reader

    def open(self) -> SourceInfo:
        # a FIFO would block the open for ever, a device never ends: only a regular file is read
        problem = path_problem(self.path, "video file")
        if problem:
            lead = "The video file " if "does not exist" in problem else ""
            raise SourceError(f"{lead}{problem}. Check the path.")
        reader = self._open_reader()
        try:
            assert self._frames is not None
            first = next(self._frames, None)
        except SourceError:
            reader.close()
            raise
        except (av.FFmpegError, OSError) as exc:
            reader.close()
            raise _no_video(self.path) from exc
        if first is None:
            reader.close()
            raise _no_video(self.path)
        # Reading on from here would lose nothing, but a fresh pass keeps the code one path.
        reader.close()
        self._reader = self._open_reader()
        stream = self._reader.stream
        fps = stream_fps(stream)
        self.time_base = stream.time_base or Fraction(1, 90000)
        self._frame_ticks = max(1, round(1 / (fps * self.time_base)))
        self.start_pts = first[1] if first[1] is not None else 0
        if self.loop:  # the same figure a looping sound track uses (media.audio.video_span)
            span = video_span(self.path)
            if span is not None:
                self._period = max(1, round(span[1] / self.time_base))
        if stream.duration:
            self.duration_s = float(stream.duration * self.time_base)
        elif self._reader.container.duration:
            self.duration_s = self._reader.container.duration / av.time_base
        frames = int(stream.frames or 0)
        self._announced = max(0, frames)
        image = first[0]
        self._take_notes(reader)
        self._info = SourceInfo(
            name=self.path.name,
            kind="file",
            width=int(image.shape[1]),
            height=int(image.shape[0]),
            fps=float(fps),
            detail="; ".join([f"{frames} frames" + (", looping" if self.loop else ""), *self.notes]),
        )
        return self._info

    @property
    def info(self) -> SourceInfo | None:
        return self._info

    def _take_notes(self, reader: _Reader) -> None:
        for note in reader.notes:
            if note not in self.notes:
                self.notes.append(note)
                log.info("%s: %s", self.path.name, note)

    def _next(self) -> tuple[np.ndarray, int | None, Fraction] | None:
        assert self._frames is not None
        try:
            return next(self._frames, None)
        except SourceError:
            raise
        except (av.FFmpegError, OSError) as exc:
            if self.loop:
                raise SourceError(f"Reading the video file {self.path} failed: {exc}") from exc
            return None  # reported as a file cut short by _check_complete

    def read(self) -> Frame:
        if self._reader is None:
            raise SourceExhausted(str(self.path))
        item = self._next()
        if item is None:
            if not self.loop:
                self._check_complete()
                raise SourceExhausted(str(self.path))
            # Seeking back is unreliable for some codecs; reopening always restarts cleanly.
            passed = self._in_pass
            self._reader.close()
            self._reader = self._open_reader()
            self.loops += 1
            self._loop_offset += self._pass_length()
            item = self._next() if passed else None
            if item is None:
                raise SourceExhausted(str(self.path))
        image, pts, tb = item
        if len(self._reader.notes) > len(self.notes):
            self._take_notes(self._reader)
        if pts is None:  # no timestamps (some raw streams): evenly spaced at the file's rate
            pts = self.start_pts + self._in_pass * self._frame_ticks
        pts += self._loop_offset
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # timestamps must grow, even in a file where they do not
        self._last_pts = pts
        self._in_pass += 1
        if self.paced:
            self._pace(float(pts * tb))
        name = f"file:{self.path.name}"
        frame = Frame(image, self._index, self._clock(), source=name, pts=pts, time_base=tb)
        self._index += 1
        return frame

    def _pass_length(self) -> int:
        """One pass of the file in time_base units: where the next loop's timestamps start."""
        if self._period or self._last_pts is None:
            return self._period
        played = self._last_pts - self._loop_offset + self._frame_ticks - self.start_pts
        return max(played, 1)

    def _pace(self, media_s: float) -> None:
        """Release the frame when it is due by its timestamp; after a stall, restart from now
        instead of bursting to catch up (as the Pacer does for fixed rates)."""
        now = self._clock()
        if self._anchor is None:
            self._anchor = (now, media_s)
            return
        due = self._anchor[0] + (media_s - self._anchor[1])
        delay = due - now
        if delay > 0:
            self._sleep(delay)
        elif -delay > 2 * self._frame_ticks * self.time_base:
            self._anchor = (now, media_s)

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
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._frames = None
