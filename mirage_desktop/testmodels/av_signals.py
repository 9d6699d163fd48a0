"""A test signal for lip sync: a flash in the video source and a click in the microphone at the same
instant, and what is needed to time both where they leave Mirage.

- ``FlashSource``: a real-time FrameSource (dark 640×360 at 30 fps) that turns bright at each time
  of a ``FlashSchedule`` and stays bright for ``flash_s``. Every frame carries its own index as a
  16-bit code in a strip along the top, so a frame that leaves Mirage is traced back to its capture
  (``captured_at`` per index). The flash lasts longer than one processing step on purpose: a face
  swap slower than the camera skips frames (newest wins), and a one-frame flash would mostly be
  skipped; the first bright frame that is shown is the flash as the call sees it.
- ``ClickPlayer``: plays silence with a 10 ms 1 kHz click at each scheduled time into the fake
  microphone (a PulseAudio null sink whose monitor Mirage records as its microphone).
- ``StampedRecorder``: records a PulseAudio source with each read stamped (``perf_counter``, the
  server's latency), so every sample gets a time on the same clock as ``Frame.captured_at``.
- ``register_stamping_backend``: a pyvirtualcam backend stamping every frame with ``perf_counter``
  at ``send`` and decoding its index and brightness (nothing else is kept: cheap, no frame copies).
- ``FastProcessor`` (pass-through) and ``SlowedProcessor`` (N ms per frame, like a CPU face swap).

"The same instant". A real microphone has its own device latency, and Mirage's live voice latency
counts it; the camera's own latency before ``captured_at`` is not counted on the video side. So the
click's instant is when the sound *enters the microphone device*: when the fake mic sink renders it,
which is when its monitor (the device Mirage records) carries it. That is measured, not assumed: the
monitor is recorded with stamps (as voice/probe.py does) and the click located in that recording.
The player aims each click at the flash's capture time from PulseAudio's reported playback latency;
what is left between the two (``skew``) is reported and taken out of every offset, so each offset is
exactly what a flash and a click at one instant would show at the exit:

    offset = (flash out − flash captured) − (click out − click into the mic)   [video minus audio]

where "flash captured" is the ``captured_at`` of the bright frame that came out (for a processor
slower than the camera a later frame of the burst; the sound of that same instant is compared).
``onset`` figures also report the burst's first frame instead: they add the wait for a free
processor (0 to one processing time), which no delay can take out.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import numpy as np

from mirage_desktop.frame import Frame
from mirage_desktop.processing.base import FrameProcessor
from mirage_desktop.sources.base import FrameSource, SourceInfo

RATE = 48000
FRAGMENT = 480  # 10 ms reads/writes
CLICK_S = 0.01
CLICK_HZ = 1000.0
#: the frame-index code: bits across a strip this many pixels high along the top of each frame
CODE_BITS = 16
CODE_ROWS = 16
DARK, BRIGHT = 16, 235  # luma-like levels (BGR grey)


def click_burst(rate: int = RATE) -> np.ndarray:
    """10 ms of 1 kHz under a Hann envelope: survives pitch shifting, easy to locate by envelope."""
    t = np.arange(int(CLICK_S * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * CLICK_HZ * t) * np.hanning(len(t))).astype(np.float32)


class FlashSchedule:
    """Instants (``perf_counter``) at which a flash and a click are both wanted; any thread."""

    def __init__(self) -> None:
        self._times: list[float] = []
        self._lock = threading.Lock()

    def add(self, t: float) -> None:
        with self._lock:
            self._times.append(float(t))
            self._times.sort()

    def plan(self, first_at: float, events: int, gap_s: float = 1.2) -> list[float]:
        """``events`` instants from ``first_at``, gaps varying 0–0.3 s around ``gap_s`` (an uneven
        train, so a lag is never mistaken for one a gap earlier)."""
        times = []
        t = first_at
        for k in range(events):
            times.append(t)
            self.add(t)
            t += gap_s + 0.1 * ((k * 3) % 4)
        return times

    def times(self) -> list[float]:
        with self._lock:
            return list(self._times)

    def clear(self) -> None:
        with self._lock:
            self._times.clear()


def encode_index(image: np.ndarray, index: int) -> None:
    """Write ``index`` into the top strip of ``image`` (in place): one white/black block per bit."""
    w = image.shape[1]
    block = w // CODE_BITS
    for bit in range(CODE_BITS):
        image[:CODE_ROWS, bit * block : (bit + 1) * block] = 255 if (index >> bit) & 1 else 0


def decode_plane(plane: np.ndarray) -> tuple[int, bool]:
    """(index, bright) from one luma-like plane (H×W uint8) of a frame made by FlashSource."""
    h, w = plane.shape[:2]
    block = w // CODE_BITS
    row = plane[CODE_ROWS // 2, block // 2 : CODE_BITS * block : block]
    index = int(sum(1 << bit for bit, v in enumerate(row[:CODE_BITS]) if v >= 128))
    body = plane[CODE_ROWS + (h - CODE_ROWS) // 4 :: 8, ::8]
    return index, float(body.mean()) >= (DARK + BRIGHT) / 2


@dataclass(slots=True)
class FlashEvent:
    scheduled: float  # the instant asked for (perf_counter)
    index: int  # the first bright frame
    captured_at: float  # its capture time


class FlashSource(FrameSource):
    """Dark frames at ``fps``; bright for ``flash_s`` from each scheduled instant (the frame grid
    moves to start exactly there, as a camera's next frame would be taken then)."""

    def __init__(
        self,
        schedule: FlashSchedule,
        width: int = 640,
        height: int = 360,
        fps: float = 30.0,
        flash_s: float = 0.4,
        clock=time.perf_counter,
    ) -> None:
        self.schedule = schedule
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.flash_s = float(flash_s)
        self._clock = clock
        self._period = 1.0 / self.fps
        self._next: float | None = None
        self._index = 0
        self._done: set[float] = set()
        self._bright_until = 0.0
        self._info: SourceInfo | None = None
        self._dark = np.full((self.height, self.width, 3), DARK, np.uint8)
        self._bright = np.full((self.height, self.width, 3), BRIGHT, np.uint8)
        #: capture time of every frame by index, and each flash's first frame
        self.captured_at: dict[int, float] = {}
        self.flashes: list[FlashEvent] = []
        self.missed: list[float] = []
        self._lock = threading.Lock()

    def open(self) -> SourceInfo:
        self._info = SourceInfo("A/V sync flashes", "test", self.width, self.height, self.fps)
        return self._info

    @property
    def info(self) -> SourceInfo | None:
        return self._info

    def _pending(self, before: float) -> float | None:
        for t in self.schedule.times():
            if t in self._done:
                continue
            if t <= before:
                return t
            return None
        return None

    def read(self) -> Frame:
        now = self._clock()
        if self._next is None:
            self._next = now
        due = self._next
        flash = self._pending(due + self._period / 2)
        if flash is not None:
            self._done.add(flash)
            if flash < now - self._period:  # planned too late to be shown on time
                self.missed.append(flash)
                flash = None
            else:
                due = flash
        delay = due - self._clock()
        if delay > 0:
            time.sleep(delay)
        t = self._clock()
        index = self._index
        self._index += 1
        if flash is not None:
            self._bright_until = t + self.flash_s
            with self._lock:
                self.flashes.append(FlashEvent(flash, index, t))
        image = (self._bright if t < self._bright_until else self._dark).copy()
        encode_index(image, index)
        with self._lock:
            self.captured_at[index] = t
        # like Pacer: a late frame moves the schedule instead of bursting to catch up
        self._next = due + self._period if t - due < self._period else t + self._period
        return Frame(image, index, t, source="test")

    def close(self) -> None:
        pass

    def events(self) -> list[FlashEvent]:
        with self._lock:
            return list(self.flashes)


@dataclass(slots=True)
class FrameLog:
    """What the stamping backend saw: per frame sent, its time, index and brightness."""

    sent_at: list[float] = field(default_factory=list)
    index: list[int] = field(default_factory=list)
    bright: list[bool] = field(default_factory=list)
    opened: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> tuple[list[float], list[int], list[bool]]:
        with self.lock:
            return list(self.sent_at), list(self.index), list(self.bright)


_backend_ids = count()


def register_stamping_backend() -> tuple[str, FrameLog]:
    """A fresh pyvirtualcam backend that stamps each frame at ``send``; returns its name and log."""
    import pyvirtualcam

    log = FrameLog()
    name = f"av-stamps{next(_backend_ids)}"

    class StampingBackend:
        def __init__(self, *, width, height, fps, fourcc, device, **kw):
            log.opened = {"width": width, "height": height, "fps": fps, "fourcc": fourcc}
            self._w, self._h = int(width), int(height)
            self._device = device or "/dev/video-av-stamps"
            self._fourcc = fourcc

        def send(self, frame: np.ndarray) -> None:
            now = time.perf_counter()
            flat = np.asarray(frame).reshape(-1)
            pixels = self._w * self._h
            channels = max(1, len(flat) // pixels)  # I420 (1.5) reads its Y plane
            plane = flat[: pixels * channels].reshape(self._h, self._w, channels)[:, :, min(1, channels - 1)]
            index, bright = decode_plane(plane)
            with log.lock:
                log.sent_at.append(now)
                log.index.append(index)
                log.bright.append(bright)

        def close(self) -> None:
            pass

        def device(self) -> str:
            return self._device

        def native_fourcc(self):
            return self._fourcc

    pyvirtualcam.register_backend(name, StampingBackend)
    return name, log


def first_shown(log: FrameLog, event: FlashEvent, until_index: int | None = None) -> tuple[float, int] | None:
    """(sent_at, index) of the first bright frame of ``event``'s burst that left Mirage, or None."""
    sent, indices, bright = log.snapshot()
    for at, index, lit in zip(sent, indices, bright, strict=True):
        if lit and index >= event.index and (until_index is None or index < until_index):
            return at, index
    return None


def _start_time(stamps: list[tuple[int, float, float]] | np.ndarray, rate: int) -> float:
    """perf_counter time of sample 0: median over reads of (read time − latency − samples/rate)."""
    values = [t - lat - pos / rate for pos, t, lat in list(stamps)[20:] if np.isfinite(lat)]
    if not values:
        raise RuntimeError("the recording has no timing yet")
    return float(np.median(values))


class StampedRecorder(threading.Thread):
    """Records one PulseAudio source in this process; after each 10 ms read notes (samples so far,
    perf_counter, server latency), from which every sample's time is known (``start_time``)."""

    def __init__(self, source: str, seconds: float, rate: int = RATE) -> None:
        super().__init__(daemon=True, name=f"av-record {source}")
        from mirage_desktop.voice.pulse_simple import PA_STREAM_RECORD, PulseSimpleStream

        self.rate = rate
        self.stream = PulseSimpleStream(
            PA_STREAM_RECORD, source, rate, app_name="Mirage A/V sync", stream_name=f"record {source}"
        )
        self.audio = np.zeros(int(seconds * rate), dtype=np.float32)
        self.stamps: list[tuple[int, float, float]] = []
        self.samples = 0
        self.stop_event = threading.Event()
        self.error = ""

    def run(self) -> None:
        pos = 0
        try:
            while not self.stop_event.is_set() and pos + FRAGMENT <= len(self.audio):
                self.stream.read(self.audio[pos : pos + FRAGMENT])
                now = time.perf_counter()
                pos += FRAGMENT
                self.samples = pos
                self.stamps.append((pos, now, self.stream.latency_s()))
        except Exception as exc:
            self.error = str(exc)
        finally:
            self.samples = pos

    def finish(self) -> np.ndarray:
        self.stop_event.set()
        self.join(3)
        self.stream.close()
        return self.audio[: self.samples]

    def start_time(self) -> float:
        return _start_time(self.stamps, self.rate)


class CallAppRecorder:
    """A StampedRecorder in its own process, as a call app records the Mirage Microphone.

    It must be another process: Mirage pauses its voice when its own process records its own
    microphone (the feedback guard, voice/virtual_mic/pulse.input_feedback). ``perf_counter`` is
    CLOCK_MONOTONIC on Linux, one clock for every process, so the stamps stay comparable. The child
    records until its stdin closes (``finish``) and writes audio and stamps to an .npz file.
    """

    def __init__(self, source: str, seconds: float, rate: int = RATE) -> None:
        import subprocess
        import sys
        import tempfile

        self.rate = rate
        self._dir = tempfile.TemporaryDirectory(prefix="mirage-av-")
        self._path = Path(self._dir.name) / "recording.npz"
        cmd = [sys.executable, "-m", "mirage_desktop.testmodels.av_signals", "record", source]
        cmd += [str(seconds), str(self._path), str(rate)]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
        )
        self.stamps: np.ndarray = np.zeros((0, 3))
        self.error = ""

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once the child has opened its stream (it prints one line)."""
        assert self._proc.stdout is not None
        import select

        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        return bool(ready) and self._proc.stdout.readline().strip() == b"recording"

    def start(self) -> None:  # the child starts at once; here for the same shape as StampedRecorder
        pass

    def finish(self) -> np.ndarray:
        try:
            _, err = self._proc.communicate(timeout=10)  # closes its stdin: the child stops
            if self._proc.returncode != 0:
                self.error = f"recorder exited {self._proc.returncode}: {err.decode(errors='replace')[-500:]}"
                return np.zeros(0, np.float32)
            with np.load(self._path) as data:
                audio, self.stamps = data["audio"], data["stamps"]
            return audio
        finally:
            if self._proc.poll() is None:
                self._proc.kill()
            self._dir.cleanup()

    def start_time(self) -> float:
        return _start_time(self.stamps, self.rate)


def _record_main(source: str, seconds: float, path: str, rate: int) -> int:
    import sys

    recorder = StampedRecorder(source, seconds, rate)
    recorder.start()
    print("recording", flush=True)
    sys.stdin.read()  # until the parent closes it
    audio = recorder.finish()
    if recorder.error:
        print(recorder.error, file=sys.stderr)
        return 1
    np.savez(path, audio=audio, stamps=np.asarray(recorder.stamps, dtype=np.float64).reshape(-1, 3))
    return 0


class ClickPlayer(threading.Thread):
    """Plays silence into ``sink`` with a click aimed at each scheduled instant.

    Sample ``s`` is rendered at ``t0 + s/rate``; t0 is the median over writes of (write time +
    the stream's reported latency − samples written), refined as it plays. A click is placed when
    its fragment is written (latest estimate); one whose time has passed is counted as missed.
    """

    def __init__(self, sink: str, schedule: FlashSchedule, rate: int = RATE, buffer_s: float = 0.05) -> None:
        super().__init__(daemon=True, name="av-clicks")
        from mirage_desktop.voice.pulse_simple import PA_STREAM_PLAYBACK, PulseSimpleStream

        self.rate = rate
        self.schedule = schedule
        self.stream = PulseSimpleStream(
            PA_STREAM_PLAYBACK,
            sink,
            rate,
            app_name="Mirage A/V sync",
            stream_name="clicks",
            buffer_s=buffer_s,
        )
        self.burst = click_burst(rate)
        self.placed: dict[float, int] = {}  # scheduled instant → first sample
        self.missed: list[float] = []
        self._starts: list[float] = []
        self.stop_event = threading.Event()
        self.error = ""

    def t0(self) -> float | None:
        recent = self._starts[20:][-200:]
        return float(np.median(recent)) if recent else None

    def run(self) -> None:
        pos = 0
        frag = np.zeros(FRAGMENT, dtype=np.float32)
        n = len(self.burst)
        try:
            while not self.stop_event.is_set():
                frag[:] = 0.0
                t0 = self.t0()
                if t0 is not None:
                    for t in self.schedule.times():
                        if t in self.placed or t in self.missed:
                            continue
                        start = round((t - t0) * self.rate)
                        if start < pos:
                            self.missed.append(t)
                        elif start < pos + FRAGMENT:
                            self.placed[t] = start
                for start in self.placed.values():  # a click may straddle fragments
                    lo, hi = max(start, pos), min(start + n, pos + FRAGMENT)
                    if lo < hi:
                        frag[lo - pos : hi - pos] = self.burst[lo - start : hi - start]
                self.stream.write(frag)
                pos += FRAGMENT
                self._starts.append(time.perf_counter() + self.stream.latency_s() - pos / self.rate)
        except Exception as exc:
            self.error = str(exc)

    def finish(self) -> None:
        self.stop_event.set()
        self.join(3)
        self.stream.close()


def _envelope(x: np.ndarray, rate: int = RATE) -> np.ndarray:
    win = np.ones(max(1, int(0.002 * rate)), dtype=np.float32)
    return np.convolve(np.abs(x), win / len(win), mode="same").astype(np.float32)


def locate_clicks(
    audio: np.ndarray,
    t0: float,
    around: list[float | None],
    window: tuple[float, float],
    rate: int = RATE,
) -> list[float | None]:
    """For each instant in ``around``, the time (same clock as ``t0``) at which a click starts in
    ``audio`` within ``[t + window[0], t + window[1]]``; None where none is there.

    The envelope is matched against the click's own envelope, so a pitch-shifted click is found as
    well as a clean one; the strongest match in the window wins.
    """
    env = _envelope(audio, rate)
    template = _envelope(np.concatenate([click_burst(rate), np.zeros(int(0.005 * rate), np.float32)]), rate)
    peak_need = 0.2 * float(template.max())
    out: list[float | None] = []
    for t in around:
        if t is None:
            out.append(None)
            continue
        lo = round((t + window[0] - t0) * rate)
        hi = round((t + window[1] - t0) * rate) + len(template)
        lo, hi = max(0, lo), min(len(env), hi)
        seg = env[lo:hi]
        if len(seg) < len(template) or seg.max() < peak_need:
            out.append(None)
            continue
        corr = np.correlate(seg, template, mode="valid")
        out.append(t0 + (lo + int(np.argmax(corr))) / rate)
    return out


class FastProcessor(FrameProcessor):
    """Leaves frames as they are: the picture's own I/O path only."""

    name = "fast"

    def process(self, frame: Frame) -> Frame:
        return frame


class SlowedProcessor(FrameProcessor):
    """Takes ``delay_ms`` per frame, as a face swap on a CPU does. It sleeps (so the figure does not
    depend on what else runs), or with ``burn`` computes for that long (NumPy, GIL released) so the
    voice competes for the cores as it would beside a real swap."""

    name = "slowed"

    def __init__(self, delay_ms: float = 200.0, burn: bool = False) -> None:
        self.delay_ms = float(delay_ms)
        self.burn = burn
        self._work = np.random.default_rng(0).random((192, 192), dtype=np.float32) if burn else None

    def process(self, frame: Frame) -> Frame:
        end = time.perf_counter() + self.delay_ms / 1000.0
        if self._work is not None:
            while time.perf_counter() < end:
                self._work = np.tanh(self._work @ self._work * 1e-3)
        else:
            time.sleep(max(0.0, end - time.perf_counter()))
        return frame


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 6 and sys.argv[1] == "record":
        sys.exit(_record_main(sys.argv[2], float(sys.argv[3]), sys.argv[4], int(sys.argv[5])))
    sys.exit("usage: python -m mirage_desktop.testmodels.av_signals record SOURCE SECONDS OUT.npz RATE")
