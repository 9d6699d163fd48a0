"""Clips with awkward sound for the tests and the hostile battery, made here with PyAV in milliseconds:
any channel layout, sample rate or sample format, several audio streams (one marked default),
packets replaced with garbage midway, streams with no samples at all."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def tone(rate: int, seconds: float, freq: float = 300.0, amp: float = 0.4) -> np.ndarray:
    """A sine of ``freq`` Hz (lowered to rate / 8 for very low rates), float32."""
    t = np.arange(round(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * min(freq, rate / 8) * t)).astype(np.float32)


def _frame(chunk: np.ndarray, rate: int, layout: str, fmt: str) -> av.AudioFrame:
    if fmt == "s64":  # numpy cannot fill s64 frames: float ones converted by swresample
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=layout)
        frame.sample_rate = rate
        return av.AudioResampler(format="s64", layout=layout, rate=rate).resample(frame)[0]
    arr = chunk if fmt.endswith("p") else chunk.T.reshape(1, -1)
    if fmt.startswith("s16"):
        arr = (np.clip(arr, -1, 1) * 32767).astype(np.int16)
    return av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt, layout=layout)


def video_with_sound(
    path: Path,
    streams: list[tuple[np.ndarray, int, str]],
    *,
    seconds: float = 1.0,
    codec: str = "pcm_s16le",
    fmt: str = "s16",
    defaults: tuple[int, ...] = (),
    titles: tuple[str, ...] = (),
    broken: range | None = None,
) -> Path:
    """An .mkv (or .nut) with a 64×64 picture of ``seconds`` and one audio stream per (channels ×
    samples float32, rate, layout), encoded with ``codec`` from ``fmt`` samples. ``defaults``: the
    streams marked default (others are not); ``broken``: packet numbers of the first stream
    replaced with garbage (a sound that stops decoding midway)."""
    container = av.open(str(path), "w", format="nut" if path.suffix == ".nut" else None)
    video = container.add_stream("mpeg4", rate=25)
    video.width = video.height = 64
    video.pix_fmt = "yuv420p"
    audios = []
    for i, (_data, rate, layout) in enumerate(streams):
        stream = container.add_stream(codec, rate=rate, layout=layout)
        stream.format = fmt
        stream.disposition = av.stream.Disposition.default if i in defaults else 0
        if i < len(titles):
            stream.metadata["title"] = titles[i]
        audios.append(stream)
    for i, (stream, (data, rate, layout)) in enumerate(zip(audios, streams, strict=True)):
        count = 0
        for start in range(0, data.shape[1], 1024):
            frame = _frame(data[:, start : start + 1024], rate, layout, fmt)
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                if i == 0 and broken is not None and count in broken:
                    junk = np.random.default_rng(count).integers(0, 256, packet.size, np.uint8)
                    bad = av.Packet(bytes(junk))
                    bad.pts, bad.dts, bad.duration = packet.pts, packet.dts, packet.duration
                    bad.time_base, bad.stream = packet.time_base, stream
                    packet = bad
                container.mux(packet)
                count += 1
        container.mux(stream.encode(None))
    for n in range(round(seconds * 25)):
        vf = av.VideoFrame.from_ndarray(np.full((64, 64, 3), (n * 7) % 256, np.uint8), format="rgb24")
        vf.pts = n
        container.mux(video.encode(vf))
    container.mux(video.encode(None))
    container.close()
    return path


def sound_of(path: Path) -> tuple[np.ndarray, int]:
    """A file's first audio stream as float32 samples × channels and its rate (empty, 0 when none)."""
    from mirage_desktop.media.samples import FrameReader

    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                return np.zeros((0, 1), np.float32), 0
            rate = c.streams.audio[0].codec_context.sample_rate
            read = FrameReader()
            blocks = [read(f) for f in c.decode(c.streams.audio[0])]
    except (av.FFmpegError, OSError):
        return np.zeros((0, 1), np.float32), 0
    return (np.concatenate(blocks) if blocks else np.zeros((0, 1), np.float32)), rate
