"""The voice controls' audio backend choice, and the stats panel's measured voice latency."""

from __future__ import annotations

import pytest

from mirage_desktop.config.settings import VoiceSettings
from mirage_desktop.gui.stats_panel import StatsPanel
from mirage_desktop.gui.voice_controller import OFF, VoiceController
from mirage_desktop.gui.voice_controls import APPLY_DELAY_MS, VoiceControls
from mirage_desktop.voice.metrics import VoiceMetrics
from mirage_desktop.voice.routing import BACKENDS


def no_opener(voice: VoiceSettings):
    raise AssertionError("voice is off: nothing should be opened")


@pytest.fixture
def controls(qtbot):
    made = []

    def make(voice: VoiceSettings) -> VoiceControls:
        vc = VoiceController(voice, opener=no_opener)
        widget = VoiceControls(vc)
        qtbot.addWidget(widget)
        made.append(vc)
        return widget

    yield make
    for vc in made:
        vc.shutdown()


def backends(widget: VoiceControls) -> list[str]:
    return [widget.backend.itemData(i) for i in range(widget.backend.count())]


def test_backend_combo_offers_every_backend_with_a_reason(controls):
    widget = controls(VoiceSettings())
    assert backends(widget) == list(BACKENDS)
    assert widget.backend.currentData() == "auto"
    assert widget.backend.currentText() == "Automatic"
    tip = widget.backend.toolTip()
    assert "latency" in tip and "PortAudio" in tip and "Windows" in tip


@pytest.mark.parametrize("name", ["pulse", "portaudio", "auto"])
def test_backend_combo_starts_from_the_settings(controls, name):
    assert controls(VoiceSettings(audio_backend=name)).backend.currentData() == name


def test_backend_combo_writes_back_on_apply(controls):
    voice = VoiceSettings(audio_backend="pulse")
    widget = controls(voice)
    widget.backend.setCurrentIndex(widget.backend.findData("portaudio"))
    assert voice.audio_backend == "pulse"  # nothing written before apply
    widget.apply()
    assert voice.audio_backend == "portaudio"
    assert widget.vc.state == OFF  # voice stayed off: the choice is only stored
    widget.backend.setCurrentIndex(widget.backend.findData("auto"))
    widget.apply()
    assert voice.audio_backend == "auto"


def test_backend_change_is_applied_after_the_delay(qtbot, controls):
    voice = VoiceSettings()
    widget = controls(voice)
    widget.backend.setCurrentIndex(widget.backend.findData("pulse"))
    qtbot.waitUntil(lambda: voice.audio_backend == "pulse", timeout=APPLY_DELAY_MS * 10)


def test_unknown_backend_shows_and_becomes_automatic(controls):
    voice = VoiceSettings(audio_backend="jack")
    widget = controls(voice)
    assert widget.backend.currentData() == "auto"
    widget.apply()
    assert voice.audio_backend == "auto"


# -- stats panel ------------------------------------------------------------------------------------
def test_stats_show_measured_voice_latency(qtbot):
    panel = StatsPanel()
    qtbot.addWidget(panel)
    panel.show_voice(
        VoiceMetrics(
            live_latency_ms=62.0,
            live_latency_ms_max=70.0,
            latency_drift_ms=1.0,
            estimated_latency_ms=90.0,
            backend="pulse",
            block_ms=10,
        )
    )
    text = panel.voice_latency.text()
    assert "62 ms measured" in text and "drift +1 ms" in text
    assert "block 10 ms" in text and "pulse" in text
    assert "90" not in text and "estimated" not in text
    assert "70 ms" in panel.voice_latency.toolTip()


def test_stats_fall_back_to_the_estimate(qtbot):
    panel = StatsPanel()
    qtbot.addWidget(panel)
    panel.show_voice(
        VoiceMetrics(live_latency_ms=0.0, estimated_latency_ms=85.0, backend="portaudio", block_ms=10)
    )
    text = panel.voice_latency.text()
    assert "85 ms estimated" in text and "portaudio" in text
    assert "measured" not in text and "drift" not in text


def test_stats_small_negative_drift_reads_plus_zero(qtbot):
    panel = StatsPanel()
    qtbot.addWidget(panel)
    panel.show_voice(VoiceMetrics(live_latency_ms=40.0, latency_drift_ms=-0.3, block_ms=10))
    assert "drift +0 ms" in panel.voice_latency.text()
    assert "·" not in panel.voice_latency.text()  # no backend named: no separator


def test_stats_xruns_restarts_and_clear(qtbot):
    panel = StatsPanel()
    qtbot.addWidget(panel)
    panel.show_voice(VoiceMetrics(output_underflows=2, dropped_blocks=3, block_ms=10))
    assert panel.voice_xruns.text() == "2 / 3"
    panel.show_voice(VoiceMetrics(output_underflows=2, dropped_blocks=3, stream_restarts=1, stream_errors=4))
    assert panel.voice_xruns.text() == "2 / 3 · 1 restarts, 4 stream errors"
    panel.clear_voice()
    for label in (panel.voice_latency, panel.voice_xruns, panel.voice_load):
        assert label.text() == "–" and label.toolTip() == ""
