"""The Face tab's quality stages and map mode on the real window and engine (offscreen Qt, stand-in
models with the real I/O): every control changes the setting and the running face stage's look
without a restart, ranges match settings.rules(), the tab fits 1280×720, bad settings come up as
defaults, and a model that is not installed is explained while the swap goes on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QSlider, QSpinBox, QWidget

from mirage_desktop.config.paths import AppPaths
from mirage_desktop.config.settings import Choice, FaceSettings, Range, Settings, SettingsStore, rules
from mirage_desktop.gui.app import build_window
from mirage_desktop.gui.engine_controller import ENHANCER_AREA, SWAPPER_AREA, face_stage_problems
from mirage_desktop.gui.face_controls import STEPS, ValueSlider, format_face_map, parse_face_map
from mirage_desktop.gui.settings_saver import LOAD_AREA
from mirage_desktop.gui.stats_panel import describe_stages
from mirage_desktop.models import ModelStore
from mirage_desktop.testmodels import arcface, inswapper
from mirage_desktop.testmodels.enhancers import build_enhancer
from mirage_desktop.testmodels.hyperswap import build_hyperswap
from mirage_desktop.testmodels.scrfd import build_scrfd, obama_template

WAIT_MS = 20000


@dataclass(frozen=True)
class QualityModels:
    files: dict[str, Path]


@pytest.fixture(scope="session")
def quality_models(tmp_path_factory, testdata) -> QualityModels:
    d = tmp_path_factory.mktemp("quality_models")
    return QualityModels(
        {
            "det_10g": build_scrfd(d / "det_10g.onnx", obama_template(testdata)),
            "w600k_r50": arcface.build_arcface(d / "w600k_r50.onnx"),
            "inswapper_128": inswapper.build_visible(d / "inswapper_128.onnx"),
            "hyperswap_1a_256": build_hyperswap(d / "hyperswap_1a_256.onnx", "visible"),
            "gpen_bfr_256": build_enhancer(d / "gpen_bfr_256.onnx", 256, "sharpen"),
            "codeformer": build_enhancer(d / "codeformer.onnx", 512, "sharpen", codeformer=True),
        }
    )


@pytest.fixture
def installed(quality_models) -> ModelStore:
    """Everything but gpen_bfr_512, which stays "not installed"."""
    store = ModelStore()
    for model_id, path in quality_models.files.items():
        store.add(path, model_id, allow_unverified=True)
    return store


def video_settings(testdata: Path) -> Settings:
    settings = Settings()
    settings.video.source = f"file:{testdata / 'video' / 'talking_head_d0.mp4'}"
    settings.video.width, settings.video.height = 640, 360
    settings.output.virtual_camera = False
    return settings


def open_window(qtbot, settings: Settings, store: SettingsStore | None = None):
    window = build_window(settings, AppPaths.from_env(), virtual_camera=False, settings_store=store)
    qtbot.addWidget(window)
    window.show()
    return window


def close_window(qtbot, window) -> None:
    window.controller.stop()
    qtbot.waitUntil(lambda: window.controller.idle, timeout=WAIT_MS)
    window.quit()


def counters(window) -> dict:
    snap = window.controller.metrics()
    return snap.processors if snap else {}


def swapped(window) -> int:
    return int(counters(window).get("total_faces_swapped", 0))


def choose(combo: QComboBox, value: str) -> None:
    index = combo.findData(value)
    assert index >= 0, value
    combo.setCurrentIndex(index)


def go_live(qtbot, window, testdata: Path) -> None:
    window.source_panel.load_photo(testdata / "faces" / "obama.jpg")
    qtbot.waitUntil(lambda: not window.source_panel.busy, timeout=WAIT_MS)
    assert window.controller.has_identity
    window.toggle()
    qtbot.waitUntil(lambda: swapped(window) > 2, timeout=WAIT_MS)


# -- pure parts -----------------------------------------------------------------------------------


def test_stage_caption_and_problem_words() -> None:
    base = {"face_providers": ["CPUExecutionProvider"], "enhancer_state": "on"}
    stages = ["swap", "enhance:gpen_bfr_256", "mask:ellipse", "mask:mouth", "colour", "paste:mix"]
    text = describe_stages({**base, "face_stages": stages})
    assert text == "swap → GPEN-256 → ellipse mask → mouth → colour match → paste: mix"
    assert "GPEN-256 (loading)" in describe_stages(
        {**base, "face_stages": stages, "enhancer_state": "loading gpen_bfr_256"}
    )
    assert describe_stages({"face_stages": stages}) == ""  # the face stage did not load

    face = FaceSettings(enhancer="gpen_bfr_512")
    missing = "failed: gpen_bfr_512.onnx is not installed. Run `mirage-cli models download gpen_bfr_512`."
    problems = face_stage_problems({"enhancer_state": missing}, face)
    assert problems[ENHANCER_AREA].startswith("Face enhancer off: gpen_bfr_512.onnx is not installed")
    assert not face_stage_problems({"enhancer_state": "loading gpen_bfr_512"}, face)[ENHANCER_AREA]
    assert parse_face_map(format_face_map([("a", "b"), ("c", "")])) == [("a", "b"), ("c", "")]
    assert parse_face_map(" Joe = Obama ;; ") == [("Joe", "Obama")]


def test_ranges_match_the_settings_rules(qtbot) -> None:
    window = open_window(qtbot, Settings())
    try:
        q = window.face_quality
        sliders = {
            "enhancer_blend": q.blend,
            "codeformer_fidelity": q.fidelity,
            "mouth_mask_size": q.mouth_size,
            "paste_detail": q.paste_detail,
            "opacity": q.opacity,
            "sharpness": q.sharpness,
            "map_threshold": window.face_map.threshold,
        }
        assert len(window.findChildren(ValueSlider)) == len(sliders)
        for key, slider in sliders.items():
            rule = rules()[("face", key)]
            assert isinstance(rule, Range) and slider.range == rule
            assert slider.slider.minimum() / STEPS == pytest.approx(rule.low), key
            assert slider.slider.maximum() / STEPS == pytest.approx(rule.high), key
        for combo, key in (
            (q.swapper, "swapper"),
            (q.enhancer, "enhancer"),
            (q.face_mask, "face_mask"),
            (q.paste, "paste_mode"),
        ):
            rule = rules()[("face", key)]
            assert isinstance(rule, Choice)
            assert tuple(combo.itemData(i) for i in range(combo.count())) == rule.values, key
        assert "fastest" in q.enhancer.itemText(q.enhancer.findData("gpen_bfr_256")).lower()
        # no spin box narrower than its setting
        f = window.face_controls
        for spin, key in ((f.max_faces, "max_faces"), (f.interval, "detect_interval")):
            rule = rules()[("face", key)]
            assert spin.minimum() <= rule.low and spin.maximum() >= rule.high, key
        # dependent controls: fidelity only for CodeFormer, the mix detail only for "mix"
        assert not q.fidelity.isEnabled() and not q.paste_detail.isEnabled() and not q.blend.isEnabled()
        choose(q.enhancer, "codeformer")
        choose(q.paste, "mix")
        assert q.fidelity.isEnabled() and q.paste_detail.isEnabled() and q.blend.isEnabled()
        choose(q.enhancer, "gpen_bfr_256")
        assert not q.fidelity.isEnabled()
    finally:
        window.quit()


def _clipped(window, root: QWidget) -> list[str]:
    """Widgets inside ``root`` that are cut off sideways or squeezed below what they need."""
    out = []
    right = root.width()
    for widget in root.findChildren(QWidget):
        if not widget.isVisibleTo(root) or widget.width() <= 0:
            continue
        top_left = widget.mapTo(root, widget.rect().topLeft())
        if top_left.x() < 0 or top_left.x() + widget.width() > right + 1:
            out.append(
                f"{type(widget).__name__} {widget.objectName()} outside: {top_left.x()}+{widget.width()}"
            )
        squeezable = isinstance(widget, (QComboBox, QSlider, QSpinBox))
        if squeezable and widget.width() + 1 < widget.minimumSizeHint().width():
            out.append(f"{type(widget).__name__} squeezed to {widget.width()}")
        if isinstance(widget, (QLabel, QAbstractButton)) and widget.text():
            if isinstance(widget, QLabel) and widget.wordWrap():
                if widget.heightForWidth(widget.width()) > widget.height() + 1:
                    out.append(f"wrapped label cut: {widget.text()[:40]}")
            elif widget.sizeHint().width() > widget.width() + 1:
                out.append(f"text cut: {widget.text()[:40]} ({widget.sizeHint().width()} > {widget.width()})")
    return out


def test_face_tab_fits_1280x720_without_clipping(qtbot, tmp_path) -> None:
    window = open_window(qtbot, Settings())
    try:
        window.resize(1280, 720)
        window.tabs.setCurrentIndex(0)
        scroll = window.tabs.currentWidget()
        tab = scroll.widget()
        q = window.face_quality
        # the longest thing the status shows: a model that is not installed
        q.set_status(
            "⚠ Face enhancer off: gpen_bfr_512.onnx is not installed. Run `mirage-cli models download "
            "gpen_bfr_512`, or add a file you have. Details are in the log."
        )
        choose(q.enhancer, "codeformer")
        # map mode with people in the gallery: the table and its "wears" choices show too
        rng = np.random.default_rng(1)
        for name in ("Alexandra Ocasio-Cortez", "Joe"):
            window.gallery.add(name, rng.normal(size=512), np.zeros((64, 64, 3), np.uint8), None)
        window.face_map.enabled.setChecked(True)
        qtbot.waitUntil(lambda: window.face_map.table.rowCount() == 2, timeout=WAIT_MS)
        qtbot.wait(50)
        assert window.face_map.table.isVisibleTo(tab)
        assert window.minimumSizeHint().width() <= 1280 and window.minimumSizeHint().height() <= 640
        # nothing is wider than the side panel: no sideways scrolling, nothing cut off at the right
        assert tab.width() <= scroll.viewport().width()
        assert tab.minimumSizeHint().width() <= scroll.viewport().width()
        assert _clipped(window, tab) == []
        # every quality control can be scrolled into view and is then inside the viewport
        for widget in (q.swapper, q.enhancer, q.sharpness, q.status, window.face_map.enabled):
            scroll.ensureWidgetVisible(widget)
            qtbot.wait(10)
            pos = widget.mapTo(scroll.viewport(), widget.rect().topLeft())
            assert pos.y() >= 0 and pos.y() + widget.height() <= scroll.viewport().height() + 1
        window.grab().save(str(tmp_path / "face-tab-1280x720.png"))
    finally:
        window.quit()


def test_bad_quality_values_in_the_settings_file_come_up_as_defaults(qtbot) -> None:
    paths = AppPaths.from_env()
    paths.settings_file.parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file.write_text(
        json.dumps(
            {
                "face": {
                    "enhancer": "nope",
                    "opacity": 7,
                    "paste_mode": "blur",
                    "mouth_mask_size": 0,
                    "swapper": "faceswap_9000",
                    "sharpness": 1.5,
                }
            }
        )
    )
    store = SettingsStore(paths.settings_file)
    settings, warnings = store.load_with_env({})
    assert any("face.enhancer" in w for w in warnings) and any("face.opacity" in w for w in warnings)
    window = open_window(qtbot, settings, store)
    try:
        q = window.face_quality
        assert q.enhancer.currentData() == "" and settings.face.enhancer == ""
        assert q.opacity.value() == 1.0 and q.paste.currentData() == "replace"
        assert q.mouth_size.value() == 1.0 and q.swapper.currentData() == "inswapper_128"
        assert q.sharpness.value() == 1.5  # a good value is kept
        shown = window.problems.problems[LOAD_AREA]
        assert "face.enhancer" in shown and "face.opacity" in shown
    finally:
        window.quit()


# -- live on the engine ---------------------------------------------------------------------------


def test_every_quality_control_reaches_the_running_face_stage_without_a_restart(
    qtbot, testdata, installed
) -> None:
    settings = video_settings(testdata)
    window = open_window(qtbot, settings)
    c = window.controller
    q = window.face_quality
    face = settings.face
    try:
        go_live(qtbot, window, testdata)
        pipeline, stage = c._pipeline, c._face_swap

        # the enhancer loads in the background and then runs on every frame
        choose(q.enhancer, "gpen_bfr_256")
        assert face.enhancer == "gpen_bfr_256" and stage.look.enhancer == "gpen_bfr_256"
        qtbot.waitUntil(lambda: counters(window).get("enhancer_state") == "on", timeout=WAIT_MS)
        qtbot.waitUntil(lambda: counters(window).get("enhanced_frames", 0) > 3, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: "GPEN-256" in window.stages_caption.text(), timeout=WAIT_MS)
        assert window.stages_caption.isVisible() and "swap →" in window.stages_caption.text()
        qtbot.waitUntil(lambda: "on every frame" in q.status.text(), timeout=WAIT_MS)
        assert "GPEN-256" in window.stats.enhancer.text() and "GPEN-256" in window.stats.stages.text()

        q.blend.slider.setValue(40)
        assert face.enhancer_blend == pytest.approx(0.4) and stage.look.enhancer_blend == pytest.approx(0.4)
        choose(q.enhancer, "codeformer")
        q.fidelity.slider.setValue(30)
        assert stage.look.codeformer_fidelity == pytest.approx(0.3)
        qtbot.waitUntil(
            lambda: (
                counters(window).get("enhancer") == "codeformer"
                and counters(window).get("enhancer_fidelity") == pytest.approx(0.3)
            ),
            timeout=WAIT_MS,
        )

        choose(q.face_mask, "box")
        q.mouth.setChecked(True)
        q.mouth_size.slider.setValue(150)
        q.occlusion.setChecked(True)
        q.color.setChecked(True)
        choose(q.paste, "mix")
        q.paste_detail.slider.setValue(25)
        q.opacity.slider.setValue(80)
        q.sharpness.slider.setValue(120)
        look = stage.look
        assert (look.face_mask, look.mouth_mask, look.occlusion_mask, look.color_transfer) == (
            "box",
            True,
            True,
            True,
        )
        assert look.mouth_mask_size == pytest.approx(1.5) and look.paste_mode == "mix"
        assert look.paste_detail == pytest.approx(0.25) and look.opacity == pytest.approx(0.8)
        assert look.sharpness == pytest.approx(1.2)
        assert (face.face_mask, face.mouth_mask, face.paste_mode, face.opacity) == ("box", True, "mix", 0.8)
        want = {"mask:box", "mask:mouth", "mask:occlusion", "colour", "sharpen", "opacity", "paste:mix"}
        qtbot.waitUntil(lambda: want <= set(counters(window).get("face_stages", [])), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: "mouth" in window.stages_caption.text(), timeout=WAIT_MS)

        # another swapper family, live
        before = swapped(window)
        choose(q.swapper, "hyperswap_1a_256")
        assert face.swapper == "hyperswap_1a_256"
        qtbot.waitUntil(
            lambda: str(counters(window).get("face_swapper_model", "")).startswith("hyperswap_1a_256"),
            timeout=WAIT_MS,
        )
        qtbot.waitUntil(lambda: swapped(window) > before + 3, timeout=WAIT_MS)
        # one that is not installed: said with the command; the running swapper stays
        choose(q.swapper, "hyperswap_1b_256")
        qtbot.waitUntil(lambda: SWAPPER_AREA in window.problems.problems, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: "hyperswap_1b_256" in q.status.text(), timeout=WAIT_MS)
        assert "not installed" in q.status.text()
        choose(q.swapper, "hyperswap_1a_256")
        qtbot.waitUntil(lambda: SWAPPER_AREA not in window.problems.problems, timeout=WAIT_MS)

        # a model that is not installed can be chosen: the Face tab and the problems strip say so
        # (with the command), the swap goes on without it
        choose(q.enhancer, "gpen_bfr_512")
        qtbot.waitUntil(lambda: "not installed" in q.status.text(), timeout=WAIT_MS)
        assert "mirage-cli models download gpen_bfr_512" in q.status.text()
        qtbot.waitUntil(lambda: ENHANCER_AREA in window.problems.problems, timeout=WAIT_MS)
        assert window.problems.models_button.isVisible()
        qtbot.waitUntil(lambda: "GPEN-512 (off)" in window.stages_caption.text(), timeout=WAIT_MS)
        going = swapped(window)
        qtbot.waitUntil(lambda: swapped(window) > going + 3, timeout=WAIT_MS)
        choose(q.enhancer, "")
        qtbot.waitUntil(lambda: ENHANCER_AREA not in window.problems.problems, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: "not installed" not in q.status.text(), timeout=WAIT_MS)

        # never restarted
        assert c._pipeline is pipeline and c._face_swap is stage and pipeline.running

        # saved through the window's saver
        assert window.settings_saver.flush()
        stored = json.loads(AppPaths.from_env().settings_file.read_text())["face"]
        assert stored["swapper"] == "hyperswap_1a_256" and stored["paste_mode"] == "mix"
        assert stored["opacity"] == pytest.approx(0.8) and stored["mouth_mask"] is True
    finally:
        close_window(qtbot, window)
    assert window.stages_caption.text() == "" and q.status.text() == ""


def test_swap_only_these_people(qtbot, testdata, installed, tmp_path) -> None:
    settings = video_settings(testdata)
    window = open_window(qtbot, settings)
    m = window.face_map
    try:
        # the person in the video, saved to the gallery from a frame of it; obama is worn
        capture = cv2.VideoCapture(str(testdata / "video" / "talking_head_d0.mp4"))
        ok, frame = capture.read()
        capture.release()
        assert ok
        still = tmp_path / "me.png"
        cv2.imwrite(str(still), frame)
        me = window.parts.analyze(still).faces[0]
        window.gallery.add("Me", me.embedding, me.thumbnail, None)
        qtbot.waitUntil(lambda: m.table.rowCount() == 1, timeout=WAIT_MS)
        go_live(qtbot, window, testdata)

        m.enabled.setChecked(True)
        assert settings.face.map_mode and "Tick the people" in m.note.text()
        m.table.item(0, 0).setCheckState(Qt.CheckState.Checked)
        assert parse_face_map(settings.face.face_map) == [(window.gallery.current_id(), "")]
        m.threshold.slider.setValue(20)
        assert settings.face.map_threshold == pytest.approx(0.2)
        qtbot.waitUntil(lambda: counters(window).get("map_mode") is True, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: counters(window).get("map_faces_matched", 0) > 3, timeout=WAIT_MS)
        matched = swapped(window)
        qtbot.waitUntil(lambda: swapped(window) > matched + 2, timeout=WAIT_MS)
        # a pipeline restart (detection settings) keeps the map: it is handed over once models load
        old = window.controller._pipeline
        window.controller.restart()
        qtbot.waitUntil(lambda: window.controller._pipeline not in (None, old), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: counters(window).get("map_mode") is True, timeout=WAIT_MS)

        # nobody in the video is alike enough: they are left alone (bystanders), not swapped
        m.threshold.slider.setValue(100)
        qtbot.waitUntil(lambda: counters(window).get("map_bystanders", 0) > 3, timeout=WAIT_MS)
        qtbot.wait(300)
        frozen = swapped(window)
        qtbot.wait(600)
        assert swapped(window) == frozen

        # off again: everyone is swapped as before
        m.enabled.setChecked(False)
        qtbot.waitUntil(lambda: counters(window).get("map_mode") is False, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: swapped(window) > frozen + 2, timeout=WAIT_MS)
    finally:
        close_window(qtbot, window)
