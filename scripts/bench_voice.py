"""Benchmark the live voice path: algorithmic and measured loopback latency, runtime/real ratios,
CPU use, latency drift and xruns over a long run, and overload behaviour against the queueing reference.

    .venv/bin/python scripts/bench_voice.py            # ~2.5 min
    .venv/bin/python scripts/bench_voice.py --minutes 10 --json

Live parts go through real PulseAudio: a private daemon is started (and stopped) unless --use-running
is given. The loopback probe (mirage_desktop/voice/probe.py) runs in its own process, like a call
app, and places the mic and the virtual mic on the server's clock. Mirage's Linux route (a direct
PulseAudio client) is compared with PortAudio through ALSA's pulse plugin in the same run.
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

from mirage_desktop.config.settings import VoiceSettings  # noqa: E402
from mirage_desktop.voice.converters.base import VoiceConverter  # noqa: E402
from mirage_desktop.voice.converters.passthrough import PassthroughConverter  # noqa: E402
from mirage_desktop.voice.converters.pitch import PitchShiftConverter  # noqa: E402
from mirage_desktop.voice.engine import EngineConfig, VoiceEngine  # noqa: E402
from mirage_desktop.voice.pipeline import BlockPipeline, PipelineConfig  # noqa: E402
from mirage_desktop.voice.pulse_server import PrivatePulse  # noqa: E402
from mirage_desktop.voice.resample import resample  # noqa: E402
from mirage_desktop.voice.routing import build_engine, pulse_spec  # noqa: E402
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


def frontend_costs(speech: np.ndarray, blocks_ms: list[float]) -> list[dict]:
    """The input front end (voice/frontend.py) alone: RNNoise and the Silero VAD gate, per block, on
    jfk.flac + white noise at -35 dBFS; plus what RNNoise does to the noise between phrases."""
    from mirage_desktop.voice.denoise import Denoiser
    from mirage_desktop.voice.vad import VadGate

    rng = np.random.default_rng(0)
    noisy = (speech + 10 ** (-35 / 20) * rng.standard_normal(len(speech))).astype(np.float32)
    rows = []
    stages = {
        "rnnoise": lambda: [Denoiser(RATE)],
        "silero-vad gate": lambda: [VadGate(RATE)],
        "rnnoise + vad": lambda: [Denoiser(RATE), VadGate(RATE)],
    }
    for name, make in stages.items():
        for block_ms in blocks_ms:
            chain = make()
            block = int(RATE * block_ms / 1000)
            runtimes, cpu_times, outs = [], [], []
            cpu0 = time.process_time()
            for start in range(0, len(noisy) - block + 1, block):
                x = noisy[start : start + block]
                t, c = time.perf_counter(), time.thread_time()
                for stage in chain:
                    x = stage.process(x)
                runtimes.append(time.perf_counter() - t)
                cpu_times.append(time.thread_time() - c)
                outs.append(x)
            audio_s = len(runtimes) * block / RATE
            ms = np.array(runtimes) * 1000
            # wall time counts the other programs sharing the cores; the thread's CPU time does not
            cpu_ms = np.array(cpu_times) * 1000
            row = {
                "stage": name,
                "block_ms": block_ms,
                "ms_per_block_median": round(float(np.median(ms)), 3),
                "ms_per_block_p95": round(float(np.percentile(ms, 95)), 3),
                "cpu_ms_per_block_mean": round(float(np.mean(cpu_ms)), 3),
                "cpu_ms_per_10ms": round(float(np.mean(cpu_ms)) * 10 / block_ms, 3),
                "x_real_time": round(float(np.median(ms)) / block_ms, 4),
                "cpu_percent_of_one_core": round(100 * (time.process_time() - cpu0) / audio_s, 2),
                "added_latency_ms": round(sum(s.latency_samples for s in chain) / RATE * 1000, 1),
            }
            if name == "rnnoise":
                y = np.concatenate(outs)[chain[0].latency_samples :]
                n = len(y) // 480 * 480
                frames = speech[:n].reshape(-1, 480)
                pauses = np.repeat(10 * np.log10(np.mean(frames**2, axis=1) + 1e-12) < -37, 480)

                def level(v: np.ndarray) -> float:
                    return 10 * np.log10(np.mean(v.astype(np.float64) ** 2) + 1e-12)

                row["noise_floor_in_db"] = round(level(noisy[:n][pauses]), 1)
                row["noise_floor_out_db"] = round(level(y[:n][pauses]), 1)
            rows.append(row)
    return rows


def run_probe(env: dict, output: str, seconds: float) -> dict:
    cmd = [sys.executable, "-m", "mirage_desktop.voice.probe", "--sink", FAKE_MIC, "--seconds", str(seconds)]
    cmd += ["--output", output]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, timeout=seconds + 60)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": out.stderr[-500:]}


def wait_running(engine: VoiceEngine, timeout: float = 12.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if engine.stream.progress > 20:
            return True
        time.sleep(0.05)
    return False


def _rvc_timing():
    from mirage_desktop.voice.converters.rvc.bench import timing_converter

    return timing_converter()


CONVERTERS = {
    "passthrough": PassthroughConverter,
    "pitch": lambda: PitchShiftConverter(4),
    # the RVC route (100 ms blocks, its context and lookahead, a small stand-in voice run on every
    # window) with the input passed on, so the probe's clicks survive: --converters rvc-timing
    "rvc-timing": _rvc_timing,
}


def live_latency(server_env: dict, seconds: float, routes: list[str], converters: list[str]) -> list[dict]:
    """The probe plays clicks into the fake mic and records it and the virtual mic on one clock.

    Both routes are built by the app's own build_engine from default settings; only the backend
    differs: "pulse" (Mirage's Linux default) and "portaudio" (PortAudio through ALSA's pulse plugin,
    the reference: what Mirage used before and what a PortAudio-based voice changer gets here).
    """
    env = {**os.environ, **server_env}
    check = run_probe(env, f"{FAKE_MIC}.monitor", 4)
    rows = [
        {
            "path": "probe self-check (mic -> mic, must be ~0)",
            "median_ms": round(float(np.median(check["lags_ms"])), 1) if check.get("lags_ms") else "",
            "error": check.get("error", ""),
        }
    ]
    mic = PulseVirtualMic()
    mic.open()
    try:
        for backend in routes:
            for name in converters:
                conv = CONVERTERS[name]()
                voice = VoiceSettings(
                    input_device=f"{FAKE_MIC}.monitor", gate_db=-60.0, audio_backend=backend
                )
                if name.startswith("rvc"):
                    voice.block_ms = 100.0  # what the RVC converter runs at (rvc.DEFAULT_BLOCK_MS)
                engine = build_engine(voice, conv, mic, mic, platform="linux")
                engine.start()
                try:
                    ok = wait_running(engine)
                    time.sleep(2.0)  # past the servers' start-up transients
                    cpu0, wall0 = time.process_time(), time.perf_counter()
                    result = run_probe(env, mic.source_name, seconds) if ok else {"error": "never started"}
                    cpu = 100 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)
                    m = engine.metrics()
                finally:
                    engine.stop()
                lags = np.array(result.get("lags_ms", []))
                row = {
                    "path": f"mic -> {conv.name} -> Mirage Microphone",
                    "backend": backend + (" (reference)" if backend == "portaudio" else ""),
                    "algorithmic_ms": m.algorithmic_latency_ms,
                    "live_ms": m.live_latency_ms,
                }
                if len(lags) >= 3:
                    minutes = np.arange(len(lags)) * 0.5 / 60  # a click every 0.5 s
                    slope = float(np.polyfit(minutes, lags, 1)[0]) if len(lags) > 3 else 0.0
                    row.update(
                        median_ms=round(float(np.median(lags)), 1),
                        p95_ms=round(float(np.percentile(lags, 95)), 1),
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
                    error=result.get("error", ""),
                )
                rows.append(row)
    finally:
        mic.close()
    return rows


def route_ratios(rows: list[dict]) -> list[dict]:
    """Reference route / Mirage's route, per converter, from the same run."""
    out = []
    by = {(r.get("path"), r.get("backend", "").split()[0] if r.get("backend") else ""): r for r in rows}
    for (path, backend), row in by.items():
        if backend != "pulse":
            continue
        ref = by.get((path, "portaudio"))
        if not ref or "median_ms" not in row or "median_ms" not in ref:
            continue
        out.append(
            {
                "path": path,
                "latency_portaudio_over_pulse": round(ref["median_ms"] / max(row["median_ms"], 1e-6), 2),
                "cpu_portaudio_over_pulse": round(ref["cpu_percent"] / max(row["cpu_percent"], 0.1), 1),
            }
        )
    return out


def overload(seconds: float) -> list[dict]:
    """A converter at 1.5x real time: Mirage's policy vs the queue-and-wait reference."""
    mic = PulseVirtualMic()
    mic.open()
    rows = []
    try:
        spec = pulse_spec(f"{FAKE_MIC}.monitor", mic.sink_name, RATE)
        for policy, adapt in (("wait", False), ("dry", False), ("dry", True)):
            cfg = EngineConfig(policy=policy, adapt=adapt, ring_seconds=30.0)
            engine = VoiceEngine(SlowConverter(0.02), spec, cfg)
            engine.start()
            try:
                wait_running(engine)
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
    parser.add_argument(
        "--minutes", type=float, default=0.0, help="loopback run per row, e.g. 10 (default 20 s)"
    )
    parser.add_argument(
        "--routes", default="pulse,portaudio", help="comma list of audio routes (default: both)"
    )
    parser.add_argument("--converters", default="passthrough,pitch", help="comma list for the loopback rows")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--use-running", action="store_true", help="use the running PulseAudio")
    parser.add_argument("--skip-live", action="store_true", help="offline ratios only")
    parser.add_argument(
        "--frontend", action="store_true", help="only the input front end: RNNoise and VAD cost (~30 s)"
    )
    parser.add_argument(
        "--rvc",
        action="store_true",
        help="only RVC: ms per stage (content, pitch, index, synth) and runtime/real per block, on stand-ins "
        "of the real size with real FCPE (several minutes on 2 CPU cores)",
    )
    parser.add_argument("--rvc-device", default="auto", help="torch device for --rvc (auto, cpu, cuda)")
    parser.add_argument(
        "--pitch-accuracy",
        action="store_true",
        help="only the pitch changer's accuracy: generated voices + jfk.flac x shifts, Praat + YIN (~3 min)",
    )
    args = parser.parse_args()
    if args.pitch_accuracy:
        from mirage_desktop.voice import pitch_eval

        rows = pitch_eval.accuracy_rows(pitch_eval.test_voices(RATE, TESTDATA.parents[1]), RATE)
        title = (
            "Pitch changer accuracy (live pipeline, 20 ms blocks): requested vs measured interval in cents "
            "(median over frames voiced in both), voiced-frame change, latency added over pass-through"
        )
        print(json.dumps({"pitch_accuracy": rows}) if args.json else table(rows, title))
        return 0
    speech = load_speech()
    if args.rvc:
        from mirage_desktop.voice.converters.rvc.bench import rvc_costs

        rows = rvc_costs(speech, RATE, [100, 250], device=args.rvc_device, analysis_context_s=[0.3])
        rows += rvc_costs(speech, RATE, [100], device=args.rvc_device, analysis_context_s=[2.5])
        title = (
            "RVC v2 40 kHz (stand-in weights of the real size, real FCPE, 10k-vector index): median ms "
            "per block; analysis context 2500 ms = what RVC's realtime GUI re-analyses every block"
        )
        print(json.dumps({"rvc": rows}) if args.json else table(rows, title))
        return 0
    if args.frontend:
        rows = frontend_costs(speech, [10, 20, 40])
        title = "Input front end: ms per block and x real time (jfk.flac + white noise -35 dBFS; one core)"
        print(json.dumps({"frontend": rows}) if args.json else table(rows, title))
        return 0
    results: dict = {"offline": offline_ratios(speech, [10, 20, 40, 80])}
    if not args.skip_live:
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
            results["loopback"] = live_latency(
                server_env, seconds, args.routes.split(","), args.converters.split(",")
            )
            results["route_ratios"] = route_ratios(results["loopback"])
            results["overload"] = overload(5.0)
        finally:
            if server is not None:
                server.stop()
    if args.json:
        print(json.dumps(results))
    else:
        print(table(results["offline"], "Per-block runtime/real ratio (jfk.flac, 8 s; one core)"))
        if "loopback" in results:
            print(table(results["loopback"], "Measured loopback latency, mic -> Mirage Microphone (ms)"))
            print(table(results["route_ratios"], "Reference route / Mirage's route (same run)"))
            print(table(results["overload"], "Overload: converter at 1.5x real time, 5 s"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
