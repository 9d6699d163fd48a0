"""The Linux audio backend: a direct PulseAudio client (libpulse-simple), one I/O thread per direction.

Each thread does what a PortAudio callback would, and nothing more: block in the server call (GIL
released), then copy one fragment into or out of a ring. The playback thread always writes, silence
while the ring is not primed, so the server's queue stays at exactly the ``tlength`` we asked for
and the output latency cannot creep up the way it did through ALSA's pulse plugin.
"""

from __future__ import annotations

import threading

import numpy as np

from mirage_desktop.voice.audio_io import RingIO, StreamSpec
from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.pulse_simple import (
    DEFAULT_DEVICE_NAMES,
    PA_STREAM_PLAYBACK,
    PA_STREAM_RECORD,
    PulseSimpleStream,
)
from mirage_desktop.voice.ring_buffer import RingBuffer

_JOIN_TIMEOUT_S = 1.0


def _device_name(ref: object) -> str | None:
    """PulseAudio names only; PortAudio's own 'pulse'/'default' mean the server's default."""
    if ref is None or not isinstance(ref, str):
        return None
    name = ref.strip()
    return None if name.lower() in DEFAULT_DEVICE_NAMES else name


class PulseRingedStream(RingIO):
    def __init__(
        self,
        spec: StreamSpec,
        capture: RingBuffer | None,
        playback: RingBuffer | None,
        prime_level: int = 0,
        app_name: str = "Mirage",
    ) -> None:
        super().__init__(capture, playback, prime_level)
        self.spec = spec
        self.app_name = app_name
        self._record: PulseSimpleStream | None = None
        self._play_stream: PulseSimpleStream | None = None
        self._threads: list[threading.Thread] = []
        # One event per open(): a thread still blocked in the server when close() gave up on it must
        # not wake up into the next generation and pull from the same ring twice as fast.
        self._stop = threading.Event()

    @property
    def fragment(self) -> int:
        return int(self.spec.frames_per_callback)

    def open(self) -> None:
        spec = self.spec
        buffer_s = spec.latency if isinstance(spec.latency, int | float) else 0.03
        fragment_s = self.fragment / spec.sample_rate
        self.primed = False
        self._stop = threading.Event()
        record = play = None
        try:
            if self.capture is not None:
                record = PulseSimpleStream(
                    PA_STREAM_RECORD,
                    _device_name(spec.input_device),
                    spec.sample_rate,
                    app_name=self.app_name,
                    stream_name="Mirage voice input",
                    fragment_s=fragment_s,
                )
            if self.playback is not None:
                play = PulseSimpleStream(
                    PA_STREAM_PLAYBACK,
                    _device_name(spec.output_device),
                    spec.sample_rate,
                    app_name=self.app_name,
                    stream_name="Mirage voice output",
                    buffer_s=max(float(buffer_s), 2 * fragment_s),
                    fragment_s=fragment_s,
                )
        except VoiceError as exc:
            self.last_error = str(exc)
            for stream in (record, play):
                if stream is not None:
                    stream.close()
            raise
        self._record, self._play_stream = record, play
        if record is not None:
            self._threads.append(
                threading.Thread(
                    target=self._record_loop,
                    args=(record, self._stop),
                    name="mirage-voice-pulse-in",
                    daemon=True,
                )
            )
        if play is not None:
            self._threads.append(
                threading.Thread(
                    target=self._play_loop,
                    args=(play, self._stop),
                    name="mirage-voice-pulse-out",
                    daemon=True,
                )
            )
        for thread in self._threads:
            thread.start()

    # --- I/O threads: each owns its stream and frees it on the way out --------------------------------
    def _record_loop(self, stream: PulseSimpleStream, stop: threading.Event) -> None:
        buf = np.zeros(self.fragment, dtype=np.float32)
        try:
            while not stop.is_set():
                stream.read(buf)
                if stop.is_set():
                    break
                self.callbacks += 1
                self._capture(buf)
        except VoiceError as exc:
            self.stream_errors += 1  # the watchdog sees no progress and reopens the stream
            self.last_error = str(exc)
        finally:
            stream.close()

    def _play_loop(self, stream: PulseSimpleStream, stop: threading.Event) -> None:
        buf = np.zeros(self.fragment, dtype=np.float32)
        try:
            while not stop.is_set():
                self._play(buf, len(buf))
                stream.write(buf)
                self.callbacks += 1
        except VoiceError as exc:
            self.stream_errors += 1
            self.last_error = str(exc)
        finally:
            stream.close()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            # A thread still blocked in the server (e.g. a source that stopped delivering) frees its
            # stream itself once the call returns; nothing here touches it after this.
            thread.join(timeout=_JOIN_TIMEOUT_S)
        self._threads = []
        self._record = self._play_stream = None

    @property
    def is_open(self) -> bool:
        return bool(self._threads)

    @property
    def latency_s(self) -> tuple[float, float]:
        """(input, output) latency the server reports right now (not a fixed figure)."""
        record, play = self._record, self._play_stream
        lat_in = record.latency_s() if record is not None else 0.0
        lat_out = play.latency_s() if play is not None else 0.0
        return lat_in, lat_out
