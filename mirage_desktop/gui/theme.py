"""Light and dark palettes that follow the OS (Qt 6.5+ colorScheme), or a forced choice."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#7c5cff"
LIVE_RED = "#e5484d"


def system_is_dark(app: QGuiApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def make_palette(dark: bool) -> QPalette:
    p = QPalette()
    if dark:
        base, window, text, mid, button = "#15161a", "#1d1f24", "#e8e9ed", "#2a2d34", "#262930"
        disabled = "#6b6f78"
    else:
        base, window, text, mid, button = "#ffffff", "#f3f4f7", "#1b1c20", "#d6d8de", "#ffffff"
        disabled = "#9a9da6"
    role = QPalette.ColorRole
    p.setColor(role.Window, QColor(window))
    p.setColor(role.WindowText, QColor(text))
    p.setColor(role.Base, QColor(base))
    p.setColor(role.AlternateBase, QColor(mid))
    p.setColor(role.Text, QColor(text))
    p.setColor(role.Button, QColor(button))
    p.setColor(role.ButtonText, QColor(text))
    p.setColor(role.Mid, QColor(mid))
    p.setColor(role.Highlight, QColor(ACCENT))
    p.setColor(role.HighlightedText, QColor("#ffffff"))
    p.setColor(role.ToolTipBase, QColor(window))
    p.setColor(role.ToolTipText, QColor(text))
    p.setColor(role.PlaceholderText, QColor(disabled))
    p.setColor(role.Link, QColor(ACCENT))
    for r in (role.Text, role.ButtonText, role.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, r, QColor(disabled))
    return p


def stylesheet(dark: bool) -> str:
    border = "#30333b" if dark else "#d6d8de"
    card = "#1d1f24" if dark else "#ffffff"
    muted = "#9a9da6" if dark else "#6b6f78"
    return f"""
    QGroupBox {{ border: 1px solid {border}; border-radius: 8px; margin-top: 14px; padding: 8px;
                 background: {card}; font-weight: 600; }}
    QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; }}
    QPushButton {{ padding: 5px 12px; border-radius: 6px; border: 1px solid {border}; }}
    QPushButton:hover {{ border-color: {ACCENT}; }}
    QPushButton#primary {{ background: {ACCENT}; color: white; border: none; font-weight: 700;
                          padding: 7px 20px; }}
    QPushButton#primary[live="true"] {{ background: {LIVE_RED}; }}
    QLabel#muted {{ color: {muted}; }}
    QLabel#badge {{ color: white; background: {LIVE_RED}; border-radius: 10px; padding: 3px 10px;
                    font-weight: 700; }}
    QLabel#badge[live="false"] {{ background: transparent; color: {muted}; border: 1px solid {border}; }}
    QLabel#onair {{ border-radius: 10px; padding: 3px 10px; font-weight: 700;
                    background: transparent; color: {muted}; border: 1px solid {border}; }}
    QLabel#onair[state="live"] {{ color: white; background: {LIVE_RED}; border: none; }}
    QLabel#onair[state="warn"] {{ color: black; background: #f0a000; border: none; }}
    QTabWidget::pane {{ border: 1px solid {border}; border-radius: 6px; }}
    QFrame#problems {{ border: 1px solid #d88a00; border-radius: 8px; background: rgba(216,138,0,0.10); }}
    """


class ThemeManager(QObject):
    """Applies the chosen theme and re-applies it when the OS switches while we run ("system")."""

    def __init__(self, app: QApplication, mode: str = "system") -> None:
        super().__init__(app)
        self.app = app
        self.mode = mode
        app.setStyle("Fusion")  # the native styles ignore much of a custom palette
        app.styleHints().colorSchemeChanged.connect(lambda _scheme: self.apply())
        self.apply()

    @property
    def dark(self) -> bool:
        if self.mode == "dark":
            return True
        if self.mode == "light":
            return False
        return system_is_dark(self.app)

    def set_mode(self, mode: str) -> None:
        self.mode = mode if mode in ("system", "light", "dark") else "system"
        self.apply()

    def apply(self) -> None:
        dark = self.dark
        self.app.setPalette(make_palette(dark))
        self.app.setStyleSheet(stylesheet(dark))
