"""A voice converter as an ``AudioHook``: a file's sound through the same code the live voice runs.

The live engine feeds the converter through ``voice.pipeline.BlockPipeline`` (resampling to the
converter's rate, context window, SOLA splice, noise gate); so does this, block by block, with no
real-time policy (``voice.offline_stream``). For a file the pipeline's algorithmic delay is taken
back out (the first samples dropped, the end flushed with silence), so the converted voice stays
on the lips.
"""

from __future__ import annotations

import numpy as np

from mirage_desktop.voice.converters.base import VoiceConverter
from mirage_desktop.voice.offline_stream import OfflineStream
from mirage_desktop.voice.pipeline import PipelineConfig


class ConverterHook:
    def __init__(self, converter: VoiceConverter, config: PipelineConfig | None = None) -> None:
        self.converter = converter
        self.config = config or PipelineConfig()
        self.name = f"the '{converter.name}' voice converter"
        self._stream: OfflineStream | None = None
        self._channels = 1

    @property
    def delay_samples(self) -> int:
        """The pipeline's delay at the file's rate, compensated here."""
        return self._stream.delay if self._stream else 0

    def start(self, sample_rate: int, channels: int) -> None:
        self._stream = OfflineStream(self.converter, self.config, sample_rate)
        self._channels = channels

    def _stereo(self, mono: np.ndarray) -> np.ndarray:
        mono = np.asarray(mono, np.float32)
        return np.repeat(mono[:, None], self._channels, axis=1)

    def process(self, block: np.ndarray) -> np.ndarray:
        assert self._stream is not None
        block = np.asarray(block, np.float32)
        mono = block.mean(axis=1) if block.ndim == 2 else block
        return self._stereo(self._stream.push(mono))

    def flush(self) -> np.ndarray:
        """The rest: exactly as many samples out, over the run, as went in."""
        assert self._stream is not None
        return self._stereo(self._stream.finish())
