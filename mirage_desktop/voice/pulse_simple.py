"""A thin ctypes binding to libpulse-simple: blocking record and playback streams on PulseAudio or
PipeWire's pulse server, without PortAudio and ALSA's pulse plugin in between.

Why not PortAudio here: through ALSA's pulse plugin, the loopback latency grew from ~90 to ~250 ms
in 20 s and streams stalled (see issue 4). A direct client asks the server for an exact buffer
(``tlength`` for playback, ``fragsize`` for capture), so the server's queue cannot grow past it.

The blocking calls release the GIL (ctypes does that for every foreign call), so an I/O thread
waiting in ``read``/``write`` costs the rest of the app nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass
from functools import cache

import numpy as np

from mirage_desktop.voice.errors import VoiceError

PA_STREAM_PLAYBACK = 1
PA_STREAM_RECORD = 2
PA_SAMPLE_FLOAT32LE = 5
_DEFAULT = 0xFFFFFFFF  # (uint32_t) -1: "let the server choose"
#: device names that mean the server's default (PortAudio's own names for it included)
DEFAULT_DEVICE_NAMES = ("", "pulse", "default")


class _SampleSpec(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("rate", ctypes.c_uint32), ("channels", ctypes.c_uint8)]


class _BufferAttr(ctypes.Structure):
    _fields_ = [
        ("maxlength", ctypes.c_uint32),
        ("tlength", ctypes.c_uint32),
        ("prebuf", ctypes.c_uint32),
        ("minreq", ctypes.c_uint32),
        ("fragsize", ctypes.c_uint32),
    ]


@dataclass(frozen=True, slots=True)
class _Lib:
    simple: ctypes.CDLL
    pulse: ctypes.CDLL


def _open_library(names: tuple[str, ...]) -> ctypes.CDLL:
    errors = []
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError as exc:
            errors.append(str(exc))
    raise OSError("; ".join(errors))


@cache
def _library() -> _Lib:
    stem_simple = ctypes.util.find_library("pulse-simple")
    stem_pulse = ctypes.util.find_library("pulse")
    simple = _open_library(tuple(n for n in ("libpulse-simple.so.0", stem_simple) if n))
    pulse = _open_library(tuple(n for n in ("libpulse.so.0", stem_pulse) if n))
    p = ctypes.c_void_p
    err = ctypes.POINTER(ctypes.c_int)
    simple.pa_simple_new.restype = p
    simple.pa_simple_new.argtypes = [
        ctypes.c_char_p,  # server (None: default / PULSE_SERVER)
        ctypes.c_char_p,  # application name
        ctypes.c_int,  # direction
        ctypes.c_char_p,  # device (None: default)
        ctypes.c_char_p,  # stream name
        ctypes.POINTER(_SampleSpec),
        p,  # channel map (None: default)
        ctypes.POINTER(_BufferAttr),
        err,
    ]
    simple.pa_simple_read.restype = ctypes.c_int
    simple.pa_simple_read.argtypes = [p, p, ctypes.c_size_t, err]
    simple.pa_simple_write.restype = ctypes.c_int
    simple.pa_simple_write.argtypes = [p, p, ctypes.c_size_t, err]
    simple.pa_simple_get_latency.restype = ctypes.c_uint64
    simple.pa_simple_get_latency.argtypes = [p, err]
    simple.pa_simple_flush.restype = ctypes.c_int
    simple.pa_simple_flush.argtypes = [p, err]
    simple.pa_simple_free.restype = None
    simple.pa_simple_free.argtypes = [p]
    pulse.pa_strerror.restype = ctypes.c_char_p
    pulse.pa_strerror.argtypes = [ctypes.c_int]
    return _Lib(simple, pulse)


def available() -> tuple[bool, str]:
    """Whether libpulse-simple can be loaded here, and why not."""
    try:
        _library()
    except OSError as exc:
        return False, f"libpulse-simple could not be loaded ({exc}); install libpulse0"
    return True, ""


def _strerror(lib: _Lib, code: int) -> str:
    text = lib.pulse.pa_strerror(code)
    return text.decode(errors="replace") if text else f"error {code}"


class PulseSimpleStream:
    """One mono float32 stream. ``read``/``write`` block; call them from one I/O thread only."""

    def __init__(
        self,
        direction: int,
        device: str | None,
        rate: int,
        *,
        app_name: str = "Mirage",
        stream_name: str = "Mirage voice",
        buffer_s: float = 0.03,
        fragment_s: float = 0.01,
    ) -> None:
        try:
            self._lib = _library()
        except OSError as exc:
            raise VoiceError(f"libpulse-simple is missing ({exc}). Install libpulse0.") from exc
        self.direction = direction
        self.device = device
        self.rate = rate
        spec = _SampleSpec(PA_SAMPLE_FLOAT32LE, rate, 1)
        frame_bytes = 4
        attr = _BufferAttr(_DEFAULT, _DEFAULT, _DEFAULT, _DEFAULT, _DEFAULT)
        if direction == PA_STREAM_PLAYBACK:
            # tlength caps what the server queues for us; prebuf=-1 (= tlength) restarts cleanly
            # after an underrun instead of trickling out single fragments.
            attr.tlength = int(buffer_s * rate) * frame_bytes
            attr.minreq = int(fragment_s * rate) * frame_bytes
        else:
            attr.fragsize = int(fragment_s * rate) * frame_bytes
        error = ctypes.c_int(0)
        handle = self._lib.simple.pa_simple_new(
            None,
            app_name.encode(),
            direction,
            device.encode() if device else None,
            stream_name.encode(),
            ctypes.byref(spec),
            None,
            ctypes.byref(attr),
            ctypes.byref(error),
        )
        if not handle:
            what = "record from" if direction == PA_STREAM_RECORD else "play to"
            target = f"'{device}'" if device else "the default device"
            raise VoiceError(
                f"PulseAudio would not let Mirage {what} {target}: {_strerror(self._lib, error.value)}. "
                "Check the device exists (`pactl list short sources` / `sinks`) and that PulseAudio "
                "or pipewire-pulse is running."
            )
        self._handle = ctypes.c_void_p(handle)
        self._error = ctypes.c_int(0)
        # latency queries come from other threads; the I/O thread may free the stream meanwhile
        self._lock = threading.Lock()

    def _fail(self, what: str) -> VoiceError:
        return VoiceError(f"PulseAudio {what} failed: {_strerror(self._lib, self._error.value)}")

    def read(self, out: np.ndarray) -> None:
        """Fill ``out`` (contiguous float32), blocking until the server delivered that much audio."""
        if self._lib.simple.pa_simple_read(
            self._handle, out.ctypes.data, out.nbytes, ctypes.byref(self._error)
        ):
            raise self._fail("read")

    def write(self, data: np.ndarray) -> None:
        """Queue ``data`` (contiguous float32), blocking while the server's buffer is full."""
        if self._lib.simple.pa_simple_write(
            self._handle, data.ctypes.data, data.nbytes, ctypes.byref(self._error)
        ):
            raise self._fail("write")

    def latency_s(self) -> float:
        """Playback: queued + sink latency. Record: source latency + what waits to be read."""
        error = ctypes.c_int(0)
        with self._lock:
            if not self._handle:
                return float("nan")
            usec = self._lib.simple.pa_simple_get_latency(self._handle, ctypes.byref(error))
        if usec == 0xFFFFFFFFFFFFFFFF:  # (pa_usec_t) -1
            return float("nan")
        return usec / 1e6

    def flush(self) -> None:
        error = ctypes.c_int(0)
        self._lib.simple.pa_simple_flush(self._handle, ctypes.byref(error))

    def close(self) -> None:
        """Free the stream; only from the thread that reads/writes it, or once that thread has ended."""
        with self._lock:
            if self._handle:
                self._lib.simple.pa_simple_free(self._handle)
                self._handle = ctypes.c_void_p(None)

    def __enter__(self) -> PulseSimpleStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
