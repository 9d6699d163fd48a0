"""Screenshots of Mirage's main states, for review: `python scripts/screenshots.py OUT_DIR`.

Runs the real window on the real engine with the shared test video and self-built stand-in models
(`mirage_desktop.testmodels`, needs the `onnx` dev dependency), in throw-away user folders so nothing
of yours is touched. Writes: 01-idle.png, 02-live-face-swap.png, 03-first-run.png,
04-missing-driver.png, 05-dark-live.png, 06-voice.png, 07-devices.png, 08-face-quality.png (1280×720,
an enhancer, mouth mask and colour match on, the Face tab scrolled to Quality).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "testdata"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs")
    parser.add_argument("--testdata", type=Path, default=TESTDATA)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    base = Path(tempfile.mkdtemp(prefix="mirage-shots-"))
    for var, sub in (
        ("MIRAGE_CONFIG_DIR", "config"),
        ("MIRAGE_DATA_DIR", "data"),
        ("MIRAGE_MODELS_DIR", "models"),
        ("MIRAGE_LOG_DIR", "logs"),
        ("MIRAGE_CACHE_DIR", "cache"),
    ):
        os.environ[var] = str(base / sub)
    sys.path.insert(0, str(REPO))

    from PySide6.QtWidgets import QApplication

    from mirage_desktop.config.paths import AppPaths
    from mirage_desktop.config.settings import Settings
    from mirage_desktop.gui.app import app_icon, build_window
    from mirage_desktop.gui.first_run import ModelsDialog
    from mirage_desktop.gui.theme import ThemeManager
    from mirage_desktop.models import ModelStore
    from mirage_desktop.testmodels import arcface, inswapper
    from mirage_desktop.testmodels.enhancers import build_enhancer
    from mirage_desktop.testmodels.scrfd import build_scrfd, obama_template

    app = QApplication.instance() or QApplication([])
    app.setWindowIcon(app_icon())
    theme = ThemeManager(app, "light")

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def wait_for(check, seconds: float = 20.0) -> None:
        end = time.monotonic() + seconds
        while not check() and time.monotonic() < end:
            spin(0.05)

    def shot(widget, name: str) -> None:
        path = args.out / name
        widget.grab().save(str(path))
        print(path)

    paths = AppPaths.from_env()
    # first run: the real manifest, nothing downloaded yet
    empty = ModelStore(paths.models_dir)
    settings = Settings()
    settings.video.source = f"file:{args.testdata / 'video' / 'talking_head_d0.mp4'}"
    settings.video.width, settings.video.height = 1280, 720
    window = build_window(settings, paths, theme=theme)
    window.show()
    spin(0.8)
    shot(window, "01-idle.png")
    dialog = ModelsDialog(empty, window.runner, window)
    dialog.show()
    wait_for(lambda: bool(dialog.rows))
    spin(0.3)
    shot(dialog, "03-first-run.png")
    dialog.close()

    built = base / "built"
    built.mkdir()
    empty.add(
        build_scrfd(built / "det_10g.onnx", obama_template(args.testdata)), "det_10g", allow_unverified=True
    )
    empty.add(arcface.build_arcface(built / "w600k_r50.onnx"), "w600k_r50", allow_unverified=True)
    empty.add(inswapper.build_visible(built / "inswapper_128.onnx"), "inswapper_128", allow_unverified=True)

    window.source_panel.load_photo(args.testdata / "faces" / "obama.jpg")
    wait_for(lambda: not window.source_panel.busy)
    window.source_panel.name_edit.setText("Obama")
    window.source_panel.save_button.click()
    window.toggle()
    wait_for(lambda: window.stats.updates > 12 and window.preview.frames_painted > 20)
    shot(window, "02-live-face-swap.png")
    window.problems.show_fix()
    spin(0.3)
    shot(window.problems.dialog, "04-missing-driver.png")
    window.problems.dialog.close()

    empty.add(build_enhancer(built / "gpen_bfr_256.onnx", 256), "gpen_bfr_256", allow_unverified=True)
    window.resize(1280, 720)
    quality = window.face_quality
    quality.enhancer.setCurrentIndex(quality.enhancer.findData("gpen_bfr_256"))
    quality.mouth.setChecked(True)
    quality.color.setChecked(True)
    wait_for(lambda: "GPEN" in window.stages_caption.text() and "loading" not in window.stages_caption.text())
    window.tabs.currentWidget().ensureWidgetVisible(quality.status)
    spin(0.8)
    shot(window, "08-face-quality.png")

    theme.set_mode("dark")
    window.tabs.setCurrentIndex(3)
    spin(2.5)
    shot(window, "05-dark-live.png")
    window.tabs.setCurrentIndex(1)
    window.voice_controls.converter.setCurrentIndex(2)
    window.voice_controls.apply()
    wait_for(lambda: window.voice.state != "starting", 10)
    spin(0.3)
    voice_tab = window.tabs.currentWidget()
    shot(voice_tab, "06-voice.png")
    window.tabs.setCurrentIndex(2)
    wait_for(lambda: window.devices.audio_report is not None, 10)
    spin(0.3)
    shot(window, "07-devices.png")

    window.controller.stop()
    wait_for(lambda: window.controller.idle)
    window.quit()
    spin(0.3)
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
