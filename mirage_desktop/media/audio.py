"""The sound of a media file, on its way into an output file beside the processed picture.

Both tracks keep the file's own timeline: a sample (or packet) that played at time t in the input
plays at t in the output, and the picture keeps its timestamps too (``Frame.pts``), so sound and
picture stay as aligned as they were, over the whole file.

- ``CopiedAudio`` remuxes the compressed packets (stream copy): bit-exact, no generation loss, no CPU.
- ``EncodedAudio`` decodes to float32, hands the blocks to an optional ``AudioHook`` (a voice
  converter, say) and encodes again (AAC by default). It also loops a file for live recordings,
  keeping the sound under the looping picture.

The recorder drives either one from its own thread: ``write_until(t)`` after each video frame keeps
the two streams interleaved, ``finish()`` writes the rest (or stops at the picture's end).
"""

from __future__ import annotations

import collections
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import numpy as np

log = logging.getLogger(__name__)

#: output containers, the audio codecs each takes as they are (stream copy), and what to encode otherwise
COPYABLE = {
    ".mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    ".m4v": {"aac", "mp3", "alac", "ac3", "eac3"},
    ".mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le"},
    ".mkv": {"aac", "mp3", "ac3", "eac3", "opus", "vorbis", "flac", "pcm_s16le", "pcm_s24le"},
    ".avi": set(),  # never copied: see NO_START_OFFSET
}
ENCODER = {".avi": "pcm_s16le"}  # AAC everywhere else
#: containers that start every stream at 0 (no edit lists): the sound is written from the picture's start
NO_START_OFFSET = {".avi"}
#: audio is written this far ahead of the picture (the muxer interleaves the two streams itself)
LEAD_S = 0.0


class AudioHook(Protocol):
    """Processes the file's sound on the way to the output, in float32 blocks (samples × channels).

    The contract a voice converter is held to live, made sample-exact for files: over a whole run,
    ``process`` + ``flush`` return exactly as many samples as went in, time-aligned with the input
    (the hook compensates its own latency), so the sound stays on the picture.
    """

    def start(self, sample_rate: int, channels: int) -> None: ...

    def process(self, block: np.ndarray) -> np.ndarray: ...

    def flush(self) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    start_s: float
    duration_s: float


def probe_audio(path: str | Path) -> AudioInfo | None:
    """The file's first audio stream, or None (no sound, or not readable)."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            tb = stream.time_base or Fraction(1, stream.codec_context.sample_rate or 1)
            return AudioInfo(
                codec=stream.codec_context.name,
                sample_rate=int(stream.codec_context.sample_rate or 0),
                channels=int(stream.codec_context.channels or 0),
                start_s=float((stream.start_time or 0) * tb),
                duration_s=float((stream.duration or 0) * tb),
            )
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return None


def video_span(path: str | Path) -> tuple[float, float] | None:
    """(first presentation time, length) of the file's video in seconds, from its packets.

    What one pass of a looping file lasts: the source adds exactly this per loop to its timestamps,
    and a looping sound track must use the same figure or the two drift apart loop by loop.
    """
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            tb = stream.time_base or Fraction(1, 90000)
            first: int | None = None
            end: int | None = None
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                first = packet.pts if first is None else min(first, packet.pts)
                stop = packet.pts + (packet.duration or 0)
                end = stop if end is None else max(end, stop)
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return None
    if first is None or end is None or end <= first:
        return None
    return float(first * tb), float((end - first) * tb)


def _to_float(frame: av.AudioFrame) -> np.ndarray:
    """One decoded frame as float32 samples × channels."""
    data = frame.to_ndarray()
    channels = frame.layout.nb_channels
    data = data.T if frame.format.is_planar else data.reshape(-1, channels)
    if data.dtype == np.int16:
        return data.astype(np.float32) / 32768.0
    if data.dtype == np.int32:
        return data.astype(np.float32) / 2147483648.0
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / 128.0
    return data.astype(np.float32, copy=False)


class AudioTrack(ABC):
    """One sound track going into an output container."""

    #: short description for messages ("AAC, copied")
    describe: str = ""
    #: media time written as time 0, for containers without start offsets (None: times kept as they are)
    zero_at: float | None = None

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
    """The input's compressed audio packets, remuxed unchanged."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self._input = av.open(str(path), metadata_errors="ignore")
        self._source = self._input.streams.audio[0]
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


class _PcmPasses:
    """The file's sound as contiguous float32 blocks on a timeline starting at ``origin`` seconds.

    Gaps in the file are filled with silence and overlaps dropped, so the n-th sample out plays at
    ``origin + n / rate``. With ``period`` the file loops: each pass keeps exactly the picture's
    span [origin, origin + period) of the sound, as the looping picture does.
    """

    def __init__(self, path: Path, origin: float | None, period: float | None) -> None:
        self.path = path
        self.period = period
        container = av.open(str(path), metadata_errors="ignore")
        stream = container.streams.audio[0]
        self.rate = int(stream.codec_context.sample_rate)
        self.channels = min(2, max(1, int(stream.codec_context.channels or 1)))
        if origin is None:
            origin = float((stream.start_time or 0) * (stream.time_base or Fraction(1, self.rate)))
        container.close()
        self.origin = origin
        self.produced = 0  # samples handed out so far
        self._pass = 0
        self._blocks = self._run()

    def _decoded(self) -> Iterator[tuple[float | None, np.ndarray]]:
        with av.open(str(self.path), metadata_errors="ignore") as container:
            stream = container.streams.audio[0]
            try:
                for packet in container.demux(stream):
                    try:
                        frames = packet.decode()
                    except av.FFmpegError as exc:
                        log.debug("undecodable audio packet skipped: %s", exc)
                        continue
                    for frame in frames:
                        data = _to_float(frame)
                        if data.shape[1] > self.channels:
                            data = data[:, : self.channels]
                        elif data.shape[1] < self.channels:
                            data = np.repeat(data[:, :1], self.channels, axis=1)
                        yield frame.time, data
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


class _PcmTrack(AudioTrack):
    """Float32 blocks encoded into the output (AAC, or PCM for AVI), sample ``start`` first."""

    def __init__(self, rate: int, channels: int, codec: str, bit_rate: int, start: int) -> None:
        super().__init__()
        self.rate = rate
        self.channels = channels
        self.codec = codec
        self.bit_rate = bit_rate
        self._layout = "mono" if channels == 1 else "stereo"
        self._start = start
        self._written = 0  # samples given to the encoder

    def add_to(self, container) -> None:
        stream = container.add_stream(self.codec, rate=self.rate, layout=self._layout)
        if self.codec == "aac":
            stream.bit_rate = self.bit_rate
        stream.time_base = Fraction(1, self.rate)
        self.stream = stream

    def _encode(self, container, block: np.ndarray | None) -> None:
        assert self.stream is not None
        if block is None:
            frame = None
        else:
            if not len(block):
                return
            fmt = self.stream.codec_context.format.name
            if fmt == "s16":  # PCM for AVI
                data = (np.clip(block, -1.0, 1.0) * 32767.0).astype(np.int16).reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(data, format="s16", layout=self._layout)
            else:
                planar = np.ascontiguousarray(block.T, dtype=np.float32)
                frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=self._layout)
            frame.sample_rate = self.rate
            frame.pts = self._start + self._written
            frame.time_base = Fraction(1, self.rate)
            self._written += len(block)
        for packet in self.stream.encode(frame):
            container.mux(packet)
            # counted as the read-back check counts them (verify_video skips empty packets): an
            # empty one from the encoder must not make a complete recording look short
            self.packets += 1 if packet.size else 0


class EncodedAudio(_PcmTrack):
    """The input's sound decoded, optionally processed by a hook, and encoded again."""

    def __init__(
        self,
        path: str | Path,
        *,
        codec: str = "aac",
        hook: AudioHook | None = None,
        loop: tuple[float, float] | None = None,
        zero_at: float | None = None,
        bit_rate: int = 160_000,
    ) -> None:
        origin, period = loop if loop else (zero_at, None)
        self._pcm = _PcmPasses(Path(path), origin, period)
        rate = self._pcm.rate
        start = 0 if zero_at is not None else round(self._pcm.origin * rate)
        super().__init__(rate, self._pcm.channels, codec, bit_rate, start)
        self.zero_at = self._pcm.origin if zero_at is not None else None
        self.hook = hook
        self._given = 0  # samples taken from the file (before the hook)
        self._carry: np.ndarray | None = None  # taken from the file, not given yet
        self._finished = False
        if hook is not None:
            hook.start(self.rate, self.channels)
        what = "looped with the picture" if loop else "re-encoded"
        through = f", through {getattr(hook, 'name', 'a hook')}" if hook else ""
        self.describe = f"{codec.upper()}, {what}{through}"

    def _feed(self, container, block: np.ndarray) -> None:
        if self.hook is not None:
            block = np.asarray(self.hook.process(block), dtype=np.float32).reshape(-1, self.channels)
        self._encode(container, block)

    def _take(self) -> np.ndarray | None:
        if self._carry is not None:
            block, self._carry = self._carry, None
            return block
        return self._pcm.next_block()

    def write_until(self, container, t: float) -> None:
        """Exactly up to ``t``: a recording stopped there ends with its picture."""
        target = round((t + LEAD_S - self._pcm.origin) * self.rate)
        while self._given < target:
            block = self._take()
            if block is None:
                return
            room = target - self._given
            if len(block) > room:
                block, self._carry = block[:room], block[room:]
            self._given += len(block)
            self._feed(container, block)

    def finish(self, container, to_end: bool) -> None:
        if self._finished:
            return
        self._finished = True
        if to_end and self._pcm.period is None:
            while (block := self._take()) is not None:
                self._given += len(block)
                self._feed(container, block)
        if self.hook is not None:
            tail = np.asarray(self.hook.flush(), dtype=np.float32).reshape(-1, self.channels)
            self._encode(container, tail)
        self._encode(container, None)


class LiveAudio(_PcmTrack):
    """Sound pushed while a live recording runs, e.g. from a voice engine's output tap.

    ``push(block, captured_at)`` is called from the audio side's thread with float32 samples
    (× ``channels``) and the ``time.perf_counter()`` time its first sample was *captured* (for a
    converted voice: when the microphone took it, not when the conversion finished). The recorder
    puts video frames at their capture times too, so the two land in the file as they happened,
    in sync whatever each path's latency. Gaps become silence; late overlaps are dropped.
    """

    def __init__(self, rate: int, channels: int = 1, *, codec: str = "aac", bit_rate: int = 160_000) -> None:
        super().__init__(rate, min(2, max(1, channels)), codec, bit_rate, 0)
        self.describe = f"{codec.upper()}, live"
        #: perf_counter() time of the recording's t = 0; set by the recorder with its first frame
        self.clock_origin: float | None = None
        self._queue: collections.deque[tuple[float, int, np.ndarray]] = collections.deque()
        self._lock = threading.Lock()
        self._cursor = 0  # samples placed on the timeline
        self._finished = False
        self.dropped = 0

    def push(self, block: np.ndarray, captured_at: float) -> None:
        data = np.array(block, dtype=np.float32).reshape(len(block), -1)
        if data.shape[1] != self.channels:
            data = np.repeat(data[:, :1], self.channels, axis=1)
        with self._lock:
            self._queue.append((captured_at, 0, data))

    def _next(self, target: int | None) -> tuple[int, np.ndarray] | None:
        """The next queued samples that start before ``target``, and where they start."""
        assert self.clock_origin is not None
        with self._lock:
            if not self._queue:
                return None
            captured_at, offset, data = self._queue[0]
            start = round((captured_at - self.clock_origin) * self.rate) + offset
            if target is not None and start >= target:
                return None
            if target is not None and start + len(data) > target:
                n = target - start  # this part now, the rest when the picture gets there
                self._queue[0] = (captured_at, offset + n, data[n:])
                return start, data[:n]
            self._queue.popleft()
            return start, data

    def _place(self, container, target: int | None) -> None:
        if self.clock_origin is None:
            return
        while (item := self._next(target)) is not None:
            start, data = item
            if start + len(data) <= self._cursor:
                self.dropped += len(data)
                continue
            if start < self._cursor:
                self.dropped += self._cursor - start
                data = data[self._cursor - start :]
                start = self._cursor
            if start > self._cursor:
                self._encode(container, np.zeros((start - self._cursor, self.channels), np.float32))
                self._cursor = start
            self._encode(container, data)
            self._cursor += len(data)

    def write_until(self, container, t: float) -> None:
        self._place(container, round(t * self.rate))

    def finish(self, container, to_end: bool) -> None:
        if self._finished:
            return
        self._finished = True
        if to_end:
            self._place(container, None)
        self._encode(container, None)


def audio_for(
    path: str | Path,
    out_suffix: str,
    *,
    hook: AudioHook | None = None,
    loop: bool = False,
) -> AudioTrack | None:
    """The sound track to write beside the picture of ``path``: a stream copy when the output takes
    the input's codec as it is and nothing changes it, else encoded. None when the file has no sound."""
    info = probe_audio(path)
    if info is None or info.sample_rate <= 0:
        return None
    suffix = out_suffix.lower()
    span = video_span(path) if loop or suffix in NO_START_OFFSET else None
    if (loop or suffix in NO_START_OFFSET) and span is None:
        return None
    if suffix in NO_START_OFFSET:  # everything starts at 0 there: the sound from where the picture starts
        return EncodedAudio(
            path, codec=ENCODER.get(suffix, "aac"), hook=hook, loop=span if loop else None, zero_at=span[0]
        )
    if hook is None and not loop and info.codec in COPYABLE.get(suffix, set()):
        return CopiedAudio(path)
    return EncodedAudio(path, codec=ENCODER.get(suffix, "aac"), hook=hook, loop=span)
