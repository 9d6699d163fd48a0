"""The live block pipeline driven offline, as a stream: any chunk sizes in, the same samples out.

A file (``file_convert``) or a video's sound (``media.voice_hook``) is converted in chunks of
whatever size it arrives in; the pipeline itself only takes whole blocks, so the remainder waits
for the next chunk. Every piece of state — the pipeline's history, resamplers, SOLA splice, gate —
lives in the one ``BlockPipeline`` that sees every block in order, so a chunked conversion gives
exactly the samples the whole-file conversion gives (no seam at chunk edges). The pipeline's fixed
delay (look-ahead, crossfade + search, resamplers; offline nothing waits for a block to fill) is
cut from the start and flushed with silence at the end, so the output has the input's length and
lines up with it.
"""

from __future__ import annotations

import threading

import numpy as np

from mirage_desktop.voice.converters.base import VoiceConverter
from mirage_desktop.voice.pipeline import BlockPipeline, PipelineConfig


class OfflineStream:
    """Mono float32 at ``rate`` through ``converter`` on the live path; ``push`` then ``finish``."""

    def __init__(
        self,
        converter: VoiceConverter,
        config: PipelineConfig,
        rate: int,
        stop: threading.Event | None = None,
    ) -> None:
        self.converter = converter
        self.pipeline = BlockPipeline(converter, rate, config)
        self.block = self.pipeline.block_dev
        self.delay = max(0, round((self.pipeline.algorithmic_latency_s() - self.block / rate) * rate))
        self.stop = stop
        self._pending = np.zeros(0, np.float32)
        self._skip = self.delay
        self.taken = 0  # samples in
        self.given = 0  # samples out

    def _run(self, mono: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._pending, mono]) if len(self._pending) else mono
        block = self.block
        full = len(buf) // block * block
        outs = []
        for start in range(0, full, block):
            if self.stop is not None and self.stop.is_set():
                raise KeyboardInterrupt
            window = self.pipeline.push(np.ascontiguousarray(buf[start : start + block], dtype=np.float32))
            outs.append(self.pipeline.finish(window, self.converter.convert(window)))
        self._pending = buf[full:].copy()
        out = np.concatenate(outs) if outs else np.zeros(0, np.float32)
        if self._skip:
            cut = min(self._skip, len(out))
            out = out[cut:]
            self._skip -= cut
        return out

    def push(self, mono: np.ndarray) -> np.ndarray:
        """Converted samples so far (fewer than went in until ``finish``: the delay is held back)."""
        mono = np.asarray(mono, dtype=np.float32).reshape(-1)
        self.taken += len(mono)
        out = self._run(mono)
        self.given += len(out)
        return out

    def finish(self) -> np.ndarray:
        """The rest: over the run, exactly as many samples out as went in."""
        need = self.taken - self.given
        outs = []
        got = 0
        silence = np.zeros(self.block, np.float32)
        while got < need:
            out = self._run(silence)
            outs.append(out)
            got += len(out)
        tail = np.concatenate(outs)[:need] if outs else np.zeros(0, np.float32)
        self.given += len(tail)
        return tail
