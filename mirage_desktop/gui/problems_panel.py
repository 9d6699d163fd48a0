"""What is wrong right now, in words, with the fix one click away. Hidden when all is well."""

from __future__ import annotations

import re
from collections.abc import Callable

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from mirage_desktop.gui.fix_dialog import FixDialog

VIRTUAL_CAMERA_AREA = "sink:VirtualCameraSink"

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`])")
_MODEL_WORDS = ("model", ".onnx", "det_10g", "w600k", "inswapper")


def window_text(message: str) -> tuple[str, bool]:
    """The message as the window shows it, and whether it is about models.

    Engine messages are written for both the CLI and the window; in the window, a sentence that
    tells the user to run `mirage-cli` is replaced by the button that does the same thing.
    """
    sentences = _SENTENCE.split(message.strip())
    kept = [s for s in sentences if "mirage-cli" not in s]
    about_models = any(w in message.lower() for w in _MODEL_WORDS)
    if len(kept) < len(sentences) and about_models:
        kept.append("Use Open Models… to download or add it.")
    return " ".join(kept) or message, about_models


class ProblemsPanel(QFrame):
    def __init__(
        self,
        driver_fix: Callable[[], str],
        parent: QWidget | None = None,
        open_models: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("problems")
        self._driver_fix = driver_fix
        self._problems: dict[str, str] = {}
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fix_button = QPushButton("How to fix…")
        self.fix_button.clicked.connect(self.show_fix)
        self.models_button = QPushButton("Open Models…")
        self.models_button.setVisible(False)
        if open_models is not None:
            self.models_button.clicked.connect(lambda: open_models())
        self._can_open_models = open_models is not None
        self.dialog: FixDialog | None = None
        row = QHBoxLayout()
        row.addWidget(self.text, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.fix_button)
        buttons.addWidget(self.models_button)
        buttons.addStretch(1)
        row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addLayout(row)
        self._refresh()

    @property
    def problems(self) -> dict[str, str]:
        return dict(self._problems)

    @Slot(str, str)
    def set_problem(self, area: str, message: str) -> None:
        if message:
            self._problems[area] = message
        else:
            self._problems.pop(area, None)
        self._refresh()

    def clear(self) -> None:
        self._problems.clear()
        self._refresh()

    def _refresh(self) -> None:
        lines = []
        models = False
        for area, message in self._problems.items():
            if area == VIRTUAL_CAMERA_AREA:
                lines.append(f"⚠ {message.splitlines()[0]}")
                continue
            text, about_models = window_text(message)
            models = models or about_models
            lines.append(f"⚠ {text}")
        self.text.setText("\n".join(lines))
        self.fix_button.setVisible(VIRTUAL_CAMERA_AREA in self._problems)
        self.models_button.setVisible(models and self._can_open_models)
        self.setVisible(bool(self._problems))

    @Slot()
    def show_fix(self) -> None:
        first_line = self._problems.get(VIRTUAL_CAMERA_AREA, "").split("\n")[0]
        self.dialog = FixDialog(
            "Set up Mirage Camera",
            f"Apps can't see Mirage Camera yet: {first_line}\nThe preview keeps working meanwhile.",
            self._driver_fix(),
            self,
        )
        self.dialog.open()
