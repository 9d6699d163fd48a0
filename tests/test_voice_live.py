"""The real audio path: fake mic (paplay) -> PortAudio duplex stream -> engine -> Mirage's virtual
microphone (created by our own code) -> parecord. Tones and real speech, compared at the other end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import sounddevice as sd
import soundfile as sf
from scipy import signal

from mirage_desktop.voice.audio_io import StreamSpec, reinitialize_portaudio, resolve_device
from mirage_desktop.voice.converters.base import VoiceConverter
from mirage_desktop.voice.converters.passthrough import PassthroughConverter
from mirage_desktop.voice.converters.pitch import PitchShiftConverter
from mirage_desktop.voice.engine import EngineConfig, VoiceEngine
from mirage_desktop.voice.pipeline import PipelineConfig
from mirage_desktop.voice.resample import resample
from mirage_desktop.voice.routing import pulse_spec
from mirage_desktop.voice.virtual_mic.pulse import PulseVirtualMic
from tests.pulse_fixture import (
    FAKE_MIC_SINK,
    FAKE_MIC_SOURCE,
    RATE,
    Recorder,
    play,
    pulse_server,
    wait_for,
    write_wav,
)

__all__ = ["pulse_server"]

# Linux's default route is the direct PulseAudio client ("pulse"); PortAudio (through ALSA's pulse
# plugin here) is the route on Windows/macOS and the Linux fallback, so the basic checks run on both.
# That route has stalled at start-up on these machines (FIELD-NOTES), hence one rerun for it only.
BACKENDS = [
    "pulse",
    pytest.param("portaudio", marks=pytest.mark.flaky(reruns=1, reruns_delay=1)),
]


@pytest.fixture
def vmic(pulse_server):
    mic = PulseVirtualMic()
    mic.open()
    reinitialize_portaudio(sd, {"PULSE_SOURCE": FAKE_MIC_SOURCE, **mic.output_env()})
    yield mic
    mic.close()


def _engine(converter: VoiceConverter, backend: str = "pulse", **config) -> VoiceEngine:
    pipe = config.pop("pipeline", PipelineConfig(gate_db=None))
    if backend == "pulse":
        spec = pulse_spec(FAKE_MIC_SOURCE, "mirage_sink", RATE)
    else:
        spec = StreamSpec(resolve_device(sd, "pulse", "input"), resolve_device(sd, "pulse", "output"), RATE)
    return VoiceEngine(converter, spec, EngineConfig(pipeline=pipe, **config), sd)


def _run(engine: VoiceEngine, pulse_server, stimulus: np.ndarray, tmp_path) -> np.ndarray:
    """Start the engine, wait for audio to flow, play the stimulus, record the virtual mic."""
    wav = write_wav(tmp_path / "stimulus.wav", stimulus)
    engine.start()
    try:
        assert wait_for(lambda: engine.stream.progress > 20, 12.0), "no audio flowing within 12 s"
        rec = Recorder(pulse_server, "mirage_mic", tmp_path / "rec.wav")
        time.sleep(0.3)
        player = play(pulse_server, wav)
        player.wait(timeout=len(stimulus) / RATE + 10)
        time.sleep(1.5)  # room for a late tail: the test reports content and latency separately
        return rec.stop()
    finally:
        engine.stop()


def _probe(pulse_server, seconds: float) -> dict:
    """The loopback probe in its own process, as a call app would be: lags on the server's clock."""
    cmd = [sys.executable, "-m", "mirage_desktop.voice.probe", "--sink", FAKE_MIC_SINK]
    cmd += ["--output", "mirage_mic", "--seconds", str(seconds)]
    out = subprocess.run(
        cmd, env={**os.environ, **pulse_server.env}, capture_output=True, text=True, timeout=seconds + 60
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _dominant_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * RATE / len(x))


def _harmonic_tone(f0: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.25 * sum(np.sin(2 * np.pi * f0 * k * t) / k**1.5 for k in range(1, 8))).astype(np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tone_reaches_virtual_microphone_unchanged(vmic, pulse_server, tmp_path, backend):
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(3 * RATE) / RATE).astype(np.float32)
    rec = _run(_engine(PassthroughConverter(), backend), pulse_server, tone, tmp_path)
    loud = np.flatnonzero(np.abs(rec) > 0.05)
    assert len(loud) > RATE, f"only {len(loud)} loud samples reached the virtual microphone"
    segment = rec[loud[0] + RATE // 4 : loud[0] + RATE // 4 + RATE]  # contiguous: keeps the timing
    assert abs(_dominant_hz(segment) - 440) < 3


def test_pitch_converter_live_shifts_tone_by_four_semitones(vmic, pulse_server, tmp_path):
    engine = _engine(PitchShiftConverter(semitones=4))
    rec = _run(engine, pulse_server, _harmonic_tone(200, 3), tmp_path)
    loud = np.flatnonzero(np.abs(rec) > 0.05)
    assert len(loud) > RATE
    segment = rec[loud[0] + RATE // 4 : loud[0] + RATE // 4 + RATE]
    m = engine.metrics()
    assert abs(_dominant_hz(segment) - 200 * 2 ** (4 / 12)) < 4, m  # 252 Hz, not 200
    assert m.converted_blocks > 100 and m.ratio_mean < 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_speech_passes_with_bounded_latency(vmic, pulse_server, tmp_path, testdata, backend):
    audio, rate = sf.read(testdata / "audio" / "jfk.flac", dtype="float32")
    speech = resample(audio.mean(axis=1) if audio.ndim > 1 else audio, rate, RATE)[: 4 * RATE]
    engine = _engine(PassthroughConverter(), backend, pipeline=PipelineConfig(gate_db=-60.0))
    rec = _run(engine, pulse_server, speech, tmp_path)
    assert len(rec) >= len(speech), "recording shorter than the speech played"
    # Compare 250 ms pieces, each aligned on its own: a stream restart (counted in the metrics) may
    # cost a gap, but what does come through must be the speech itself, undistorted.
    piece = RATE // 4
    scores = []
    for start in range(0, len(speech) - piece, piece):
        ref = speech[start : start + piece]
        if np.sqrt(np.mean(ref**2)) < 0.02:
            continue
        corr = signal.correlate(rec, ref, mode="valid")
        lag = int(np.argmax(np.abs(corr)))
        got = rec[lag : lag + piece]
        scores.append(np.dot(got, ref) / np.sqrt(np.dot(got, got) * np.dot(ref, ref) + 1e-12))
    assert len(scores) >= 6
    assert np.median(scores) > 0.9, f"virtual mic does not carry the speech (correlations {scores})"
    m = engine.metrics()
    assert m.estimated_latency_ms < 250
    assert m.backlog_ms_max < m.block_ms + 60 + 20  # one block + allowed backlog + a callback
    assert m.algorithmic_latency_ms < 60


class SleepyConverter(VoiceConverter):
    """A converter slower than real time: sleeps 3x the block it is given."""

    name = "sleepy"

    def __init__(self, block_s: float) -> None:
        self.block_s = block_s

    def convert(self, window):
        time.sleep(3 * self.block_s)
        return window * 0.5


def test_slow_converter_keeps_latency_bounded_and_counts_drops(vmic, pulse_server, tmp_path):
    engine = _engine(SleepyConverter(0.02), adapt=False)
    tone = 0.3 * np.sin(2 * np.pi * 330 * np.arange(3 * RATE) / RATE).astype(np.float32)
    rec = _run(engine, pulse_server, tone, tmp_path)
    m = engine.metrics()
    assert m.dropped_blocks > m.converted_blocks  # most blocks fell back to the dry voice
    assert m.ratio_mean > 2.0
    assert m.queued_output_ms_max <= m.buffer_ms + 4 * m.block_ms
    assert m.backlog_ms_max < m.block_ms + 60 + 20
    assert np.sum(np.abs(rec) > 0.05) > RATE  # the user is still heard (dry fallback)


def test_slow_converter_makes_block_size_adapt(vmic, pulse_server, tmp_path):
    from mirage_desktop.voice.overload import AdaptPolicy

    class Hot(VoiceConverter):
        name = "hot"

        def convert(self, window):
            time.sleep(0.016)  # 80% of a 20 ms block, fine for a 40 ms one
            return window

    engine = _engine(Hot(), adapt=True, adapt_policy=AdaptPolicy(raise_after=10))
    tone = 0.3 * np.sin(2 * np.pi * 330 * np.arange(2 * RATE) / RATE).astype(np.float32)
    _run(engine, pulse_server, tone, tmp_path)
    m = engine.metrics()
    assert m.block_changes >= 1 and m.block_ms >= 40


# The drift measured here is the real machine's scheduling: with other processes on both cores a
# run can creep 40 ms (seen in a CI-like run beside three busy jobs). One rerun; a real creep repeats.
@pytest.mark.flaky(reruns=1)
@pytest.mark.parametrize("converter", [PassthroughConverter, lambda: PitchShiftConverter(4)])
def test_measured_loopback_latency_is_low_and_flat(vmic, pulse_server, converter):
    """Mic source -> engine -> virtual mic, measured by the probe on the server's clock: every click
    arrives, the median is far under the 250 ms goal, and the lag does not creep over the run."""
    engine = _engine(
        converter(), pipeline=PipelineConfig(block_ms=10, gate_db=-60.0), buffer_ms=10.0, adapt=False
    )
    engine.start()
    try:
        assert wait_for(lambda: engine.stream.progress > 20, 12.0)
        time.sleep(2.0)  # past the null sink's start-up block
        result = _probe(pulse_server, 10.0)
        m = engine.metrics()
    finally:
        engine.stop()
    lags = np.array(result["lags_ms"])
    assert len(lags) >= 0.9 * result["clicks"], result
    assert np.median(lags) < 150, (lags, m)
    first, last = np.median(lags[:5]), np.median(lags[-5:])
    assert abs(last - first) < 25, lags  # no drift: the old ALSA route grew ~160 ms in 20 s
    assert m.xruns == 0 and m.stream_restarts == 0, m
    # the engine's own live figure agrees with the outside measurement
    assert abs(m.live_latency_ms - np.median(lags)) < 60, (m.live_latency_ms, lags)


def test_running_engine_costs_little_cpu(vmic, pulse_server):
    """A pass-through engine must idle: the watchdog once spun on an already-set Event and burned
    a whole core, which starved the audio threads."""
    engine = _engine(PassthroughConverter())
    engine.start()
    try:
        assert wait_for(lambda: engine.stream.progress > 20, 12.0)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(3.0)
        share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    finally:
        engine.stop()
    assert share < 0.3, f"the voice engine used {share:.0%} of a core for pass-through"
