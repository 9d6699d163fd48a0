"""Benchmark the live voice path: algorithmic and measured loopback latency, runtime/real ratios,
CPU use, latency drift and xruns over a long run, and overload behaviour against the queueing reference.

    .venv/bin/python scripts/bench_voice.py            # ~1.5 min
    .venv/bin/python scripts/bench_voice.py --minutes 10 --json

Live parts go through real PulseAudio: a private daemon is started (and stopped) unless --use-running
is given. The loopback probe runs in its own process with one duplex stream.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mirage_desktop.voice.audio_io import StreamSpec, reinitialize_portaudio, resolve_device  # noqa: E402
from mirage_desktop.voice.converters.base import VoiceConverter  # noqa: E402
from mirage_desktop.voice.converters.passthrough import PassthroughConverter  # noqa: E402
from mirage_desktop.voice.converters.pitch import PitchShiftConverter  # noqa: E402
from mirage_desktop.voice.engine import EngineConfig, VoiceEngine  # noqa: E402
from mirage_desktop.voice.pipeline import BlockPipeline, PipelineConfig  # noqa: E402
from mirage_desktop.voice.pulse_server import PrivatePulse  # noqa: E402
from mirage_desktop.voice.resample import resample  # noqa: E402
from mirage_desktop.voice.virtual_mic.pulse import PulseVirtualMic  # noqa: E402

RATE = 48000
TESTDATA = ROOT.parent / "shared" / "testdata" / "audio" / "jfk.flac"
FAKE_MIC = "mirage_bench_mic"


class NaiveResamplePitch(VoiceConverter):
    """Reference: the textbook 'resample the window' pitch shift (changes formants and, per block,
    duration; stretched back by truncation) - what a quick implementation does."""

    name = "naive-resample"

    def __init__(self, semitones: float) -> None:
        self.ratio = 2 ** (semitones / 12)

    def convert(self, window):
        n = len(window)
        src = np.arange(n) * self.ratio
        y = np.interp(src % n, np.arange(n), window)
        return y.astype(np.float32)


class SlowConverter(VoiceConverter):
    name = "slow-1.5x"

    def __init__(self, block_s: float) -> None:
        self.block_s = block_s

    def convert(self, window):
        time.sleep(1.5 * self.block_s)
        return window


def load_speech() -> np.ndarray:
    import soundfile as sf

    audio, rate = sf.read(TESTDATA, dtype="float32")
    return resample(audio.mean(axis=1) if audio.ndim > 1 else audio, rate, RATE)


def offline_ratios(speech: np.ndarray, blocks_ms: list[float]) -> list[dict]:
    rows = []
    for make in (PassthroughConverter, lambda: NaiveResamplePitch(4), lambda: PitchShiftConverter(4)):
        for block_ms in blocks_ms:
            conv = make()
            pipe = BlockPipeline(conv, RATE, PipelineConfig(block_ms=block_ms))
            runtimes = []
            cpu0, wall0 = time.process_time(), time.perf_counter()
            audio_s = 0.0
            for start in range(RATE, RATE * 9, pipe.block_dev):
                window = pipe.push(speech[start : start + pipe.block_dev])
                t = time.perf_counter()
                out = conv.convert(window)
                runtimes.append(time.perf_counter() - t)
                pipe.finish(window, out)
                audio_s += pipe.block_dev / RATE
            cpu = time.process_time() - cpu0
            r = np.array(runtimes) / (pipe.block_dev / RATE)
            rows.append(
                {
                    "converter": conv.name,
                    "block_ms": block_ms,
                    "algorithmic_latency_ms": round(pipe.algorithmic_latency_s() * 1000, 1),
                    "ratio_median": round(float(np.median(r)), 4),
                    "ratio_p95": round(float(np.percentile(r, 95)), 4),
                    "cpu_percent_of_one_core_realtime": round(100 * cpu / audio_s, 2),
                    "wall_s": round(time.perf_counter() - wall0, 2),
                }
            )
    return rows


def run_probe(env: dict, seconds: float) -> dict:
    cmd = [sys.executable, "-m", "mirage_desktop.voice.probe", "--seconds", str(seconds)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, timeout=seconds + 60)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": out.stderr[-500:]}


def live_engine(converter: VoiceConverter, config: EngineConfig, sd) -> VoiceEngine:
    spec = StreamSpec(resolve_device(sd, "pulse", "input"), resolve_device(sd, "pulse", "output"), RATE)
    return VoiceEngine(converter, spec, config, sd)


def wait_callbacks(engine: VoiceEngine, timeout: float = 12.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if engine.stream.callbacks > 20:
            return True
        time.sleep(0.05)
    return False


def live_latency(sd, server_env: dict, seconds: float) -> list[dict]:
    """Probe plays clicks into the fake mic and records the virtual mic; baseline = probe alone."""
    base_env = {**os.environ, **server_env, "PULSE_SINK": FAKE_MIC, "PULSE_SOURCE": f"{FAKE_MIC}.monitor"}
    baseline = run_probe(base_env, 4)
    base = float(np.median(baseline["lags_ms"])) if baseline.get("lags_ms") else float("nan")
    rows = [{"path": "probe alone (its own I/O, subtracted below)", "median_ms": round(base, 1)}]
    mic = PulseVirtualMic()
    mic.open()
    try:
        reinitialize_portaudio(sd, {"PULSE_SOURCE": f"{FAKE_MIC}.monitor", **mic.output_env()})
        probe_env = {**os.environ, **server_env, "PULSE_SINK": FAKE_MIC, "PULSE_SOURCE": mic.source_name}
        for conv in (PassthroughConverter(), PitchShiftConverter(4)):
            engine = live_engine(conv, EngineConfig(pipeline=PipelineConfig(gate_db=-60)), sd)
            engine.start()
            try:
                ok = wait_callbacks(engine)
                cpu0, wall0 = time.process_time(), time.perf_counter()
                result = run_probe(probe_env, seconds) if ok else {"error": "engine stream never started"}
                cpu = 100 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)
            finally:
                engine.stop()
            m = engine.metrics()
            lags = np.array(result.get("lags_ms", []))
            row = {
                "path": f"mic -> {conv.name} -> Mirage Microphone",
                "algorithmic_ms": m.algorithmic_latency_ms,
                "estimated_ms": m.estimated_latency_ms,
                "error": result.get("error", ""),
            }
            if len(lags) >= 3:
                t = np.arange(len(lags)) * 0.5 / 60  # clicks every 0.5 s, in minutes
                slope = float(np.polyfit(t, lags, 1)[0]) if len(lags) > 3 else 0.0
                row.update(
                    median_ms=round(float(np.median(lags)) - base, 1),
                    p95_ms=round(float(np.percentile(lags, 95)) - base, 1),
                    clicks=f"{len(lags)}/{result['clicks']}",
                    drift_ms_per_min=round(slope, 2),
                    first_vs_last_ms=round(float(np.median(lags[-5:]) - np.median(lags[:5])), 1),
                )
            row.update(
                cpu_percent=round(cpu, 1),
                xruns=m.xruns,
                playback_gaps=m.playback_gaps,
                stream_restarts=m.stream_restarts,
                dropped_blocks=m.dropped_blocks,
                ratio_mean=m.ratio_mean,
            )
            rows.append(row)
    finally:
        mic.close()
    return rows


def overload(sd, seconds: float) -> list[dict]:
    """A converter at 1.5x real time: Mirage's policy vs the queue-and-wait reference."""
    mic = PulseVirtualMic()
    mic.open()
    rows = []
    try:
        reinitialize_portaudio(sd, {"PULSE_SOURCE": f"{FAKE_MIC}.monitor", **mic.output_env()})
        for policy, adapt in (("wait", False), ("dry", False), ("dry", True)):
            cfg = EngineConfig(policy=policy, adapt=adapt, ring_seconds=30.0)
            engine = live_engine(SlowConverter(0.02), cfg, sd)
            engine.start()
            try:
                wait_callbacks(engine)
                time.sleep(seconds)
            finally:
                engine.stop()
            m = engine.metrics()
            rows.append(
                {
                    "policy": policy
                    + (" + adapt" if adapt else "")
                    + (" (reference)" if policy == "wait" else ""),
                    "backlog_ms_max": m.backlog_ms_max,
                    "block_ms_end": m.block_ms,
                    "dropped_blocks": m.dropped_blocks,
                    "converted_blocks": m.converted_blocks,
                    "ratio_mean": m.ratio_mean,
                }
            )
    finally:
        mic.close()
    return rows


def table(rows: list[dict], title: str) -> str:
    if not rows:
        return ""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    widths = {k: max(len(k), *(len(str(r.get(k, ""))) for r in rows)) for k in keys}
    lines = [f"\n## {title}", "| " + " | ".join(k.ljust(widths[k]) for k in keys) + " |"]
    lines.append("|" + "|".join("-" * (widths[k] + 2) for k in keys) + "|")
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(k, "")).ljust(widths[k]) for k in keys) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=0.0, help="long loopback run (default ~20 s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--use-running", action="store_true", help="use the running PulseAudio")
    parser.add_argument("--skip-live", action="store_true", help="offline ratios only")
    args = parser.parse_args()
    speech = load_speech()
    results: dict = {"offline": offline_ratios(speech, [10, 20, 40, 80])}
    if not args.skip_live:
        import sounddevice as sd

        server = None
        server_env: dict = {}
        if not args.use_running:
            server = PrivatePulse(
                modules=[f"load-module module-null-sink sink_name={FAKE_MIC} rate={RATE} channels=1"]
            ).start()
            server_env = server.env
            os.environ.update(server_env)
        try:
            seconds = args.minutes * 60 if args.minutes else 20.0
            results["loopback"] = live_latency(sd, server_env, seconds)
            results["overload"] = overload(sd, 5.0)
        finally:
            if server is not None:
                server.stop()
    if args.json:
        print(json.dumps(results))
    else:
        print(table(results["offline"], "Per-block runtime/real ratio (jfk.flac, 8 s; one core)"))
        if "loopback" in results:
            print(table(results["loopback"], "Measured loopback latency through PulseAudio (ms)"))
            print(table(results["overload"], "Overload: converter at 1.5x real time, 5 s"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
