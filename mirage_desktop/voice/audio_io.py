"""PortAudio streams (via sounddevice) whose callbacks only copy into and out of ring buffers.

Prefer one duplex stream: through PulseAudio's ALSA plugin, two streams in one process were seen to
stall silently in about a third of runs, while one duplex stream at 48 kHz was reliable. Separate
input/output streams are used only when the devices live on different host APIs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.ring_buffer import RingBuffer

PREFERRED_RATES = (48000, 44100)
_SCRATCH_FRAMES = 16384

DeviceRef = int | str | None


@dataclass(frozen=True, slots=True)
class StreamSpec:
    input_device: DeviceRef
    output_device: DeviceRef
    sample_rate: int = 48000
    frames_per_callback: int = 480
    #: "low", "high" or seconds, passed to PortAudio. Through PulseAudio's ALSA plugin "low" (10 ms)
    #: stalled in most runs here; 30 ms with 10 ms callbacks started every time in a 4-run check.
    #: With the "pulse" backend: seconds the server may queue for playback (its tlength).
    latency: str | float = 0.03
    #: "portaudio" (devices are PortAudio indices or names) or "pulse" (a direct PulseAudio client:
    #: devices are PulseAudio source/sink names, None = the server's default)
    backend: str = "portaudio"


def reinitialize_portaudio(sd: ModuleType, env: Mapping[str, str] | None = None) -> None:
    """Apply PULSE_* routing variables and restart PortAudio so its device list and routes see them.

    PortAudio and the ALSA pulse plugin read the environment when they initialise, so the variables
    must be set first; this is the only place the voice code writes os.environ.
    """
    for key, value in (env or {}).items():
        os.environ[key] = value
    sd._terminate()
    sd._initialize()


def resolve_device(sd: ModuleType, name: DeviceRef, kind: str) -> int:
    """Map a device name (case-insensitive substring of "name, host API") or index to an index."""
    label = "microphone" if kind == "input" else "output device"
    try:
        if name is None or name == "":
            index = sd.default.device[0 if kind == "input" else 1]
            if index is None or index < 0:
                raise VoiceError(
                    f"No default {label} found. Connect one, or pick one by name (see `mirage-cli devices`)."
                )
            return int(index)
        if isinstance(name, str) and name.strip().isdigit():
            name = int(name)
        info = sd.query_devices(name, kind)
    except VoiceError:
        raise
    except (ValueError, sd.PortAudioError) as exc:
        names = _device_names(sd, kind)
        listed = "; ".join(names) if names else "none"
        raise VoiceError(
            f"No {label} matches {name!r} ({exc}). Available: {listed}. "
            "Pick one of these with --input/--output-device, or run `mirage-cli devices`."
        ) from exc
    return int(info["index"])


def _device_names(sd: ModuleType, kind: str) -> list[str]:
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    try:
        devices = sd.query_devices()
    except sd.PortAudioError:
        return []
    return [d["name"] for d in devices if d[key] > 0]


def negotiate_sample_rate(
    sd: ModuleType,
    input_index: int | None,
    output_index: int | None,
    preferred: Sequence[int] = PREFERRED_RATES,
) -> int:
    """The first rate both devices accept: 48 kHz if possible, else the devices' own defaults."""
    candidates = list(preferred)
    for index in (input_index, output_index):
        if index is not None:
            default = int(sd.query_devices(index)["default_samplerate"])
            if default not in candidates:
                candidates.append(default)
    errors = []
    for rate in candidates:
        try:
            if input_index is not None:
                sd.check_input_settings(device=input_index, channels=1, dtype="float32", samplerate=rate)
            if output_index is not None:
                sd.check_output_settings(device=output_index, channels=1, dtype="float32", samplerate=rate)
            return rate
        except (ValueError, sd.PortAudioError) as exc:
            errors.append(f"{rate} Hz: {exc}")
    raise VoiceError(
        "The audio devices refused every sample rate tried (" + "; ".join(errors) + "). "
        "Set the device to 48000 Hz in the system sound settings, or pick another device."
    )


def check_sample_rate(sd: ModuleType, input_index: int | None, output_index: int | None, rate: int) -> None:
    """Raise a user-facing error when a device refuses an explicitly requested rate."""
    try:
        if input_index is not None:
            sd.check_input_settings(device=input_index, channels=1, dtype="float32", samplerate=rate)
        if output_index is not None:
            sd.check_output_settings(device=output_index, channels=1, dtype="float32", samplerate=rate)
    except (ValueError, sd.PortAudioError) as exc:
        raise VoiceError(
            f"The audio device refused {rate} Hz ({exc}). Use 48000 (the default) or the device's own rate."
        ) from exc


class RingIO:
    """What every audio backend shares: copy between the device and two rings, and count what went wrong.

    Output starts (and restarts after running dry) only once ``prime_level`` samples are queued, so a
    late block costs one gap instead of a crackle on every callback.
    """

    def __init__(self, capture: RingBuffer | None, playback: RingBuffer | None, prime_level: int = 0) -> None:
        self.capture = capture
        self.playback = playback
        self.prime_level = prime_level
        self.primed = False
        self._scratch = np.zeros(_SCRATCH_FRAMES, dtype=np.float32)
        self.callbacks = 0
        self.input_callbacks = 0
        self.output_callbacks = 0
        self.input_overflows = 0
        self.input_underflows = 0
        self.output_overflows = 0
        self.output_underflows = 0
        self.playback_gaps = 0
        self.oversized_callbacks = 0
        #: the stream itself failed (server gone, device removed) and had to be reopened
        self.stream_errors = 0
        self.last_error = ""

    @property
    def progress(self) -> int:
        """Grows while every open direction is moving: a stall of either one stops it (the watchdog's cue)."""
        counts = []
        if self.capture is not None:
            counts.append(self.input_callbacks)
        if self.playback is not None:
            counts.append(self.output_callbacks)
        return min(counts) if counts else 0

    def _capture(self, indata: np.ndarray) -> None:
        self.input_callbacks += 1
        if self.capture is not None:
            self.capture.write(indata)

    def _play(self, outdata: np.ndarray, frames: int) -> None:
        """Fill ``outdata`` (1-D, ``frames`` long) from the playback ring, or with silence."""
        self.output_callbacks += 1
        ring = self.playback
        if ring is None or frames > _SCRATCH_FRAMES:
            outdata.fill(0)
            self.oversized_callbacks += frames > _SCRATCH_FRAMES
            return
        if not self.primed:
            if ring.available() < self.prime_level:
                outdata.fill(0)
                return
            self.primed = True
        buf = self._scratch[:frames]
        if ring.read_into(buf) < frames:
            self.primed = False
            self.playback_gaps += 1
        outdata[:] = buf


class RingedStream(RingIO):
    """PortAudio streams whose callbacks only copy between the device and the rings."""

    def __init__(
        self,
        sd: ModuleType,
        spec: StreamSpec,
        capture: RingBuffer | None,
        playback: RingBuffer | None,
        prime_level: int = 0,
    ) -> None:
        super().__init__(capture, playback, prime_level)
        self._sd = sd
        self.spec = spec
        self._streams: list[Any] = []
        # Live device delays from the callbacks' timestamps (0 where the host API gives none):
        # unlike stream.latency, these grow when a route below PortAudio starts to queue.
        self._adc_delay = 0.0
        self._dac_delay = 0.0

    # --- callbacks: copy only -------------------------------------------------------------------------
    def _count(self, status: Any) -> None:
        if status:
            if status.input_overflow:
                self.input_overflows += 1
            if status.input_underflow:
                self.input_underflows += 1
            if status.output_overflow:
                self.output_overflows += 1
            if status.output_underflow:
                self.output_underflows += 1

    def _stamp(self, time_info: Any, inp: bool, out: bool) -> None:
        now = time_info.currentTime
        if inp and time_info.inputBufferAdcTime > 0:
            self._adc_delay = now - time_info.inputBufferAdcTime
        if out and time_info.outputBufferDacTime > 0:
            self._dac_delay = time_info.outputBufferDacTime - now

    def _duplex_cb(self, indata, outdata, frames, time_info, status) -> None:
        self.callbacks += 1
        self._count(status)
        self._stamp(time_info, True, True)
        self._capture(indata[:, 0])
        self._play(outdata[:, 0], frames)

    def _input_cb(self, indata, frames, time_info, status) -> None:
        self.callbacks += 1
        self._count(status)
        self._stamp(time_info, True, False)
        self._capture(indata[:, 0])

    def _output_cb(self, outdata, frames, time_info, status) -> None:
        self.callbacks += 1
        self._count(status)
        self._stamp(time_info, False, True)
        self._play(outdata[:, 0], frames)

    # --- control (never called from a callback) ------------------------------------------------------
    def open(self) -> None:
        sd, spec = self._sd, self.spec
        common: dict[str, Any] = {
            "samplerate": spec.sample_rate,
            "blocksize": spec.frames_per_callback,
            "dtype": "float32",
            "latency": spec.latency,
        }
        self.primed = False
        self._adc_delay = self._dac_delay = 0.0
        try:
            if self.capture is not None and self.playback is not None:
                in_api = sd.query_devices(spec.input_device)["hostapi"]
                out_api = sd.query_devices(spec.output_device)["hostapi"]
                if in_api == out_api:
                    self._streams = [
                        sd.Stream(
                            device=(spec.input_device, spec.output_device),
                            channels=(1, 1),
                            callback=self._duplex_cb,
                            **common,
                        )
                    ]
                else:
                    self._streams = [
                        sd.InputStream(
                            device=spec.input_device, channels=1, callback=self._input_cb, **common
                        ),
                        sd.OutputStream(
                            device=spec.output_device, channels=1, callback=self._output_cb, **common
                        ),
                    ]
            elif self.capture is not None:
                self._streams = [
                    sd.InputStream(device=spec.input_device, channels=1, callback=self._input_cb, **common)
                ]
            else:
                self._streams = [
                    sd.OutputStream(device=spec.output_device, channels=1, callback=self._output_cb, **common)
                ]
            for stream in self._streams:
                stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self.close()
            self.last_error = str(exc)
            raise VoiceError(
                f"Could not open the audio stream ({exc}). Check the device is connected and not in "
                "exclusive use by another program, then try again."
            ) from exc

    def close(self) -> None:
        for stream in self._streams:
            try:
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            except Exception as exc:
                self.last_error = str(exc)
        self._streams = []

    @property
    def is_open(self) -> bool:
        return bool(self._streams)

    @property
    def latency_s(self) -> tuple[float, float]:
        """(input, output) latency: live from the callbacks' timestamps where the host API has them,
        else what PortAudio reports for the open stream(s)."""
        lat_in = lat_out = 0.0
        for stream in self._streams:
            lat = stream.latency
            if isinstance(lat, tuple):
                lat_in, lat_out = float(lat[0]), float(lat[1])
            elif isinstance(stream, self._sd.InputStream):
                lat_in = float(lat)
            else:
                lat_out = float(lat)
        # Only the output side: through ALSA's pulse plugin the input timestamps claimed ~640 ms
        # where the loopback probe measured ~240 ms in all.
        if 0.0 < self._dac_delay < 10.0:
            lat_out = self._dac_delay
        return lat_in, lat_out
