"""A tray icon so Mirage keeps running (camera and microphone live) with the window closed."""

from __future__ import annotations

from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from mirage_desktop import APP_NAME
from mirage_desktop.gui.engine_controller import EngineController


def tray_available() -> bool:
    return QSystemTrayIcon.isSystemTrayAvailable()


class MirageTray(QSystemTrayIcon):
    def __init__(self, window: QWidget, controller: EngineController, icon: QIcon, quit_app) -> None:
        super().__init__(icon, window)
        self.window = window
        self.controller = controller
        self.setToolTip(APP_NAME)
        menu = QMenu(window)
        self.show_action = QAction("Show Mirage", menu, triggered=self.show_window)
        self.start_action = QAction("Start", menu, triggered=self._toggle_running)
        self.swap_action = QAction("Swap my face", menu, checkable=True)
        self.swap_action.setChecked(controller.settings.face.swap_enabled)
        self.swap_action.toggled.connect(controller.set_swap_enabled)
        controller.swap_toggled.connect(self.swap_action.setChecked)
        quit_action = QAction("Quit", menu, triggered=quit_app)
        for action in (self.show_action, self.start_action, self.swap_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(quit_action)
        self.setContextMenu(menu)
        self._menu = menu
        controller.running_changed.connect(self._running_changed)
        self.activated.connect(self._activated)

    def _toggle_running(self) -> None:
        if self.controller.running:
            self.controller.stop()
        else:
            self.controller.start()

    def _running_changed(self, running: bool) -> None:
        self.start_action.setText("Stop" if running else "Start")
        self.setToolTip(f"{APP_NAME}: {'live' if running else 'stopped'}")

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.show_window()

    def show_window(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()
