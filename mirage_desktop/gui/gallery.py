"""Saved identities as thumbnails with names: wear, rename, delete."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mirage_desktop import safe_read
from mirage_desktop.gui.identity_files import THUMB_LIMIT
from mirage_desktop.gui.identity_store import Identity, IdentityError, IdentityStore

ICON = 72


def thumbnail_pixmap(path: Path | None) -> QPixmap:
    """The saved picture, read the safe way (a regular file, size-limited); a null pixmap if none.

    QPixmap(path) would open a FIFO and wait, or read /dev/zero, if the file was swapped since the scan.
    """
    pixmap = QPixmap()
    if path is None:
        return pixmap
    with contextlib.suppress(OSError):  # gone or swapped since the scan: no picture
        pixmap.loadFromData(safe_read.read_bytes(path, THUMB_LIMIT), "PNG")
    return pixmap


class GalleryWidget(QWidget):
    identity_activated = Signal(object)  # Identity
    identity_deleted = Signal(str)  # id
    error = Signal(str)
    #: what the scans found damaged or unreadable so far this session, one message ("" = nothing)
    load_problems_changed = Signal(str)

    def __init__(self, store: IdentityStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(ICON, ICON))
        self.list.setGridSize(QSize(ICON + 24, ICON + 34))
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setFixedHeight(2 * (ICON + 34) + 8)
        self.list.itemActivated.connect(self._activated)
        self.list.itemClicked.connect(self._activated)
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.empty = QLabel("Saved faces appear here. Load a photo, then “Save to gallery”.")
        self.empty.setObjectName("muted")
        self.empty.setWordWrap(True)
        #: set aside or skipped entries, named (kept for the session: a set-aside one is not seen again)
        self.load_problems: list[str] = []
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note.setVisible(False)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(self._rename_clicked)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self._delete_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.rename_button)
        buttons.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addWidget(self.empty)
        layout.addWidget(self.note)
        layout.addLayout(buttons)
        self.reload()

    def reload(self, select: str | None = None) -> None:
        current = select or self.current_id()
        self.list.clear()
        scan = self.store.scan()
        for identity in scan.identities:
            item = QListWidgetItem(QIcon(thumbnail_pixmap(identity.thumbnail)), identity.name)
            item.setData(Qt.ItemDataRole.UserRole, identity.id)
            item.setToolTip(identity.name + ("  (photo kept)" if identity.photo else ""))
            self.list.addItem(item)
            if identity.id == current:
                self.list.setCurrentItem(item)
        self.empty.setVisible(self.list.count() == 0)
        self.list.setVisible(self.list.count() > 0)
        self._update_buttons()
        new = [p for p in scan.problems if p not in self.load_problems]
        if new:
            self.load_problems += new
            self.note.setText("\n".join(f"⚠ {p}" for p in self.load_problems))
            self.note.setVisible(True)
            self.load_problems_changed.emit(self.load_problems_text())

    def load_problems_text(self) -> str:
        return "\n".join(self.load_problems)

    def current_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def names(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def _update_buttons(self) -> None:
        has = self.list.currentItem() is not None
        self.rename_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    # -- commands (the buttons ask first, then call these) ----------------------------------------
    def add(
        self, name: str, embedding: np.ndarray, thumbnail: np.ndarray, photo: Path | None
    ) -> Identity | None:
        try:
            identity = self.store.save(name, embedding, thumbnail, photo)
        except IdentityError as exc:
            self.error.emit(str(exc))
            return None
        self.reload(select=identity.id)
        return identity

    def select(self, identity_id: str) -> bool:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == identity_id:
                self.list.setCurrentItem(item)
                return self._activated(item)
        return False

    def rename(self, identity_id: str, name: str) -> None:
        try:
            self.store.rename(identity_id, name)
        except IdentityError as exc:
            self.error.emit(str(exc))
            return
        self.reload(select=identity_id)

    def delete(self, identity_id: str) -> None:
        try:
            self.store.delete(identity_id)
        except IdentityError as exc:
            self.error.emit(str(exc))
            return
        self.reload()
        self.identity_deleted.emit(identity_id)

    # -- UI --------------------------------------------------------------------------------------
    @Slot(QListWidgetItem)
    def _activated(self, item: QListWidgetItem) -> bool:
        """Wear the item's identity; False when it could not be read (said through ``error``)."""
        try:
            identity = self.store.get(item.data(Qt.ItemDataRole.UserRole))
        except IdentityError as exc:
            self.error.emit(str(exc))
            return False
        self.identity_activated.emit(identity)
        return True

    def _rename_clicked(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        name, ok = QInputDialog.getText(self, "Rename face", "Name:", text=item.text())
        if ok:
            self.rename(item.data(Qt.ItemDataRole.UserRole), name)

    def _delete_clicked(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        answer = QMessageBox.question(self, "Delete face", f"Delete “{item.text()}” from the gallery?")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete(item.data(Qt.ItemDataRole.UserRole))
