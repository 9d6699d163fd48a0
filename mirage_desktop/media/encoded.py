"""A file's sound decoded, mixed down, resampled to a rate the encoder takes, optionally processed by a
hook (a voice converter), and encoded again."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from mirage_desktop.media.decoded import FileSound
from mirage_desktop.media.pcm_track import PcmTrack
from mirage_desktop.media.samples import RateConverter, encoder_rate
from mirage_desktop.media.streams import AudioInfo
from mirage_desktop.media.tracks import LEAD_S


class AudioHook(Protocol):
    """Processes the file's sound on the way to the output, in float32 blocks (samples × channels).

    The contract a voice converter is held to live, made sample-exact for files: over a whole run,
    ``process`` + ``flush`` return exactly as many samples as went in, time-aligned with the input
    (the hook compensates its own latency), so the sound stays on the picture.
    """

    def start(self, sample_rate: int, channels: int) -> None: ...

    def process(self, block: np.ndarray) -> np.ndarray: ...

    def flush(self) -> np.ndarray: ...


class EncodedAudio(PcmTrack):
    """The input's sound (the stream ``info`` describes) through the whole chain, at
    ``encoder_rate(codec, file rate)``: the timeline is kept in the file's samples, the resampler
    is aligned, so sample k out plays at the time k / rate after the origin."""

    def __init__(
        self,
        path: str | Path,
        info: AudioInfo,
        *,
        codec: str = "aac",
        hook: AudioHook | None = None,
        loop: tuple[float, float] | None = None,
        zero_at: float | None = None,
        bit_rate: int = 160_000,
    ) -> None:
        origin, period = loop if loop else (zero_at, None)
        self._pcm = FileSound(Path(path), info, origin, period)
        src = self._pcm.rate
        rate = encoder_rate(codec, src)
        start = 0 if zero_at is not None else round(self._pcm.origin * rate)
        super().__init__(rate, self._pcm.channels, codec, bit_rate, start)
        self._rate_in = RateConverter(src, rate, self._pcm.channels)
        self.zero_at = self._pcm.origin if zero_at is not None else None
        self.hook = hook
        self.note = info.note
        self._given = 0  # samples taken from the file (before resampling and the hook)
        self._carry: np.ndarray | None = None  # taken from the file, not given yet
        self._finished = False
        if hook is not None:
            hook.start(self.rate, self.channels)
        what = "looped with the picture" if loop else "re-encoded"
        through = f", through {getattr(hook, 'name', 'a hook')}" if hook else ""
        changes = [self._pcm.downmix.describe()]
        if rate != src:
            changes.append(f"resampled {src} → {rate} Hz for {codec.upper()}")
        extra = "".join(f"; {c}" for c in changes if c)
        self.describe = f"{codec.upper()}, {what}{through}{extra}"

    def _feed(self, container, block: np.ndarray) -> None:
        block = self._rate_in.process(block)
        if self.hook is not None and len(block):
            block = np.asarray(self.hook.process(block), dtype=np.float32).reshape(-1, self.channels)
        self._encode(container, block)

    def _take(self) -> np.ndarray | None:
        if self._carry is not None:
            block, self._carry = self._carry, None
            return block
        return self._pcm.next_block()

    def write_until(self, container, t: float) -> None:
        """Exactly up to ``t``: a recording stopped there ends with its picture."""
        target = round((t + LEAD_S - self._pcm.origin) * self._pcm.rate)
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
        tail = self._rate_in.flush()
        if self.hook is not None:
            if len(tail):
                tail = np.asarray(self.hook.process(tail), dtype=np.float32).reshape(-1, self.channels)
            rest = np.asarray(self.hook.flush(), dtype=np.float32).reshape(-1, self.channels)
            tail = np.concatenate([tail, rest]) if len(tail) else rest
        self._encode(container, tail)
        self._end(container)
