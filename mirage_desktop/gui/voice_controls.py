"""Voice: converter, pitch and formant, noise gate (level or VAD), noise suppression, monitor, audio
backend, and live input/output meters."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, Qt, QTimer, Slot
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QWidget,
)

from mirage_desktop.config.settings import rules
from mirage_desktop.gui.voice_controller import FAILED, LIVE, VoiceController
from mirage_desktop.gui.voice_library import VoiceLibrary

#: (label, enabled, converter name)
CONVERTER_CHOICES = (
    ("Off", False, ""),
    ("Pass-through", True, "passthrough"),
    ("Voice changer", True, "pitch"),
    ("Voice model (RVC)", True, "rvc"),
)
RVC_TOOLTIP = (
    "An RVC v1/v2 voice: its .pth file and, if it came with one, its .index.\n"
    "Voices in Mirage's voices folder are listed; Add… picks one anywhere. A new voice loads in the\n"
    "background and replaces the current one without stopping the microphone."
)
INDEX_RATE_TOOLTIP = (
    "How much of each moment is taken from the voice's own recordings (its .index):\n"
    "more sounds more like the voice, less keeps your articulation. Needs an index."
)
PROTECT_TOOLTIP = (
    "Keeps breaths and consonants like s, t, k closer to your own (0.5 = off).\n"
    "Works together with the index."
)
#: (label, VoiceSettings.audio_backend): the same values as voice.routing.BACKENDS
BACKEND_CHOICES = (
    ("Automatic", "auto"),
    ("PulseAudio (direct)", "pulse"),
    ("PortAudio", "portaudio"),
)
BACKEND_TOOLTIP = (
    "How Mirage talks to the sound system.\n"
    "Automatic: on Linux the direct PulseAudio/PipeWire client, elsewhere PortAudio.\n"
    "On Linux the direct PulseAudio client has about a third of PortAudio's latency and uses almost no CPU.\n"
    "PortAudio is the route on Windows and macOS (and a fallback on Linux)."
)
#: (label, VoiceSettings.gate_mode)
GATE_MODE_CHOICES = (
    ("Level (dB)", "level"),
    ("Voice activity (Silero VAD)", "vad"),
)
GATE_MODE_TOOLTIP = (
    "Level: mutes whenever the microphone is quieter than the threshold.\n"
    "Voice activity: a speech detector decides, so breaths, clicks and typing stay silent even when\n"
    "they are loud, and words keep their first syllable. Adds 64 ms of delay. Switches without a restart."
)
DENOISE_TOOLTIP = (
    "RNNoise removes steady background noise (fans, hum, hiss, traffic) from your microphone before\n"
    "the voice changer. Adds 20 ms of delay and well under 1 ms of CPU per 10 ms. Switches without a restart."
)
APPLY_DELAY_MS = 500
METER_FLOOR_DB = -60.0


class LevelMeter(QWidget):
    """A horizontal dBFS bar (green → amber → red) with a falling peak marker."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(160, 12)
        self.setMaximumHeight(14)
        self.level_db = -120.0
        self.peak_db = -120.0

    def set_level(self, db: float) -> None:
        self.level_db = float(db)
        # the peak falls ~20 dB/s at the 10 Hz update rate: easy to read, no jumpy needle
        self.peak_db = max(self.level_db, self.peak_db - 2.0)
        self.update()

    @staticmethod
    def fraction(db: float) -> float:
        return min(1.0, max(0.0, (db - METER_FLOOR_DB) / -METER_FLOOR_DB))

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.palette().alternateBase())
        painter.drawRoundedRect(rect, 4, 4)
        gradient = QLinearGradient(rect.topLeft(), rect.topRight())
        gradient.setColorAt(0.0, QColor("#30c46c"))
        gradient.setColorAt(0.7, QColor("#e3b341"))
        gradient.setColorAt(1.0, QColor("#e5484d"))
        filled = QRectF(rect.x(), rect.y(), rect.width() * self.fraction(self.level_db), rect.height())
        painter.setBrush(gradient)
        painter.drawRoundedRect(filled, 4, 4)
        if self.peak_db > METER_FLOOR_DB:
            x = rect.x() + rect.width() * self.fraction(self.peak_db)
            painter.fillRect(QRectF(x - 1, rect.y(), 2, rect.height()), QColor("#ffffff"))
        painter.end()


def _places(value: float, usual: int) -> int:
    """Decimals that show ``value`` as it is (0.3 semitones, not 0.5), at least ``usual``."""
    for places in range(usual, 4):
        if abs(round(value, places) - value) < 1e-9:
            return places
    return 3


def _slider(low: int, high: int, value: int) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setValue(value)
    return slider


class VoiceControls(QWidget):
    def __init__(self, voice_controller: VoiceController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vc = voice_controller
        voice = voice_controller.voice

        self.converter = QComboBox()
        for label, enabled, name in CONVERTER_CHOICES:
            self.converter.addItem(label, (enabled, name))
        current = (
            0
            if not voice.enabled
            else next((i for i, c in enumerate(CONVERTER_CHOICES) if c[1] and c[2] == voice.converter), 1)
        )
        self.converter.setCurrentIndex(current)
        self.converter.currentIndexChanged.connect(self._changed)

        # half-semitone steps: slider units are half semitones; every range is the setting's whole
        # range, so a saved value is shown as it is, never clamped to a narrower slider
        semitones, formant, gate_db = (rules()[("voice", k)] for k in ("semitones", "formant", "gate_db"))
        self.pitch = _slider(round(semitones.low * 2), round(semitones.high * 2), round(voice.semitones * 2))
        self.pitch_label = QLabel()
        self.formant = _slider(
            round(formant.low * 100), round(formant.high * 100), round(voice.formant * 100)
        )
        self.formant_label = QLabel()
        self.library = VoiceLibrary.default()
        #: a damaged voices.json, named (the voices folder is still searched)
        self.library_note = QLabel("")
        self.library_note.setWordWrap(True)
        self.library_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._show_library_problems()
        #: the saved values between slider steps (0.3 semitones): applied and shown as they are until
        #: the user moves that slider
        self._exact: dict[QSlider, tuple[int, float]] = {}
        self.rvc_voice = QComboBox()
        self.rvc_voice.setToolTip(RVC_TOOLTIP)
        self.rvc_add = QPushButton("Add…")
        self.rvc_add.setToolTip("Pick an RVC voice (.pth) anywhere on disk")
        self.rvc_add.clicked.connect(self._add_voice)
        self.rvc_index = QComboBox()
        self.rvc_index.setToolTip("The voice's feature index (.index): optional")
        self._fill_voices(voice.rvc_model, voice.rvc_index)
        self.rvc_voice.currentIndexChanged.connect(self._voice_picked)
        self.rvc_index.currentIndexChanged.connect(self._changed)
        self.rvc_index_rate = _slider(0, 100, round(voice.rvc_index_rate * 100))
        self.rvc_index_rate.setToolTip(INDEX_RATE_TOOLTIP)
        self.rvc_index_rate_label = QLabel()
        self.rvc_protect = _slider(0, 50, round(voice.rvc_protect * 100))
        self.rvc_protect.setToolTip(PROTECT_TOOLTIP)
        self.rvc_protect_label = QLabel()
        self.gate = QCheckBox("Noise gate")
        self.gate.setChecked(voice.gate_enabled)
        self.gate_db = _slider(round(gate_db.low), round(gate_db.high), round(voice.gate_db))
        self.gate_label = QLabel()
        self.gate_mode = QComboBox()
        for label, name in GATE_MODE_CHOICES:
            self.gate_mode.addItem(label, name)
        self.gate_mode.setCurrentIndex(max(0, self.gate_mode.findData(voice.gate_mode)))
        self.gate_mode.setToolTip(GATE_MODE_TOOLTIP)
        self.gate_mode.currentIndexChanged.connect(self._update_labels)
        self.gate_mode.currentIndexChanged.connect(self._changed)
        self.denoise = QCheckBox("Noise suppression (RNNoise)")
        self.denoise.setChecked(voice.denoise)
        self.denoise.setToolTip(DENOISE_TOOLTIP)
        self.denoise.toggled.connect(self._changed)
        self.monitor = QCheckBox("Hear yourself (monitor)")
        self.monitor.setChecked(voice.monitor)
        self.backend = QComboBox()
        for label, name in BACKEND_CHOICES:
            self.backend.addItem(label, name)
        # an unknown value (a hand-edited settings file) shows as Automatic, and becomes it on apply
        self.backend.setCurrentIndex(max(0, self.backend.findData(voice.audio_backend)))
        self.backend.setToolTip(BACKEND_TOOLTIP)
        self.backend.currentIndexChanged.connect(self._changed)
        for slider in (self.pitch, self.formant, self.gate_db, self.rvc_index_rate, self.rvc_protect):
            slider.valueChanged.connect(self._update_labels)
            slider.valueChanged.connect(self._changed)
        self.gate.toggled.connect(self._changed)
        self.monitor.toggled.connect(self._changed)

        self.input_meter = LevelMeter()
        self.output_meter = LevelMeter()
        self.status = QLabel(voice_controller.message)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for slider, value, scale in (
            (self.pitch, voice.semitones, 2),
            (self.formant, voice.formant, 100),
            (self.gate_db, voice.gate_db, 1),
            (self.rvc_index_rate, voice.rvc_index_rate, 100),
            (self.rvc_protect, voice.rvc_protect, 100),
        ):
            if slider.value() / scale != value:
                self._exact[slider] = (slider.value(), float(value))

        self._apply = QTimer(self)
        self._apply.setSingleShot(True)
        self._apply.setInterval(APPLY_DELAY_MS)
        self._apply.timeout.connect(self.apply)

        form = QFormLayout(self)
        form.addRow("Voice", self.converter)
        form.addRow(self.pitch_label, self.pitch)
        form.addRow(self.formant_label, self.formant)
        voice_row = QHBoxLayout()
        voice_row.addWidget(self.rvc_voice, 1)
        voice_row.addWidget(self.rvc_add)
        form.addRow("Voice model", voice_row)
        form.addRow("Index", self.rvc_index)
        form.addRow(self.library_note)
        form.addRow(self.rvc_index_rate_label, self.rvc_index_rate)
        form.addRow(self.rvc_protect_label, self.rvc_protect)
        form.addRow(self.gate, self.gate_db)
        form.addRow("Gate by", self.gate_mode)
        form.addRow("", self.gate_label)
        form.addRow(self.denoise)
        form.addRow(self.monitor)
        form.addRow("Audio backend", self.backend)
        form.addRow("Microphone", self.input_meter)
        form.addRow("Output", self.output_meter)
        form.addRow(self.status)

        voice_controller.levels.connect(self.show_levels)
        voice_controller.state_changed.connect(self.show_state)
        self._update_labels()
        self._update_enabled()

    def value(self, slider: QSlider, scale: float) -> float:
        """What the slider stands for: the saved value itself until the user moves it."""
        exact = self._exact.get(slider)
        if exact is not None and exact[0] == slider.value():
            return exact[1]
        self._exact.pop(slider, None)
        return slider.value() / scale

    def _update_labels(self) -> None:
        pitch = self.value(self.pitch, 2)
        self.pitch_label.setText(f"Pitch {pitch:+.{_places(pitch, 1)}f} st")
        formant = self.value(self.formant, 100)
        self.formant_label.setText(f"Formant ×{formant:.{_places(formant, 2)}f}")
        rate, protect = self.value(self.rvc_index_rate, 100), self.value(self.rvc_protect, 100)
        self.rvc_index_rate_label.setText(f"Index rate {rate:.{_places(rate, 2)}f}")
        self.rvc_protect_label.setText(f"Protect {protect:.{_places(protect, 2)}f}")
        if self.gate_mode.currentData() == "vad":
            self.gate_label.setText("mute when you are not speaking (+64 ms)")
        else:
            self.gate_label.setText(f"mute below {self.value(self.gate_db, 1):g} dBFS")

    def _show_library_problems(self) -> None:
        problems = self.library.problems
        self.library_note.setText("\n".join(f"⚠ {p}" for p in problems))
        self.library_note.setVisible(bool(problems))

    def _update_enabled(self) -> None:
        enabled, name = self.converter.currentData()
        for w in (self.pitch, self.pitch_label):
            w.setEnabled(enabled and name in ("pitch", "rvc"))
        for w in (self.formant, self.formant_label):
            w.setEnabled(enabled and name == "pitch")
        rvc_on = enabled and name == "rvc"
        for w in (self.rvc_voice, self.rvc_add, self.rvc_index):
            w.setEnabled(rvc_on)
        has_index = bool(self.rvc_index.currentData())
        for w in (self.rvc_index_rate, self.rvc_index_rate_label, self.rvc_protect, self.rvc_protect_label):
            w.setEnabled(rvc_on and has_index)
        for w in (self.gate, self.gate_db, self.monitor, self.denoise):
            w.setEnabled(enabled)
        self.gate_mode.setEnabled(enabled and self.gate.isChecked())
        self.gate_db.setEnabled(enabled and self.gate.isChecked() and self.gate_mode.currentData() == "level")

    def _changed(self, *_: object) -> None:
        self._update_enabled()
        self._apply.start()  # restart the stream once the user stops dragging

    def apply(self) -> None:
        self._apply.stop()
        voice = self.vc.voice
        enabled, name = self.converter.currentData()
        voice.enabled = enabled
        if name:
            voice.converter = name
        voice.semitones = self.value(self.pitch, 2)
        voice.formant = self.value(self.formant, 100)
        voice.rvc_model = self.rvc_voice.currentData() or ""
        voice.rvc_index = self.rvc_index.currentData() or ""
        voice.rvc_index_rate = self.value(self.rvc_index_rate, 100)
        voice.rvc_protect = self.value(self.rvc_protect, 100)
        voice.gate_enabled = self.gate.isChecked()
        voice.gate_db = float(self.value(self.gate_db, 1))
        voice.gate_mode = self.gate_mode.currentData()
        voice.denoise = self.denoise.isChecked()
        voice.monitor = self.monitor.isChecked()
        voice.audio_backend = self.backend.currentData()
        self.vc.apply()

    # --- the voice library -------------------------------------------------------------------------
    def _fill_voices(self, model: str, index: str, restoring: bool = True) -> None:
        self.rvc_voice.blockSignals(True)
        self.rvc_voice.clear()
        voices = self.library.voices(extra=[model] if model else [])
        if not voices and not model:
            self.rvc_voice.addItem("(no voices yet: Add…)", "")
        for path in voices:
            self.rvc_voice.addItem(path.stem, str(path))
            self.rvc_voice.setItemData(self.rvc_voice.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole)
        saved_rvc = self.vc.voice.enabled and self.vc.voice.converter == "rvc"
        if restoring and not model and voices and saved_rvc:
            # saved before any voice existed: show that none is chosen (as is applied), not the first
            self.rvc_voice.insertItem(0, "(choose a voice)", "")
        if model and self.rvc_voice.findData(model) < 0:
            # the saved voice is gone: show that one (starting it says why it fails), not another voice
            self.rvc_voice.addItem(f"{Path(model).stem} (not found)", model)
            self.rvc_voice.setItemData(self.rvc_voice.count() - 1, model, Qt.ItemDataRole.ToolTipRole)
        self.rvc_voice.setCurrentIndex(max(0, self.rvc_voice.findData(model)))
        self.rvc_voice.blockSignals(False)
        # the saved index choice belongs to the saved voice; another one shown gets its own index
        self._fill_indexes(self.rvc_voice.currentData() or "", index, restoring=restoring and bool(model))
        self._show_library_problems()

    def _fill_indexes(self, model: str, index: str, restoring: bool = False) -> None:
        """With ``restoring``, the saved choice is shown as it is ("No index" included); for a voice
        just picked, its own index is chosen."""
        self.rvc_index.blockSignals(True)
        self.rvc_index.clear()
        self.rvc_index.addItem("No index", "")
        for path in self.library.indexes_for(model, extra=[index] if index else []):
            self.rvc_index.addItem(path.name, str(path))
        if index and self.rvc_index.findData(index) < 0:
            self.rvc_index.addItem(f"{Path(index).name} (not found)", index)
        found = self.rvc_index.findData(index) if index or restoring else -1
        # a voice's own index (beside it) is chosen for it, as RVC users expect
        self.rvc_index.setCurrentIndex(found if found >= 0 else min(1, self.rvc_index.count() - 1))
        self.rvc_index.blockSignals(False)

    def _voice_picked(self, *_: object) -> None:
        self._fill_indexes(self.rvc_voice.currentData() or "", "")
        self._changed()

    def _add_voice(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add an RVC voice", "", "RVC voice (*.pth)")
        if path:
            self.add_voice(path)

    def add_voice(self, path: str) -> None:
        """Remember ``path`` in the library and pick it (the voice loads when applied, on a worker)."""
        self.library.remember(path)
        self._fill_voices(path, "", restoring=False)  # a voice just added gets its own index
        self._changed()

    @Slot(float, float)
    def show_levels(self, input_db: float, output_db: float) -> None:
        self.input_meter.set_level(input_db)
        self.output_meter.set_level(output_db)

    @Slot(str, str)
    def show_state(self, state: str, message: str) -> None:
        prefix = {LIVE: "● ", FAILED: "⚠ "}.get(state, "")
        self.status.setText(prefix + message)
        if state != LIVE:
            self.input_meter.set_level(-120.0)
            self.output_meter.set_level(-120.0)
