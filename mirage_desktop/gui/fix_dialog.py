"""Shows the exact commands that fix a missing driver, selectable and copyable."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from mirage_desktop.sinks.virtual_camera import runnable_lines


class FixDialog(QDialog):
    def __init__(self, title: str, problem: str, fix: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(760, 320)
        intro = QLabel(problem)
        intro.setWordWrap(True)
        self.commands = QPlainTextEdit(fix)
        self.commands.setReadOnly(True)
        # a wrapped command is easy to mis-copy by hand: keep each on one line
        self.commands.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.commands.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        # only what a terminal can run: explanation pasted into a shell fails or, worse, runs
        self.runnable = runnable_lines(fix)
        self.copy_button = QPushButton("Copy commands")
        self.copy_button.clicked.connect(self.copy)
        self.copy_button.setEnabled(bool(self.runnable))
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.commands, 1)
        layout.addWidget(QLabel("Then press Start again; Mirage finds the camera by itself."))
        layout.addLayout(buttons)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText("\n".join(self.runnable) + "\n")
        self.copy_button.setText("Copied")
