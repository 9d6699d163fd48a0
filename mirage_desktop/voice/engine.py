"""The live voice engine: audio callbacks, a scheduler thread, an inference thread, and a watchdog.

Flow: PortAudio callback -> capture ring -> scheduler (block, resample, window) -> inference thread
(converter) -> scheduler (SOLA, gate, resample) -> playback ring -> PortAudio callback.

Output taps (``add_output_tap``) get each converted block on the scheduler thread, before the
lip-sync delay line, stamped with the ``perf_counter`` time its first sample was captured; a live
recorder places the voice by that stamp beside the picture's own capture times.

Why two threads besides the callback: the scheduler must hand the callback a block every block
period no matter how slow the converter is. It waits for the converter only until the playback ring
would run dry; past that deadline it plays the dry voice (or silence) instead, counts the block as
dropped, and the late result is thrown away. Latency therefore stays bounded by construction, where
a plain queue (the "wait" policy, kept as the reference behaviour) grows without limit.
"""

from __future__ import annotations

import bisect
import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Literal

import numpy as np

from mirage_desktop.voice.audio_io import RingedStream, RingIO, StreamSpec
from mirage_desktop.voice.converters.base import VoiceConverter
from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.metrics import VoiceMetrics
from mirage_desktop.voice.overload import AdaptPolicy, BlockAdapter
from mirage_desktop.voice.pipeline import BlockPipeline, PipelineConfig
from mirage_desktop.voice.queue_trim import StandingQueueTrimmer
from mirage_desktop.voice.ring_buffer import RingBuffer

log = logging.getLogger(__name__)

Policy = Literal["dry", "silence", "wait"]
#: an output tap: (converted block, perf_counter time its first sample was captured)
OutputTap = Callable[[np.ndarray, float], None]
_RATIO_HISTORY = 500
_LATENCY_SAMPLE_S = 0.5
_SETTLE_S = 2.0
#: how often the input guard (is the input Mirage's own output?) is asked; it runs pactl
_GUARD_S = 2.0
#: callbacks (per direction) after which a stream counts as running
_STARTED_AFTER = 20
#: live latency samples kept: 30 minutes at one per _LATENCY_SAMPLE_S
_LATENCY_HISTORY = 3600
#: samples averaged for the start and the end of the drift figure
_DRIFT_WINDOW = 10
#: observations of the input's timing the capture clock keeps (~0.3 s of 10 ms blocks): enough to
#: smooth the wake-up jitter, short enough to follow a sound server settling after start-up
_CLOCK_WINDOW = 32
#: a tapped block whose estimated capture time is within this of where the previous one ended is
#: stamped as its continuation: the estimate's jitter (a millisecond or two) must not cut gaps and
#: overlaps into a recording at every block; a larger difference (a restart, drift) is taken as is
_TAP_SNAP_S = 0.004


@dataclass(frozen=True, slots=True)
class EngineConfig:
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    #: extra audio queued before playback starts, to absorb scheduling jitter on a busy machine
    buffer_ms: float = 20.0
    #: "dry": play the unconverted voice for a block that is late; "silence": play nothing;
    #: "wait": always wait for the converter (latency grows when it is slow; reference only)
    policy: Policy = "dry"
    adapt: bool = True
    adapt_policy: AdaptPolicy = field(default_factory=AdaptPolicy)
    #: captured audio older than one block plus this is skipped (only when policy != "wait")
    max_backlog_ms: float = 60.0
    #: no callback for this long means the stream stalled; it is then restarted
    stall_timeout_s: float = 0.5
    #: the first callback may take longer: PulseAudio's ALSA plugin was seen to need ~2 s to start capture
    startup_timeout_s: float = 3.0
    ring_seconds: float = 4.0


class _InferenceThread(threading.Thread):
    """Runs the converter on one window at a time; a busy thread refuses new work instead of queueing."""

    def __init__(self, converter: VoiceConverter, on_runtime) -> None:
        super().__init__(name="mirage-voice-inference", daemon=True)
        self._converter = converter
        self._on_runtime = on_runtime
        self._cond = threading.Condition()
        self._job: tuple[int, np.ndarray] | None = None
        self._result: tuple[int, np.ndarray | None, str] | None = None
        self._busy = False
        self._stopping = False

    @property
    def busy(self) -> bool:
        return self._busy

    def submit(self, seq: int, window: np.ndarray) -> bool:
        with self._cond:
            if self._busy:
                return False
            self._busy = True
            self._job = (seq, window)
            self._result = None
            self._cond.notify_all()
            return True

    def result(self, seq: int, timeout: float | None) -> tuple[np.ndarray | None, str]:
        """Wait for job ``seq`` until ``timeout`` (None: forever). Returns (output or None, error)."""
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        with self._cond:
            while self._result is None or self._result[0] != seq:
                remaining = None if deadline is None else deadline - time.monotonic()
                if self._stopping or (remaining is not None and remaining <= 0):
                    return None, ""
                self._cond.wait(remaining)
            _, out, error = self._result
            return out, error

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def run(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                seq, window = self._job
                self._job = None
            start = time.perf_counter()
            error = ""
            try:
                out = np.asarray(self._converter.convert(window), dtype=np.float32)
                if out.shape != window.shape:
                    raise ValueError(f"converter returned {out.shape}, expected {window.shape}")
            except Exception as exc:
                out, error = None, f"{type(exc).__name__}: {exc}"
            runtime = time.perf_counter() - start
            self._on_runtime(runtime)
            with self._cond:
                self._result = (seq, out, error)
                self._busy = False
                self._cond.notify_all()


class CaptureClock:
    """When each captured sample entered the microphone, on ``time.perf_counter``'s clock.

    The capture ring only counts samples, so the scheduler observes it: at ``now`` the ring holds
    ``written`` samples and the backend reports ``lat_in`` of input latency (the device and what
    the server still holds for us), so sample ``written`` is being captured at ``now - lat_in`` and
    sample 0 was at ``now - lat_in - written / rate``. That origin, the median of the last
    ``window`` observations, absorbs the scheduler's wake-up jitter (an observation is late by up
    to one I/O fragment) and follows slow clock drift and stream restarts (a gap moves it later).
    """

    def __init__(self, rate: int, window: int = _CLOCK_WINDOW) -> None:
        self.rate = rate
        self._origins: collections.deque[float] = collections.deque(maxlen=window)
        self._sorted: list[float] = []

    def observe(self, now: float, written: int, lat_in: float) -> None:
        if not np.isfinite(lat_in) or lat_in < 0 or lat_in > 10.0:
            lat_in = 0.0  # no figure yet (the server's first moments): the ring's own timing only
        origin = now - lat_in - written / self.rate
        if len(self._origins) == self._origins.maxlen:
            old = self._origins[0]
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        self._origins.append(origin)
        bisect.insort(self._sorted, origin)

    def time_of(self, sample: int) -> float:
        """perf_counter time at which capture-ring sample ``sample`` was captured."""
        values = self._sorted
        mid = len(values) // 2
        origin = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        return origin + sample / self.rate


def _open_backend(
    sd: ModuleType | None,
    spec: StreamSpec,
    capture: RingBuffer | None,
    playback: RingBuffer | None,
    prime_level: int,
) -> RingIO:
    if spec.backend == "pulse":
        from mirage_desktop.voice.pulse_io import PulseRingedStream

        return PulseRingedStream(spec, capture, playback, prime_level)
    if sd is None:
        import sounddevice as sd
    return RingedStream(sd, spec, capture, playback, prime_level)


class VoiceEngine:
    """Owns the rings, the stream, and the threads. ``start()`` raises VoiceError with a user message."""

    def __init__(
        self,
        converter: VoiceConverter,
        spec: StreamSpec,
        config: EngineConfig | None = None,
        sd: ModuleType | None = None,
        monitor_spec: StreamSpec | None = None,
        input_guard: Callable[[], str] | None = None,
    ) -> None:
        self._sd = sd
        #: returns a message when the input is (or a reopen would be) Mirage's own output, else ""
        self._input_guard = input_guard
        self.config = config or EngineConfig()
        self.spec = spec
        self.converter = converter
        rate = spec.sample_rate
        self.pipeline = BlockPipeline(converter, rate, self.config.pipeline)
        ring = int(self.config.ring_seconds * rate)
        self._capture = RingBuffer(ring)
        self._playback = RingBuffer(ring)
        self._buffer = int(self.config.buffer_ms / 1000 * rate)
        self.stream = _open_backend(sd, spec, self._capture, self._playback, self._prime_level())
        self._monitor_ring = RingBuffer(ring) if monitor_spec else None
        self.monitor = (
            _open_backend(sd, monitor_spec, None, self._monitor_ring, self._prime_level())
            if monitor_spec
            else None
        )
        self._adapter = BlockAdapter(
            self.pipeline.block_dev, self.pipeline.max_block_dev, self.config.adapt_policy
        )
        self._metrics = VoiceMetrics(converter=converter.name)
        self._runtimes: collections.deque[float] = collections.deque(maxlen=_RATIO_HISTORY)
        self._ratios: collections.deque[float] = collections.deque(maxlen=_RATIO_HISTORY)
        self._block_s_at_submit = self.pipeline.block_dev / rate
        self._worker = _InferenceThread(converter, self._record_runtime)
        self._running = threading.Event()
        #: set by stop(): what the watchdog sleeps on (waiting on _running would return at once)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._status = "stopped"
        self._restarts = 0
        self._trimmed_in = 0
        self._trimmed_out = 0
        self._converter_error = ""
        self._backlog_max = 0
        self._queued_max = 0
        self._guard_trips = 0
        self._latency_samples: collections.deque[float] = collections.deque(maxlen=_LATENCY_HISTORY)
        self._latency_first: list[float] = []
        self._standing = StandingQueueTrimmer(
            target=self._buffer, min_cut=int(0.005 * rate), fade=int(0.002 * rate)
        )
        # output taps: the tuple is replaced, never changed, so the scheduler reads it without a lock
        self._taps: tuple[OutputTap, ...] = ()
        self._taps_lock = threading.Lock()
        self._clock = CaptureClock(rate)
        self._last_tap_at = float("-inf")
        self._next_tap_at: float | None = None  # where the last tapped block ended

    def _prime_level(self) -> int:
        return self.pipeline.block_dev + self._buffer

    # --- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        self.stream.open()
        if self.monitor is not None:
            try:
                self.monitor.open()
            except VoiceError as exc:
                self.stream.close()
                raise VoiceError(f"Monitor output: {exc}") from exc
        self._stopping.clear()
        self._running.set()
        self._status = "running"
        self._worker.start()
        self._threads = [
            threading.Thread(target=self._schedule, name="mirage-voice-scheduler", daemon=True),
            threading.Thread(target=self._watch, name="mirage-voice-watchdog", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._running.clear()
        self._stopping.set()
        self._worker.stop()
        for t in self._threads:
            t.join(timeout=2.0)
        if self._worker.is_alive():
            self._worker.join(timeout=2.0)
        self.stream.close()
        if self.monitor is not None:
            self.monitor.close()
        self.converter.close()
        self.pipeline.frontend.close()
        self._status = "stopped"

    # --- live switches (any thread; models load in the caller's thread, the scheduler only flips) ----
    def set_denoise(self, on: bool) -> str:
        """Noise suppression on/off while streaming; returns "" or why it stays off."""
        return self.pipeline.set_denoise(on)

    def set_sync_delay_ms(self, ms: float) -> float:
        """Lip sync: hold the voice back by ``ms`` (0–300; any thread, no restart); what is aimed for."""
        return self.pipeline.set_sync_delay_ms(ms)

    def set_gate_mode(self, mode: str) -> str:
        """``"level"`` or ``"vad"`` while streaming; returns "" or why the VAD gate stays off."""
        return self.pipeline.set_gate_mode(mode)

    # --- output taps -------------------------------------------------------------------------------------
    def add_output_tap(self, callback: OutputTap) -> None:
        """Also give every converted block to ``callback(block, captured_at)`` (any thread, live).

        ``block``: float32 ``(n,)`` at the device rate, the voice as it goes to the Mirage Microphone
        but before the lip-sync delay (recorders align it by time instead); ``captured_at``: the
        ``time.perf_counter()`` time its first sample was captured by the microphone. Called on the
        scheduler thread, never in an audio callback: it must be quick (copy, queue, return). One
        that raises is logged and removed; the engine goes on.
        """
        with self._taps_lock:
            if callback not in self._taps:
                self._taps = (*self._taps, callback)
            self.pipeline.keep_finished = True

    def remove_output_tap(self, callback: OutputTap) -> None:
        """Stop giving blocks to ``callback`` (unknown callbacks are ignored)."""
        with self._taps_lock:
            self._taps = tuple(t for t in self._taps if t != callback)
            self.pipeline.keep_finished = bool(self._taps)

    @property
    def output_taps(self) -> tuple[OutputTap, ...]:
        return self._taps

    def _observe_input(self) -> None:
        """One observation of the input's timing for the capture clock (scheduler thread)."""
        lat_in = float("nan")
        if self.stream.is_open:
            try:
                lat_in = float(self.stream.latency_s[0])
            except Exception:  # a stream closing under us: the ring's timing alone this time
                lat_in = float("nan")
        self._clock.observe(time.perf_counter(), self._capture.total_written, lat_in)

    def _emit(self, taps: tuple[OutputTap, ...], block: np.ndarray, captured_at: float) -> None:
        for tap in taps:
            try:
                tap(block, captured_at)
            except Exception:
                log.exception("voice output tap %r failed; it is removed", tap)
                self.remove_output_tap(tap)

    def __enter__(self) -> VoiceEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- threads ---------------------------------------------------------------------------------------
    def _record_runtime(self, runtime: float) -> None:
        self._runtimes.append(runtime)
        self._ratios.append(runtime / self._block_s_at_submit)

    def _wait_for_input(self, need: int) -> bool:
        rate = self.spec.sample_rate
        while self._running.is_set():
            missing = need - self._capture.available()
            if missing <= 0:
                return True
            # Sleep until the block should be complete: audio arrives in callback-sized chunks, so
            # waking earlier only burns CPU (a 0.5 ms poll cost ~half a core here).
            time.sleep(min(0.05, max(0.001, missing / rate)))
        return False

    def _schedule(self) -> None:
        cfg = self.config
        rate = self.spec.sample_rate
        pipe = self.pipeline
        block_buf = np.zeros(pipe.max_block_dev, dtype=np.float32)
        seq = 0
        m = self._metrics
        while self._running.is_set():
            block = pipe.block_dev
            if not self._wait_for_input(block):
                break
            if cfg.policy != "wait":
                excess = self._capture.available() - block - int(cfg.max_backlog_ms / 1000 * rate)
                if excess > 0:
                    self._trimmed_in += self._capture.skip(excess)
            self._backlog_max = max(self._backlog_max, self._capture.available())
            taps = self._taps
            if taps:
                self._observe_input()
            first_sample = self._capture.total_read  # of this block, on the capture ring's count
            buf = block_buf[:block]
            self._capture.read_into(buf)
            window = pipe.push(buf)
            seq += 1
            m.blocks += 1
            converted = None
            if cfg.policy == "wait":
                self._block_s_at_submit = block / rate
                while not self._worker.submit(seq, window):  # only busy with a previous wait job: never
                    time.sleep(0.001)
                converted, error = self._worker.result(seq, None)
            elif self._worker.submit(seq, window):
                self._block_s_at_submit = block / rate
                # Playback runs dry when the ring empties; leave a little for splicing and the copy.
                headroom = self._playback.available() / rate - 0.003
                if not self.stream.primed:
                    headroom = max(headroom, block / rate)
                # Even when the ring is about to run dry, a fast converter is worth a short wait: the
                # alternative (the dry voice) is a worse glitch than a few ms of gap.
                headroom = max(headroom, 0.002)
                converted, error = self._worker.result(seq, headroom)
                if converted is None and not error:
                    m.late_blocks += 1
            else:
                m.busy_blocks += 1
                error = ""
            if error:
                self._converter_error = error
            if converted is None:
                m.dropped_blocks += 1
            else:
                m.converted_blocks += 1
            out = pipe.finish(window, converted, dry=cfg.policy != "silence")
            tapped = pipe.take_finished()
            if tapped is not None and taps:
                # what leaves the splicer went in this long before the block just read (the window's
                # look-ahead, crossfade, search, resamplers and front end: all but the block itself)
                inner = pipe.algorithmic_latency_s() - block / rate
                captured_at = self._clock.time_of(first_sample) - inner
                follows = self._next_tap_at
                if follows is not None and abs(captured_at - follows) <= _TAP_SNAP_S:
                    captured_at = follows
                captured_at = float(max(captured_at, np.nextafter(self._last_tap_at, np.inf)))
                self._last_tap_at = captured_at
                self._next_tap_at = captured_at + len(tapped) / rate
            queued = self._playback.available()
            if cfg.policy != "wait" and queued > self._prime_level() + 2 * block:
                self._trimmed_out += len(out)  # the stream fell behind (e.g. after a stall): stay bounded
            else:
                if cfg.policy != "wait":
                    if self.stream.primed:
                        self._standing.observe(queued)
                    else:
                        self._standing.reset()
                    out = self._standing.apply(out)
                self._playback.write(out)
                self._queued_max = max(self._queued_max, self._playback.available())
                if self._monitor_ring is not None:
                    self._monitor_ring.write(out)
            if tapped is not None and taps:
                self._emit(taps, tapped, captured_at)
            if cfg.adapt and self._ratios:
                new_block = self._adapter.update(block, self._ratios[-1])
                if new_block != block:
                    pipe.set_block(new_block)
                    self.stream.prime_level = self._prime_level()
                    if self.monitor is not None:
                        self.monitor.prime_level = self._prime_level()
                    m.block_changes += 1

    def _guard(self) -> str:
        if self._input_guard is None:
            return ""
        try:
            return self._input_guard()
        except VoiceError:
            return ""  # the sound server is briefly unreachable: the stall watchdog handles that

    def _watch(self) -> None:
        base = last_count = self.stream.progress
        last_change = time.monotonic()
        next_sample = last_change + _LATENCY_SAMPLE_S
        next_guard = last_change + _GUARD_S
        paused = ""
        # Until audio has flowed both ways for a moment, the generous start-up limit applies: a null
        # sink that was idle renders one 2 s block when it wakes, so the first writes can wait ~2 s.
        started = False
        while not self._stopping.wait(0.05):
            now = time.monotonic()
            if now >= next_guard:
                next_guard = now + _GUARD_S
                message = self._guard()
                if message and not paused:
                    self.stream.close()
                    paused = message
                    self._status = f"paused: {message}"
                    self._guard_trips += 1
                elif paused and not message:
                    paused = ""
                    last_change = 0.0  # reopen below, now
                    started = False
            if paused:
                continue
            if started and now >= next_sample:
                next_sample = now + _LATENCY_SAMPLE_S
                self._sample_latency()
            count = self.stream.progress
            if count != last_count:
                last_count, last_change = count, now
                if not started and count - base >= _STARTED_AFTER:
                    started = True
                    # the first seconds after a (re)start carry the server's start-up transients
                    next_sample = max(next_sample, now + _SETTLE_S)
                if started and not self._status.startswith("running"):
                    self._status = "running"
                continue
            limit = self.config.stall_timeout_s if started else self.config.startup_timeout_s
            if now - last_change < limit:
                continue
            # No progress: the stream stalled or the device went away. Reopen it; keep trying.
            self._restarts += 1
            self.stream.close()
            try:
                self.stream.open()
                self._status = "running (stream restarted)"
            except VoiceError as exc:
                self._status = f"audio device unavailable, retrying: {exc}"
            base = last_count = self.stream.progress
            last_change, started = time.monotonic(), False

    def live_latency_s(self) -> float:
        """Worst-case latency right now: device input + the algorithm (which already counts one block
        of waiting) + any capture backlog beyond that block + queued output + device output.

        Measured from the rings and the backend's live device figures, so it moves when anything
        drifts (the algorithmic part alone never would).
        """
        rate = self.spec.sample_rate
        lat_in, lat_out = self._device_latency_s()
        backlog = max(0, self._capture.available() - self.pipeline.block_dev)
        queued = (backlog + self._playback.available()) / rate
        return lat_in + self.pipeline.algorithmic_latency_s() + queued + lat_out

    def _device_latency_s(self) -> tuple[float, float]:
        """(input, output) from the backend; 0 while closed or while the server has no figure yet."""
        lat_in, lat_out = self.stream.latency_s if self.stream.is_open else (0.0, 0.0)
        return tuple(x if np.isfinite(x) else 0.0 for x in (lat_in, lat_out))

    def _sample_latency(self) -> None:
        value = self.live_latency_s()
        self._latency_samples.append(value)
        if len(self._latency_first) < _DRIFT_WINDOW:
            self._latency_first.append(value)

    # --- reporting -------------------------------------------------------------------------------------
    def metrics(self) -> VoiceMetrics:
        m = self._metrics
        pipe = self.pipeline
        rate = self.spec.sample_rate
        m.device_rate = rate
        m.converter_rate = pipe.rate
        m.block_ms = round(pipe.block_dev / rate * 1000, 3)
        m.crossfade_ms = round(pipe.crossfade / pipe.rate * 1000, 3)
        m.search_ms = round(pipe.search / pipe.rate * 1000, 3)
        m.lookahead_ms = round(pipe.lookahead / pipe.rate * 1000, 3)
        m.buffer_ms = self.config.buffer_ms
        m.algorithmic_latency_ms = round(pipe.algorithmic_latency_s() * 1000, 2)
        lat_in, lat_out = self._device_latency_s()
        m.device_input_latency_ms = round(lat_in * 1000, 2)
        m.device_output_latency_ms = round(lat_out * 1000, 2)
        m.estimated_latency_ms = round(m.algorithmic_latency_ms + m.buffer_ms + (lat_in + lat_out) * 1000, 2)
        m.sync_delay_ms = round(pipe.sync.delay_ms, 2)
        m.sync_target_ms = round(pipe.sync.target_ms, 2)
        samples = list(self._latency_samples)
        if samples:
            m.live_latency_ms = round(samples[-1] * 1000, 2)
            m.live_latency_ms_max = round(max(samples) * 1000, 2)
        if len(samples) >= 2 * _DRIFT_WINDOW:
            start = float(np.median(self._latency_first))
            m.latency_drift_ms = round((float(np.median(samples[-_DRIFT_WINDOW:])) - start) * 1000, 2)
        runtimes = np.array(self._runtimes, dtype=np.float64) * 1000
        ratios = list(self._ratios)
        if len(runtimes):
            m.runtime_ms_last = round(float(runtimes[-1]), 3)
            m.runtime_ms_mean = round(float(runtimes.mean()), 3)
            m.runtime_ms_p95 = round(float(np.percentile(runtimes, 95)), 3)
            m.runtime_ms_max = round(float(runtimes.max()), 3)
            m.ratio_last = round(ratios[-1], 4)
            m.ratio_mean = round(float(np.mean(ratios)), 4)
            m.ratio_max = round(float(np.max(ratios)), 4)
            m.ratios = [round(r, 4) for r in ratios]
        s = self.stream
        m.input_overflows, m.input_underflows = s.input_overflows, s.input_underflows
        m.output_overflows, m.output_underflows = s.output_overflows, s.output_underflows
        m.capture_overflow_samples = self._capture.overflow_samples
        m.playback_gaps = s.playback_gaps
        m.backlog_ms_max = round(self._backlog_max / rate * 1000, 2)
        m.queued_output_ms_max = round(self._queued_max / rate * 1000, 2)
        m.trimmed_input_ms = round(self._trimmed_in / rate * 1000, 2)
        m.trimmed_output_ms = round((self._trimmed_out + self._standing.trimmed) / rate * 1000, 2)
        m.standing_queue_cuts = self._standing.cuts
        m.stream_restarts = self._restarts
        m.stream_errors = s.stream_errors
        m.feedback_pauses = self._guard_trips
        m.backend = self.spec.backend
        m.callbacks = s.callbacks
        m.gate_open = pipe.gate_open
        front = pipe.frontend
        m.denoise = front.denoiser.engaged
        m.gate_mode = "vad" if front.vad_engaged else ("level" if pipe.config.gate_db is not None else "off")
        m.vad_speaking = bool(front.vad.stage is not None and getattr(front.vad.stage, "speaking", False))
        m.frontend_latency_ms = round(front.latency_s * 1000, 2)
        m.denoise_ms_mean = round(front.denoiser.cost_ms(), 4)
        m.vad_ms_mean = round(front.vad.cost_ms(), 4)
        m.frontend_note = front.notes()
        m.input_level_db = round(pipe.last_level_db, 1)
        m.status = (
            self._status
            if not self._converter_error
            else f"{self._status}; converter error: " + (self._converter_error)
        )
        return VoiceMetrics(**{k: getattr(m, k) for k in VoiceMetrics.__slots__})

    @property
    def running(self) -> bool:
        return self._running.is_set()


def require_running(engine: VoiceEngine) -> None:
    if not engine.running:
        raise VoiceError("the voice engine is not running")
