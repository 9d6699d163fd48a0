"""The per-block DSP around a converter: input front end (noise suppression, VAD gate; frontend.py),
resampling, context window, SOLA splice and the level gate.

It is synchronous and thread-agnostic: the real-time engine drives it from its scheduler thread and
``process_offline`` drives it over a whole file (tests, quality checks), so both run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mirage_desktop.voice.av_delay import SyncDelay
from mirage_desktop.voice.converters.base import VoiceConverter
from mirage_desktop.voice.frontend import DEFAULT_VAD_LOOKAHEAD_MS, InputFrontEnd
from mirage_desktop.voice.gate import NoiseGate, rms_db
from mirage_desktop.voice.resample import StreamResampler
from mirage_desktop.voice.sola import SolaSplicer


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    block_ms: float = 20.0
    crossfade_ms: float = 5.0
    search_ms: float = 10.0
    #: dBFS RMS below which the output is muted; None disables the gate
    gate_db: float | None = -50.0
    #: blocks may grow up to this when the converter is too slow
    max_block_ms: float = 160.0
    #: RNNoise on the input before the converter (adds its 20 ms delay); switchable live
    denoise: bool = False
    #: "level": the dB gate above mutes the output; "vad": Silero VAD gates the input instead (adds
    #: ``vad_lookahead_ms``); with gate_db None there is no gate at all
    gate_mode: str = "level"
    vad_lookahead_ms: float = DEFAULT_VAD_LOOKAHEAD_MS


class BlockPipeline:
    def __init__(self, converter: VoiceConverter, device_rate: int, config: PipelineConfig) -> None:
        self.converter = converter
        self.device_rate = device_rate
        self.rate = converter.sample_rate or device_rate
        converter.start(self.rate)
        self.config = config
        self._in = StreamResampler(device_rate, self.rate)
        self._out = StreamResampler(self.rate, device_rate)
        self.quantum = self._in.quantum  # device samples per whole number of converter samples

        def conv(seconds: float) -> int:
            return max(0, round(seconds * self.rate))

        self.crossfade = max(1, conv(config.crossfade_ms / 1000))
        self.search = conv(config.search_ms / 1000)
        self.context = conv(converter.context_s)
        self.lookahead = conv(converter.lookahead_s)
        self.max_block_dev = self.quantize(config.max_block_ms / 1000 * device_rate)
        max_block_conv = self._in.output_length(self.max_block_dev)
        self._hist = np.zeros(
            self.context + self.lookahead + self.crossfade + self.search + max_block_conv, dtype=np.float32
        )
        self._sola = SolaSplicer(self.crossfade, self.search)
        self._gate = NoiseGate(config.gate_db, device_rate)
        self._gate_scratch = np.zeros(self.max_block_dev, dtype=np.float32)
        self._vad_full_samples = 0
        inner = (
            (self.lookahead + self.crossfade + self.search) / self.rate + self._in.delay_s + self._out.delay_s
        )
        self._inner_delay = int(np.ceil(inner * device_rate)) + 1
        # loads its models here, in the caller's thread; a stage that cannot load stays off with a note
        self.frontend = InputFrontEnd(
            device_rate,
            denoise=config.denoise,
            vad=config.gate_mode == "vad" and config.gate_db is not None,
            vad_lookahead_ms=config.vad_lookahead_ms,
        )
        # lip sync: holds the finished voice back by the picture's lead (0 = off; see av_delay)
        self.sync = SyncDelay(device_rate, self.max_block_dev)
        #: keep a copy of each finished block before the delay line, for the engine's output taps
        self.keep_finished = False
        self._finished: np.ndarray | None = None
        self.block_dev = 0
        self.block_conv = 0
        self.set_block(self.quantize(config.block_ms / 1000 * device_rate))
        self.last_level_db = -120.0

    def quantize(self, samples: float) -> int:
        q = self.quantum
        return max(q, round(samples / q) * q)

    def set_block(self, block_dev: int) -> None:
        block_dev = min(self.quantize(block_dev), self.max_block_dev)
        self.block_dev = block_dev
        self.block_conv = self._in.output_length(block_dev)

    @property
    def window_length(self) -> int:
        return self.context + self.lookahead + self.crossfade + self.search + self.block_conv

    @property
    def gate_open(self) -> bool:
        if self.frontend.vad_full:
            return self.frontend.vad_open
        return self._gate.is_open

    def set_denoise(self, on: bool) -> str:
        """Switch noise suppression live (any thread); "" or why it stays off."""
        return self.frontend.set_denoise(on)

    def set_gate_mode(self, mode: str) -> str:
        """``"level"`` or ``"vad"``, live (any thread); "" or why the VAD gate stays off (the level
        gate then keeps working)."""
        if mode not in ("level", "vad"):
            raise ValueError(f"gate mode must be 'level' or 'vad', not {mode!r}")
        return self.frontend.set_vad(mode == "vad" and self.config.gate_db is not None)

    def set_sync_delay_ms(self, ms: float) -> float:
        """Hold the voice back by ``ms`` (lip sync; any thread, clamped to 0–300 ms); what is aimed for."""
        return self.sync.set_target_ms(ms)

    def algorithmic_latency_s(self) -> float:
        """Worst case from a sample entering a block to it leaving the splicer, at the device rate."""
        extra = (self.lookahead + self.crossfade + self.search) / self.rate
        front = self.frontend.latency_s  # noise suppression and VAD look-ahead, when on
        return self.block_dev / self.device_rate + extra + self._in.delay_s + self._out.delay_s + front

    def push(self, block: np.ndarray) -> np.ndarray:
        """Take one block of device-rate input; return the window to convert (a private copy)."""
        self.last_level_db = rms_db(block)  # the microphone's own level (the meter), before denoising
        fresh = self._in.process(self.frontend.process(block))
        n = len(fresh)
        self._hist[:-n] = self._hist[n:]
        self._hist[-n:] = fresh
        return self._hist[-self.window_length :].copy()

    def finish(self, window: np.ndarray, converted: np.ndarray | None, dry: bool = True) -> np.ndarray:
        """Splice the converted window (or, when it is None, the dry one / silence) into one output block."""
        if converted is None:
            converted = window if dry else np.zeros_like(window)
        end = len(converted) - self.lookahead
        chunk = converted[end - self._sola.chunk_length(self.block_conv) : end]
        block = self._sola.splice(chunk, self.block_conv)
        out = self._out.process(block)
        # The VAD gate works on the input, so it decides alone only once the audio leaving here went
        # in after its crossfade had finished (the window, SOLA and resamplers hold some back).
        self._vad_full_samples = self._vad_full_samples + len(out) if self.frontend.vad_full else 0
        # (counted from the block whose input finished the crossfade: it still holds the mixture)
        if self._vad_full_samples >= self._inner_delay + 2 * len(out):
            # The level gate still follows the level (on a scratch copy), so when it takes over again
            # it is already open or closed as it should be, instead of letting noise through for its
            # hold time.
            scratch = self._gate_scratch[: len(out)]
            scratch[:] = out
            self._gate.apply(self.last_level_db, scratch)
            return self._delayed(out)
        return self._delayed(self._gate.apply(self.last_level_db, out))

    def _delayed(self, out: np.ndarray) -> np.ndarray:
        if self.keep_finished:
            self._finished = np.array(out, dtype=np.float32)
        return self.sync.process(out)

    def take_finished(self) -> np.ndarray | None:
        """The last finished block as it entered the lip-sync delay line (``keep_finished``), once."""
        block, self._finished = self._finished, None
        return block


def process_offline(pipeline: BlockPipeline, audio: np.ndarray) -> np.ndarray:
    """Run a whole signal through the pipeline block by block (no real-time policy). Same length out."""
    block = pipeline.block_dev
    n = len(audio)
    padded = np.zeros(((n + block - 1) // block) * block, dtype=np.float32)
    padded[:n] = audio
    out = np.empty_like(padded)
    for start in range(0, len(padded), block):
        window = pipeline.push(padded[start : start + block])
        out[start : start + block] = pipeline.finish(window, pipeline.converter.convert(window))
    return out[:n]
