"""What is wrong right now, in words, with the fix one click away. Hidden when all is well."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from mirage_desktop.gui.fix_dialog import FixDialog

VIRTUAL_CAMERA_AREA = "sink:VirtualCameraSink"


class ProblemsPanel(QFrame):
    def __init__(self, driver_fix: Callable[[], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("problems")
        self._driver_fix = driver_fix
        self._problems: dict[str, str] = {}
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fix_button = QPushButton("How to fix…")
        self.fix_button.clicked.connect(self.show_fix)
        self.dialog: FixDialog | None = None
        row = QHBoxLayout()
        row.addWidget(self.text, 1)
        row.addWidget(self.fix_button, 0, Qt.AlignmentFlag.AlignTop)
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
        lines = [
            f"⚠ {message.splitlines()[0]}" if area == VIRTUAL_CAMERA_AREA else f"⚠ {message}"
            for area, message in self._problems.items()
        ]
        self.text.setText("\n".join(lines))
        self.fix_button.setVisible(VIRTUAL_CAMERA_AREA in self._problems)
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
