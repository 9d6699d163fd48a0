"""The recording ``mirage-cli voice --input-file`` reads: opened safely, read in bounded chunks.

Only a regular file is read: the open is non-blocking and the check is made on the opened
descriptor (``fstat``), so a FIFO cannot hang the command, ``/dev/zero`` cannot fill memory, and
the message says what the path really is (``safe_read.kind_of``). The samples are then read a chunk
at a time (never the whole file: a 3-hour recording is 1.9 GiB as float32), every channel mixed
into mono with ``media.channels`` (a centre-channel voice is kept, at -3 dB).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mirage_desktop.media.channels import Downmix, downmix_for
from mirage_desktop.safe_read import kind_of
from mirage_desktop.voice.errors import VoiceError

#: samples per channel read at a time (1.4 s at 48 kHz; 2 MiB for 8 channels of float32)
CHUNK_FRAMES = 65536


class FileInputError(VoiceError):
    """The input file cannot be used (exit 2)."""


def _open_regular(path: str | Path):
    """A binary file object for ``path`` if it is a regular file; else FileInputError saying what it is."""
    p = Path(path).expanduser()
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        kind = kind_of(p)
        raise FileInputError(f"{path}: no such file" if kind == "missing" else f"{path} is {kind}") from None
    except IsADirectoryError:
        raise FileInputError(f"{path} is a folder, not an audio file") from None
    except PermissionError:
        raise FileInputError(f"{path}: permission denied") from None
    except OSError as exc:  # a socket cannot be opened at all (ENXIO): say what it is
        kind = kind_of(p)
        if kind not in ("a regular file", "missing") and not kind.startswith("unreadable"):
            raise FileInputError(
                f"{path} is {kind}, not an audio file: only regular files are read"
            ) from None
        raise FileInputError(f"{path} cannot be opened: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise FileInputError(f"{path} is a folder, not an audio file")
        if not stat.S_ISREG(mode):
            raise FileInputError(f"{path} is {kind_of(p)}, not an audio file: only regular files are read")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class InputRecording:
    """An opened recording: ``rate``, ``channels``, ``frames`` (as the header says), and ``chunks()``
    of mono float32. A context manager; FileInputError for anything unusable."""

    def __init__(self, path: str | Path) -> None:
        import soundfile as sf

        self.path = path
        self._file = _open_regular(path)
        try:
            self._sound = sf.SoundFile(self._file)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            self._file.close()
            raise FileInputError(f"{path} is not an audio file that can be read ({exc})") from None
        except OSError as exc:
            self._file.close()
            raise FileInputError(f"{path} cannot be read: {exc.strerror or exc}") from None
        self.rate = int(self._sound.samplerate)
        self.channels = int(self._sound.channels)
        self.frames = int(self._sound.frames)
        if self.rate <= 0 or self.channels <= 0:
            self.close()
            raise FileInputError(f"{path} says it has {self.channels} channels at {self.rate} Hz")
        if self.frames == 0:
            self.close()
            raise FileInputError(f"{path} holds no audio (0 samples)")
        self.downmix: Downmix = downmix_for(self.channels, None, 1)
        self.read = 0  # samples per channel read so far

    def chunks(self, frames: int = CHUNK_FRAMES) -> Iterator[np.ndarray]:
        import soundfile as sf

        while True:
            try:
                data = self._sound.read(frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise FileInputError(
                    f"{self.path} could not be read past {self.read / self.rate:.2f} s ({exc})"
                ) from None
            if not len(data):
                break
            if not np.all(np.isfinite(data)):
                at = self.read + int(np.argmax(~np.isfinite(data).all(axis=1)))
                raise FileInputError(
                    f"{self.path} holds samples that are not numbers (NaN or infinity) "
                    f"at {at / self.rate:.2f} s"
                )
            self.read += len(data)
            yield self.downmix.apply(data)[:, 0]
        if self.read == 0:
            raise FileInputError(f"{self.path} holds no audio (0 samples)")

    def close(self) -> None:
        self._sound.close() if hasattr(self, "_sound") else None
        self._file.close()

    def __enter__(self) -> InputRecording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
