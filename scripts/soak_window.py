#!/usr/bin/env python3
"""Live soak of the real window: MainWindow on the real engine for as long as a call lasts.

The real window (offscreen Qt, or a real X display when DISPLAY is set) runs the real engine on
a testdata video with the face swap on (stand-in models with the real models' I/O, wearing
obama.jpg), publishes to a frame-counting pyvirtualcam backend, and runs the voice changer
(+4 semitones) live through a private PulseAudio daemon with speech played into a fake
microphone. Every few seconds it switches tab (Stats included), samples RSS, fps, latency and
the GUI event loop's delay, and at the end prints a table and checks:

    alive, RSS growth after warm-up < 5 %, fps and latency flat (last third vs first third after
    warm-up), GUI event-loop delay p95 < 50 ms, voice live throughout.

    .venv/bin/python scripts/soak_window.py --minutes 30          # the on-demand half hour
    .venv/bin/python scripts/soak_window.py --seconds 180 --json out.json   # what CI runs

Exit code 0 when every check passed. tests/test_window_soak.py runs this script for 3 minutes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TESTDATA = REPO.parent / "shared" / "testdata"

#: the event-loop probe's period; its lateness is the GUI's delay in answering the user
PROBE_MS = 10
TAB_EVERY_S = 2.0
SAMPLE_EVERY_S = 5.0

RSS_GROWTH_LIMIT = 0.05
LOOP_P95_LIMIT_MS = 50.0
#: fps/latency of the last third may differ from the first third by this much and still be "flat"
FPS_DROP_LIMIT = 0.25
LATENCY_RISE_LIMIT = 0.50
LATENCY_RISE_FLOOR_MS = 20.0
#: other processes taking this many more cores make fps an unfair measure of Mirage
OUTSIDE_LOAD_CORES = 0.3
COST_RISE_LIMIT = 0.25


@dataclass
class Sample:
    t: float
    rss_mb: float
    fps: float
    latency_ms: float
    frames_out: int
    swapped: int
    vcam_frames: int
    loop_p95_ms: float
    loop_max_ms: float
    voice_state: str
    voice_latency_ms: float
    voice_blocks: int
    tab: str
    #: Mirage's own CPU per output frame, and how many cores other processes kept busy meanwhile
    cpu_ms_per_frame: float = 0.0
    other_cores: float = 0.0


@dataclass
class SoakReport:
    seconds: float
    warmup_s: float
    samples: list[Sample] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: every event-loop delay probed after the warm-up (not written to JSON)
    steady_delays: list[float] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return not self.failures


class CpuMeter:
    """Own CPU time vs the whole machine's (from /proc/stat), between two calls.

    On a shared machine fps falls when something else takes the cores; the cost per frame is what
    tells a slowing app from a busier machine.
    """

    def __init__(self) -> None:
        self._own, self._busy, self._t = self._read()

    @staticmethod
    def _read() -> tuple[float, float, float]:
        times = os.times()
        with open("/proc/stat") as fh:
            fields = [float(v) for v in fh.readline().split()[1:]]
        ticks = os.sysconf("SC_CLK_TCK")
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
        busy = (sum(fields[:8]) - idle) / ticks
        return times.user + times.system, busy, time.monotonic()

    def step(self) -> tuple[float, float]:
        """(own CPU seconds, other processes' busy cores) since the last call."""
        own, busy, t = self._read()
        d_own, d_busy, dt = own - self._own, busy - self._busy, max(1e-6, t - self._t)
        self._own, self._busy, self._t = own, busy, t
        return d_own, max(0.0, (d_busy - d_own) / dt)


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


class CountingBackend:
    """A pyvirtualcam backend that counts frames (the v4l2 device cannot exist here); it keeps
    nothing, so it adds no memory growth of its own to the soak."""

    frames = 0

    def __init__(self, *, width, height, fps, fourcc, device, **_kw) -> None:
        self._fourcc = fourcc

    def send(self, frame) -> None:
        CountingBackend.frames += 1

    def close(self) -> None:
        pass

    def device(self) -> str:
        return "/dev/video-soak"

    def native_fourcc(self):
        return self._fourcc


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100.0 * (len(ordered) - 1)))]


def _prepare_environment(root: Path) -> None:
    for var, sub in (
        ("MIRAGE_CONFIG_DIR", "config"),
        ("MIRAGE_DATA_DIR", "data"),
        ("MIRAGE_MODELS_DIR", "models"),
        ("MIRAGE_LOG_DIR", "logs"),
        ("MIRAGE_CACHE_DIR", "cache"),
    ):
        os.environ[var] = str(root / sub)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _install_stand_in_models(root: Path) -> None:
    from mirage_desktop.models import ModelStore
    from mirage_desktop.testmodels import arcface, inswapper
    from mirage_desktop.testmodels.scrfd import build_scrfd, obama_template

    built = root / "built"
    built.mkdir()
    store = ModelStore()
    store.add(build_scrfd(built / "det_10g.onnx", obama_template(TESTDATA)), "det_10g", allow_unverified=True)
    store.add(arcface.build_arcface(built / "w600k_r50.onnx"), "w600k_r50", allow_unverified=True)
    store.add(inswapper.build_visible(built / "inswapper_128.onnx"), "inswapper_128", allow_unverified=True)


class SpeechLoop:
    """Plays speech into the fake microphone over and over, from its own process (as a mic would)."""

    def __init__(self, env: dict[str, str], sink: str, wav: Path) -> None:
        self._env, self._sink, self._wav = env, sink, wav
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-speech", daemon=True)
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._proc = subprocess.Popen(
                ["paplay", "-d", self._sink, str(self._wav)],
                env={**os.environ, **self._env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self._proc.wait()
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._thread.join(5)


def _speech_wav(root: Path) -> Path:
    import numpy as np
    import soundfile as sf

    from mirage_desktop.voice.resample import resample

    audio, rate = sf.read(TESTDATA / "audio" / "jfk.flac", dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != 48000:
        mono = resample(mono, rate, 48000)
    path = root / "speech.wav"
    sf.write(path, np.clip(mono, -1, 1), 48000, subtype="PCM_16")
    return path


def run_soak(seconds: float, warmup_s: float, video: str, out=print) -> SoakReport:
    root = Path(tempfile.mkdtemp(prefix="mirage-soak-"))
    _prepare_environment(root)

    import pyvirtualcam
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from mirage_desktop.config.paths import AppPaths
    from mirage_desktop.config.settings import Settings
    from mirage_desktop.gui.app import build_window
    from mirage_desktop.gui.voice_controller import LIVE
    from mirage_desktop.voice.pulse_server import PrivatePulse

    report = SoakReport(seconds=seconds, warmup_s=warmup_s)
    fake_mic = "mirage_soak_mic"
    pulse = PrivatePulse(
        modules=[
            f"load-module module-null-sink sink_name={fake_mic} rate=48000 channels=1 "
            "sink_properties=device.description=Mirage_Soak_Microphone"
        ]
    )
    pulse.start()
    os.environ.update(pulse.env)
    speech = SpeechLoop(pulse.env, fake_mic, _speech_wav(root))
    app = QApplication.instance() or QApplication([])
    window = None
    try:
        _install_stand_in_models(root)
        pyvirtualcam.register_backend("soak_counter", CountingBackend)
        settings = Settings()
        settings.video.source = f"file:{TESTDATA / 'video' / video}"
        settings.video.width, settings.video.height = 640, 360
        settings.output.virtual_camera_backend = "soak_counter"
        settings.face.swap_enabled = True
        settings.gui.close_to_tray = False
        voice = settings.voice
        voice.enabled = True
        voice.converter = "pitch"
        voice.semitones = 4.0
        voice.input_device = f"{fake_mic}.monitor"
        voice.audio_backend = "pulse"

        window = build_window(settings, AppPaths.from_env())
        window.resize(1280, 720)
        window.show()
        loop_delays: list[float] = []
        clock = QElapsedTimer()
        clock.start()
        last = [clock.elapsed()]

        def probe() -> None:
            now = clock.elapsed()
            loop_delays.append(max(0.0, float(now - last[0] - PROBE_MS)))
            last[0] = now

        probe_timer = QTimer()
        probe_timer.setTimerType(Qt.TimerType.PreciseTimer)
        probe_timer.setInterval(PROBE_MS)
        probe_timer.timeout.connect(probe)

        def wait_until(condition, timeout_s: float, what: str) -> None:
            deadline = time.monotonic() + timeout_s
            while not condition():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
                app.processEvents()
                time.sleep(0.01)

        window.source_panel.load_photo(TESTDATA / "faces" / "obama.jpg")
        wait_until(lambda: not window.source_panel.busy, 60, "the source photo")
        if not window.controller.has_identity:
            raise RuntimeError(f"no identity from obama.jpg: {window.source_panel.status.text()}")
        window.toggle()
        speech.start()
        window.voice.apply()
        wait_until(lambda: window.voice.state == LIVE, 30, f"the voice to go live ({window.voice.message})")

        def swapped() -> int:
            snap = window.controller.metrics()
            return int(snap.processors.get("total_faces_swapped", 0)) if snap else 0

        wait_until(lambda: swapped() > 3, 60, "the first swapped faces")
        voice_metrics: dict[str, float] = {}
        window.voice.stats_ready.connect(
            lambda m: voice_metrics.update(latency=m.live_latency_ms, blocks=m.blocks)
        )
        out(
            f"{'t s':>6} {'RSS MB':>7} {'fps':>5} {'lat ms':>7} {'frames':>7} {'swapped':>7} "
            f"{'vcam':>7} {'loop p95':>8} {'loop max':>8} {'voice':>6} {'v lat':>6} {'cpu/fr':>6} "
            f"{'others':>6} tab"
        )
        started = time.monotonic()
        cpu = CpuMeter()
        last_frames = [0]

        def switch_tab() -> None:
            window.tabs.setCurrentIndex((window.tabs.currentIndex() + 1) % window.tabs.count())

        def take_sample() -> None:
            snap = window.controller.metrics()
            own_cpu, other_cores = cpu.step()
            frames_now = snap.frames_output if snap else 0
            new_frames, last_frames[0] = max(1, frames_now - last_frames[0]), frames_now
            delays, loop_delays[:] = list(loop_delays), []
            if time.monotonic() - started >= warmup_s:
                report.steady_delays.extend(delays)
            sample = Sample(
                t=round(time.monotonic() - started, 1),
                rss_mb=round(rss_mb(), 1),
                fps=round(snap.fps_out, 2) if snap else 0.0,
                latency_ms=round(snap.latency_ms_p50 or 0.0, 1) if snap else 0.0,
                frames_out=snap.frames_output if snap else 0,
                swapped=swapped(),
                vcam_frames=CountingBackend.frames,
                loop_p95_ms=round(_percentile(delays, 95), 1),
                loop_max_ms=round(max(delays, default=0.0), 1),
                voice_state=window.voice.state,
                voice_latency_ms=round(float(voice_metrics.get("latency", 0.0)), 1),
                voice_blocks=int(voice_metrics.get("blocks", 0)),
                tab=window.tabs.tabText(window.tabs.currentIndex()),
                cpu_ms_per_frame=round(1000.0 * own_cpu / new_frames, 1),
                other_cores=round(other_cores, 2),
            )
            report.samples.append(sample)
            out(
                f"{sample.t:6.0f} {sample.rss_mb:7.1f} {sample.fps:5.1f} {sample.latency_ms:7.1f} "
                f"{sample.frames_out:7d} {sample.swapped:7d} {sample.vcam_frames:7d} "
                f"{sample.loop_p95_ms:8.1f} {sample.loop_max_ms:8.1f} {sample.voice_state:>6} "
                f"{sample.voice_latency_ms:6.0f} {sample.cpu_ms_per_frame:6.1f} {sample.other_cores:6.2f} "
                f"{sample.tab}"
            )
            if time.monotonic() - started >= seconds:
                app.quit()

        # The app's own event loop runs the soak, as it runs a user's call: timers switch tabs
        # and sample, so the probe measures the loop the window really lives in.
        tab_timer = QTimer()
        tab_timer.setInterval(int(TAB_EVERY_S * 1000))
        tab_timer.timeout.connect(switch_tab)
        sample_timer = QTimer()
        sample_timer.setInterval(int(SAMPLE_EVERY_S * 1000))
        sample_timer.timeout.connect(take_sample)
        for timer in (probe_timer, tab_timer, sample_timer):
            timer.start()
        last[0] = clock.elapsed()
        app.exec()
        for timer in (probe_timer, tab_timer, sample_timer):
            timer.stop()
        _judge(report)
    except Exception as exc:  # the soak reports what stopped it instead of a bare traceback
        report.failures.append(f"soak stopped: {type(exc).__name__}: {exc}")
    finally:
        speech.stop()
        if window is not None:
            window.quitting = True
            window.close()
            app.processEvents()
        pulse.stop()
    return report


def _judge(report: SoakReport) -> None:
    steady = [s for s in report.samples if s.t >= report.warmup_s]
    if len(steady) < 6:
        report.failures.append(f"only {len(steady)} samples after warm-up: run longer than the warm-up")
        return
    third = max(2, len(steady) // 3)
    first, last = steady[:third], steady[-third:]
    rss0 = statistics.median(s.rss_mb for s in first)
    rss1 = statistics.median(s.rss_mb for s in last)
    growth = (rss1 - rss0) / rss0
    fps0 = statistics.median(s.fps for s in first)
    fps1 = statistics.median(s.fps for s in last)
    cost0 = statistics.median(s.cpu_ms_per_frame for s in first)
    cost1 = statistics.median(s.cpu_ms_per_frame for s in last)
    others0 = statistics.median(s.other_cores for s in first)
    others1 = statistics.median(s.other_cores for s in last)
    fps_flat = fps0 > 0 and fps1 >= fps0 * (1 - FPS_DROP_LIMIT)
    # fps that fell only because other processes took the cores is the machine, not Mirage: then
    # Mirage's own CPU per frame must be flat instead
    busier = others1 - others0 >= OUTSIDE_LOAD_CORES
    if not fps_flat and busier and cost1 <= cost0 * (1 + COST_RISE_LIMIT):
        fps_flat = True
        report.notes.append(
            f"fps fell {fps0:.1f} → {fps1:.1f} while other processes took {others0:.2f} → {others1:.2f} "
            f"cores; Mirage's CPU per frame stayed {cost0:.1f} → {cost1:.1f} ms"
        )
    lat0 = statistics.median(s.latency_ms for s in first)
    lat1 = statistics.median(s.latency_ms for s in last)
    loop_p95 = _percentile(report.steady_delays, 95)
    loop_p99 = _percentile(report.steady_delays, 99)
    latency_flat = lat1 <= max(lat0 * (1 + LATENCY_RISE_LIMIT), lat0 + LATENCY_RISE_FLOOR_MS)
    if not latency_flat and busier and cost1 <= cost0 * (1 + COST_RISE_LIMIT):
        latency_flat = True
        report.notes.append(f"latency rose {lat0:.0f} → {lat1:.0f} ms with the outside load above")
    report.figures = {
        "rss_start_mb": rss0,
        "rss_end_mb": rss1,
        "rss_growth_pct": 100 * growth,
        "cpu_ms_per_frame_start": cost0,
        "cpu_ms_per_frame_end": cost1,
        "other_cores_start": others0,
        "other_cores_end": others1,
        "fps_start": fps0,
        "fps_end": fps1,
        "latency_start_ms": lat0,
        "latency_end_ms": lat1,
        "loop_delay_p95_ms": loop_p95,
        "loop_delay_p99_ms": loop_p99,
        "loop_p95_ms_worst_window": max(s.loop_p95_ms for s in steady),
        "loop_max_ms": max(s.loop_max_ms for s in steady),
        "frames_out": report.samples[-1].frames_out,
        "faces_swapped": report.samples[-1].swapped,
        "vcam_frames": report.samples[-1].vcam_frames,
        "voice_blocks": report.samples[-1].voice_blocks,
        "voice_latency_ms_end": report.samples[-1].voice_latency_ms,
    }
    progress = [b.frames_out - a.frames_out for a, b in itertools.pairwise(steady)]
    report.checks = {
        "alive (frames kept flowing in every sample)": all(p > 0 for p in progress),
        f"RSS growth after warm-up < {RSS_GROWTH_LIMIT:.0%}": growth < RSS_GROWTH_LIMIT,
        "fps flat": fps_flat,
        "latency flat": latency_flat,
        f"GUI event-loop delay p95 < {LOOP_P95_LIMIT_MS:.0f} ms": loop_p95 < LOOP_P95_LIMIT_MS,
        "face swap kept swapping": steady[-1].swapped > steady[0].swapped,
        "voice live throughout": all(s.voice_state == "live" for s in steady)
        and steady[-1].voice_blocks > steady[0].voice_blocks,
    }
    report.failures += [name for name, ok in report.checks.items() if not ok]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float)
    length.add_argument("--minutes", type=float)
    parser.add_argument("--warmup", type=float, default=None, help="seconds ignored for the checks")
    parser.add_argument("--video", default="talking_head_d0.mp4")
    parser.add_argument("--json", type=Path, help="write samples, figures and checks here")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds else (args.minutes or 30.0) * 60.0
    warmup = args.warmup if args.warmup is not None else min(60.0, seconds / 4)
    report = run_soak(seconds, warmup, args.video)
    print()
    for key, value in report.figures.items():
        print(f"{key:>28}: {value:.1f}")
    for note in report.notes:
        print(f"note: {note}")
    for name, ok in report.checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    for failure in report.failures:
        if failure not in report.checks:
            print(f"FAIL  {failure}")
    print(f"soak {'passed' if report.ok else 'FAILED'} ({seconds:.0f} s, warm-up {warmup:.0f} s)")
    if args.json:
        data = asdict(report) | {"ok": report.ok}
        data.pop("steady_delays")
        args.json.write_text(json.dumps(data, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
