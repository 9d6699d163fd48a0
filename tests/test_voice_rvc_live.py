"""`mirage-cli voice --converter rvc --model VOICE.pth --semitones 0` live through a private PulseAudio:
fake mic -> RVC (stand-in weights of the released layout, stand-in ContentVec, real FCPE) -> Mirage
Microphone -> parecord in another process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("torch")

from mirage_desktop.testmodels.contentvec import build_contentvec
from mirage_desktop.voice.converters.rvc.checkpoint import save_random_voice, small_config
from mirage_desktop.voice.virtual_mic.pulse import SOURCE_NAME
from tests.pulse_fixture import FAKE_MIC_SOURCE, RATE, Recorder, play, pulse_server, wait_for, write_wav

__all__ = ["pulse_server"]


def test_rvc_voice_runs_live_into_mirage_microphone(pulse_server, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    build_contentvec(models / "vec-768-layer-12.onnx", 768)  # the manifest's file name
    voice = save_random_voice(tmp_path / "VOICE.pth", "v2", "40k", True, config=small_config("40k"))
    t = np.arange(int(6 * RATE)) / RATE
    sweep = 0.3 * np.sin(2 * np.pi * np.cumsum(120 + 60 * t / t[-1]) / RATE)
    wav = write_wav(tmp_path / "sweep.wav", sweep)
    metrics = tmp_path / "metrics.json"
    env = {
        **os.environ,
        **pulse_server.env,
        "MIRAGE_MODELS_DIR": str(models),
        "MIRAGE_CONFIG_DIR": str(tmp_path / "config"),
        "MIRAGE_DATA_DIR": str(tmp_path / "data"),
    }
    cmd = [sys.executable, "-m", "mirage_desktop.cli", "voice", "--converter", "rvc", "--model", str(voice)]
    cmd += ["--semitones", "0", "--input", FAKE_MIC_SOURCE, "--no-gate", "--seconds", "10"]
    cmd += ["--metrics-json", str(metrics)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        # the voice loads (torch, FCPE) before the stream opens
        assert wait_for(lambda: _sources(pulse_server.env).count(SOURCE_NAME) > 0, 60), "no Mirage Microphone"
        time.sleep(2.0)
        rec = Recorder(pulse_server, SOURCE_NAME, tmp_path / "out.wav")
        player = play(pulse_server, wav)
        player.wait(timeout=30)
        got = rec.stop()
        out, _ = proc.communicate(timeout=60)
        lines = out.splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "\n".join(lines[-20:])
    assert any("Voice live (rvc" in line for line in lines)
    m = json.loads(metrics.read_text())
    assert m["converter"] == "rvc" and m["block_ms"] >= 100  # RVC runs at least 100 ms blocks
    assert m["converted_blocks"] > 10, m
    # random weights make quiet noise-like audio, but audio: the converted voice reached the mic
    assert np.sqrt(np.mean(got[RATE:] ** 2)) > 1e-4


def _sources(env: dict) -> str:
    out = subprocess.run(
        ["pactl", "list", "short", "sources"], env={**os.environ, **env}, capture_output=True, text=True
    )
    return out.stdout
