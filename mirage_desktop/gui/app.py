"""`mirage`: the desktop app."""

from __future__ import annotations

import logging
import multiprocessing
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

from mirage_desktop import APP_NAME
from mirage_desktop.config.logs import setup_logging
from mirage_desktop.config.paths import AppPaths
from mirage_desktop.config.settings import Settings, SettingsStore

log = logging.getLogger(__name__)


def display_problem(environ=os.environ) -> str | None:
    """Qt aborts the process without a display; say so in words instead."""
    if platform.system() != "Linux":
        return None
    if environ.get("QT_QPA_PLATFORM") or environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "Mirage needs a graphical desktop, and none was found (DISPLAY and WAYLAND_DISPLAY are unset).\n"
        "On a server, use `mirage-cli run` instead, or start a virtual display: `xvfb-run mirage`."
    )


def app_icon():
    from PySide6.QtGui import QIcon

    icon = Path(__file__).resolve().parents[2] / "resources" / "mirage.png"
    return QIcon(str(icon)) if icon.is_file() else QIcon()


def build_window(
    settings: Settings,
    paths: AppPaths,
    *,
    virtual_camera: bool = True,
    theme=None,
    settings_store: SettingsStore | None = None,
):
    """The real window on the real engine, with its parts pointed at ``paths``.

    ``settings_store`` is the store ``settings`` were loaded from (its warnings are shown, and what
    the file held is kept on save); without one, the file at ``paths`` is read when first saved.
    """
    from mirage_desktop.gui.engine_controller import EngineController
    from mirage_desktop.gui.identity_store import IdentityStore
    from mirage_desktop.gui.main_window import MainWindow, WindowParts
    from mirage_desktop.gui.photo_faces import PhotoAnalyzer
    from mirage_desktop.gui.settings_saver import LOAD_AREA, SettingsSaver, load_message
    from mirage_desktop.gui.voice_controller import VoiceController
    from mirage_desktop.models import ModelStore

    store = ModelStore(paths.models_dir)
    controller = EngineController(settings, store.path, virtual_camera=virtual_camera)
    analyzer = PhotoAnalyzer(settings.face, store.path)

    settings_store = settings_store or SettingsStore(paths.settings_file)
    saver = SettingsSaver(settings, settings_store)

    def save_settings() -> None:
        saver.flush()

    parts = WindowParts(
        controller=controller,
        voice=VoiceController(settings.voice),
        identities=IdentityStore(paths.data_dir / "identities"),
        analyze=analyzer.analyze,
        models=store,
        theme=theme,
        save_settings=save_settings,
    )
    window = MainWindow(parts)
    # saved within half a second of every change, not only on a clean quit; failures show in the window
    saver.setParent(window)
    saver.report = window.problems.set_problem
    window.settings_saver = saver
    window.problems.set_problem(LOAD_AREA, load_message(settings_store.warnings))
    return window


def first_steps(window) -> None:
    """Models dialog on first run (or when a required model is missing), then the responsible-use notice."""
    from mirage_desktop.gui.first_run import required_entries

    gui = window.settings.gui
    store = window.parts.models
    missing = [e.id for e in required_entries(store) if not store.file_path(e.id).exists()]

    def notice() -> None:
        if not gui.responsible_use_accepted:
            window.show_responsible_use()

    if not gui.first_run_done or missing:
        gui.first_run_done = True
        dialog = window.show_models()
        dialog.finished.connect(lambda _code: notice())
    else:
        notice()


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()
    args = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in args:
        from mirage_desktop import selftest

        return selftest.main(args)
    paths = AppPaths.from_env()
    setup_logging(paths.log_dir)
    problem = display_problem()
    if problem:
        if sys.stderr is not None:
            print(problem, file=sys.stderr)
        return 1
    closer = _Closer().install()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from mirage_desktop.gui.theme import ThemeManager
    from mirage_desktop.gui.tray import MirageTray, tray_available

    app = QApplication.instance() or QApplication(list(argv) if argv is not None else sys.argv)
    app.setApplicationName(APP_NAME)
    icon = app_icon()
    app.setWindowIcon(icon)
    settings_store = SettingsStore(paths.settings_file)
    settings, warnings = settings_store.load_with_env()
    for message in warnings:
        log.warning("%s", message)
    theme = ThemeManager(app, settings.gui.theme)
    window = build_window(settings, paths, theme=theme, settings_store=settings_store)
    if tray_available():
        window.tray = MirageTray(window, window.controller, icon, window.quit)
        window.tray.show()
    else:
        app.setQuitOnLastWindowClosed(True)
    window.show()
    closer.window = window
    if closer.asked:  # a signal came while the window was being built: close it as Quit does
        window.quit()
        return 0
    first_steps(window)
    # Python runs signal handlers only between bytecodes and Qt's event loop is C++: a short timer
    # hands control back to Python often enough for the handler to run
    timer = QTimer(window)
    timer.setInterval(200)
    timer.timeout.connect(lambda: None)
    timer.start()
    return app.exec()


class _Closer:
    """SIGTERM (log-out, `kill`), SIGHUP (the terminal closed) and Ctrl-C close the window the way
    Quit does: the voice stops and "Mirage Microphone" is removed, the settings are saved."""

    def __init__(self) -> None:
        self.window = None
        self.asked = False

    def install(self) -> _Closer:
        import signal

        for name in ("SIGTERM", "SIGHUP", "SIGINT"):
            if hasattr(signal, name):
                try:
                    signal.signal(getattr(signal, name), self)
                except ValueError:  # not the main thread (an embedding host): its signals stay its own
                    break
        return self

    def __call__(self, signum: int, _frame: object) -> None:
        import signal

        log.info("%s received: closing the window", signal.Signals(signum).name)
        self.asked = True
        if self.window is not None:
            self.window.quit()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
