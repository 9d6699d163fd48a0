"""The window's parts one by one: gallery store, small processors, models dialog, voice, theme, chart."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QImage, QPalette

from mirage_desktop.config.settings import Settings, VoiceSettings
from mirage_desktop.frame import Frame
from mirage_desktop.gui.first_run import ModelsDialog, ResponsibleUseDialog
from mirage_desktop.gui.identity_store import IdentityError, IdentityStore
from mirage_desktop.gui.preview_widget import PreviewWidget, fit
from mirage_desktop.gui.processors import AiLabelProcessor, RawTapProcessor
from mirage_desktop.gui.stats_panel import StageChart
from mirage_desktop.gui.theme import ThemeManager
from mirage_desktop.gui.voice_controller import FAILED, LIVE, OFF, VoiceController
from mirage_desktop.gui.voice_controls import VoiceControls
from mirage_desktop.gui.voice_session import open_voice_session
from mirage_desktop.gui.workers import TaskRunner
from mirage_desktop.models import ModelStore
from mirage_desktop.models.manifest import Manifest
from mirage_desktop.voice.virtual_mic import VirtualMicStatus
from tests.test_models_httpserver import Route, model_dict, random_bytes, running_server

WAIT_MS = 15000


# -- identity store ---------------------------------------------------------------------------------
def test_identity_store_round_trip_and_bad_input(tmp_path):
    store = IdentityStore(tmp_path / "identities")
    vec = np.random.default_rng(0).normal(size=512).astype(np.float32)
    thumb = np.full((128, 128, 3), 90, np.uint8)
    photo = tmp_path / "me.jpg"
    cv2.imwrite(str(photo), thumb)
    a = store.save("  Ada   Lovelace ", vec, thumb)
    b = store.save("Grace", vec * 2, thumb, photo=photo)
    assert [i.name for i in store.list()] == ["Ada Lovelace", "Grace"]
    assert a.photo is None and b.photo is not None and b.photo.name == "photo.jpg"
    assert np.allclose(store.get(a.id).embedding, vec)
    with pytest.raises(IdentityError):
        store.save("   ", vec, thumb)
    with pytest.raises(IdentityError):
        store.save("short", vec[:10], thumb)
    with pytest.raises(IdentityError):
        store.get("../escape")
    # a damaged entry is skipped, the others still listed
    (tmp_path / "identities" / a.id / "embedding.npy").write_bytes(b"garbage")
    assert [i.name for i in store.list()] == ["Grace"]
    store.delete(b.id)
    assert store.list() == []


# -- processors -------------------------------------------------------------------------------------
def test_raw_tap_copies_before_later_processors_draw(testdata):
    image = cv2.imread(str(testdata / "faces" / "portrait_s0.jpg"))
    got: list[np.ndarray] = []
    tap = RawTapProcessor(got.append, max_fps=0, max_dim=200)
    frame = Frame(image.copy(), 0, time.perf_counter())
    tap.process(frame)
    AiLabelProcessor().process(frame)
    assert max(got[0].shape[:2]) == 200
    small_before = cv2.resize(image, got[0].shape[1::-1], interpolation=cv2.INTER_AREA)
    assert np.array_equal(got[0], small_before)  # untouched by the label drawn afterwards
    assert not np.array_equal(frame.image, image)  # the label is really on the output
    h, w = image.shape[:2]
    corner = frame.image[int(h * 0.9) :, int(w * 0.6) :]
    assert corner.mean() < image[int(h * 0.9) :, int(w * 0.6) :].mean()


def test_raw_tap_is_throttled():
    now = [0.0]
    got = []
    tap = RawTapProcessor(got.append, max_fps=10, clock=lambda: now[0])
    for i in range(30):
        now[0] = i / 30
        tap.process(Frame(np.zeros((10, 10, 3), np.uint8), i, 0.0))
    assert 9 <= len(got) <= 11


# -- models dialog ----------------------------------------------------------------------------------
def test_models_dialog_downloads_cancels_and_resumes(qtbot, tmp_path):
    big = random_bytes(3_000_000, seed=3)
    small = random_bytes(200_000, seed=4)
    with running_server() as server:
        url_big = server.add("/big.onnx", big)
        url_small = server.add("/small.onnx", small)
        server.routes["/big.onnx"] = Route(big, chunk_delay=0.004)
        manifest = Manifest.from_dict(
            {
                "models": [
                    model_dict("det_10g", small, [url_small]),
                    model_dict("inswapper_128", big, [url_big]),
                    model_dict("extra", small, [url_small], required=False),
                ]
            }
        )
        store = ModelStore(tmp_path / "models", manifest, environ={})
        runner = TaskRunner()
        dialog = ModelsDialog(store, runner)
        qtbot.addWidget(dialog)
        qtbot.waitUntil(lambda: len(dialog.rows) == 2, timeout=WAIT_MS)
        assert sorted(dialog.missing) == ["det_10g", "inswapper_128"]  # only required models listed
        dialog.start_download()
        qtbot.waitUntil(lambda: dialog.bars["inswapper_128"].value() > 50, timeout=WAIT_MS)
        dialog.cancel_download()
        qtbot.waitUntil(lambda: not dialog.downloading, timeout=WAIT_MS)
        assert "resume" in dialog.message.text()
        part = tmp_path / "models" / "inswapper_128.onnx.part"
        assert part.exists() and 0 < part.stat().st_size < len(big)
        server.routes["/big.onnx"] = Route(big)
        dialog.start_download()
        qtbot.waitUntil(
            lambda: not dialog.downloading and not dialog.missing and bool(dialog.rows), timeout=WAIT_MS
        )
        assert dialog.total.value() == dialog.total.maximum()
        assert (tmp_path / "models" / "inswapper_128.onnx").read_bytes() == big
        assert any(h.range for h in server.hits_for("/big.onnx"))  # the second run resumed
        runner.wait()


def test_models_dialog_adds_a_local_file_and_lists_sizes_and_licences(qtbot, tmp_path):
    data = random_bytes(10_000, seed=5)
    manifest = Manifest.from_dict({"models": [model_dict("det_10g", data, ["http://127.0.0.1:9/x.onnx"])]})
    store = ModelStore(tmp_path / "models", manifest, environ={})
    runner = TaskRunner()
    dialog = ModelsDialog(store, runner)
    qtbot.addWidget(dialog)
    texts = " ".join(label.text() for label in dialog.findChildren(type(dialog.message)))
    assert "test licence" in texts and "MB" in texts and "mirage-cli models add" in texts
    src = tmp_path / "det_10g.onnx"
    src.write_bytes(data)
    dialog.add_file(src)
    qtbot.waitUntil(lambda: "det_10g" in dialog.rows and not dialog.missing, timeout=WAIT_MS)
    assert dialog.states["det_10g"].text() == "✔ ready"
    runner.wait()


def test_responsible_use_notice_offers_the_label(qtbot):
    dialog = ResponsibleUseDialog(ai_label=False)
    qtbot.addWidget(dialog)
    from PySide6.QtWidgets import QLabel

    assert not dialog.label_box.isChecked()
    assert any("consent" in label.text() for label in dialog.findChildren(QLabel))


# -- voice ------------------------------------------------------------------------------------------
class FakeSoundDevice:
    """PortAudio's edge, replaced: a 'microphone' that plays a real recording through the real engine."""

    class PortAudioError(Exception):
        pass

    def __init__(self, audio: np.ndarray, rate: int = 48000) -> None:
        self.audio = audio.astype(np.float32)
        self.rate = rate
        self.default = SimpleNamespace(device=(0, 1))
        self.played: list[np.ndarray] = []
        outer = self

        class Stream:
            def __init__(self, *, callback, samplerate, blocksize, **kw) -> None:
                self.callback, self.blocksize, self.samplerate = callback, blocksize, samplerate
                self.latency = (0.01, 0.01)
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, daemon=True)

            def _run(self) -> None:
                pos, n = 0, self.blocksize
                out = np.zeros((n, 1), np.float32)
                next_at = time.perf_counter()
                while not self._stop.is_set():
                    chunk = np.take(outer.audio, np.arange(pos, pos + n), mode="wrap")[:, None]
                    pos += n
                    # like PortAudio's time info where the host API has no timestamps (0 = none)
                    stamp = SimpleNamespace(
                        currentTime=time.perf_counter(), inputBufferAdcTime=0.0, outputBufferDacTime=0.0
                    )
                    self.callback(chunk, out, n, stamp, None)
                    outer.played.append(out[:, 0].copy())
                    next_at += n / self.samplerate
                    time.sleep(max(0.0, next_at - time.perf_counter()))

            def start(self) -> None:
                self._thread.start()

            def abort(self, ignore_errors: bool = True) -> None:
                self._stop.set()
                self._thread.join(2)

            def close(self, ignore_errors: bool = True) -> None:
                self._stop.set()

        self.Stream = self.InputStream = self.OutputStream = Stream

        def device(index: int, name: str, ins: int, outs: int) -> dict:
            return {"index": index, "name": name, "hostapi": 0, "max_input_channels": ins,
                    "max_output_channels": outs, "default_samplerate": float(rate)}  # fmt: skip

        self._devices = [device(0, "Test mic", 1, 0), device(1, "Mirage cable", 0, 1)]

    def _terminate(self) -> None:
        pass

    def _initialize(self) -> None:
        pass

    def query_hostapis(self):
        return [{"name": "Test"}]

    def query_devices(self, device=None, kind=None):
        if device is None:
            return list(self._devices)
        for d in self._devices:
            if device == d["index"] or (isinstance(device, str) and device.lower() in d["name"].lower()):
                return d
        raise ValueError(f"no device {device!r}")

    def check_input_settings(self, **kw) -> None:
        pass

    def check_output_settings(self, **kw) -> None:
        pass


class CableMic:
    def __init__(self) -> None:
        self.closed = False

    def open(self) -> VirtualMicStatus:
        return VirtualMicStatus("test", "cable", True, "Mirage Microphone", "Mirage cable")

    def close(self) -> None:
        self.closed = True

    def output_env(self) -> dict[str, str]:
        return {}

    @property
    def output_device(self) -> str:
        return "Mirage cable"


def speech(testdata: Path) -> np.ndarray:
    import soundfile

    data, rate = soundfile.read(str(testdata / "audio" / "jfk.flac"), dtype="float32")
    if data.ndim > 1:
        data = data.mean(axis=1)
    x = np.arange(0, len(data), rate / 48000)
    return np.interp(x, np.arange(len(data)), data).astype(np.float32)


def test_voice_live_with_meters_and_stats(qtbot, testdata):
    pytest.importorskip("soundfile")
    sd = FakeSoundDevice(speech(testdata)[48000 : 48000 * 6])
    mic = CableMic()
    voice = VoiceSettings()

    def opener(v: VoiceSettings):
        return open_voice_session(v, sd_loader=lambda: sd, vmic_factory=lambda _sd: mic, platform="test")

    vc = VoiceController(voice, opener=opener)
    controls = VoiceControls(vc)
    qtbot.addWidget(controls)
    stats = []
    vc.stats_ready.connect(stats.append)
    controls.converter.setCurrentIndex(2)  # voice changer
    controls.pitch.setValue(8)  # +4 semitones
    controls.apply()
    assert voice.enabled and voice.converter == "pitch" and voice.semitones == 4.0
    qtbot.waitUntil(lambda: vc.state == LIVE, timeout=WAIT_MS)
    assert "Mirage Microphone" in controls.status.text()
    qtbot.waitUntil(lambda: controls.input_meter.level_db > -40, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: controls.output_meter.level_db > -45, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: stats and stats[-1].converted_blocks > 10, timeout=WAIT_MS)
    assert stats[-1].converter == "pitch" and stats[-1].estimated_latency_ms > 0
    controls.converter.setCurrentIndex(0)
    controls.apply()
    assert vc.state == OFF
    vc.shutdown()
    assert mic.closed
    assert controls.input_meter.level_db == -120.0


def test_voice_without_a_sound_card_says_what_to_do(qtbot):
    voice = VoiceSettings(enabled=True, output_device="definitely-not-a-device")
    vc = VoiceController(voice)  # the real sounddevice/PortAudio: no devices on this machine
    states = []
    vc.state_changed.connect(lambda s, m: states.append((s, m)))
    vc.apply()
    qtbot.waitUntil(lambda: vc.state in (FAILED, LIVE), timeout=WAIT_MS)
    if vc.state == LIVE:  # a machine with real audio devices: nothing to check here
        vc.shutdown()
        pytest.skip("this machine has working audio devices")
    assert states[-1][0] == FAILED and len(states[-1][1]) > 20
    vc.shutdown()


# -- theme, preview, chart --------------------------------------------------------------------------
def test_theme_forced_dark_and_light(qapp):
    theme = ThemeManager(qapp, "dark")
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 80
    theme.set_mode("light")
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() > 200
    theme.set_mode("system")
    assert theme.mode == "system"


def test_preview_fits_and_paints_side_by_side(qtbot):
    assert fit(QSize(1280, 720), QRect(0, 0, 640, 640)).height() == pytest.approx(360)
    widget = PreviewWidget()
    qtbot.addWidget(widget)
    widget.resize(800, 450)
    widget.show()
    out = QImage(320, 180, QImage.Format.Format_RGB888)
    out.fill(0x00FF00)
    raw = QImage(160, 90, QImage.Format.Format_RGB888)
    raw.fill(0xFF0000)
    widget.set_mode("side")
    widget.set_output(out)
    widget.set_raw(raw)
    image = widget.grab().toImage()
    assert QColorName(image.pixelColor(200, 225)) == "#ff0000"  # camera on the left
    assert QColorName(image.pixelColor(600, 225)) == "#00ff00"  # output on the right
    widget.set_mode("pip")
    image = widget.grab().toImage()
    assert QColorName(image.pixelColor(300, 225)) == "#00ff00"
    assert QColorName(image.pixelColor(650, 380)) == "#ff0000"  # the small camera, bottom right


def QColorName(color) -> str:
    return color.name()


def test_stage_chart_does_not_count_the_face_swap_twice(qtbot):
    chart = StageChart()
    qtbot.addWidget(chart)
    chart.add({"face_swap": 10.0, "face.detect_track": 4.0, "face.swap": 5.0, "output": 1.0}, 30.0)
    assert "face_swap" not in chart.history[-1] and sum(chart.history[-1].values()) == 10.0
    chart.resize(300, 180)
    assert not chart.grab().isNull()


def test_settings_keep_gui_fields():
    settings, warnings = Settings.from_dict(
        {"gui": {"theme": "dark", "ai_label": True, "raw_preview": "side"}}
    )
    assert not warnings and settings.gui.theme == "dark" and settings.gui.ai_label
    assert Settings.from_dict(settings.to_dict())[0] == settings
