"""Three minutes of the real window live: face swap on, voice changer on, tabs switching.

A run of seconds hid a binding bug that killed the window after 25–100 s live. This runs
scripts/soak_window.py — the real MainWindow on the real engine, a testdata video, stand-in models
with the real models' I/O, the pitch changer through a private PulseAudio daemon — in its own
process, so an abort (none_dealloc) shows as a failed test with its output rather than killing the
test run, and checks the figures it measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SOAK_SECONDS = 180
WARMUP_SECONDS = 45


@pytest.mark.slow
def test_window_survives_three_minutes_live(tmp_path: Path, testdata: Path) -> None:
    report_path = tmp_path / "soak.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("DISPLAY", None)
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "soak_window.py"),
            "--seconds",
            str(SOAK_SECONDS),
            "--warmup",
            str(WARMUP_SECONDS),
            "--json",
            str(report_path),
        ],
        capture_output=True,
        text=True,
        timeout=SOAK_SECONDS + 240,
        env=env,
    )
    output = proc.stdout + proc.stderr
    assert "Fatal Python error" not in output, output[-4000:]
    assert proc.returncode == 0, f"soak failed (exit {proc.returncode}):\n{output[-4000:]}"
    report = json.loads(report_path.read_text())
    assert report["ok"] and all(report["checks"].values()), report["checks"]
    figures = report["figures"]
    # the script judged these; restate the limits so a loosened script cannot pass silently
    assert figures["rss_growth_pct"] < 5.0
    assert figures["loop_delay_p95_ms"] < 50.0
    assert figures["fps_start"] > 0 and figures["frames_out"] > 0
    if figures["fps_end"] < 0.75 * figures["fps_start"]:
        # allowed only when other processes took the cores and Mirage's own cost per frame held
        assert figures["other_cores_end"] - figures["other_cores_start"] >= 0.3, report["notes"]
        assert figures["cpu_ms_per_frame_end"] <= 1.25 * figures["cpu_ms_per_frame_start"], report["notes"]
    steady = [s for s in report["samples"] if s["t"] >= WARMUP_SECONDS]
    assert len(steady) >= (SOAK_SECONDS - WARMUP_SECONDS) // 5 - 2
    assert {s["tab"] for s in report["samples"]} >= {"Face", "Voice", "Devices", "Stats"}
    assert all(s["voice_state"] == "live" for s in steady)
    assert steady[-1]["swapped"] > steady[0]["swapped"]
