"""Pick the face to wear: drop or choose a photo, see the face Mirage found, pick one if there are several."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mirage_desktop.gui.engine_controller import to_qimage
from mirage_desktop.gui.gallery import thumbnail_pixmap
from mirage_desktop.gui.photo_faces import PhotoAnalysis, PhotoFace
from mirage_desktop.gui.workers import TaskRunner

PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.bmp *.webp)"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
FACE_PX = 112
#: face buttons shown for a crowded photo (largest first)
MAX_PICKS = 7


def bgr_pixmap(image: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(to_qimage(image))


class SourceFacePanel(QWidget):
    #: the face to wear: embedding, label
    identity_selected = Signal(object, str)
    #: name, embedding, thumbnail (BGR), photo path or None (only when the user opted in)
    save_requested = Signal(str, object, object, object)

    def __init__(
        self,
        analyze: Callable[[Path], PhotoAnalysis],
        runner: TaskRunner,
        keep_photos: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._analyze = analyze
        self._runner = runner
        self.analysis: PhotoAnalysis | None = None
        self.chosen: PhotoFace | None = None
        self._pending: Path | None = None

        self.face = QLabel("No face\nchosen")
        self.face.setFixedSize(FACE_PX, FACE_PX)
        self.face.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.face.setFrameShape(QFrame.Shape.StyledPanel)
        self.status = QLabel("Drop a photo here, or choose one. Mirage keeps only the face's embedding.")
        self.status.setWordWrap(True)
        self.choose_button = QPushButton("Choose photo…")
        self.choose_button.clicked.connect(self._choose_clicked)
        info = QVBoxLayout()
        info.addWidget(self.status, 1)
        info.addWidget(self.choose_button, 0, Qt.AlignmentFlag.AlignLeft)
        top = QHBoxLayout()
        top.addWidget(self.face)
        top.addLayout(info, 1)

        self.faces_row = QHBoxLayout()
        self.faces_box = QWidget()
        self.faces_box.setLayout(self.faces_row)
        self.faces_box.hide()
        self.face_buttons: list[QToolButton] = []

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Name")
        self.keep_photo = QCheckBox("Also keep the photo")
        self.keep_photo.setChecked(keep_photos)
        self.keep_photo.setToolTip("Off: only the face embedding and a small thumbnail are stored.")
        self.save_button = QPushButton("Save to gallery")
        self.save_button.clicked.connect(self._save_clicked)
        save = QHBoxLayout()
        save.addWidget(self.name_edit, 1)
        save.addWidget(self.keep_photo)
        save.addWidget(self.save_button)
        self.save_box = QWidget()
        self.save_box.setLayout(save)
        self.save_box.setEnabled(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.faces_box)
        layout.addWidget(self.save_box)

    # -- input -----------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile() and Path(urls[0].toLocalFile()).suffix.lower() in PHOTO_SUFFIXES:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
            self.load_photo(Path(urls[0].toLocalFile()))

    def _choose_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a photo of the face to wear", "", PHOTO_FILTER)
        if path:
            self.load_photo(Path(path))

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def load_photo(self, path: Path) -> None:
        self._pending = path
        self.status.setText(f"Looking for faces in {path.name}…")
        self.choose_button.setEnabled(False)
        self._runner.submit(
            lambda: self._analyze(path),
            on_done=lambda result: self._analysed(path, result),
            on_failed=lambda exc: self._failed(path, exc),
        )

    def _analysed(self, path: Path, analysis: PhotoAnalysis) -> None:
        if path != self._pending:
            return
        self._pending = None
        self.choose_button.setEnabled(True)
        self.show_analysis(analysis)

    def _failed(self, path: Path, exc: BaseException) -> None:
        if path != self._pending:
            return
        self._pending = None
        self.choose_button.setEnabled(True)
        # the previous face (if any) stays worn: a bad photo loses nothing
        self.status.setText(f"⚠ {exc}")

    # -- showing faces ---------------------------------------------------------------------------
    def show_analysis(self, analysis: PhotoAnalysis) -> None:
        self.analysis = analysis
        for button in self.face_buttons:
            button.deleteLater()
        self.face_buttons = []
        self.name_edit.setText(analysis.path.stem.replace("_", " ").title())
        if len(analysis.faces) == 1:
            self.faces_box.hide()
            self.pick(0)
            return
        for i, face in enumerate(analysis.faces[:MAX_PICKS]):
            button = QToolButton()
            button.setIcon(QIcon(bgr_pixmap(face.thumbnail)))
            button.setIconSize(QSize(40, 40))
            button.setCheckable(True)
            button.setToolTip(f"Face {i + 1}")
            button.clicked.connect(lambda _=False, index=i: self.pick(index))
            self.faces_row.addWidget(button)
            self.face_buttons.append(button)
        self.faces_row.addStretch(1)
        self.faces_box.show()
        # wear the largest at once (what most photos mean), and say how to pick another
        self.pick(0)

    @Slot(int)
    def pick(self, index: int) -> None:
        assert self.analysis is not None
        face = self.analysis.faces[index]
        self.chosen = face
        for i, button in enumerate(self.face_buttons):
            button.setChecked(i == index)
        self.face.setPixmap(bgr_pixmap(face.thumbnail).scaled(FACE_PX, FACE_PX))
        count = len(self.analysis.faces)
        if count > 1:
            self.status.setText(
                f"{count} faces in {self.analysis.path.name}: wearing face {index + 1}"
                f"{' (the largest)' if index == 0 else ''}. Click another face below to wear it instead."
            )
        else:
            self.status.setText(f"Wearing the face from {self.analysis.path.name}.")
        self.save_box.setEnabled(True)
        self.identity_selected.emit(face.embedding, self.analysis.path.name)

    def show_identity(self, name: str, thumbnail: Path | None) -> None:
        """A gallery identity is worn: show it, nothing to save."""
        self.analysis = None
        self.chosen = None
        self.faces_box.hide()
        picture = thumbnail_pixmap(thumbnail)
        if picture.isNull():
            self.face.clear()  # its picture was damaged and set aside: the face still works
        else:
            self.face.setPixmap(picture.scaled(FACE_PX, FACE_PX))
        self.status.setText(f"Wearing “{name}” from the gallery.")
        self.save_box.setEnabled(False)

    def _save_clicked(self) -> None:
        if self.chosen is None or self.analysis is None:
            return
        photo = self.analysis.path if self.keep_photo.isChecked() else None
        self.save_requested.emit(self.name_edit.text(), self.chosen.embedding, self.chosen.thumbnail, photo)
