"""A sound track going into an output container, and the stream copy (the input's packets as they are)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import av

log = logging.getLogger(__name__)

#: audio is written this far ahead of the picture (the muxer interleaves the two streams itself)
LEAD_S = 0.0


class AudioTrack(ABC):
    """One sound track going into an output container."""

    #: short description for messages ("AAC, copied")
    describe: str = ""
    #: media time written as time 0, for containers without start offsets (None: times kept as they are)
    zero_at: float | None = None
    #: which of the input's audio streams this is and why, when it had several ("" otherwise)
    note: str = ""
    #: sound pushed while recording (placed by capture time), not read from a file
    live: bool = False

    def __init__(self) -> None:
        self.packets = 0
        self.stream = None

    @abstractmethod
    def add_to(self, container) -> None:
        """Add the output stream (before the first packet is written). Raises ValueError/FFmpegError."""

    @abstractmethod
    def write_until(self, container, t: float) -> None:
        """Write the sound up to media time ``t`` (seconds), and a little beyond."""

    @abstractmethod
    def finish(self, container, to_end: bool) -> None:
        """Write what is left: all of it (``to_end``) or nothing past what was asked for so far."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the input."""


class CopiedAudio(AudioTrack):
    """The input's compressed audio packets (stream ``index``), remuxed unchanged."""

    def __init__(self, path: str | Path, index: int | None = None) -> None:
        super().__init__()
        self._input = av.open(str(path), metadata_errors="ignore")
        self._source = self._input.streams[index] if index is not None else self._input.streams.audio[0]
        self._packets: Iterator = self._input.demux(self._source)
        self._pending = None
        self._done = False
        self.describe = f"{self._source.codec_context.name.upper()}, copied from the input"

    def add_to(self, container) -> None:
        self.stream = container.add_stream_from_template(self._source)

    def _next(self):
        if self._pending is not None:
            packet, self._pending = self._pending, None
            return packet
        while not self._done:
            try:
                packet = next(self._packets)
            except StopIteration:
                self._done = True
                return None
            except (av.FFmpegError, OSError) as exc:  # a damaged tail: keep what was read
                log.warning("reading the input's audio stopped: %s", exc)
                self._done = True
                return None
            if packet.size and packet.pts is not None:
                return packet
        return None

    def _mux(self, container, packet) -> None:
        packet.stream = self.stream
        container.mux(packet)
        self.packets += 1 if packet.size else 0

    def write_until(self, container, t: float) -> None:
        limit = t + LEAD_S
        while True:
            packet = self._next()
            if packet is None:
                return
            if float(packet.pts * packet.time_base) >= limit:
                self._pending = packet
                return
            self._mux(container, packet)

    def finish(self, container, to_end: bool) -> None:
        if to_end:
            while (packet := self._next()) is not None:
                self._mux(container, packet)

    def close(self) -> None:
        self._input.close()
