"""Lip sync measured end to end: a flash in the video source and a click in the microphone at the
same instant, timed where they leave Mirage (the virtual camera's backend and the Mirage Microphone).

    .venv/bin/python scripts/bench_av_sync.py [--events 8] [--slow-ms 200] [--converter pitch] [--json]

The real pipelines run together, as in the window: the video Pipeline (FlashSource → a processor →
VirtualCameraSink on a pyvirtualcam backend that stamps each frame at ``send``) and the voice
session (fake mic → VoiceEngine → Mirage Microphone, opened by ``open_voice_session`` from
VoiceSettings, in a private PulseAudio daemon). The lip-sync delay is set as the window sets it: a
LipSyncPlanner fed 10× a second with the pipeline's capture→sink p50 and the voice's live latency,
its result passed to ``VoiceEngine.set_sync_delay_ms`` and ``Pipeline.set_voice_delay_ms``, and its
picture floor (the voice's own latency: a picture faster than the voice waits for it) to
``Pipeline.set_picture_floor_ms``.

Four configurations: a fast processor (pass-through) and a slowed one (``--slow-ms`` per frame, like
a face swap on a CPU), each without and with the delay. Offsets are video minus audio in ms
(positive: the picture is late); how "the same instant" is defined is in
mirage_desktop/testmodels/av_signals.py. ``av_offset_ms`` is the median |offset| with the delay on
the slowed processor. Goal: |offset| ≤ 40 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mirage_desktop.config.settings import VoiceSettings  # noqa: E402
from mirage_desktop.engine.pipeline import Pipeline, PipelineOptions  # noqa: E402
from mirage_desktop.gui.lip_sync import LipSyncPlanner  # noqa: E402
from mirage_desktop.gui.voice_session import VoiceSession, open_voice_session  # noqa: E402
from mirage_desktop.processing.base import FrameProcessor  # noqa: E402
from mirage_desktop.processing.chain import ProcessorChain  # noqa: E402
from mirage_desktop.sinks.virtual_camera import VirtualCameraSink  # noqa: E402
from mirage_desktop.testmodels.av_signals import (  # noqa: E402
    RATE,
    CallAppRecorder,
    ClickPlayer,
    FastProcessor,
    FlashSchedule,
    FlashSource,
    SlowedProcessor,
    StampedRecorder,
    first_shown,
    locate_clicks,
    register_stamping_backend,
)
from mirage_desktop.voice.pulse_server import PrivatePulse  # noqa: E402
from mirage_desktop.voice.virtual_mic.pulse import SOURCE_NAME  # noqa: E402

GOAL_MS = 40.0
#: a click more than this far from its flash at the entries does not count as the same instant
MAX_SKEW_MS = 15.0
DEFAULT_MIC_SINK = "mirage_av_mic"
#: the window polls the voice this often (gui/voice_controller.POLL_MS)
POLL_S = 0.1
#: the longest a click may take through the voice (delay ≤ 300 ms + the voice's own latency)
MAX_AUDIO_LAG_S = 0.9
CONFIGS = [("fast", False), ("fast", True), ("slowed", False), ("slowed", True)]


class LipSyncLoop(threading.Thread):
    """What the window does for lip sync, without Qt: poll both figures, plan, apply to both sides."""

    def __init__(self, session: VoiceSession, planner: LipSyncPlanner) -> None:
        super().__init__(daemon=True, name="av-lip-sync")
        self.session = session
        self.planner = planner
        self.pipeline: Pipeline | None = None
        self.applied_ms = 0.0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(POLL_S):
            pipeline = self.pipeline
            video_ms = pipeline.metrics().latency_ms_p50 if pipeline is not None else None
            metrics = self.session.metrics()
            voice_ms = metrics.live_latency_ms or metrics.estimated_latency_ms or None
            delay = self.planner.update(video_ms, voice_ms)
            if delay is not None:
                self.applied_ms = self.session.engine.set_sync_delay_ms(delay)
            if pipeline is not None:
                pipeline.set_voice_delay_ms(self.applied_ms)
                pipeline.set_picture_floor_ms(self.planner.floor_ms)

    def finish(self) -> None:
        self.stop_event.set()
        self.join(2)


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None, "min": None, "max": None, "max_abs": None}
    a = np.asarray(values, dtype=np.float64)
    return {
        "mean": round(float(a.mean()), 1),
        "median": round(float(np.median(a)), 1),
        "min": round(float(a.min()), 1),
        "max": round(float(a.max()), 1),
        "max_abs": round(float(np.abs(a).max()), 1),
    }


def _measure_phase(
    mic_sink: str, source: FlashSource, frames, schedule: FlashSchedule, events: int, gap_s: float
) -> dict[str, Any]:
    """Flash+click ``events`` times; each event's timings at the entries and the exits."""
    seconds = 1.5 + events * (gap_s + 0.3) + MAX_AUDIO_LAG_S + 2.0
    out = CallAppRecorder(SOURCE_NAME, seconds)  # the Mirage Microphone, as a call app records it
    ref = StampedRecorder(f"{mic_sink}.monitor", seconds)  # the sound entering the mic device
    player = ClickPlayer(mic_sink, schedule)
    try:
        if not out.wait_ready():
            raise RuntimeError("the call-app recorder did not start")
        ref.start()
        player.start()
        time.sleep(1.0)  # the player's and the recorders' clocks settle
        times = schedule.plan(time.perf_counter() + 0.5, events, gap_s)
        end = times[-1] + MAX_AUDIO_LAG_S + 0.3
        while time.perf_counter() < end:
            time.sleep(0.05)
    finally:
        player.finish()
        ref_audio, out_audio = ref.finish(), out.finish()
        schedule.clear()
    errors = [e for e in (ref.error, out.error, player.error) if e]
    if errors:
        raise RuntimeError("; ".join(errors))
    click_in = locate_clicks(ref_audio, ref.start_time(), times, (-0.1, 0.1))
    click_out = locate_clicks(out_audio, out.start_time(), click_in, (0.0, MAX_AUDIO_LAG_S))
    flashes = {e.scheduled: e for e in source.events()}
    rows = []
    for k, t in enumerate(times):
        flash = flashes.get(t)
        nxt = flashes.get(times[k + 1]) if k + 1 < len(times) else None
        shown = first_shown(frames, flash, nxt.index if nxt else None) if flash else None
        row: dict[str, Any] = {"scheduled": t}
        if flash is None or shown is None or click_in[k] is None or click_out[k] is None:
            found = {"flash": flash, "shown": shown, "click_in": click_in[k], "click_out": click_out[k]}
            row["missing"] = [name for name, value in found.items() if value is None]
            rows.append(row)
            continue
        sent_at, index = shown
        captured = source.captured_at[index]
        audio_s = click_out[k] - click_in[k]
        row.update(
            skew_ms=(flash.captured_at - click_in[k]) * 1000,  # flash − click at the entries
            video_ms=(sent_at - captured) * 1000,
            audio_ms=audio_s * 1000,
            offset_ms=((sent_at - captured) - audio_s) * 1000,
            onset_offset_ms=((sent_at - flash.captured_at) - audio_s) * 1000,
            raw_ms=(sent_at - click_out[k]) * 1000,  # flash out − click out, skew left in
            frames_skipped=index - flash.index,
        )
        rows.append(row)
    return {"events": rows, "clicks_missed": len(player.missed), "flashes_missed": len(source.missed)}


def _summarise(processor: str, with_delay: bool, phase: dict, extra: dict) -> dict[str, Any]:
    # an event whose click reached the mic far from its flash (the player was late on a loaded
    # machine) is not "the same instant": it is counted as mistimed, not measured
    timed = [r for r in phase["events"] if "offset_ms" in r]
    good = [r for r in timed if abs(r["skew_ms"]) <= MAX_SKEW_MS]
    pick = lambda key: [r[key] for r in good]  # noqa: E731
    return {
        "config": f"{processor} processor, {'with' if with_delay else 'without'} delay",
        "processor": processor,
        "with_delay": with_delay,
        "events": len(phase["events"]),
        "measured": len(good),
        "mistimed": len(timed) - len(good),
        "offset_ms": _stats(pick("offset_ms")),
        "onset_offset_ms": _stats(pick("onset_offset_ms")),
        "skew_ms": _stats(pick("skew_ms")),
        "video_ms": _stats(pick("video_ms")),
        "audio_ms": _stats(pick("audio_ms")),
        "per_event": [
            {k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()} for r in phase["events"]
        ],
        "clicks_missed": phase["clicks_missed"],
        "flashes_missed": phase["flashes_missed"],
        **extra,
    }


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _processor(name: str, slow_ms: float, burn: bool) -> FrameProcessor:
    return SlowedProcessor(slow_ms, burn=burn) if name == "slowed" else FastProcessor()


def measure_av_offset(
    configs: list[tuple[str, bool]] | None = None,
    slow_ms: float = 200.0,
    events: int = 8,
    converter: str = "passthrough",
    mic_sink: str | None = None,
    settle_s: float = 3.0,
    gap_s: float = 1.2,
    burn: bool = False,
) -> dict[str, Any]:
    """Run the configurations ((processor "fast"|"slowed", with_delay) pairs; default all four) and
    return per-config figures plus ``av_offset_ms`` (median |offset| with the delay on the slowed
    processor; None when that configuration was not run).

    ``mic_sink``: a PulseAudio null sink acting as the microphone on the server PULSE_SERVER points
    at (the tests' fixture); None starts a private daemon with one, stopped at the end.
    """
    configs = list(configs or CONFIGS)
    server: PrivatePulse | None = None
    saved_env: dict[str, str | None] = {}
    if mic_sink is None:
        mic_sink = DEFAULT_MIC_SINK
        server = PrivatePulse(
            modules=[f"load-module module-null-sink sink_name={mic_sink} rate={RATE} channels=1"]
        ).start()
        saved_env = {key: os.environ.get(key) for key in server.env}
        os.environ.update(server.env)
    session: VoiceSession | None = None
    loop: LipSyncLoop | None = None
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        voice = VoiceSettings(
            enabled=True,
            input_device=f"{mic_sink}.monitor",
            converter=converter,
            semitones=4.0 if converter == "pitch" else 0.0,
        )
        session = open_voice_session(voice)
        engine = session.engine
        if not _wait(lambda: engine.stream.progress > 20, 12.0):
            raise RuntimeError("no audio flowing through the voice engine within 12 s")
        planner = LipSyncPlanner(enabled=False)
        loop = LipSyncLoop(session, planner)
        loop.start()
        time.sleep(2.0)  # past the null sink's start-up block; the live latency has samples
        order = [p for p in ("fast", "slowed") if any(c[0] == p for c in configs)]
        for processor in order:
            schedule = FlashSchedule()
            source = FlashSource(schedule)
            backend, frames = register_stamping_backend()
            pipeline = Pipeline(
                source,
                ProcessorChain([_processor(processor, slow_ms, burn)]),
                [VirtualCameraSink(backend=backend)],
                PipelineOptions(live=True),
            )
            pipeline.start()
            loop.pipeline = pipeline
            try:
                if not _wait(lambda log=frames: len(log.sent_at) >= 10, 10.0):
                    raise RuntimeError(f"the virtual camera received no frames ({pipeline.problems})")
                for proc_name, with_delay in configs:
                    if proc_name != processor:
                        continue
                    planner.enabled = with_delay
                    time.sleep(settle_s if with_delay else 1.0)
                    phase = _measure_phase(mic_sink, source, frames, schedule, events, gap_s)
                    snap = pipeline.metrics()
                    vm = engine.metrics()
                    extra = {
                        "delay_ms": round(vm.sync_delay_ms, 1),
                        "planner_target_ms": round(planner.target_ms, 1),
                        "video_latency_p50_ms": round(snap.latency_ms_p50 or 0.0, 1),
                        "voice_live_latency_ms": round(vm.live_latency_ms, 1),
                        "fps_out": round(snap.fps_out, 1),
                        "late_dropped": snap.processors.get("late_dropped"),
                    }
                    results.append(_summarise(processor, with_delay, phase, extra))
            finally:
                loop.pipeline = None
                pipeline.stop()
    finally:
        if loop is not None:
            loop.finish()
        if session is not None:
            session.close()
        if server is not None:
            server.stop()
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    target = next((r for r in results if r["processor"] == "slowed" and r["with_delay"]), None)
    median = target["offset_ms"]["median"] if target else None
    return {
        "av_offset_ms": None if median is None else abs(median),
        "goal_ms": GOAL_MS,
        "slow_ms": slow_ms,
        "converter": converter,
        "events_per_config": events,
        "configs": results,
        "seconds": round(time.perf_counter() - started, 1),
        "definition": (
            "offset = (flash out − its frame's capture) − (click out of the Mirage Microphone − click "
            "into the mic device), video minus audio, ms; the click's entry is measured on the fake "
            "mic's monitor, the flash's exit at the virtual camera backend's send"
        ),
    }


def table(result: dict[str, Any]) -> str:
    head = (
        f"{'configuration':34} {'events':>6} {'mean':>7} {'median':>7} {'max|·|':>7} {'onset':>7} "
        f"{'delay':>6} {'video':>6} {'audio':>6} {'skew':>5}"
    )
    lines = [
        "A/V offset at Mirage's outputs, video minus audio (ms; + = picture late; goal |offset| <= 40)",
        head,
        "-" * len(head),
    ]

    def f(v: float | None, width: int) -> str:
        return f"{v:{width}.1f}" if v is not None else f"{'—':>{width}}"

    for r in result["configs"]:
        o = r["offset_ms"]
        lines.append(
            f"{r['config']:34} {r['measured']:>3}/{r['events']:<2} {f(o['mean'], 7)} {f(o['median'], 7)} "
            f"{f(o['max_abs'], 7)} {f(r['onset_offset_ms']['median'], 7)} {f(r['delay_ms'], 6)} "
            f"{f(r['video_ms']['median'], 6)} {f(r['audio_ms']['median'], 6)} {f(r['skew_ms']['max_abs'], 5)}"
        )
    lines.append(
        f"av_offset_ms (median |offset|, slowed processor {result['slow_ms']:.0f} ms, with delay): "
        f"{result['av_offset_ms']}   ({result['seconds']} s)"
    )
    lines.append(
        "onset: from the flash's first frame (adds the wait for a free processor); "
        "skew: flash − click at the entries (max |·|, taken out of every offset)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=8, help="flash+click events per configuration")
    parser.add_argument("--slow-ms", type=float, default=200.0, help="the slowed processor's ms per frame")
    parser.add_argument("--converter", choices=["passthrough", "pitch"], default="passthrough")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds for the delay to settle")
    parser.add_argument(
        "--burn", action="store_true", help="the slowed processor computes instead of sleeping"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure_av_offset(
        slow_ms=args.slow_ms,
        events=args.events,
        converter=args.converter,
        settle_s=args.settle,
        burn=args.burn,
    )
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
