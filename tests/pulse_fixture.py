"""A private PulseAudio daemon for the voice tests, with a fake microphone to play speech into.

Import the fixtures into a test module with ``from tests.pulse_fixture import pulse_server, ...``.
If PulseAudio cannot start the tests FAIL (CI installs it), they never skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.pulse_server import PrivatePulse

FAKE_MIC_SINK = "mirage_test_mic"
FAKE_MIC_SOURCE = f"{FAKE_MIC_SINK}.monitor"
RATE = 48000


@pytest.fixture(scope="session")
def pulse_server() -> Iterator[PrivatePulse]:
    server = PrivatePulse(
        modules=[
            f"load-module module-null-sink sink_name={FAKE_MIC_SINK} rate={RATE} channels=1 "
            "sink_properties=device.description=Mirage_Test_Microphone"
        ]
    )
    try:
        server.start()
    except VoiceError as exc:
        pytest.fail(f"PulseAudio could not start for the live voice tests: {exc}")
    saved = {key: os.environ.get(key) for key in server.env}
    os.environ.update(server.env)
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def write_wav(path: Path, audio: np.ndarray, rate: int = RATE) -> Path:
    sf.write(path, np.clip(audio, -1, 1), rate, subtype="PCM_16")
    return path


def play(server: PrivatePulse, wav: Path, sink: str = FAKE_MIC_SINK) -> subprocess.Popen:
    """Play into the fake microphone from a separate process, as a real mic would deliver audio."""
    return subprocess.Popen(["paplay", "-d", sink, str(wav)], env={**os.environ, **server.env})


class Recorder:
    """parecord in its own process (never a second PortAudio stream in the test process)."""

    def __init__(self, server: PrivatePulse, source: str, path: Path) -> None:
        self.path = path
        cmd = ["parecord", "-d", source, f"--rate={RATE}", "--channels=1", "--format=s16le"]
        cmd += ["--file-format=wav", "--latency-msec=20", str(path)]
        self._proc = subprocess.Popen(cmd, env={**os.environ, **server.env})

    def stop(self) -> np.ndarray:
        self._proc.terminate()
        self._proc.wait(timeout=5)
        audio, _ = sf.read(self.path, dtype="float32")
        return audio


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]
