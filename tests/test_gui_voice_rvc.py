"""The Voice tab's RVC voice library: pick a .pth and its .index, transpose, index rate, protect; a new
voice loads on the controller's worker thread and is swapped into the running stream."""

from __future__ import annotations

import threading

import pytest

from mirage_desktop.config.settings import VoiceSettings
from mirage_desktop.gui.voice_controller import LIVE, VoiceController
from mirage_desktop.gui.voice_controls import CONVERTER_CHOICES, VoiceControls
from mirage_desktop.gui.voice_library import VoiceLibrary
from mirage_desktop.gui.voice_session import VoiceLevels
from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.metrics import VoiceMetrics


class FakeRvc:
    """Records what the controller asks of a running RVC converter, and on which thread."""

    def __init__(self) -> None:
        self.loads: list[tuple[str, str | None, str]] = []
        self.params: list[dict] = []
        self.fail = False

    def set_params(self, **kw) -> None:
        self.params.append(kw)

    def load(self, model, index=None) -> None:
        self.loads.append((str(model), index, threading.current_thread().name))
        if self.fail:
            raise VoiceError("Voice model broken.pth: damaged")


class FakeEngine:
    def set_denoise(self, on):
        return ""

    def set_gate_mode(self, mode):
        return ""


class FakeTap:
    def __init__(self, inner):
        self.inner = inner


class FakeSession:
    target = "Mirage Microphone"

    def __init__(self, inner):
        self.engine = FakeEngine()
        self.tap = FakeTap(inner)
        self.closed = False

    def close(self):
        self.closed = True

    def metrics(self):
        return VoiceMetrics()

    def levels(self, metrics):
        return VoiceLevels(-120.0, -120.0)


@pytest.fixture
def voices(tmp_path, monkeypatch):
    monkeypatch.setenv("MIRAGE_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "data" / "voices"
    (folder / "alto").mkdir(parents=True)
    alto = folder / "alto" / "alto.pth"
    alto.write_bytes(b"x")
    (folder / "alto" / "added_IVF256_Flat_nprobe_1_alto_v2.index").write_bytes(b"x")
    elsewhere = tmp_path / "downloads" / "tenor.pth"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"x")
    return alto, elsewhere


def test_library_lists_folder_and_added_voices_with_their_index(voices, tmp_path):
    alto, tenor = voices
    lib = VoiceLibrary(tmp_path / "data" / "voices")
    assert lib.voices() == [alto]
    lib.remember(tenor)
    assert [p.name for p in lib.voices()] == ["alto.pth", "tenor.pth"]
    assert [p.name for p in lib.indexes_for(str(alto))] == ["added_IVF256_Flat_nprobe_1_alto_v2.index"]
    assert lib.indexes_for(str(tenor)) == []
    tenor.unlink()
    assert lib.voices() == [alto]  # a voice that went away is not offered


def test_rvc_controls_write_the_settings(qtbot, voices):
    alto, tenor = voices
    voice = VoiceSettings()
    vc = VoiceController(voice, opener=lambda v: FakeSession(FakeRvc()))
    widget = VoiceControls(vc)
    qtbot.addWidget(widget)
    widget.converter.setCurrentIndex([c[2] for c in CONVERTER_CHOICES].index("rvc"))
    assert widget.rvc_voice.isEnabled() and not widget.formant.isEnabled() and widget.pitch.isEnabled()
    assert widget.rvc_voice.currentData() == str(alto)
    assert widget.rvc_index.currentText().endswith("_alto_v2.index")  # the voice's own index is chosen
    widget.rvc_index_rate.setValue(75)
    widget.rvc_protect.setValue(20)
    widget.pitch.setValue(-6)
    widget.apply()
    assert voice.converter == "rvc" and voice.rvc_model == str(alto)
    assert voice.rvc_index.endswith("_alto_v2.index")
    assert (voice.rvc_index_rate, voice.rvc_protect, voice.semitones) == (0.75, 0.2, -3.0)
    widget.add_voice(str(tenor))
    assert widget.rvc_voice.currentData() == str(tenor.resolve())
    assert widget.rvc_index.currentData() == ""
    assert not widget.rvc_index_rate.isEnabled()  # no index: rate and protect do nothing
    vc.shutdown()


def test_a_new_voice_is_swapped_in_on_the_worker_and_a_failed_one_keeps_the_old(qtbot, voices):
    alto, tenor = voices
    inner = FakeRvc()
    voice = VoiceSettings(enabled=True, converter="rvc", rvc_model=str(alto))
    opened = []

    def opener(v):
        opened.append(v.rvc_model)
        return FakeSession(inner)

    vc = VoiceController(voice, opener=opener)
    vc.apply()
    qtbot.waitUntil(lambda: vc.state == LIVE, timeout=5000)
    assert opened == [str(alto)]

    voice.semitones = 4.0  # a parameter: applied at once, nothing reloaded
    vc.apply()
    qtbot.waitUntil(lambda: bool(inner.params) and inner.params[-1]["semitones"] == 4.0, timeout=5000)
    assert inner.loads == []

    voice.rvc_model = str(tenor)  # another voice: loaded on the worker, the stream stays open
    vc.apply()
    qtbot.waitUntil(lambda: bool(inner.loads), timeout=5000)
    qtbot.waitUntil(lambda: "loaded" in vc.message, timeout=5000)
    assert inner.loads[0][0] == str(tenor) and inner.loads[0][2] != threading.main_thread().name
    assert opened == [str(alto)] and vc.state == LIVE

    inner.fail = True
    voice.rvc_model = str(alto)
    vc.apply()
    qtbot.waitUntil(lambda: "kept the previous voice" in vc.message, timeout=5000)
    assert vc.state == LIVE and opened == [str(alto)]
    vc.shutdown()


def test_rvc_voice_live_in_the_gui_and_hot_swapped_without_stopping(qtbot, testdata, tmp_path, monkeypatch):
    """The real voice session (engine, SOLA, overload policy) with an RVC voice chosen in the Voice tab;
    a second voice is then picked and swapped in while the same stream keeps converting."""
    pytest.importorskip("torch")
    from mirage_desktop.gui.voice_session import open_voice_session
    from mirage_desktop.testmodels.contentvec import build_contentvec
    from mirage_desktop.voice.converters.rvc.checkpoint import save_random_voice, small_config
    from tests.test_gui_parts import WAIT_MS, CableMic, FakeSoundDevice, speech

    models = tmp_path / "models"
    models.mkdir()
    build_contentvec(models / "vec-768-layer-12.onnx", 768)
    monkeypatch.setenv("MIRAGE_MODELS_DIR", str(models))
    monkeypatch.setenv("MIRAGE_DATA_DIR", str(tmp_path / "data"))
    first = save_random_voice(tmp_path / "first.pth", config=small_config("40k"), seed=1)
    second = save_random_voice(tmp_path / "second.pth", config=small_config("40k"), seed=2)
    sd = FakeSoundDevice(speech(testdata)[48000 : 48000 * 12])
    mic = CableMic()
    voice = VoiceSettings()

    def opener(v: VoiceSettings):
        return open_voice_session(v, sd_loader=lambda: sd, vmic_factory=lambda _sd: mic, platform="test")

    vc = VoiceController(voice, opener=opener)
    controls = VoiceControls(vc)
    qtbot.addWidget(controls)
    stats = []
    vc.stats_ready.connect(stats.append)
    controls.converter.setCurrentIndex([c[2] for c in CONVERTER_CHOICES].index("rvc"))
    controls.add_voice(str(first))
    controls.apply()
    qtbot.waitUntil(lambda: vc.state == LIVE, timeout=60_000)
    qtbot.waitUntil(lambda: bool(stats) and stats[-1].converted_blocks > 3, timeout=WAIT_MS * 3)
    assert stats[-1].converter == "rvc" and stats[-1].block_ms >= 100
    session = vc._session
    controls.add_voice(str(second))
    controls.apply()
    qtbot.waitUntil(lambda: "second.pth loaded" in vc.message, timeout=60_000)
    before = stats[-1].converted_blocks
    assert vc._session is session and session.tap.inner.voice.path.name == "second.pth"
    qtbot.waitUntil(lambda: stats[-1].converted_blocks > before + 2, timeout=WAIT_MS * 3)
    vc.shutdown()
    assert mic.closed
