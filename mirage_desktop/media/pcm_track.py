"""The encoder side of a sound track: float32 blocks into AAC (or PCM for AVI), sample by sample on
the output's timeline."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from mirage_desktop.media.tracks import AudioTrack

#: AAC's encoder delay: MP4 trims it with an edit list, and a track shorter than that comes back
#: from the file a packet short (the read-back check would call it damaged), so it is padded to this
AAC_MIN_SAMPLES = 1024


class PcmTrack(AudioTrack):
    """Float32 blocks encoded into the output, sample ``start`` first. ``rate`` must be one the
    encoder takes (``samples.encoder_rate``)."""

    def __init__(self, rate: int, channels: int, codec: str, bit_rate: int, start: int) -> None:
        super().__init__()
        self.rate = rate
        self.channels = channels
        self.codec = codec
        self.bit_rate = bit_rate
        self._layout = "mono" if channels == 1 else "stereo"
        self._start = start
        self._written = 0  # samples given to the encoder

    def add_to(self, container) -> None:
        stream = container.add_stream(self.codec, rate=self.rate, layout=self._layout)
        if self.codec == "aac":
            stream.bit_rate = self.bit_rate
        stream.time_base = Fraction(1, self.rate)
        self.stream = stream

    def _encode(self, container, block: np.ndarray | None) -> None:
        assert self.stream is not None
        if block is None:
            frame = None
        else:
            if not len(block):
                return
            fmt = self.stream.codec_context.format.name
            if fmt == "s16":  # PCM for AVI
                data = (np.clip(block, -1.0, 1.0) * 32767.0).astype(np.int16).reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(data, format="s16", layout=self._layout)
            else:
                planar = np.ascontiguousarray(block.T, dtype=np.float32)
                frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=self._layout)
            frame.sample_rate = self.rate
            frame.pts = self._start + self._written
            frame.time_base = Fraction(1, self.rate)
            self._written += len(block)
        for packet in self.stream.encode(frame):
            container.mux(packet)
            # counted as the read-back check counts them (verify_video skips empty packets): an
            # empty one from the encoder must not make a complete recording look short
            self.packets += 1 if packet.size else 0

    def _end(self, container) -> None:
        """Flush the encoder, a too-short AAC track first padded with silence (at most 21 ms at 48 kHz)."""
        if self.codec == "aac" and 0 < self._written < AAC_MIN_SAMPLES:
            self._encode(container, np.zeros((AAC_MIN_SAMPLES - self._written, self.channels), np.float32))
        self._encode(container, None)
