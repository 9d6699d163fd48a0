"""The decoding side of a file's sound: one audio stream as contiguous float32 blocks on its timeline,
mixed down to mono or stereo."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from mirage_desktop.media.channels import Downmix, downmix_for
from mirage_desktop.media.samples import FrameReader
from mirage_desktop.media.streams import AudioInfo

log = logging.getLogger(__name__)


class FileSound:
    """The stream's sound as contiguous float32 blocks on a timeline starting at ``origin`` seconds,
    at the file's own rate, every channel mixed in (``channels.downmix_for``).

    Gaps in the file are filled with silence and overlaps dropped, so the n-th sample out plays at
    ``origin + n / rate``. With ``period`` the file loops: each pass keeps exactly the picture's
    span [origin, origin + period) of the sound, as the looping picture does.
    """

    def __init__(self, path: Path, info: AudioInfo, origin: float | None, period: float | None) -> None:
        self.path = path
        self.index = info.index
        self.period = period
        self.rate = info.sample_rate
        self.channels = 1 if info.channels == 1 else 2
        self.downmix = downmix_for(max(1, info.channels), info.channel_names or None, self.channels)
        self.origin = info.start_s if origin is None else origin
        self.produced = 0  # samples handed out so far
        self._pass = 0
        self._mixes: dict[tuple[str, ...], Downmix] = {}
        self._blocks = self._run()

    def _mix(self, frame: av.AudioFrame, data: np.ndarray) -> np.ndarray:
        """The frame's channels mixed as its own layout says (a stream may change layout midway)."""
        names = tuple(c.name for c in frame.layout.channels)
        if len(names) == self.downmix.in_channels and names == self.downmix.names:
            return self.downmix.apply(data)
        mix = self._mixes.get(names)
        if mix is None:
            mix = self._mixes[names] = downmix_for(data.shape[1], names, self.channels)
        return mix.apply(data)

    def _decoded(self) -> Iterator[tuple[float | None, np.ndarray]]:
        read = FrameReader()
        with av.open(str(self.path), metadata_errors="ignore") as container:
            stream = container.streams[self.index]
            try:
                for packet in container.demux(stream):
                    try:
                        frames = packet.decode()
                    except av.FFmpegError as exc:
                        log.debug("undecodable audio packet skipped: %s", exc)
                        continue
                    for frame in frames:
                        if frame.sample_rate != self.rate:
                            log.debug(
                                "a frame at %s Hz in a %s Hz stream skipped", frame.sample_rate, self.rate
                            )
                            continue
                        yield frame.time, self._mix(frame, read(frame))
            except (av.FFmpegError, OSError) as exc:  # a damaged tail: keep what was read
                log.warning("reading the input's audio stopped: %s", exc)

    def _run(self) -> Iterator[np.ndarray]:
        while True:
            base = self.produced  # sample index where this pass starts
            end = None if self.period is None else round((self._pass + 1) * self.period * self.rate)
            cursor = base
            got_any = False
            for time_s, data in self._decoded():
                start = cursor if time_s is None else base + round((time_s - self.origin) * self.rate)
                stop = start + len(data)
                if stop <= cursor:
                    continue  # before the picture starts, or overlapping what was given
                if start < cursor:
                    data = data[cursor - start :]
                    start = cursor
                if end is not None and start >= end:
                    break
                if start > cursor:  # a gap in the file's sound: silence, not a shift
                    yield from self._emit(np.zeros((start - cursor, self.channels), np.float32))
                    cursor = start
                if end is not None and start + len(data) > end:
                    data = data[: end - start]
                if len(data):
                    got_any = True
                    yield from self._emit(data)
                    cursor += len(data)
            if self.period is None:
                return
            if end is not None and cursor < end:
                yield from self._emit(np.zeros((end - cursor, self.channels), np.float32))
            if not got_any:
                return  # nothing to loop
            self._pass += 1

    def _emit(self, data: np.ndarray) -> Iterator[np.ndarray]:
        self.produced += len(data)
        yield data

    @property
    def time(self) -> float:
        """Media time reached so far."""
        return self.origin + self.produced / self.rate

    def next_block(self) -> np.ndarray | None:
        return next(self._blocks, None)
