"""Checks that the Qt binding in use does not leak references to Python's singletons.

PySide6 6.12.0 on CPython 3.11 took a reference from ``None`` on every Qt call that returns nothing,
so a live window aborted within minutes (``none_dealloc``). The pin in pyproject.toml keeps the
source install on a measured-clean release; this probe lets the frozen app's self-test prove the
bundle got the same binding.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BindingHealth:
    binding: str
    calls: int
    drift: dict[str, int]
    #: from CPython 3.12 these objects are immortal: a leak cannot abort, and cannot be seen
    immortal: bool

    @property
    def leaking(self) -> bool:
        return not self.immortal and any(abs(d) > max(50, self.calls // 100) for d in self.drift.values())

    def describe(self) -> str:
        if self.immortal:
            return f"{self.binding}: singletons immortal on this Python"
        moved = ", ".join(f"{k} {v:+d}" for k, v in self.drift.items())
        verdict = "LEAKS references" if self.leaking else "clean"
        return f"{self.binding}: {self.calls} Qt calls, refcount drift {moved} → {verdict}"


def _counts() -> dict[str, int]:
    return {"None": sys.getrefcount(None), "True": sys.getrefcount(True), "False": sys.getrefcount(False)}


def probe_binding(calls: int = 300) -> BindingHealth:
    """Run ``calls`` rounds of the Qt calls the window makes most; needs a QApplication.

    Kept small by default: a leaking binding takes ~6 references per round from ``None``, and a
    few thousand more would abort the process before it could report anything.
    """
    import PySide6
    from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPixmap
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    target = QPixmap(32, 32)

    def rounds(n: int) -> None:
        painter = QPainter(target)
        try:
            for i in range(n):
                label.setText("a" if i & 1 else "b")
                label.setVisible(bool(i & 1))
                label.update()
                painter.setPen(QPen(QColor(1, 2, 3), 1.0))
                path = QPainterPath()
                path.lineTo(float(i & 31), 1.0)
                painter.drawPath(path)
        finally:
            painter.end()

    rounds(50)
    before = _counts()
    rounds(calls)
    after = _counts()
    return BindingHealth(
        binding=f"PySide6 {PySide6.__version__}",
        calls=calls,
        drift={k: after[k] - before[k] for k in before},
        immortal=sys.version_info >= (3, 12),
    )
