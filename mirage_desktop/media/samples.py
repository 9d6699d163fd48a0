"""Decoded sound as float32 arrays, whatever the sample format, and the rate an encoder takes.

``RateConverter`` resamples a stream of blocks with libswresample (through PyAV): its filter state
is carried from block to block, so the output does not depend on how the input was cut (measured:
identical samples for one block or 977-sample blocks, 44.1/47.999/192 kHz), it is aligned with the
input (no delay to compensate) and its length is exact. It takes any pair of rates, 47 999 Hz
included, where a polyphase filter built from the rates' ratio would need a million taps.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

#: rates a player is sure to take, for encoders that accept any rate (PCM in AVI) and as the
#: preferred choices among an encoder's own (AAC lists 7350 Hz, which many players refuse)
COMMON_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000)

_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


def encoder_rate(codec: str, rate: int) -> int:
    """The rate to encode ``rate`` Hz sound at with ``codec``: the rate itself when the encoder takes
    it, else the lowest allowed rate above it (nothing lost), else the highest allowed."""
    try:
        allowed = av.codec.Codec(codec, "w").audio_rates
    except (av.FFmpegError, ValueError):
        allowed = None
    choices = sorted(set(allowed) & set(COMMON_RATES)) if allowed else list(COMMON_RATES)
    if not choices:
        choices = sorted(allowed or COMMON_RATES)
    if rate in choices:
        return rate
    above = [r for r in choices if r >= rate]
    return above[0] if above else choices[-1]


class FrameReader:
    """Decoded frames → float32 samples × channels. Formats numpy has no type for (s64) are
    converted by libswresample first, keeping layout and rate."""

    def __init__(self) -> None:
        self._reformat: av.AudioResampler | None = None

    def __call__(self, frame: av.AudioFrame) -> np.ndarray:
        channels = frame.layout.nb_channels
        try:
            data = frame.to_ndarray()
            planar = frame.format.is_planar
        except ValueError:  # "Conversion from 's64' format to numpy array is not supported"
            data, planar = self._via_float(frame), True
        data = data.T if planar else data.reshape(-1, channels)
        if data.dtype in _SCALE:
            return data.astype(np.float32) / _SCALE[data.dtype]
        if data.dtype == np.uint8:
            return (data.astype(np.float32) - 128.0) / 128.0
        return np.nan_to_num(data.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=-1.0)

    def _via_float(self, frame: av.AudioFrame) -> np.ndarray:
        if self._reformat is None:
            self._reformat = av.AudioResampler(format="fltp", layout=frame.layout, rate=frame.sample_rate)
        frames = self._reformat.resample(frame)
        if not frames:
            return np.zeros((frame.layout.nb_channels, 0), np.float32)
        return np.concatenate([f.to_ndarray() for f in frames], axis=1)


class RateConverter:
    """Float32 blocks (samples × channels, 1 or 2 channels) from ``src`` Hz to ``dst`` Hz, streamed."""

    def __init__(self, src: int, dst: int, channels: int) -> None:
        if src <= 0 or dst <= 0:
            raise ValueError(f"sample rates must be positive (got {src} and {dst} Hz)")
        if channels not in (1, 2):
            raise ValueError("mix the sound down to mono or stereo first")
        self.src = src
        self.dst = dst
        self.channels = channels
        self.identity = src == dst
        self._layout = "mono" if channels == 1 else "stereo"
        self._resampler = (
            None if self.identity else av.AudioResampler(format="flt", layout=self._layout, rate=dst)
        )
        self._pts = 0

    def _out(self, frames: list[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return np.zeros((0, self.channels), np.float32)
        return np.concatenate([f.to_ndarray().reshape(-1, self.channels) for f in frames])

    def process(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float32).reshape(-1, self.channels)
        if self.identity or not len(block):
            return block
        assert self._resampler is not None
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block.reshape(1, -1)), format="flt", layout=self._layout
        )
        frame.sample_rate = self.src
        frame.time_base = Fraction(1, self.src)
        frame.pts = self._pts
        self._pts += len(block)
        return self._out(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        """What the filter still holds (its last samples), once, at the end."""
        if self.identity or self._resampler is None:
            return np.zeros((0, self.channels), np.float32)
        resampler, self._resampler = self._resampler, None
        if not self._pts:
            return np.zeros((0, self.channels), np.float32)
        return self._out(resampler.resample(None))
