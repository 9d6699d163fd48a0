"""Offline file conversion on the live code path: ``mirage-cli voice --input-file IN --output-file OUT``.

The file is read (any format soundfile reads), mixed to mono and resampled to the live device rate,
then driven through the very ``BlockPipeline`` the live engine uses — same converter, same block size
from the settings, same context window, SOLA splice, input front end and gate — one block at a time.
Only the real-time policy is absent (every block is converted; nothing can be late). The pipeline's
fixed delay is flushed at the end and cut from the start, so the output lines up with the input and
has its duration. The output is written to ``.OUT.partial-XXXX.EXT`` beside it, synced and renamed into
place only when complete (``sinks.output_file``); its format follows the extension.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mirage_desktop.voice.converters.base import VoiceConverter
from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.pipeline import BlockPipeline, PipelineConfig
from mirage_desktop.voice.resample import resample

#: the rate the live engine runs at by default (and the pitch changer's own rate)
LIVE_RATE = 48000

#: extensions whose soundfile format name differs from the extension itself
_FORMAT_ALIASES = {".aif": "AIFF", ".oga": "OGG", ".opus": "OGG"}


class FileInputError(VoiceError):
    """The input file cannot be used (exit 2)."""


@dataclass
class FileResult:
    seconds: float
    sample_rate: int
    wall_s: float
    latency_trimmed_ms: float


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


def read_input(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 and its rate; FileInputError with a plain message for anything unusable."""
    import soundfile as sf

    p = Path(path).expanduser()
    if p.is_dir():
        raise FileInputError(f"{path} is a folder, not an audio file")
    if not p.exists():
        raise FileInputError(f"{path}: no such file")
    if not os.access(p, os.R_OK):
        raise FileInputError(f"{path}: permission denied")
    try:
        audio, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise FileInputError(f"{path} is not an audio file that can be read ({exc})") from None
    except OSError as exc:
        raise FileInputError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if audio.shape[0] == 0:
        raise FileInputError(f"{path} holds no audio (0 samples)")
    mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if not np.all(np.isfinite(mono)):
        raise FileInputError(f"{path} holds samples that are not numbers (NaN or infinity)")
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def convert_audio(
    audio: np.ndarray,
    converter: VoiceConverter,
    config: PipelineConfig,
    device_rate: int = LIVE_RATE,
    stop: threading.Event | None = None,
) -> tuple[np.ndarray, float]:
    """Drive ``audio`` (at ``device_rate``) through the live pipeline block by block.

    Returns the output aligned with the input (same length) and the delay that was cut (seconds)."""
    pipe = BlockPipeline(converter, device_rate, config)
    block = pipe.block_dev
    # offline there is no wait for a block to fill: what remains is the converter's look-ahead, the
    # SOLA crossfade + search and the resamplers (the SOLA offset stays 0 on continuous output)
    delay = round((pipe.algorithmic_latency_s() - block / device_rate) * device_rate)
    n = len(audio)
    total = n + delay
    padded = np.zeros(((total + block - 1) // block) * block, dtype=np.float32)
    padded[:n] = audio
    out = np.empty_like(padded)
    for start in range(0, len(padded), block):
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        window = pipe.push(padded[start : start + block])
        out[start : start + block] = pipe.finish(window, converter.convert(window))
    return out[delay : delay + n], delay / device_rate


def convert_file(
    input_file: str | Path,
    output_file: str | Path,
    converter: VoiceConverter,
    config: PipelineConfig,
    stop: threading.Event | None = None,
) -> FileResult:
    """Convert one file; raises FileInputError/OutputError before any work, OSError-based OutputError
    when writing fails (the old output, if any, is then untouched)."""
    import soundfile as sf

    from mirage_desktop.sinks.output_file import (
        OutputError,
        PartialFile,
        check_destination,
        describe_os_error,
    )

    out_path = Path(output_file).expanduser()
    fmt, subtype = output_format(out_path)
    dest = check_destination(out_path, inputs=[input_file], what="output file")
    audio, rate = read_input(input_file)
    started = time.perf_counter()
    live = resample(audio, rate, LIVE_RATE)
    converted, cut_s = convert_audio(live, converter, config, LIVE_RATE, stop)
    result = resample(converted, LIVE_RATE, rate)
    # the length the input had (resampling there and back can differ by a sample)
    if len(result) < len(audio):
        result = np.pad(result, (0, len(audio) - len(result)))
    result = np.clip(result[: len(audio)], -1.0, 1.0)
    out_rate = rate
    if subtype == "OPUS" and rate not in (8000, 12000, 16000, 24000, 48000):
        result, out_rate = resample(result, rate, LIVE_RATE), LIVE_RATE
    partial = PartialFile(dest)
    tmp = partial.create()
    try:
        sf.write(str(tmp), result, out_rate, format=fmt, subtype=subtype)
        partial.commit()
    except OSError as exc:
        partial.discard()
        raise OutputError(f"Writing {out_path} failed: {describe_os_error(exc)}.") from exc
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        partial.discard()
        raise OutputError(f"Writing {out_path} failed: {exc}.") from exc
    except BaseException:
        partial.discard()
        raise
    return FileResult(len(audio) / rate, rate, time.perf_counter() - started, cut_s * 1000)
