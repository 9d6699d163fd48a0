"""A voice converter as an ``AudioHook``: a file's sound through the same code the live voice runs.

The live engine feeds the converter through ``voice.pipeline.BlockPipeline`` (resampling to the
converter's rate, context window, SOLA splice, noise gate); so does this, block by block, with no
real-time policy. For a file the pipeline's algorithmic delay is taken back out (the first samples
dropped, the end flushed with silence), so the converted voice stays on the lips.
"""

from __future__ import annotations

import numpy as np

from mirage_desktop.voice.converters.base import VoiceConverter
from mirage_desktop.voice.pipeline import BlockPipeline, PipelineConfig


class ConverterHook:
    def __init__(self, converter: VoiceConverter, config: PipelineConfig | None = None) -> None:
        self.converter = converter
        self.config = config or PipelineConfig()
        self.name = f"the '{converter.name}' voice converter"
        self._pipeline: BlockPipeline | None = None
        self._channels = 1
        self._pending = np.zeros(0, np.float32)
        self._skip = 0
        self._skip_total = 0
        self._taken = 0  # samples in
        self._given = 0  # samples out

    @property
    def delay_samples(self) -> int:
        """The pipeline's delay at the file's rate, compensated here."""
        return self._skip_total

    def start(self, sample_rate: int, channels: int) -> None:
        pipe = BlockPipeline(self.converter, sample_rate, self.config)
        self._pipeline = pipe
        self._channels = channels
        # latency from a sample entering a block to leaving the splicer, less the block itself
        # (a whole block is produced per block pushed)
        delay_s = pipe.algorithmic_latency_s() - pipe.block_dev / sample_rate
        self._skip_total = max(0, round(delay_s * sample_rate))
        self._skip = self._skip_total

    def _run(self, mono: np.ndarray) -> np.ndarray:
        pipe = self._pipeline
        assert pipe is not None
        buf = np.concatenate([self._pending, mono]) if len(self._pending) else mono
        block = pipe.block_dev
        full = len(buf) // block * block
        outs = []
        for start in range(0, full, block):
            window = pipe.push(np.ascontiguousarray(buf[start : start + block], dtype=np.float32))
            outs.append(pipe.finish(window, self.converter.convert(window)))
        self._pending = buf[full:].copy()
        out = np.concatenate(outs) if outs else np.zeros(0, np.float32)
        if self._skip:
            cut = min(self._skip, len(out))
            out = out[cut:]
            self._skip -= cut
        return out

    def _stereo(self, mono: np.ndarray) -> np.ndarray:
        mono = np.asarray(mono, np.float32)
        return np.repeat(mono[:, None], self._channels, axis=1)

    def process(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, np.float32)
        mono = block.mean(axis=1) if block.ndim == 2 else block
        self._taken += len(mono)
        out = self._run(mono)
        self._given += len(out)
        return self._stereo(out)

    def flush(self) -> np.ndarray:
        """The rest: exactly as many samples out, over the run, as went in."""
        assert self._pipeline is not None
        need = self._taken - self._given
        outs = []
        got = 0
        silence = np.zeros(self._pipeline.block_dev, np.float32)
        while got < need:
            out = self._run(silence)
            outs.append(out)
            got += len(out)
        tail = np.concatenate(outs)[:need] if outs else np.zeros(0, np.float32)
        self._given += len(tail)
        return self._stereo(tail)
