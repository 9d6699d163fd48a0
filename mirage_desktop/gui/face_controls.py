"""Face swap switches and the face-quality stages.

FaceControls: on/off, the privacy cover, how many faces, detection cadence, processing size,
overlay, AI label. Swap, face count, overlay and label change the running engine at once; detection
interval and processing size rebuild the tracker, so they restart the pipeline (after a short pause,
so dragging a spin box does not restart it on every step).

FaceMapControls: "swap only these people" (map mode): the gallery people ticked are swapped, each
wearing the face picked beside them; everyone else in the picture stays as they are.

FaceQualityControls: swapper, enhancer (+ blend, CodeFormer fidelity), face outline, mouth and
occlusion masks, colour transfer, paste mode, opacity, sharpness. All of them are live: they change
``settings.face`` and hand the new look to the running face stage, never restarting the pipeline
(a model a choice needs loads in the background; what became of it shows under the controls).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mirage_desktop.config.settings import Choice, Range, rules
from mirage_desktop.engine.metrics import MetricsSnapshot
from mirage_desktop.gui.engine_controller import (
    ENHANCER_AREA,
    SWAPPER_AREA,
    EngineController,
    face_stage_problems,
)
from mirage_desktop.gui.identity_store import Identity, IdentityStore

PROC_SIZES = (320, 480, 640, 960, 1280)
RESTART_DELAY_MS = 600

#: (label, tooltip) per FaceSettings.swapper / .enhancer / .face_mask / .paste_mode value; the values
#: themselves come from settings.rules(), so a registry entry without a label still shows (by its id)
SWAPPER_LABELS = {
    "inswapper_128": ("InSwapper 128", "The default: fast, 128-px face."),
    "hyperswap_1a_256": ("HyperSwap 1a · 256 px", "Sharper 256-px face (FaceFusion's default)."),
    "hyperswap_1b_256": ("HyperSwap 1b · 256 px", "Sharper 256-px face, variant b."),
    "hyperswap_1c_256": ("HyperSwap 1c · 256 px", "Sharper 256-px face, variant c."),
}
ENHANCER_LABELS = {
    "": ("None", "No enhancer: the fastest."),
    "gfpgan_1.4": ("GFPGAN 1.4", "Strong restoration at 512 px; heavy (≈ 198 GFLOPs per face)."),
    "gpen_bfr_256": ("GPEN-BFR-256 (fastest)", "The fastest enhancer (≈ 9 GFLOPs per face): best live."),
    "gpen_bfr_512": ("GPEN-BFR-512", "Sharper, at 512 px (≈ 138 GFLOPs per face)."),
    "codeformer": ("CodeFormer", "Most robust, slowest (≈ 405 GFLOPs per face); has a fidelity control."),
}
FACE_MASK_LABELS = {
    "ellipse": ("Ellipse", "A face-shaped outline fitted to the landmarks: no box edge."),
    "box": ("Box", "The aligned square (shows a box where skin tones differ)."),
}
PASTE_LABELS = {
    "detail": ("Detail", "Adds the swap's change and keeps your skin's fine detail."),
    "replace": ("Replace", "The swapped face as it is: clean, a little soft."),
    "mix": ("Mix", "Between the two: the slider sets how much of your fine detail stays."),
}
#: slider steps per unit of a 0..1 (or 0..3) setting
STEPS = 100
#: the widest texts a slider's value label shows
VALUE_SAMPLES = ("100 %", "×3.00", "0.00")


def setting_range(key: str) -> Range:
    rule = rules()[("face", key)]
    assert isinstance(rule, Range), key
    return rule


def setting_choices(key: str) -> tuple[str, ...]:
    rule = rules()[("face", key)]
    assert isinstance(rule, Choice), key
    return rule.values


def _combo(key: str, labels: dict[str, tuple[str, str]], current: str) -> QComboBox:
    combo = QComboBox()
    for value in setting_choices(key):
        label, tip = labels.get(value, (value, ""))
        combo.addItem(label, value)
        combo.setItemData(combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


class ValueSlider(QWidget):
    """A horizontal slider over a setting's whole Range (in 1/STEPS steps) with its value beside it."""

    changed = Signal(float)

    def __init__(
        self, key: str, value: float, show: Callable[[float], str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.range = setting_range(key)
        self._show = show
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(round(self.range.low * STEPS), round(self.range.high * STEPS))
        self.slider.setPageStep(STEPS // 10)
        self.slider.setValue(round(value * STEPS))
        self.label = QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # one width for every slider's value, so the sliders line up
        metrics = self.label.fontMetrics()
        self.label.setFixedWidth(max(metrics.horizontalAdvance(t) for t in VALUE_SAMPLES) + 4)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        self.slider.valueChanged.connect(self._moved)
        self._update_label()

    def value(self) -> float:
        return self.slider.value() / STEPS

    def _update_label(self) -> None:
        self.label.setText(self._show(self.value()))

    @Slot(int)
    def _moved(self, _: int) -> None:
        self._update_label()
        self.changed.emit(self.value())


def _percent(value: float) -> str:
    return f"{value * 100:.0f} %"


def _times(value: float) -> str:
    return f"×{value:.2f}"


def _plain(value: float) -> str:
    return f"{value:.2f}"


class FaceControls(QWidget):
    def __init__(self, controller: EngineController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        face = controller.settings.face

        self.swap = QCheckBox("Swap my face")
        self.swap.setChecked(face.swap_enabled)
        self.swap.toggled.connect(controller.set_swap_enabled)
        controller.swap_toggled.connect(self.swap.setChecked)

        self.max_faces = QSpinBox()
        faces = setting_range("max_faces")
        self.max_faces.setRange(int(faces.low), int(faces.high))
        self.max_faces.setValue(face.max_faces)
        self.max_faces.setToolTip("Swap the N largest faces in the picture.")
        self.max_faces.valueChanged.connect(controller.set_max_faces)

        self.interval = QSpinBox()
        interval = setting_range("detect_interval")
        self.interval.setRange(int(interval.low), int(interval.high))
        self.interval.setValue(face.detect_interval)
        self.interval.setSuffix(" frames")
        self.interval.setToolTip(
            "Look for faces every N frames and follow them in between (higher = faster)."
        )
        self.interval.valueChanged.connect(self._schedule_restart)

        self.proc_size = QComboBox()
        for size in PROC_SIZES:
            self.proc_size.addItem(f"{size} px", size)
        index = self.proc_size.findData(face.proc_max_dim)
        if index < 0:
            self.proc_size.addItem(f"{face.proc_max_dim} px", face.proc_max_dim)
            index = self.proc_size.count() - 1
        self.proc_size.setCurrentIndex(index)
        self.proc_size.setToolTip("Frames are searched for faces at this size (smaller = faster).")
        self.proc_size.currentIndexChanged.connect(self._schedule_restart)

        self.privacy = QCheckBox("Cover my face whenever it is not swapped")
        self.privacy.setChecked(face.privacy_cover)
        self.privacy.setToolTip(
            "When a face cannot be swapped (not found for a moment, models missing, an error), Mirage "
            "pixelates it instead of sending your real face. Switched off, the header warns in amber "
            "whenever your real face goes out."
        )
        self.privacy.toggled.connect(controller.set_privacy_cover)

        self.reuse = QCheckBox("Keep the picture smooth on a slow computer")
        self.reuse.setChecked(face.temporal_reuse)
        self.reuse.setToolTip(
            "The face swap runs beside the picture as often as this computer can, and every frame shows "
            "the latest swapped face on your head's current position, with your mouth live. Off, every "
            "frame waits for its own swap (on a laptop CPU about one frame a second)."
        )
        self.reuse.toggled.connect(controller.set_temporal_reuse)

        self.debug = QCheckBox("Show what Mirage sees (debug overlay)")
        self.debug.setChecked(face.debug_overlay)
        self.debug.toggled.connect(controller.set_debug_overlay)

        self.ai_label = QCheckBox("Stamp “AI-altered” on the video")
        self.ai_label.setChecked(controller.settings.gui.ai_label)
        self.ai_label.toggled.connect(controller.set_ai_label)

        self._restart = QTimer(self)
        self._restart.setSingleShot(True)
        self._restart.setInterval(RESTART_DELAY_MS)
        self._restart.timeout.connect(self.apply_detection)

        form = QFormLayout(self)
        form.addRow(self.swap)
        form.addRow(self.privacy)
        form.addRow(self.reuse)
        form.addRow("Faces to swap", self.max_faces)
        form.addRow("Detect every", self.interval)
        form.addRow("Processing size", self.proc_size)
        form.addRow(self.debug)
        form.addRow(self.ai_label)

    def _schedule_restart(self, *_: object) -> None:
        self._restart.start()

    def apply_detection(self) -> None:
        self._restart.stop()
        face = self.controller.settings.face
        face.detect_interval = self.interval.value()
        face.proc_max_dim = int(self.proc_size.currentData())
        self.controller.restart()


class FaceQualityControls(QWidget):
    """Every face-quality stage, live (see the module doc)."""

    def __init__(self, controller: EngineController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        face = controller.settings.face

        self.swapper = _combo("swapper", SWAPPER_LABELS, face.swapper)
        self.swapper.setToolTip("The model that swaps the face. Switching loads it beside the running one.")
        self.swapper.currentIndexChanged.connect(self._swapper_changed)

        self.enhancer = _combo("enhancer", ENHANCER_LABELS, face.enhancer)
        self.enhancer.setToolTip(
            "Restores detail on every swapped face, every frame. GPEN-BFR-256 is the fastest; "
            "a model that is not installed is reported below."
        )
        self.enhancer.currentIndexChanged.connect(lambda _: self._look(enhancer=self.enhancer.currentData()))
        self.blend = ValueSlider("enhancer_blend", face.enhancer_blend, _percent)
        self.blend.setToolTip("How much of the enhanced face replaces the swapped one.")
        self.blend.changed.connect(lambda v: self._look(enhancer_blend=v))
        self.fidelity = ValueSlider("codeformer_fidelity", face.codeformer_fidelity, _plain)
        self.fidelity.setToolTip("CodeFormer only: 0 = the model's own face, 1 = closest to the input.")
        self.fidelity.changed.connect(lambda v: self._look(codeformer_fidelity=v))

        self.face_mask = _combo("face_mask", FACE_MASK_LABELS, face.face_mask)
        self.face_mask.setToolTip("The outline the swapped face is blended in with.")
        self.face_mask.currentIndexChanged.connect(
            lambda _: self._look(face_mask=self.face_mask.currentData())
        )
        self.mouth = QCheckBox("Mouth")
        self.mouth.setChecked(face.mouth_mask)
        self.mouth.setToolTip("Let your real mouth show through (speech, teeth, tongue), feathered.")
        self.mouth.toggled.connect(lambda on: self._look(mouth_mask=on))
        self.mouth_size = ValueSlider("mouth_mask_size", face.mouth_mask_size, _times)
        self.mouth_size.setToolTip("Size of the mouth mask (×1 = the mouth and lips).")
        self.mouth_size.changed.connect(lambda v: self._look(mouth_mask_size=v))
        self.occlusion = QCheckBox("Keep hands and objects in front of the face")
        self.occlusion.setChecked(face.occlusion_mask)
        self.occlusion.setToolTip(
            "Where the swap disagrees wildly with the camera (a hand, a cup), the camera's pixels stay."
        )
        self.occlusion.toggled.connect(lambda on: self._look(occlusion_mask=on))
        self.color = QCheckBox("Match skin colour (no seam)")
        self.color.setChecked(face.color_transfer)
        self.color.setToolTip("Matches the swapped face's colour to yours inside the mask.")
        self.color.toggled.connect(lambda on: self._look(color_transfer=on))

        self.paste = _combo("paste_mode", PASTE_LABELS, face.paste_mode)
        self.paste.setToolTip("How the swapped face goes back into the picture.")
        self.paste.currentIndexChanged.connect(lambda _: self._look(paste_mode=self.paste.currentData()))
        self.paste_detail = ValueSlider("paste_detail", face.paste_detail, _percent)
        self.paste_detail.setToolTip("Mix only: how much of your own fine detail stays (0 = replace).")
        self.paste_detail.changed.connect(lambda v: self._look(paste_detail=v))
        self.opacity = ValueSlider("opacity", face.opacity, _percent)
        self.opacity.setToolTip("The swapped face's weight in the picture (100 % = fully swapped).")
        self.opacity.changed.connect(lambda v: self._look(opacity=v))
        self.sharpness = ValueSlider("sharpness", face.sharpness, _plain)
        self.sharpness.setToolTip("Sharpens the swapped face (0 = off).")
        self.sharpness.changed.connect(lambda v: self._look(sharpness=v))

        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setVisible(False)

        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Swapper", self.swapper)
        form.addRow("Enhancer", self.enhancer)
        self._blend_label = QLabel("Enhancer blend")
        form.addRow(self._blend_label, self.blend)
        self._fidelity_label = QLabel("Fidelity")
        form.addRow(self._fidelity_label, self.fidelity)
        form.addRow("Face outline", self.face_mask)
        form.addRow(self.mouth, self.mouth_size)
        form.addRow(self.occlusion)
        form.addRow(self.color)
        form.addRow("Paste", self.paste)
        self._detail_label = QLabel("Mix detail")
        form.addRow(self._detail_label, self.paste_detail)
        form.addRow("Opacity", self.opacity)
        form.addRow("Sharpness", self.sharpness)
        form.addRow(self.status)

        controller.stats_ready.connect(self.show_stats)
        controller.running_changed.connect(self._running_changed)
        self._update_enabled()

    # -- widgets → settings → the running face stage ---------------------------------------------
    def _look(self, **changes: object) -> None:
        self.controller.set_face_look(**changes)
        self._update_enabled()

    def _swapper_changed(self, _: int) -> None:
        self.controller.set_swapper(self.swapper.currentData())

    def _update_enabled(self) -> None:
        face = self.controller.settings.face
        enhancing = bool(face.enhancer)
        self.blend.setEnabled(enhancing)
        self._blend_label.setEnabled(enhancing)
        codeformer = face.enhancer == "codeformer"
        self.fidelity.setEnabled(codeformer)
        self._fidelity_label.setEnabled(codeformer)
        self.mouth_size.setEnabled(face.mouth_mask)
        mix = face.paste_mode == "mix"
        self.paste_detail.setEnabled(mix)
        self._detail_label.setEnabled(mix)

    # -- the running face stage → status (GUI thread, at the controller's poll rate) -------------
    @Slot(object)
    def show_stats(self, snap: MetricsSnapshot) -> None:
        self.set_status(self.describe(snap.processors))

    def describe(self, counters: dict) -> str:
        face = self.controller.settings.face
        problems = face_stage_problems(counters, face)
        lines = [f"⚠ {problems[a]}" for a in (SWAPPER_AREA, ENHANCER_AREA) if problems[a]]
        active = str(counters.get("face_swapper_model", "") or "")
        if active and not active.startswith(face.swapper) and not problems[SWAPPER_AREA]:
            lines.append(f"Loading {SWAPPER_LABELS.get(face.swapper, (face.swapper,))[0]}…")
        state = str(counters.get("enhancer_state", "") or "")
        label = ENHANCER_LABELS.get(face.enhancer, (face.enhancer,))[0].split(" (")[0]
        if face.enhancer and state.startswith("loading"):
            lines.append(f"Loading {label}…")
        elif face.enhancer and state == "on":
            ms = float(counters.get("enhancer_ms", 0.0) or 0.0)
            lines.append(f"{label} on every frame · {ms:.1f} ms")
        return "\n".join(lines)

    def set_status(self, text: str) -> None:
        if text != self.status.text():
            self.status.setText(text)
            self.status.setVisible(bool(text))

    @Slot(bool)
    def _running_changed(self, running: bool) -> None:
        if not running:
            self.set_status("")


#: FaceSettings.face_map: "TARGET=SOURCE;…" with gallery identity ids (names are accepted too);
#: an empty SOURCE wears the face chosen for everyone
WORN = ""
MAP_ROWS_SHOWN = 4


def parse_face_map(text: str) -> list[tuple[str, str]]:
    out = []
    for part in text.split(";"):
        target, _, source = part.partition("=")
        if target.strip():
            out.append((target.strip(), source.strip()))
    return out


def format_face_map(pairs: list[tuple[str, str]]) -> str:
    return ";".join(f"{target}={source}" for target, source in pairs)


class FaceMapControls(QWidget):
    """Map mode from the gallery: a row per saved person, ticked = swapped, with the face they wear."""

    def __init__(
        self, controller: EngineController, identities: IdentityStore, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.identities = identities
        face = controller.settings.face
        self._people: list[Identity] = []
        self._loading = False

        self.enabled = QCheckBox("Swap only these people")
        self.enabled.setChecked(face.map_mode)
        self.enabled.setToolTip(
            "Only the faces recognised as a ticked person are swapped, each wearing the face beside "
            "them; anyone else in the picture stays exactly as they are."
        )
        self.enabled.toggled.connect(self._changed)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Person in the video", "wears"])
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)  # long names are elided (the full name is the tooltip)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(self._changed)
        self.threshold = ValueSlider("map_threshold", face.map_threshold, _plain)
        self.threshold.setToolTip(
            "How alike a face must be to a ticked person (ArcFace similarity). Lower: found more "
            "easily, but a stranger may be taken for them."
        )
        self.threshold.changed.connect(self._threshold_changed)
        self.note = QLabel("")
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(self.enabled)
        layout.addWidget(self.table)
        form = QFormLayout()
        self._threshold_label = QLabel("Match at")
        form.addRow(self._threshold_label, self.threshold)
        layout.addLayout(form)
        layout.addWidget(self.note)
        self._reload = QTimer(self)
        self._reload.setSingleShot(True)
        self._reload.setInterval(0)
        self._reload.timeout.connect(self.reload)
        self.reload()

    def schedule_reload(self, *_: object) -> None:
        """The gallery changed (rows come and go one by one): rebuild once, when it settles."""
        self._reload.start()

    # -- the gallery → rows ----------------------------------------------------------------------
    def reload(self) -> None:
        """Rebuild the rows from the gallery, keeping what is ticked (called when the gallery changes)."""
        pairs = dict(parse_face_map(self.controller.settings.face.face_map))
        self._people = self.identities.list()
        by_name = {p.name: p.id for p in self._people}
        # names in a hand-written map become ids
        pairs = {by_name.get(t, t): by_name.get(s, s) for t, s in pairs.items()}
        self._loading = True
        self.table.setRowCount(len(self._people))
        for row, person in enumerate(self._people):
            item = QTableWidgetItem(person.name)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setData(Qt.ItemDataRole.UserRole, person.id)
            item.setToolTip(person.name)
            item.setCheckState(Qt.CheckState.Checked if person.id in pairs else Qt.CheckState.Unchecked)
            self.table.setItem(row, 0, item)
            wears = QComboBox()
            # long names are elided to the column, not widening the side panel
            wears.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            wears.setMinimumContentsLength(8)
            wears.addItem("the chosen face", WORN)
            for other in self._people:
                wears.addItem(other.name, other.id)
            wears.setCurrentIndex(max(0, wears.findData(pairs.get(person.id, WORN))))
            wears.currentIndexChanged.connect(self._changed)
            self.table.setCellWidget(row, 1, wears)
        rows = max(1, min(len(self._people), MAP_ROWS_SHOWN))
        height = self.table.horizontalHeader().sizeHint().height() + 2 * self.table.frameWidth()
        self.table.setFixedHeight(height + rows * self.table.verticalHeader().defaultSectionSize())
        self._loading = False
        self._changed()

    def pairs(self) -> list[tuple[str, str]]:
        """(target id, source id or WORN) for every ticked row."""
        out = []
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            wears = self.table.cellWidget(row, 1)
            if item is not None and item.checkState() == Qt.CheckState.Checked:
                out.append((item.data(Qt.ItemDataRole.UserRole), wears.currentData()))
        return out

    # -- rows → settings → the running face stage ------------------------------------------------
    def refresh(self) -> None:
        """Re-send the map (the face chosen for everyone changed)."""
        self._changed()

    def _threshold_changed(self, value: float) -> None:
        self.controller.settings.face.map_threshold = value
        self._changed()

    def _changed(self, *_: object) -> None:
        if self._loading:
            return
        face = self.controller.settings.face
        face.map_mode = self.enabled.isChecked()
        pairs = self.pairs()
        if self._people:
            # a map is kept while the gallery is empty (it may not have loaded); else it follows the rows
            face.face_map = format_face_map(pairs)
        for w in (self.table, self.threshold, self._threshold_label):
            w.setEnabled(face.map_mode)
        self.table.setVisible(bool(self._people))
        entries, note = self._entries(pairs)
        if not face.map_mode:
            entries, note = [], note if not self._people else ""
        self.controller.set_face_map(entries or None, face.map_threshold)
        self.note.setText(note)
        self.note.setVisible(bool(note))

    def _entries(self, pairs: list[tuple[str, str]]) -> tuple[list, str]:
        if not self._people:
            return (
                [],
                "Save the people to swap to the gallery first (load their photo, then “Save to gallery”).",
            )
        if not pairs:
            return [], "Tick the people to swap; until then everyone is swapped as usual."
        by_id = {p.id: p for p in self._people}
        entries = []
        for target, source in pairs:
            try:
                who = by_id[target]
                wears = None if source == WORN else by_id[source].embedding
            except KeyError:
                continue
            entries.append((who.embedding, wears, who.name))
        worn = any(source == WORN for _, source in pairs)
        if worn and not self.controller.has_identity:
            return entries, "Choose the face to wear above: the ticked people wear it."
        return entries, ""
