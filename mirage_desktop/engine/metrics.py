"""Pipeline metrics, measured from each frame's capture timestamp.

Every figure is computed over a rolling window so the numbers describe *now*, not the
average since start (a stall five minutes ago should not hide one happening now).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

WINDOW_FRAMES = 300
FPS_WINDOW_S = 2.0


@dataclass(slots=True)
class MetricsSnapshot:
    source: str = ""
    sinks_active: list[str] = field(default_factory=list)
    fps_in: float = 0.0
    fps_out: float = 0.0
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    latency_ms_last: float | None = None
    stage_ms: dict[str, float] = field(default_factory=dict)
    frames_captured: int = 0
    frames_processed: int = 0
    frames_output: int = 0
    frames_dropped: dict[str, int] = field(default_factory=dict)
    frames_repeated: int = 0
    processors: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    uptime_s: float = 0.0

    @property
    def dropped_total(self) -> int:
        return sum(self.frames_dropped.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["frames_dropped_total"] = self.dropped_total
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=_json_default)

    def summary(self) -> str:
        def ms(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.1f} ms"

        stages = ", ".join(f"{k} {v:.1f}" for k, v in self.stage_ms.items())
        return (
            f"fps in {self.fps_in:.1f} / out {self.fps_out:.1f} | latency p50 {ms(self.latency_ms_p50)} "
            f"p95 {ms(self.latency_ms_p95)} | frames {self.frames_captured} captured, "
            f"{self.frames_output} out, {self.dropped_total} dropped | "
            f"sinks: {', '.join(self.sinks_active) or 'none'}"
            + (f" | stage ms: {stages}" if stages else "")
            + _quality_summary(self.processors)
        )


def _quality_summary(counters: dict[str, Any]) -> str:
    """The stats line's tail, like " | quality 2/9 (…) p90 41.2/33.3 ms, 3 changes"; "" when off."""
    if not counters.get("quality_enabled"):
        return ""
    p90 = counters.get("quality_frame_ms_p90")
    return (
        f" | quality {counters.get('quality_level', 0)}/{max(0, counters.get('quality_levels', 1) - 1)} "
        f"({counters.get('quality_setting', '')}) p90 {'n/a' if p90 is None else f'{p90:.1f}'}"
        f"/{counters.get('quality_budget_ms', 0.0):.1f} ms, {counters.get('quality_changes', 0)} changes"
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


class _RateMeter:
    def __init__(self) -> None:
        self._stamps: deque[float] = deque(maxlen=WINDOW_FRAMES)

    def tick(self, now: float) -> None:
        self._stamps.append(now)

    def rate(self, now: float) -> float:
        recent = [t for t in self._stamps if now - t <= FPS_WINDOW_S]
        if len(recent) < 2:
            return 0.0
        span = recent[-1] - recent[0]
        return (len(recent) - 1) / span if span > 0 else 0.0


class MetricsCollector:
    """Thread-safe sink for the numbers the pipeline threads report."""

    def __init__(self, clock=time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._in = _RateMeter()
        self._out = _RateMeter()
        self._latency: deque[float] = deque(maxlen=WINDOW_FRAMES)
        self._stages: dict[str, deque[float]] = {}
        self.frames_captured = 0
        self.frames_processed = 0
        self.frames_output = 0
        self.frames_repeated = 0

    def frame_captured(self) -> None:
        now = self._clock()
        with self._lock:
            self.frames_captured += 1
            self._in.tick(now)

    def frame_processed(self, stage_ms: dict[str, float]) -> None:
        with self._lock:
            self.frames_processed += 1
            for name, value in stage_ms.items():
                self._stages.setdefault(name, deque(maxlen=WINDOW_FRAMES)).append(value)

    def frame_output(self, captured_at: float, output_ms: float, repeated: bool = False) -> float:
        """Record a frame handed to the sinks; returns its capture→sink latency in ms."""
        now = self._clock()
        latency_ms = (now - captured_at) * 1000.0
        with self._lock:
            if repeated:
                self.frames_repeated += 1
                return latency_ms
            self.frames_output += 1
            self._out.tick(now)
            self._latency.append(latency_ms)
            self._stages.setdefault("output", deque(maxlen=WINDOW_FRAMES)).append(output_ms)
        return latency_ms

    def snapshot(
        self,
        *,
        source: str = "",
        sinks_active: Iterable[str] = (),
        dropped: dict[str, int] | None = None,
        processors: dict[str, Any] | None = None,
        problems: Iterable[str] = (),
    ) -> MetricsSnapshot:
        now = self._clock()
        with self._lock:
            latencies = np.fromiter(self._latency, dtype=np.float64)
            stage_ms = {name: float(np.mean(vals)) for name, vals in self._stages.items() if vals}
            snap = MetricsSnapshot(
                source=source,
                sinks_active=list(sinks_active),
                fps_in=self._in.rate(now),
                fps_out=self._out.rate(now),
                stage_ms=stage_ms,
                frames_captured=self.frames_captured,
                frames_processed=self.frames_processed,
                frames_output=self.frames_output,
                frames_repeated=self.frames_repeated,
                frames_dropped=dict(dropped or {}),
                processors=dict(processors or {}),
                problems=list(problems),
                uptime_s=now - self._started,
            )
        if latencies.size:
            snap.latency_ms_p50 = float(np.percentile(latencies, 50))
            snap.latency_ms_p95 = float(np.percentile(latencies, 95))
            snap.latency_ms_last = float(latencies[-1])
        return snap
