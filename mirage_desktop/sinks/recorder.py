"""Writes the output to a video file: H.264 + AAC (MP4 by default) through PyAV, into a partial file
renamed into place only when complete and verified.

Timing: a frame that carries its source's timestamp (``Frame.pts``, a media file) is written at
that timestamp, so the output keeps the input's timing, variable frame rate included, and its sound
(``audio``, see media/audio.py) stays where it was; a live frame is written at its capture time.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import time
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from mirage_desktop.frame import Frame
from mirage_desktop.media.audio import AudioTrack
from mirage_desktop.sinks.base import FrameSink, SinkError, fit_to
from mirage_desktop.sinks.output_file import (
    OutputError,
    PartialFile,
    check_destination,
    describe_os_error,
    space_problem,
)

log = logging.getLogger(__name__)

#: container → (FFmpeg muxer, video encoder, its options). H.264 plays in browsers, editors and
#: phones; AVI keeps MJPEG.
X264_OPTIONS = {"crf": "20"}
FORMATS: dict[str, tuple[str, str, dict[str, str]]] = {
    ".mp4": ("mp4", "libx264", X264_OPTIONS),
    ".m4v": ("mp4", "libx264", X264_OPTIONS),
    ".mov": ("mov", "libx264", X264_OPTIONS),
    ".mkv": ("matroska", "libx264", X264_OPTIONS),
    ".avi": ("avi", "mjpeg", {"q:v": "3"}),
}
#: containers that start every stream at time 0 (no edit lists): the picture is shifted with the sound
NO_START_OFFSET = {".avi"}
#: x264 presets, measured at 720p on two busy cores, CRF 20 (scripts/bench_media.py): a file is processed
#: with "veryfast" (14 fps, 766 kB per 120 frames), a live recording shares the output thread with
#: the virtual camera and takes "ultrafast" (78 fps, 2x the size)
FILE_PRESET = "veryfast"
LIVE_PRESET = "ultrafast"

#: how often the file's health is checked while writing; a full disk costs at most this much work
CHECK_INTERVAL_S = 0.5
#: timestamps of live frames (capture time) and of frames without one
CLOCK_TIME_BASE = Fraction(1, 90000)


def _even(n: int) -> int:
    return max(2, n + (n & 1))  # 4:2:0 needs even sizes


class RecorderSink(FrameSink):
    """``commit_on_close``: rename into place when the pipeline closes the sink (complete or not).
    Without it the owner decides after the run: ``commit()`` or ``discard()``.

    ``audio``: the sound to write beside the picture, on the same timeline. ``audio_to_end``: when
    closing, write the rest of it (the whole input was processed); otherwise it stops where the
    picture stops (a live recording, an interrupted run)."""

    name = "recorder"

    def __init__(
        self,
        path: str | Path,
        *,
        inputs: Iterable[str | Path] = (),
        commit_on_close: bool = True,
        audio: AudioTrack | None = None,
        preset: str = FILE_PRESET,
    ) -> None:
        self.path = Path(path).expanduser()
        self.inputs = tuple(inputs)
        self.commit_on_close = commit_on_close
        self.audio = audio
        self.audio_to_end = False
        self.preset = preset
        self._partial: PartialFile | None = None
        self._container = None
        self._video = None
        self._yuv = True
        self._size = (0, 0)
        self._fps = 30.0
        self._next_check = 0.0
        self._timing: str | None = None  # "media" | "clock", chosen by the first frame
        self._time_base = CLOCK_TIME_BASE
        self._clock0 = 0.0
        self._last_pts: int | None = None
        self._pts_offset = 0
        self._shift = 0  # subtracted from every pts written (containers without start offsets)
        self._last_time = 0.0
        self._last_clock = 0.0
        self.frames_written = 0
        #: seconds from the first to the end of the last frame written
        self.video_end_s = 0.0
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
        dest = check_destination(self.path, inputs=self.inputs, suffixes=FORMATS)
        partial = PartialFile(dest)
        partial.create()
        self._partial = partial

    def _write_failed(self, exc: BaseException) -> SinkError:
        assert self._partial is not None and self._partial.path is not None
        problem = space_problem(self._partial.path)
        if problem is None:
            code = getattr(exc, "errno", None)
            known = isinstance(code, int) and code in errno.errorcode
            problem = describe_os_error(exc) if known else str(exc)
        self.failure = f"Writing {self.destination} failed: {problem}"
        return SinkError(self.failure)

    def open(self, width: int, height: int, fps: float) -> None:
        self.prepare()
        assert self._partial is not None and self._partial.path is not None
        muxer, codec, options = FORMATS[self.destination.suffix.lower()]
        size = (_even(width), _even(height))
        try:
            container = av.open(str(self._partial.path), mode="w", format=muxer)
        except (av.FFmpegError, OSError) as exc:
            problem = space_problem(self._partial.path) or f"the file cannot be opened for writing ({exc})"
            self.failure = f"Cannot record to {self.destination}: {problem}."
            raise SinkError(self.failure) from exc
        try:
            rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(30)
            opts = dict(options, preset=self.preset) if codec == "libx264" else dict(options)
            video = container.add_stream(codec, rate=rate, options=opts)
            video.width, video.height = size
            video.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
            if self.audio is not None:
                try:
                    self.audio.add_to(container)
                except (av.FFmpegError, ValueError) as exc:
                    log.warning("recording without sound: %s", exc)
                    self.audio.close()
                    self.audio = None
        except (av.FFmpegError, ValueError) as exc:
            with contextlib.suppress(Exception):
                container.close()
            self.failure = f"Cannot record to {self.destination}: the video encoder could not start ({exc})."
            raise SinkError(self.failure) from exc
        self._container = container
        self._video = video
        self._yuv = video.pix_fmt == "yuv420p"
        self._size = size
        self._fps = float(rate)
        self._next_check = time.monotonic() + CHECK_INTERVAL_S
        self.name = f"recorder:{self.destination.name}"

    def _timestamp(self, frame: Frame) -> int | None:
        """The frame's pts in the output's time base; None for a frame already written (a repeat)."""
        if self._timing is None:
            self._timing = "media" if frame.pts is not None and frame.time_base is not None else "clock"
            if self._timing == "media":
                self._time_base = frame.time_base
            self._clock0 = frame.captured_at
            if self.audio is not None and hasattr(self.audio, "clock_origin"):
                # live sound (LiveAudio) is placed by capture time on the picture's timeline
                first_s = float(frame.pts * frame.time_base) if self._timing == "media" else 0.0
                self.audio.clock_origin = frame.captured_at - first_s
            self._video.time_base = self._time_base
            self._video.codec_context.time_base = self._time_base
            if self.destination.suffix.lower() in NO_START_OFFSET and self._timing == "media":
                # the container starts every stream at 0: shift the picture by the same amount as
                # the sound (which starts where the file's picture starts), keeping the two together
                zero_at = getattr(self.audio, "zero_at", None)
                first = frame.pts if zero_at is None else round(zero_at / self._time_base)
                self._shift = min(first, frame.pts)
        if self._timing == "media" and frame.pts is not None and frame.time_base == self._time_base:
            pts = frame.pts + self._pts_offset
            if self._last_pts is not None and pts <= self._last_pts and frame.captured_at > self._last_clock:
                # the file started over (reopened after an error): continue the timeline from here
                gap = round(max(0.0, frame.captured_at - self._last_clock) / self._time_base)
                self._pts_offset = self._last_pts + max(1, gap) - frame.pts
                pts = frame.pts + self._pts_offset
        elif self._timing == "media":
            # a frame without the file's timestamp in a file's recording (the fallback pattern while
            # the file is unreadable): as far after the last one as it was captured
            seconds = self._last_time + max(0.0, frame.captured_at - self._last_clock)
            pts = round(seconds / self._time_base)
        else:
            pts = round((frame.captured_at - self._clock0) / self._time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            return None
        return pts  # on the media timeline: the file has it ``self._shift`` earlier

    def write(self, frame: Frame) -> None:
        if self._video is None:
            return
        pts = self._timestamp(frame)
        if pts is None:
            return  # the same frame again (keep-alive while the source stalls): its time already passed
        image = np.ascontiguousarray(fit_to(frame.image, *self._size))
        if self._yuv:  # OpenCV converts ~8x faster than swscale here (3 vs 26 ms at 720p), same BT.601
            vf = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
        else:
            vf = av.VideoFrame.from_ndarray(image, format="bgr24")
        vf.pts = pts - self._shift
        vf.time_base = self._time_base
        try:
            packets = self._video.encode(vf)
            self._container.mux(packets)
            self._last_pts = pts
            self._last_time = float(pts * self._time_base)
            self._last_clock = frame.captured_at
            self.video_end_s = self._last_time + 1.0 / self._fps
            if self.audio is not None:
                self.audio.write_until(self._container, self.video_end_s)
        except (av.FFmpegError, OSError) as exc:
            raise self._write_failed(exc) from exc
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
        if not self.commit_on_close and self.audio is not None and not self.audio.live:
            # a file's sound: the owner decides after the run (commit/discard release the file
            # then) and may still set ``audio_to_end``, so a track longer than the picture is whole
            return
        self._release()
        if self.commit_on_close and self._partial is not None:
            try:
                self.commit()
            except SinkError as exc:
                log.warning("%s", exc)

    def _release(self) -> None:
        container, self._container = self._container, None
        if container is None:
            return
        try:
            if self.failure is None and self._video is not None:
                container.mux(self._video.encode(None))  # the encoder's last frames
                if self.audio is not None and self.frames_written:
                    self.audio.finish(container, to_end=self.audio_to_end)
        except (av.FFmpegError, OSError) as exc:
            if self.failure is None:
                self.failure = str(self._write_failed(exc))
        finally:
            try:
                container.close()  # writes the index (moov): from here the file is playable
            except (av.FFmpegError, OSError) as exc:
                if self.failure is None:
                    self.failure = str(self._write_failed(exc))
            if self.audio is not None:
                self.audio.close()
            self._video = None

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
                self.failure = verify_video(
                    partial.path,
                    self.frames_written,
                    self.destination,
                    audio_packets=self.audio.packets if self.audio else 0,
                )
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


def verify_video(path: Path, frames: int, shown_as: Path, audio_packets: int = 0) -> str | None:
    """Why the finished file is not a playable video of ``frames`` frames (and ``audio_packets``
    sound packets), or None.

    Reads every packet back (not the pictures: an hour reads back in about a second), the only way
    to learn of a write error FFmpeg's buffered writer reported late or not at all.
    """
    counted = heard = 0
    ok = False
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            streams = [s for s in container.streams if s.type in ("video", "audio")]
            ok = bool(container.streams.video)
            for packet in container.demux(streams):
                if not packet.size:
                    continue
                if packet.stream.type == "video":
                    counted += 1
                else:
                    heard += 1
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        ok = False
    if ok and counted >= frames and heard >= audio_packets:
        return None
    cause = space_problem(path) or "the data did not reach the disk completely (a write error)"
    if not ok:
        what = "cannot be played"
    elif counted < frames:
        what = f"holds {counted} of the {frames} frames written"
    else:
        what = f"holds {heard} of the {audio_packets} sound packets written"
    return f"Writing {shown_as} failed: {cause}; the file {what}"
