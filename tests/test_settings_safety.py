"""The user's settings file is never lost: broken files are kept, odd values survive saves, and the
window saves within half a second of a change. Real files in temp folders, a real QApplication,
the real ``mirage-cli``; nothing of the file system is mocked.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mirage_desktop.config.paths import AppPaths
from mirage_desktop.config.settings import (
    Settings,
    SettingsSaveError,
    SettingsStore,
    load_settings,
    rules,
)

#: the reproduced case: hand-picked values, then a syntax error (a trailing comma)
BROKEN = b'{"video": {"source": "camera:1", "width": 1920,}, "face": {"max_faces": 2}}'
NOBODY = 65534


def backups(path: Path, tag: str = "corrupt") -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.{tag}-*"))


def leftovers(folder: Path) -> list[str]:
    """Temporary files a failed or finished save must not leave behind."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


@contextlib.contextmanager
def unwritable(folder: Path):
    """``folder`` read-only for this process. Root ignores permissions, so as root the effective
    user is also switched to nobody for the duration (root keeps its saved id and switches back).
    """
    mode = folder.stat().st_mode
    folder.chmod(0o555)
    as_root = os.geteuid() == 0
    try:
        if as_root:
            os.setegid(NOBODY)
            os.seteuid(NOBODY)
        yield
    finally:
        if as_root:
            os.seteuid(0)
            os.setegid(0)
        folder.chmod(mode & 0o7777)


@pytest.fixture
def cfg_folder():
    """A config folder that user nobody can reach (pytest's tmp_path sits in a root-only 0700 folder)."""
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="mirage-settings-"))
    base.chmod(0o755)
    folder = base / "cfg"
    folder.mkdir(mode=0o755)
    yield folder
    shutil.rmtree(base, ignore_errors=True)


# -- files that cannot be parsed -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (BROKEN, "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 48"),
        (b'["video", "face"]', "a JSON list, not an object of settings"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8 text: byte 0 is 0xff"),
        (b"", "not valid JSON: Expecting value at line 1 column 1"),
    ],
    ids=["syntax-error", "not-an-object", "bad-bytes", "empty"],
)
def test_unparseable_file_is_kept_as_a_dated_backup_and_said_so(tmp_path, content, reason):
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    store = SettingsStore(path)
    settings, warnings = store.load()
    assert settings == Settings()
    (backup,) = backups(path)
    assert backup.read_bytes() == content and store.backup == backup
    assert backup.name.startswith("settings.json.corrupt-20") and len(backup.name) == len(
        "settings.json.corrupt-YYYYmmdd-HHMMSS"
    )
    assert warnings == [
        f"{path} could not be read ({reason}); kept it as {backup} and started with default settings"
    ]
    # Reading alone changes nothing: the original stays where the user may fix it by hand.
    assert path.read_bytes() == content
    assert not store.is_dirty(settings)


def test_corrupt_file_is_replaced_only_when_the_user_changes_something(tmp_path):
    """Decision: keep the broken original in place until the first real change, then save over it.

    Opening and closing the app must not touch a file the user may be repairing by hand; once they
    change a setting, their new choice matters more, and the backup holds the old bytes.
    """
    path = tmp_path / "settings.json"
    path.write_bytes(BROKEN)
    store = SettingsStore(path)
    settings, _ = store.load()
    settings.video.fps = 25.0
    assert store.is_dirty(settings)
    store.save(settings)
    assert json.loads(path.read_text())["video"]["fps"] == 25.0
    (backup,) = backups(path)
    assert backup.read_bytes() == BROKEN


def test_backups_are_never_overwritten_and_not_duplicated(tmp_path):
    path = tmp_path / "settings.json"
    path.write_bytes(BROKEN)
    SettingsStore(path).load()
    SettingsStore(path).load()  # the same broken bytes again (every mirage-cli run): one copy
    (first,) = backups(path)
    other = b'{"video": '
    path.write_bytes(other)
    SettingsStore(path).load()  # a different broken file in the same second: a second name
    kept = backups(path)
    assert len(kept) == 2 and first in kept
    assert first.read_bytes() == BROKEN
    assert {p.read_bytes() for p in kept} == {BROKEN, other}


def test_unreadable_file_is_never_overwritten(tmp_path):
    path = tmp_path / "settings.json"
    path.mkdir()  # something that exists but cannot be read as a file (as root, chmod 000 would not do)
    (path / "keep.txt").write_text("x")
    store = SettingsStore(path)
    settings, warnings = store.load()
    assert settings == Settings()
    # named for what it is (issue 17.7), and never replaced
    assert warnings[0].startswith(f"{path} is a folder, not a regular file — using default settings")
    settings.video.fps = 24.0
    with pytest.raises(SettingsSaveError, match="neither reads nor replaces it"):
        store.save(settings)
    assert (path / "keep.txt").read_text() == "x"


def test_no_backup_possible_means_no_overwrite(cfg_folder):
    folder = cfg_folder
    path = folder / "settings.json"
    path.write_bytes(BROKEN)
    store = SettingsStore(path)
    with unwritable(folder):
        settings, warnings = store.load()
    assert "no backup of it could be made (Permission denied)" in warnings[0]
    settings.video.fps = 24.0
    with pytest.raises(SettingsSaveError, match="does not overwrite it"):
        store.save(settings)
    assert path.read_bytes() == BROKEN and backups(path) == []


# -- files that parse: keep everything, report what is invalid -------------------------------------


def test_wrongly_typed_value_survives_a_save(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"video": {"width": "wide", "source": "camera:1"}, "face": {"max_faces": 2}}))
    store = SettingsStore(path)
    settings, warnings = store.load()
    assert (
        settings.video.width == 1280 and settings.video.source == "camera:1" and settings.face.max_faces == 2
    )
    assert warnings == [
        f'{path}: video.width = "wide" is not a whole number (allowed: 16–7680 px); using 1280'
    ]
    settings.voice.semitones = 3.0
    store.save(settings)
    saved = json.loads(path.read_text())
    assert saved["video"]["width"] == "wide"  # not destroyed: the user can still fix it
    assert saved["video"]["source"] == "camera:1" and saved["face"]["max_faces"] == 2
    assert saved["voice"]["semitones"] == 3.0
    # ... and it is reported again on the next start
    assert SettingsStore(path).load()[1] == warnings


def test_a_changed_invalid_value_is_replaced_by_the_users_choice(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"voice": {"block_ms": -10}}))
    store = SettingsStore(path)
    settings, _ = store.load()
    settings.voice.block_ms = 20.0
    store.save(settings)
    assert json.loads(path.read_text())["voice"]["block_ms"] == 20.0
    assert SettingsStore(path).load() == (settings, [])


def test_unknown_keys_and_sections_survive_saves(tmp_path):
    path = tmp_path / "settings.json"
    data = {
        "video": {"fps": 60, "hdr": {"mode": "pq"}},
        "plugins": {"lipsync": True, "list": [1, 2.5, None]},
        "version": 7,
    }
    path.write_text(json.dumps(data))
    store = SettingsStore(path)
    settings, warnings = store.load()
    assert settings.video.fps == 60.0
    assert warnings == [
        f"{path}: unknown setting video.hdr is kept in the file but not used",
        f"{path}: unknown section 'plugins' is kept in the file but not used",
        f"{path}: unknown section 'version' is kept in the file but not used",
    ]
    for fps in (50.0, 48.0):  # two saves: kept each time
        settings.video.fps = fps
        store.save(settings)
    saved = json.loads(path.read_text())
    assert saved["video"]["hdr"] == {"mode": "pq"} and saved["plugins"] == data["plugins"]
    assert saved["version"] == 7 and saved["video"]["fps"] == 48.0
    assert leftovers(tmp_path) == []


def test_a_section_that_is_not_an_object_is_kept_until_it_must_change(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"voice": "loud", "video": {"fps": 60}}))
    store = SettingsStore(path)
    settings, warnings = store.load()
    assert warnings == [
        f"{path}: 'voice' should be an object of settings, not \"loud\"; using the defaults for voice.*"
    ]
    settings.video.fps = 50.0
    store.save(settings)
    assert json.loads(path.read_text())["voice"] == "loud"
    settings.voice.semitones = 2.0  # now the section must be replaced: the file is kept first
    store.save(settings)
    assert json.loads(path.read_text())["voice"]["semitones"] == 2.0
    (kept,) = backups(path, "replaced")
    assert json.loads(kept.read_text())["voice"] == "loud"


def test_environment_overrides_are_not_written_into_the_file(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"face": {"max_faces": 2}}))
    store = SettingsStore(path)
    settings, _ = store.load_with_env({"MIRAGE_MAX_FACES": "4", "MIRAGE_DEBUG_OVERLAY": "1"})
    assert settings.face.max_faces == 4 and settings.face.debug_overlay
    settings.video.fps = 25.0
    store.save(settings)
    face = json.loads(path.read_text())["face"]
    assert face["max_faces"] == 2 and face["debug_overlay"] is False


def test_a_hand_edit_made_while_mirage_runs_is_merged_not_overwritten(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"video": {"fps": 60}}))
    store = SettingsStore(path)
    settings, _ = store.load()
    path.write_text(json.dumps({"video": {"fps": 60, "width": 1920}, "notes": "mine"}))  # the user's editor
    settings.voice.semitones = 2.0  # ... while the window changes something else
    store.save(settings)
    saved = json.loads(path.read_text())
    assert saved["video"]["width"] == 1920 and saved["notes"] == "mine" and saved["voice"]["semitones"] == 2.0
    path.write_bytes(BROKEN)  # damaged outside Mirage: kept before the next save
    settings.voice.semitones = 3.0
    store.save(settings)
    (kept,) = backups(path)
    assert kept.read_bytes() == BROKEN and json.loads(path.read_text())["voice"]["semitones"] == 3.0


# (section, key, value as written in the file, the words that must appear)
INVALID = [
    (
        "voice",
        "converter",
        "robot",
        'voice.converter = "robot" is not one of: passthrough, pitch, rvc; using "passthrough"',
    ),
    ("voice", "block_ms", -10, "voice.block_ms = -10 is out of range (5–160 ms); using 10"),
    ("voice", "block_ms", 1000, "voice.block_ms = 1000 is out of range (5–160 ms); using 10"),
    ("voice", "buffer_ms", -1, "voice.buffer_ms = -1 is out of range (0–1000 ms); using 10"),
    (
        "voice",
        "gate_db",
        math.nan,
        "voice.gate_db = NaN is not a finite number (allowed: -120 to 0 dBFS); using -50",
    ),
    ("voice", "gate_db", 6, "voice.gate_db = 6 is out of range (-120 to 0 dBFS); using -50"),
    ("voice", "semitones", math.inf, "voice.semitones = Infinity is not a finite number (allowed: -24 to 24"),
    ("voice", "semitones", 30, "voice.semitones = 30 is out of range (-24 to 24 semitones); using 0"),
    ("voice", "formant", 3.0, "voice.formant = 3 is out of range (0.5–2); using 1"),
    ("voice", "formant", -math.inf, "voice.formant = -Infinity is not a finite number (allowed: 0.5–2)"),
    (
        "voice",
        "audio_backend",
        "x",
        'voice.audio_backend = "x" is not one of: auto, pulse, portaudio; using "auto"',
    ),
    ("voice", "overload_policy", "x", 'voice.overload_policy = "x" is not one of: dry, silence; using "dry"'),
    ("voice", "enabled", "yes", 'voice.enabled = "yes" is not true or false; using false'),
    ("video", "width", 0, "video.width = 0 is out of range (16–7680 px); using 1280"),
    ("video", "width", 100000, "video.width = 100000 is out of range (16–7680 px); using 1280"),
    ("video", "height", -1, "video.height = -1 is out of range (16–4320 px); using 720"),
    ("video", "fps", 0, "video.fps = 0 is out of range (1–240 fps); using 30"),
    ("video", "fps", math.nan, "video.fps = NaN is not a finite number (allowed: 1–240 fps); using 30"),
    ("video", "max_fps", -1, "video.max_fps = -1 is out of range (0–240 fps, 0 = no cap); using 0"),
    (
        "video",
        "width",
        1e400,
        "video.width = Infinity is not a whole number (allowed: 16–7680 px); using 1280",
    ),
    ("face", "max_faces", 0, "face.max_faces = 0 is out of range (1–16); using 1"),
    ("face", "max_faces", 17, "face.max_faces = 17 is out of range (1–16); using 1"),
    ("face", "detect_interval", 61, "face.detect_interval = 61 is out of range (1–60 frames); using 5"),
    ("face", "proc_max_dim", 32, "face.proc_max_dim = 32 is out of range (64–4096 px); using 640"),
    (
        "face",
        "detector_size",
        500,
        "face.detector_size = 500 is not a multiple of 32 (allowed: 128–2048 px); using 640",
    ),
    ("face", "detector_score", 1.5, "face.detector_score = 1.5 is out of range (0–1); using 0.5"),
    (
        "face",
        "swapper_precision",
        "fp8",
        'face.swapper_precision = "fp8" is not one of: fp32, fp16; using "fp32"',
    ),
    ("gui", "theme", "blue", 'gui.theme = "blue" is not one of: system, light, dark; using "system"'),
    ("gui", "raw_preview", "x", 'gui.raw_preview = "x" is not one of: pip, side, off; using "pip"'),
]


@pytest.mark.parametrize(
    ("section", "key", "value", "words"), INVALID, ids=[f"{c[1]}={c[2]}" for c in INVALID]
)
def test_invalid_value_names_file_and_key_and_survives_a_save(tmp_path, section, key, value, words):
    path = tmp_path / "settings.json"
    data = {"video": {"source": "test"}}
    data.setdefault(section, {})[key] = value
    path.write_text(json.dumps(data))
    store = SettingsStore(path)
    settings, warnings = store.load()
    default = getattr(getattr(Settings(), section), key)
    assert getattr(getattr(settings, section), key) == default
    assert settings.video.source == "test"  # the valid value beside it is kept
    (warning,) = warnings
    assert warning.startswith(f"{path}: {words}")
    settings.gui.first_run_done = True
    store.save(settings)
    kept = json.loads(path.read_text())[section][key]
    assert json.dumps(kept) == json.dumps(value)  # as written (NaN included), not the default


def test_every_valid_value_in_a_mixed_file_is_kept(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {
                "video": {"source": "camera:1", "width": 1920, "height": 0, "fps": 60},
                "face": {"max_faces": 2, "detector_size": 320, "detector_score": "high"},
                "voice": {"converter": "pitch", "semitones": 4.5, "block_ms": -10},
            }
        )
    )
    settings, warnings = load_settings(path, {})
    assert (settings.video.source, settings.video.width, settings.video.height, settings.video.fps) == (
        "camera:1",
        1920,
        720,
        60.0,
    )
    assert (settings.face.max_faces, settings.face.detector_size, settings.face.detector_score) == (
        2,
        320,
        0.5,
    )
    assert (settings.voice.converter, settings.voice.semitones, settings.voice.block_ms) == (
        "pitch",
        4.5,
        10.0,
    )
    assert [w.split(": ", 1)[1].split(" =")[0] for w in warnings] == [
        "video.height",
        "face.detector_score",
        "voice.block_ms",
    ]


def test_the_limits_are_the_ones_the_code_uses():
    from mirage_desktop.config import settings as settings_module
    from mirage_desktop.gui.preview_widget import MODES
    from mirage_desktop.voice.converters import CONVERTERS
    from mirage_desktop.voice.routing import BACKENDS

    table = rules()
    assert table["voice", "converter"].values == tuple(sorted(CONVERTERS))
    assert settings_module.AUDIO_BACKENDS == BACKENDS
    assert settings_module.RAW_PREVIEWS == MODES
    # every default is itself valid, and Settings.validate leaves defaults alone
    assert Settings().validate() == []


def test_validate_resets_invalid_values_set_in_code():
    settings = Settings()
    settings.voice.block_ms = math.nan
    settings.video.width = 0
    fixed = settings.validate()
    assert settings.voice.block_ms == 10.0 and settings.video.width == 1280
    assert fixed == [
        "video.width = 0 is out of range (16–7680 px); using 1280",
        "voice.block_ms = NaN is not a finite number (allowed: 5–160 ms); using 10",
    ]


# -- saving ----------------------------------------------------------------------------------------


def test_unwritable_folder_on_save_keeps_the_old_file(cfg_folder):
    folder = cfg_folder
    path = folder / "settings.json"
    path.write_text(json.dumps({"video": {"fps": 60}, "mine": 1}))
    before = path.read_bytes()
    store = SettingsStore(path)
    settings, _ = store.load()
    settings.video.fps = 25.0
    with unwritable(folder), pytest.raises(SettingsSaveError) as caught:
        store.save(settings)
    assert str(caught.value) == f"[Errno 13] could not save settings to {path}: Permission denied"
    assert path.read_bytes() == before and leftovers(folder) == []
    store.save(settings)  # writable again: the change was not lost in memory
    saved = json.loads(path.read_text())
    assert saved["video"]["fps"] == 25.0 and saved["mine"] == 1


def test_save_is_atomic_and_keeps_the_file_mode(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{}")
    path.chmod(0o600)
    store = SettingsStore(path)
    settings, _ = store.load()
    settings.video.fps = 25.0
    store.save(settings)
    assert path.stat().st_mode & 0o777 == 0o600
    assert leftovers(tmp_path) == []


# -- the window: saved half a second after a change, without quitting ------------------------------


def test_saver_writes_shortly_after_the_last_change_once(qtbot, tmp_path):
    from mirage_desktop.gui.settings_saver import SettingsSaver

    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"plugins": {"x": 1}}))
    store = SettingsStore(path)
    settings, _ = store.load()
    saver = SettingsSaver(settings, store)
    saves: list[float] = []
    saver.saved.connect(lambda: saves.append(time.monotonic()))
    for semitones in (1.0, 2.0, 3.0, 4.0):  # a slider being dragged
        settings.voice.semitones = semitones
        qtbot.wait(60)
    last_change = time.monotonic()
    qtbot.waitUntil(lambda: bool(saves), timeout=5000)
    qtbot.wait(700)
    assert len(saves) == 1  # debounced: one write for the whole drag
    # 0.4 s debounce + 0.1 s polling; the margin is for a busy 2-core machine
    assert saves[0] - last_change < 1.5
    saved = json.loads(path.read_text())
    assert saved["voice"]["semitones"] == 4.0 and saved["plugins"] == {"x": 1}
    saver.stop()


def test_saver_reports_a_failed_save_and_retries(qtbot, cfg_folder):
    from mirage_desktop.gui.problems_panel import ProblemsPanel
    from mirage_desktop.gui.settings_saver import SAVE_AREA, SettingsSaver

    folder = cfg_folder
    path = folder / "settings.json"
    path.write_text(json.dumps({"video": {"fps": 60}}))
    before = path.read_bytes()
    store = SettingsStore(path)
    settings, _ = store.load()
    panel = ProblemsPanel(lambda: "")
    qtbot.addWidget(panel)
    saver = SettingsSaver(settings, store, panel.set_problem, retry_s=0.3)
    settings.gui.theme = "dark"
    with unwritable(folder):
        qtbot.waitUntil(lambda: SAVE_AREA in panel.problems, timeout=5000)
        assert path.read_bytes() == before  # the old file is intact
    message = panel.problems[SAVE_AREA]
    assert message.startswith(f"Settings not saved: could not save settings to {path}: Permission denied")
    assert "old file is unchanged" in message and not panel.isHidden()
    # writable again: the retry saves without another change and the message goes away
    qtbot.waitUntil(lambda: SAVE_AREA not in panel.problems, timeout=5000)
    assert json.loads(path.read_text())["gui"]["theme"] == "dark"
    saver.stop()


def test_real_window_shows_the_backup_and_saves_without_quitting(qtbot):
    from mirage_desktop.gui.app import build_window
    from mirage_desktop.gui.settings_saver import LOAD_AREA

    paths = AppPaths.from_env()
    path = paths.settings_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(BROKEN)
    store = SettingsStore(path)
    settings, _ = store.load_with_env()
    window = build_window(settings, paths, virtual_camera=False, settings_store=store)
    qtbot.addWidget(window)
    window.show()
    try:
        (backup,) = backups(path)
        shown = window.problems.problems[LOAD_AREA]
        assert str(path) in shown and str(backup) in shown and "default settings" in shown
        assert window.problems.isVisible()
        qtbot.wait(800)
        assert path.read_bytes() == BROKEN  # nothing changed yet: the original is left alone
        window.set_theme("dark")
        window.set_raw_preview("side")
        qtbot.waitUntil(lambda: path.read_bytes() != BROKEN, timeout=5000)
        saved = json.loads(path.read_text())
        assert saved["gui"]["theme"] == "dark"
        assert backup.read_bytes() == BROKEN
    finally:
        window.quit()


def test_real_window_saves_a_change_before_a_crash(tmp_path):
    """A window killed (os._exit, no closeEvent) ~0.8 s after a change still has it on disk."""
    script = tmp_path / "crash.py"
    script.write_text(
        "import os, sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from PySide6.QtCore import QTimer\n"
        "from mirage_desktop.config.paths import AppPaths\n"
        "from mirage_desktop.config.settings import SettingsStore\n"
        "from mirage_desktop.gui.app import build_window\n"
        "app = QApplication([])\n"
        "paths = AppPaths.from_env()\n"
        "store = SettingsStore(paths.settings_file)\n"
        "settings, _ = store.load_with_env()\n"
        "window = build_window(settings, paths, virtual_camera=False, settings_store=store)\n"
        "window.show()\n"
        "QTimer.singleShot(300, lambda: window.set_theme('light'))\n"
        "QTimer.singleShot(1100, lambda: os._exit(9))\n"
        "app.exec()\n"
    )
    path = AppPaths.from_env().settings_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"video": {"source": "test"}, "plugins": {"x": 1}}))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    saved = json.loads(path.read_text())
    assert (
        saved["gui"]["theme"] == "light"
        and saved["plugins"] == {"x": 1}
        and saved["video"]["source"] == "test"
    )


# -- the CLI ---------------------------------------------------------------------------------------


def mirage_cli(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("mirage-cli")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "mirage_desktop.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=180)


def test_cli_says_where_the_corrupt_file_was_kept_and_never_writes_settings():
    path = AppPaths.from_env().settings_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(BROKEN)
    done = mirage_cli("doctor", "--json")
    assert done.returncode == 0, done.stderr
    (backup,) = backups(path)
    lines = [line for line in done.stderr.splitlines() if "settings.json" in line]
    assert lines == [
        f"WARNING: {path} could not be read (not valid JSON: Expecting property name enclosed in double "
        f"quotes at line 1 column 48); kept it as {backup} and started with default settings"
    ]
    assert path.read_bytes() == BROKEN and backup.read_bytes() == BROKEN
    again = mirage_cli("doctor", "--json")
    assert str(backup) in again.stderr and backups(path) == [backup]  # one copy, however many runs


def test_cli_names_file_and_key_of_an_invalid_value_and_leaves_the_file_alone():
    path = AppPaths.from_env().settings_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"voice": {"block_ms": -10, "converter": "robot"}, "extra": True}))
    before = path.read_bytes()
    done = mirage_cli("doctor", "--json")
    assert done.returncode == 0, done.stderr
    assert f"WARNING: {path}: voice.block_ms = -10 is out of range (5–160 ms); using 10" in done.stderr
    assert f'WARNING: {path}: voice.converter = "robot" is not one of: passthrough, pitch, rvc' in done.stderr
    assert path.read_bytes() == before


def test_cli_does_not_create_a_settings_file():
    path = AppPaths.from_env().settings_file
    done = mirage_cli("doctor", "--json")
    assert done.returncode == 0, done.stderr
    assert not path.exists()
