"""Lip sync end to end: a flash in the video source and a click in the microphone at one instant, timed
where they leave Mirage (the virtual camera's backend, the Mirage Microphone recorded by another
process as a call app would). The real video Pipeline and voice session run together; the delay is set
as the window sets it (scripts/bench_av_sync.py, whose measure_av_offset this runs; ~30 s)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.pulse_fixture import FAKE_MIC_SINK, pulse_server

__all__ = ["pulse_server"]

SLOW_MS = 200.0
BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench_av_sync.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_av_sync", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The figures are real scheduling on a 2-core machine shared with other jobs: one rerun; a real
# regression (no delay applied, a wrong latency figure) repeats.
@pytest.mark.flaky(reruns=1)
def test_voice_delay_puts_lips_in_sync_on_a_slow_processor(pulse_server):
    bench = _bench()
    result = bench.measure_av_offset(
        configs=[("slowed", False), ("slowed", True)],
        slow_ms=SLOW_MS,
        events=6,
        mic_sink=FAKE_MIC_SINK,
        settle_s=3.0,
    )
    without, with_delay = result["configs"]
    for config in (without, with_delay):
        # flash and click found at both ends, the click within MAX_SKEW_MS of the flash at the entries
        # (a click the player sent late on a loaded machine is left out as mistimed)
        assert config["measured"] >= 4, config
        assert config["skew_ms"]["max_abs"] <= bench.MAX_SKEW_MS, config["skew_ms"]
    # without the delay the picture is late by about the processor's time, less the voice's latency
    lag = without["offset_ms"]["median"]
    assert SLOW_MS - 120 <= lag <= SLOW_MS + 60, without
    assert without["delay_ms"] == 0.0
    # with it (planned from the live figures, as the window does) lips and voice meet: goal 40 ms
    assert with_delay["delay_ms"] >= 100, with_delay
    assert abs(with_delay["offset_ms"]["median"]) <= bench.GOAL_MS, with_delay
    assert result["av_offset_ms"] == abs(with_delay["offset_ms"]["median"])


def test_window_tells_the_picture_the_voice_delay(qtbot):
    """The voice controller passes the delay it set to the video side at every poll, 0 on stop."""
    from types import SimpleNamespace

    from mirage_desktop.config.settings import VoiceSettings
    from mirage_desktop.gui.voice_controller import VoiceController
    from mirage_desktop.gui.voice_session import VoiceLevels
    from mirage_desktop.voice.metrics import VoiceMetrics

    set_on_engine: list[float] = []
    engine = SimpleNamespace(set_sync_delay_ms=lambda ms: set_on_engine.append(ms) or ms)
    session = SimpleNamespace(
        engine=engine,
        metrics=lambda: VoiceMetrics(live_latency_ms=60.0),
        levels=lambda m: VoiceLevels(-120.0, -120.0),
        close=lambda: None,
    )
    controller = VoiceController(VoiceSettings(enabled=True), opener=lambda v: session)
    told: list[float] = []
    controller.delay_listener = told.append
    controller._session = session
    controller.set_video_latency_ms(260.0)
    controller._poll()
    assert set_on_engine == [200.0] and told == [200.0]
    controller._poll()  # unchanged: the engine is left alone, the picture is told again
    assert set_on_engine == [200.0] and told == [200.0, 200.0]
    controller.stop()
    assert told[-1] == 0.0
    controller.shutdown()
