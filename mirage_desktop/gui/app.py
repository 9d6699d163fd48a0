"""`mirage`: the desktop app."""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

from mirage_desktop import APP_NAME
from mirage_desktop.config.logs import setup_logging
from mirage_desktop.config.paths import AppPaths
from mirage_desktop.config.settings import SettingsStore, load_settings


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


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()
    paths = AppPaths.from_env()
    setup_logging(paths.log_dir)
    problem = display_problem()
    if problem:
        if sys.stderr is not None:
            print(problem, file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication

    from mirage_desktop.gui.engine_controller import EngineController
    from mirage_desktop.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(list(argv) if argv is not None else sys.argv)
    app.setApplicationName(APP_NAME)
    icon = Path(__file__).resolve().parents[2] / "resources" / "mirage.png"
    if icon.is_file():
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))
    settings, _ = load_settings(paths.settings_file)
    controller = EngineController(settings)
    window = MainWindow(controller)
    window.show()
    code = app.exec()
    try:
        SettingsStore(paths.settings_file).save(controller.settings)
    except OSError as exc:
        if sys.stderr is not None:
            print(f"Mirage: {exc}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
