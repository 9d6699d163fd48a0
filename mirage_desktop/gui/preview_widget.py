"""The live picture: processed output large, the raw camera as picture-in-picture or side by side.

Frames arrive as QImage (queued signal, newest only); ``update()`` lets Qt coalesce repaints, so
painting never exceeds the display rate however fast frames come.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, QSize, Qt, Slot
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

MODES = ("pip", "side", "off")


def fit(image_size: QSize, area: QRect) -> QRectF:
    """The largest rect with the image's aspect ratio, centred in ``area``."""
    if image_size.isEmpty() or area.isEmpty():
        return QRectF(area)
    scale = min(area.width() / image_size.width(), area.height() / image_size.height())
    w, h = image_size.width() * scale, image_size.height() * scale
    return QRectF(area.x() + (area.width() - w) / 2, area.y() + (area.height() - h) / 2, w, h)


class PreviewWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(480, 270)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._output: QImage | None = None
        self._raw: QImage | None = None
        self.mode = "pip"
        self.placeholder = "Press Start to see yourself as the avatar"
        self.frames_received = 0
        self.frames_painted = 0

    def set_mode(self, mode: str) -> None:
        self.mode = mode if mode in MODES else "pip"
        self.update()

    @Slot(QImage)
    def set_output(self, image: QImage) -> None:
        self._output = image
        self.frames_received += 1
        self.update()

    @Slot(QImage)
    def set_raw(self, image: QImage) -> None:
        self._raw = image
        self.update()

    def clear(self, placeholder: str | None = None) -> None:
        self._output = self._raw = None
        if placeholder is not None:
            self.placeholder = placeholder
        self.update()

    @property
    def has_output(self) -> bool:
        return self._output is not None

    def _label(self, painter: QPainter, rect: QRectF, text: str) -> None:
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        box = QRectF(rect.x() + 8, rect.y() + 8, metrics.horizontalAdvance(text) + 14, metrics.height() + 6)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(box, 6, 6)
        painter.setPen(QColor("white"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("#0d0e11"))
        area = self.rect()
        if self._output is None:
            painter.setPen(QColor("#8b8f99"))
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            painter.end()
            return
        raw = self._raw if self.mode != "off" else None
        if raw is not None and self.mode == "side":
            half = area.width() // 2
            left = QRect(area.x(), area.y(), half - 2, area.height())
            right = QRect(area.x() + half + 2, area.y(), area.width() - half - 2, area.height())
            raw_rect = fit(raw.size(), left)
            out_rect = fit(self._output.size(), right)
            painter.drawImage(raw_rect, raw)
            painter.drawImage(out_rect, self._output)
            self._label(painter, raw_rect, "Camera")
            self._label(painter, out_rect, "Output")
        else:
            out_rect = fit(self._output.size(), area)
            painter.drawImage(out_rect, self._output)
            if raw is not None:
                # picture-in-picture: bottom-right quarter, framed so it reads as "not the output"
                w = out_rect.width() * 0.26
                h = w * raw.height() / max(1, raw.width())
                pip = QRectF(out_rect.right() - w - 12, out_rect.bottom() - h - 12, w, h)
                painter.drawImage(pip, raw)
                painter.setPen(QPen(QColor(255, 255, 255, 200), 2))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(pip)
                self._label(painter, pip, "Camera")
        self.frames_painted += 1
        painter.end()
