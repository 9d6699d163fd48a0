"""Which of a file's audio streams goes into the output, and what it holds.

A file may carry several sound tracks (languages, a commentary). The one used is the one the user
chose (``--audio-stream N``, counted from 1 among the audio streams), else the one the file marks as
its default (what a player plays), else the first; with more than one, ``AudioInfo.note`` says which
and why, so the choice is never silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

#: packets read while looking for the first decodable frame; a stream none of them decodes is unusable
PROBE_PACKETS = 400


class NoSuchAudioStream(ValueError):
    """The audio stream asked for does not exist (a bad user choice: exit 2)."""


@dataclass(frozen=True, slots=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    start_s: float
    duration_s: float
    #: the container's stream index (what ``container.streams[index]`` takes)
    index: int = 0
    #: 1-based among the file's audio streams, and how many there are
    number: int = 1
    count: int = 1
    #: FFmpeg's channel names (FL, FR, FC, LFE, ...) when the file says, else ()
    channel_names: tuple[str, ...] = ()
    layout: str = ""
    #: at least one frame decoded (a stream with no samples, or none that decode, has no sound)
    has_samples: bool = True
    #: which stream is used and why, when there was a choice to make
    note: str = ""


def _label(stream) -> str:
    meta = stream.metadata or {}
    bits = [b for b in (meta.get("language"), meta.get("title")) if b and b != "und"]
    codec = stream.codec_context.name
    return f"{codec}{', ' + ', '.join(bits) if bits else ''}"


def choose(streams: list, wanted: int | None) -> tuple[int, str]:
    """(position in ``streams``, why): the user's choice, the default-marked stream, or the first."""
    count = len(streams)
    if wanted is not None:
        if not 1 <= wanted <= count:
            have = "no audio stream" if not count else f"{count} audio stream{'s' if count > 1 else ''}"
            allowed = "" if not count else f" (--audio-stream takes 1 to {count})"
            raise NoSuchAudioStream(f"the input has {have}: there is no audio stream {wanted}{allowed}")
        return wanted - 1, "as asked (--audio-stream)"
    for i, stream in enumerate(streams):
        if stream.disposition & av.stream.Disposition.default:
            return i, "the one the file marks as default"
    return 0, "the first (none is marked as default)"


def probe_audio(path: str | Path, wanted: int | None = None) -> AudioInfo | None:
    """The audio stream to use (see ``choose``), or None (no sound, or the file cannot be read).
    Raises NoSuchAudioStream for a ``wanted`` stream the file does not have."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return None
    with container:
        streams = list(container.streams.audio)
        if not streams and wanted is None:
            return None
        pos, why = choose(streams, wanted)
        stream = streams[pos]
        first = _first_frame(container, stream)
        ctx = stream.codec_context
        rate = int(first.sample_rate if first is not None else ctx.sample_rate or 0)
        layout = first.layout if first is not None else ctx.layout
        tb = stream.time_base or Fraction(1, rate or 1)
        note = ""
        if len(streams) > 1 and wanted is not None:
            note = f"using audio stream {pos + 1} of {len(streams)} ({_label(stream)}), {why}"
        elif len(streams) > 1:
            note = (
                f"the input has {len(streams)} audio streams; using stream {pos + 1} ({_label(stream)}), "
                f"{why}; choose another with --audio-stream N"
            )
        return AudioInfo(
            codec=ctx.name,
            sample_rate=rate,
            channels=int(layout.nb_channels if layout is not None else ctx.channels or 0),
            start_s=float((stream.start_time or 0) * tb),
            duration_s=float((stream.duration or 0) * tb),
            index=stream.index,
            number=pos + 1,
            count=len(streams),
            channel_names=tuple(c.name for c in layout.channels) if layout is not None else (),
            layout=layout.name if layout is not None else "",
            has_samples=first is not None,
            note=note,
        )


def _first_frame(container, stream) -> av.AudioFrame | None:
    """The stream's first decoded frame: its real rate and layout (a codec context may say 0 before
    decoding), and proof that there is sound at all."""
    try:
        for n, packet in enumerate(container.demux(stream)):
            if n >= PROBE_PACKETS:
                return None
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue
            for frame in frames:
                if frame.samples:
                    return frame
    except (av.FFmpegError, OSError):
        return None
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
