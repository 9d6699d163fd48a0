"""The live video loop: capture, processing and output on their own threads.

    source ─capture thread─▶ [slot] ─processing thread─▶ [slot] ─output thread─▶ sinks

Each [slot] holds one frame. Live, a slot keeps only the newest frame (a late consumer
skips stale frames, counted as dropped) so latency cannot build up; offline, a slot makes
the producer wait so every frame is processed. Every frame carries its capture timestamp,
and latency is measured from it when the sinks have the frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from mirage_desktop.engine.handoff import HandoffClosed, LatestSlot
from mirage_desktop.engine.metrics import MetricsCollector, MetricsSnapshot
from mirage_desktop.engine.quality import AdaptiveQuality
from mirage_desktop.frame import Frame
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.sinks.base import FrameSink, SinkError
from mirage_desktop.sources.base import FrameSource, Pacer, SourceError, SourceExhausted, SourceInfo

log = logging.getLogger(__name__)

ProblemListener = Callable[[str, str], None]  # (area, message); an empty message clears the area
#: a late frame is shown anyway when the picture has not changed for this long
FREEZE_GUARD_S = 0.5
#: the picture floor's bound, and how many frames may wait behind it (0.3 s at 60 fps)
MAX_FLOOR_MS = 300.0
MAX_HELD_FRAMES = 18


@dataclass(slots=True)
class PipelineOptions:
    #: live: newest-frame-wins hand-over and paced output; offline: every frame, as fast as possible
    live: bool = True
    #: cap on the output rate (0 = the source's rate)
    max_fps: float = 0.0
    #: resend the last frame after this long without a new one, so apps watching the
    #: virtual camera never time out to black while the source reconnects
    keepalive_s: float = 1.0
    #: end the run when every sink has failed (a recording that cannot be written, nothing else to
    #: feed): processing on would only waste the user's time and print a success that is not one
    stop_without_sinks: bool = False
    #: live only: the adaptive-quality controller (engine/quality.py), the knobs it must leave alone
    #: (config.settings.QUALITY_KNOBS) and the lowest fps it may choose
    adaptive_quality: bool = False
    quality_pins: tuple[str, ...] = ()
    quality_min_fps: float = 15.0
    #: live only: a frame that reaches the output more than this long after the voice that goes with
    #: it (capture age − the voice's lip-sync delay) is dropped rather than shown late; 0 = never
    late_drop_ms: float = 150.0
    #: live only: run the face stage's detection/tracking of frame N+1 on its own thread while frame
    #: N is swapped and pasted (processors with ``prepare``); the hand-over keeps only the newest
    pipelined: bool = False


class Pipeline:
    def __init__(
        self,
        source: FrameSource,
        chain: ProcessorChain,
        sinks: list[FrameSink],
        options: PipelineOptions | None = None,
        metrics: MetricsCollector | None = None,
        on_problem: ProblemListener | None = None,
    ) -> None:
        self.source = source
        self.chain = chain
        self.sinks = list(sinks)
        self.options = options or PipelineOptions()
        self.collector = metrics or MetricsCollector()
        self._on_problem = on_problem
        live = self.options.live
        self._to_process: LatestSlot[Frame] = LatestSlot("capture→process", drop_stale=live)
        #: live + pipelined: capture → [slot] → prepare thread (detection of N+1) → _to_process
        self._pipelined = live and self.options.pipelined
        self._to_prepare: LatestSlot[Frame] | None = (
            LatestSlot("capture→prepare", drop_stale=True) if self._pipelined else None
        )
        self._to_output: LatestSlot[Frame] = LatestSlot("process→output", drop_stale=live)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._problems: dict[str, str] = {}
        self._problems_lock = threading.Lock()
        self._active_sinks: list[FrameSink] = []
        self._pace_dropped = 0
        self.source_info: SourceInfo | None = None
        self.output_fps = 0.0
        #: the processing loop's own rate cap (0 = none), set live by adaptive quality
        self._process_fps_cap = 0.0
        self.quality: AdaptiveQuality | None = None
        #: how long the voice is held back for lip sync (ms), set live by whoever runs the voice
        self._voice_delay_ms = 0.0
        self._late_dropped = 0
        #: lip sync the other way: when the voice is slower than the picture, frames wait until this
        #: long after capture (the voice's own latency), held in order
        self._floor_ms = 0.0
        self._held: deque[Frame] = deque(maxlen=MAX_HELD_FRAMES)
        self._prepare_ms: float | None = None
        self._recent_late_ms: deque[float] = deque(maxlen=31)

    # -- control ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            raise RuntimeError("pipeline already started")
        loops = [("mirage-capture", self._capture_loop)]
        if self._to_prepare is not None:
            loops.append(("mirage-prepare", self._prepare_loop))
        loops += [("mirage-process", self._process_loop), ("mirage-output", self._output_loop)]
        for name, target in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._to_prepare is not None:
            self._to_prepare.close()
        self._to_process.close()
        self._to_output.close()
        self.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for all threads to end (offline: when the source is exhausted). True if they did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return not self.running

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # -- reporting -------------------------------------------------------------------------
    def report(self, area: str, message: str) -> None:
        with self._problems_lock:
            if self._problems.get(area, "") == message:
                return
            if message:
                self._problems[area] = message
            else:
                self._problems.pop(area, None)
        if message:
            # With a listener the user already sees it there; the log keeps a record either way.
            log.log(logging.INFO if self._on_problem else logging.WARNING, "%s: %s", area, message)
        if self._on_problem is not None:
            self._on_problem(area, message)

    @property
    def problems(self) -> dict[str, str]:
        with self._problems_lock:
            return dict(self._problems)

    def set_process_fps_cap(self, fps: float) -> None:
        """Process at most ``fps`` frames a second from the next frame on (0 = as they come); any thread.

        The frames in between are skipped at the capture hand-over (counted as dropped), so the cap
        saves the processing time, not only the output's."""
        self._process_fps_cap = max(0.0, float(fps))

    def set_picture_floor_ms(self, ms: float) -> None:
        """No frame leaves sooner than ``ms`` after capture (0..MAX_FLOOR_MS; any thread): when the
        picture is faster than the voice, it waits for it instead of arriving before the words."""
        self._floor_ms = min(MAX_FLOOR_MS, max(0.0, float(ms)))

    def set_voice_delay_ms(self, ms: float) -> None:
        """The voice's lip-sync delay now (any thread): frames later than it + ``late_drop_ms`` drop."""
        self._voice_delay_ms = max(0.0, float(ms))

    def metrics(self) -> MetricsSnapshot:
        problems = list(self.problems.values()) + [p for p in self.chain.problems() if p]
        processors = self.chain.counters()
        processors["pipelined"] = self._pipelined
        quality = self.quality
        if quality is not None:
            processors.update(quality.counters())
        processors["late_dropped"] = self._late_dropped
        processors["voice_delay_ms"] = round(self._voice_delay_ms, 1)
        processors["picture_floor_ms"] = round(self._floor_ms, 1)
        return self.collector.snapshot(
            source=self.source_info.name if self.source_info else "",
            sinks_active=[s.name for s in self._active_sinks],
            dropped={
                **({self._to_prepare.name: self._to_prepare.dropped} if self._to_prepare else {}),
                self._to_process.name: self._to_process.dropped,
                self._to_output.name: self._to_output.dropped + self._pace_dropped,
            },
            processors=processors,
            problems=problems,
        )

    # -- threads ---------------------------------------------------------------------------
    def _hand_over(self, slot: LatestSlot[Frame], frame: Frame) -> bool:
        """Put ``frame``; False when the pipeline is shutting down."""
        try:
            while not slot.put(frame, timeout=0.2):
                if self._stop.is_set():
                    return False
        except HandoffClosed:
            return False
        return True

    def _capture_loop(self) -> None:
        try:
            try:
                self.source_info = self.source.open()
            except SourceError as exc:
                self.report("source", str(exc))
                return
            while not self._stop.is_set():
                try:
                    frame = self.source.read()
                except SourceExhausted:
                    break
                except SourceError as exc:
                    self.report("source", str(exc))
                    break
                self.collector.frame_captured()
                if not self._hand_over(self._to_prepare or self._to_process, frame):
                    break
        except Exception as exc:  # never let a source bug leave the other threads waiting
            log.exception("capture thread failed")
            self.report("source", f"The video source failed: {exc}")
        finally:
            (self._to_prepare or self._to_process).close()
            try:
                self.source.close()
            except Exception:
                log.exception("closing the source failed")

    def _prepare_loop(self) -> None:
        """Detection/tracking of the next frame while the processing thread swaps the one before."""
        slot = self._to_prepare
        assert slot is not None
        cap = _CapPacer(self)  # the fps cap starts here: no detection for a frame that would be skipped
        try:
            while True:
                cap.wait()
                try:
                    frame = slot.get(timeout=0.25)
                except HandoffClosed:
                    break
                if frame is None:
                    continue
                self.chain.prepare(frame)
                if not self._hand_over(self._to_process, frame):
                    break
        except Exception as exc:
            log.exception("prepare thread failed")
            self.report("processing", f"Face detection failed: {exc}")
        finally:
            self._to_process.close()
            slot.close()  # unblock the capture thread if we ended first

    def _process_loop(self) -> None:
        # pipelined, the prepare thread applies the fps cap (frames reach us already paced)
        cap = None if self._to_prepare is not None else _CapPacer(self)
        try:
            self.chain.start()
            while True:
                if cap is not None:
                    cap.wait()
                try:
                    frame = self._to_process.get(timeout=0.25)
                except HandoffClosed:
                    break
                if frame is None:
                    continue
                t0 = time.perf_counter()
                frame = self.chain.process(frame)
                t1 = time.perf_counter()
                self.collector.frame_processed(frame.stage_ms)
                self._adapt(max((t1 - t0) * 1000.0, self._prepare_load(frame)), t1)
                if not self._hand_over(self._to_output, frame):
                    break
        except Exception as exc:
            log.exception("processing thread failed")
            self.report("processing", f"Processing failed: {exc}")
        finally:
            self._to_output.close()
            self._to_process.close()  # unblock the capture thread if we ended first
            if self._to_prepare is not None:
                self._to_prepare.close()
            self.chain.close()

    def _prepare_load(self, frame: Frame) -> float:
        """The prepare thread's time per frame, averaged: pipelined, the slower thread sets the rate,
        and detection runs on one frame in several (a p90 of single frames would only see those)."""
        ahead = sum(ms for name, ms in frame.stage_ms.items() if name.endswith(".prepare"))
        if not ahead:
            return 0.0
        self._prepare_ms = (
            ahead if self._prepare_ms is None else self._prepare_ms + 0.15 * (ahead - self._prepare_ms)
        )
        return self._prepare_ms

    def _adapt(self, frame_ms: float, now: float) -> None:
        """Feed adaptive quality (live, when on); it is made at the first frame, once the source's
        rate is known and the face stage has loaded. Its failure only switches it off."""
        options = self.options
        if not (options.live and options.adaptive_quality):
            return
        try:
            if self.quality is None:
                info = self.source_info
                target = info.fps if info is not None and info.fps > 0 else 30.0
                if options.max_fps > 0:
                    target = min(target, options.max_fps)
                stage = next((p for p in self.chain.processors if getattr(p, "face_stage", False)), None)
                self.quality = AdaptiveQuality(
                    stage,
                    self.set_process_fps_cap,
                    target,
                    pins=options.quality_pins,
                    min_fps=options.quality_min_fps,
                )
            self.quality.observe(frame_ms, now)
        except Exception:
            log.exception("adaptive quality failed; it is off for this run")
            self.options.adaptive_quality = False

    def _open_sinks(self, frame: Frame) -> None:
        fps = self.source_info.fps if self.source_info and self.source_info.fps > 0 else 30.0
        if self.options.max_fps > 0:
            fps = min(fps, self.options.max_fps)
        self.output_fps = fps
        for sink in self.sinks:
            area = f"sink:{type(sink).__name__}"
            try:
                sink.open(frame.width, frame.height, fps)
            except SinkError as exc:
                self.report(area, str(exc))
                continue
            except Exception as exc:
                log.exception("opening sink %s failed", sink.name)
                self.report(area, f"{sink.name} could not start: {exc}")
                continue
            self._active_sinks.append(sink)

    def _output_loop(self) -> None:
        live = self.options.live
        last: Frame | None = None
        shown_at = 0.0
        limiter: Pacer | None = None
        try:
            while True:
                if self._held:
                    frame = self._next_held(None)
                else:
                    try:
                        frame = self._to_output.get(timeout=self.options.keepalive_s if live else 0.25)
                    except HandoffClosed:
                        break
                    if frame is None:
                        if live and last is not None and self._active_sinks:
                            self._write(last, repeated=True)
                        continue
                    if live and self._floor_ms > 0:
                        frame = self._next_held(frame)
                if frame is None:
                    continue
                if last is None:
                    self._open_sinks(frame)
                    if live and self.options.max_fps > 0:
                        limiter = Pacer(self.output_fps)
                if self._out_of_sinks():
                    break
                if live:
                    frame = self._pace(frame, limiter)
                    if last is not None and self._too_late(frame, shown_at):
                        continue
                self._write(frame)
                last = frame
                shown_at = time.perf_counter()
                if self._out_of_sinks():
                    break
        except Exception as exc:
            log.exception("output thread failed")
            self.report("output", f"Output failed: {exc}")
        finally:
            self._to_output.close()
            for sink in self._active_sinks:
                try:
                    sink.close()
                except Exception:
                    log.exception("closing sink %s failed", sink.name)

    def _too_late(self, frame: Frame, shown_at: float) -> bool:
        """Drop a frame that would reach the call too long after its voice (lips out of sync).

        Only a frame late against the run's own steady lateness is dropped: when every frame is late
        (a slow machine whose lead the voice delay cannot cover) the next one is no better, and
        dropping would only freeze the picture. Never more than FREEZE_GUARD_S without a frame.
        """
        limit = self.options.late_drop_ms
        if limit <= 0:
            return False
        now = time.perf_counter()
        # the voice leaves its own latency (the floor, while it runs) plus its delay after capture
        late_ms = (now - frame.captured_at) * 1000.0 - self._voice_delay_ms - self._floor_ms
        recent = self._recent_late_ms
        recent.append(late_ms)
        if late_ms <= limit or now - shown_at >= FREEZE_GUARD_S:
            return False
        if len(recent) >= 5 and sorted(recent)[len(recent) // 2] > limit:
            return False  # the steady state is this late: not a spike
        self._late_dropped += 1
        return True

    def _out_of_sinks(self) -> bool:
        if not (self.options.stop_without_sinks and self.sinks) or self._active_sinks:
            return False
        self._stop.set()
        (self._to_prepare or self._to_process).close()  # capture and processing end at their next hand-over
        return True

    def _next_held(self, first: Frame | None) -> Frame | None:
        """The picture floor: frames wait, in order, until ``floor`` after their capture; frames that
        arrive meanwhile queue behind them (a newest-frame hand-over would drop them while we wait)."""
        held = self._held
        if first is not None:
            if len(held) == held.maxlen:
                self._pace_dropped += 1
            held.append(first)
        while held:
            left = held[0].captured_at + self._floor_ms / 1000.0 - time.perf_counter()
            if left <= 0:
                return held.popleft()
            try:
                newer = self._to_output.get(timeout=left)
            except HandoffClosed:
                return held.popleft()  # shutting down: what is held still goes out, in order
            if newer is not None:
                if len(held) == held.maxlen:
                    self._pace_dropped += 1
                held.append(newer)
        return None

    def _pace(self, frame: Frame, limiter: Pacer | None) -> Frame:
        """Wait until the sinks want the next frame, then send the newest one available."""
        paced = any(sink.pace() for sink in self._active_sinks)
        if not paced and limiter is not None:
            limiter.wait()
        if self._held or self._floor_ms > 0:
            return frame  # held frames go out in order, each at its time
        try:
            newer = self._to_output.get(timeout=0)
        except HandoffClosed:
            newer = None
        if newer is not None:
            self._pace_dropped += 1
            return newer
        return frame

    def _write(self, frame: Frame, repeated: bool = False) -> None:
        t0 = time.perf_counter()
        for sink in list(self._active_sinks):
            try:
                sink.write(frame)
            except Exception as exc:
                if not isinstance(exc, SinkError):  # a SinkError says it all (disk full, ...)
                    log.exception("sink %s failed", sink.name)
                self.report(f"sink:{type(sink).__name__}", f"{sink.name} stopped: {exc}")
                self._active_sinks.remove(sink)
                try:
                    sink.close()
                except Exception:
                    log.exception("closing sink %s failed", sink.name)
        self.collector.frame_output(frame.captured_at, (time.perf_counter() - t0) * 1000.0, repeated=repeated)


class _CapPacer:
    """The pipeline's live fps cap (set_process_fps_cap) for the first thread that takes frames."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._pacer: Pacer | None = None
        self._at = 0.0

    def wait(self) -> None:
        cap = self._pipeline._process_fps_cap
        if cap != self._at:
            self._pacer, self._at = (Pacer(cap) if cap > 0 else None), cap
        if self._pacer is not None:
            self._pacer.wait()
