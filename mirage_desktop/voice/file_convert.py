"""Offline file conversion on the live code path: ``mirage-cli voice --input-file IN --output-file OUT``.

The file is read a chunk at a time (``file_input``: regular files only, every channel mixed into
mono), resampled to the live device rate, driven through the very ``BlockPipeline`` the live engine
uses — same converter, same block size from the settings, same context window, SOLA splice, input
front end and gate — one block at a time (``offline_stream``), resampled back and written, chunk
by chunk: memory stays bounded whatever the file's length. Every stage carries its state from one
chunk to the next (the resamplers' filters, the pipeline), so the result does not depend on the
chunk size: a chunked conversion gives the samples of a whole-file one. Only the real-time policy is
absent (every block is converted; nothing can be late). The pipeline's fixed delay is flushed at the
end and cut from the start, so the output lines up with the input and has its duration.

The output is written to ``.OUT.partial-XXXX.EXT`` beside it, synced and renamed into place only when
complete (``sinks.output_file``): a conversion that fails or is interrupted halfway leaves the old
file (if any) as it was. Its format follows the extension.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mirage_desktop.media.samples import RateConverter
from mirage_desktop.safe_read import kind_of
from mirage_desktop.voice.converters.base import VoiceConverter
from mirage_desktop.voice.file_input import CHUNK_FRAMES, FileInputError, InputRecording
from mirage_desktop.voice.offline_stream import OfflineStream
from mirage_desktop.voice.pipeline import PipelineConfig

#: the rate the live engine runs at by default (and the pitch changer's own rate)
LIVE_RATE = 48000

#: extensions whose soundfile format name differs from the extension itself
_FORMAT_ALIASES = {".aif": "AIFF", ".oga": "OGG", ".opus": "OGG"}
#: rates Opus takes; another input rate is written at 48 kHz
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)

__all__ = ["LIVE_RATE", "FileInputError", "FileResult", "convert_audio", "convert_file", "output_format"]


@dataclass
class FileResult:
    seconds: float
    sample_rate: int
    wall_s: float
    latency_trimmed_ms: float
    #: how the input's channels were mixed ("" for mono)
    mixed: str = ""


def output_format(path: Path) -> tuple[str, str | None]:
    """(soundfile format, subtype) for a file name, or FileInputError naming what is writable."""
    import soundfile as sf

    ext = path.suffix.lower()
    fmt = _FORMAT_ALIASES.get(ext, ext[1:].upper())
    formats = {k: v for k, v in sf.available_formats().items() if k != "RAW"}  # RAW needs a layout
    if not ext or fmt not in formats:
        known = sorted({f".{f.lower()}" for f in formats} | set(_FORMAT_ALIASES))
        raise FileInputError(
            f"cannot write {path}: unknown audio format '{ext or 'no extension'}' "
            f"(use one of {', '.join(known)}, e.g. .wav or .flac)"
        )
    subtype = "OPUS" if ext == ".opus" else None
    return fmt, subtype


def check_output_kind(path: Path) -> None:
    """Refuse an output path that exists and is not a regular file, saying what it is (a device, a
    FIFO, a folder): the finished file would be renamed over it."""
    kind = kind_of(path)
    if kind in ("missing", "a regular file"):
        return
    if kind == "a folder":
        raise FileInputError(
            f"cannot write {path}: it is a folder; give a file name inside it, e.g. {path}/out.wav"
        )
    raise FileInputError(f"cannot write {path}: it is {kind}, not a regular file (only files are written)")


def convert_audio(
    audio: np.ndarray,
    converter: VoiceConverter,
    config: PipelineConfig,
    device_rate: int = LIVE_RATE,
    stop: threading.Event | None = None,
) -> tuple[np.ndarray, float]:
    """Drive ``audio`` (mono, at ``device_rate``) through the live pipeline block by block, all at once.

    Returns the output aligned with the input (same length) and the delay that was cut (seconds)."""
    stream = OfflineStream(converter, config, device_rate, stop)
    out = np.concatenate([stream.push(audio), stream.finish()])
    return out, stream.delay / device_rate


class _CappedWriter:
    """Writes at most as many samples as the input so far is worth at the output rate (the chain
    lags the input, never leads it, but the resamplers round), and exactly that many at the end."""

    def __init__(self, sink, rate_in: int, rate_out: int) -> None:
        self.sink = sink
        self.rate_in = rate_in
        self.rate_out = rate_out
        self.written = 0
        self._allowed = 0
        self._held = np.zeros(0, np.float32)

    def allow(self, samples_in: int) -> None:
        self._allowed = samples_in * self.rate_out // self.rate_in

    def write(self, block: np.ndarray) -> None:
        block = np.asarray(block, np.float32).reshape(-1)
        data = np.concatenate([self._held, block]) if len(self._held) else block
        room = max(0, self._allowed - self.written)
        now, self._held = data[:room], data[room:].copy()
        if len(now):
            self.sink.write(np.clip(now, -1.0, 1.0))
            self.written += len(now)

    def close(self, samples_in: int) -> None:
        target = round(samples_in * self.rate_out / self.rate_in)
        self._allowed = target
        self.write(np.zeros(0, np.float32))
        if self.written < target:  # resampling there and back can come out a sample short
            self.sink.write(np.zeros(target - self.written, np.float32))
            self.written = target


def _convert_stream(
    source: InputRecording,
    sink,
    out_rate: int,
    converter: VoiceConverter,
    config: PipelineConfig,
    stop: threading.Event | None,
    chunk_frames: int,
) -> float:
    """Chunks from ``source`` → the live pipeline → ``sink``; returns the delay cut (seconds)."""
    to_live = RateConverter(source.rate, LIVE_RATE, 1)
    stream = OfflineStream(converter, config, LIVE_RATE, stop)
    back = RateConverter(LIVE_RATE, out_rate, 1)
    writer = _CappedWriter(sink, source.rate, out_rate)
    for mono in source.chunks(chunk_frames):
        writer.allow(source.read)
        writer.write(back.process(stream.push(to_live.process(mono)[:, 0]))[:, 0])
    writer.write(back.process(stream.push(to_live.flush()[:, 0]))[:, 0])
    writer.write(back.process(stream.finish())[:, 0])
    writer.write(back.flush()[:, 0])
    writer.close(source.read)
    return stream.delay / LIVE_RATE


def convert_file(
    input_file: str | Path,
    output_file: str | Path,
    converter: VoiceConverter,
    config: PipelineConfig,
    stop: threading.Event | None = None,
    chunk_frames: int = CHUNK_FRAMES,
) -> FileResult:
    """Convert one file; raises FileInputError/OutputError before any work (and FileInputError for
    an input that turns out unreadable midway), OSError-based OutputError when writing fails. In
    every failure the partial file is removed and the old output, if any, is untouched."""
    import soundfile as sf

    from mirage_desktop.sinks.output_file import (
        OutputError,
        PartialFile,
        check_destination,
        describe_os_error,
    )

    out_path = Path(output_file).expanduser()
    check_output_kind(out_path)
    fmt, subtype = output_format(out_path)
    dest = check_destination(out_path, inputs=[input_file], what="output file")
    with InputRecording(input_file) as source:
        started = time.perf_counter()
        rate = source.rate
        out_rate = LIVE_RATE if subtype == "OPUS" and rate not in _OPUS_RATES else rate
        partial = PartialFile(dest)
        tmp = partial.create()
        try:
            with sf.SoundFile(str(tmp), "w", out_rate, 1, subtype, format=fmt) as sink:
                cut_s = _convert_stream(source, sink, out_rate, converter, config, stop, chunk_frames)
            partial.commit()
        except FileInputError:  # the input turned out unreadable midway: its own message
            partial.discard()
            raise
        except OSError as exc:
            partial.discard()
            raise OutputError(f"Writing {out_path} failed: {describe_os_error(exc)}.") from exc
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            partial.discard()
            raise OutputError(f"Writing {out_path} failed: {exc}.") from exc
        except BaseException:
            partial.discard()
            raise
        mixed = source.downmix.describe()
        return FileResult(source.read / rate, rate, time.perf_counter() - started, cut_s * 1000, mixed)
