from __future__ import annotations

import json

from mirage_desktop.config.paths import AppPaths
from mirage_desktop.config.settings import Settings, SettingsStore, load_settings


def test_round_trip(tmp_path):
    store = SettingsStore(tmp_path / "cfg" / "settings.json")
    settings = Settings()
    settings.video.source = "file:/videos/me.mp4"
    settings.face.max_faces = 3
    store.save(settings)
    loaded, warnings = store.load()
    assert warnings == []
    assert loaded == settings


def test_env_overrides_and_bounds(tmp_path):
    settings, warnings = load_settings(
        tmp_path / "none.json",
        {
            "MIRAGE_PROC_MAX_DIM": "32",
            "MIRAGE_MAX_FACES": "4",
            "MIRAGE_DEBUG_OVERLAY": "1",
            "MIRAGE_VIDEO_MAX_FPS": "24",
        },
    )
    # out of range: ignored with the allowed range in the words, the file's (here the default) value stays
    assert settings.face.proc_max_dim == 640
    assert settings.face.max_faces == 4
    assert settings.face.debug_overlay is True
    assert settings.video.max_fps == 24.0
    assert warnings == ["MIRAGE_PROC_MAX_DIM=32: face.proc_max_dim is out of range (64–4096 px); ignored"]


def test_bad_env_value_is_ignored_with_a_warning(tmp_path):
    settings, warnings = load_settings(tmp_path / "none.json", {"MIRAGE_MAX_FACES": "lots"})
    assert settings.face.max_faces == 1
    assert warnings == ["MIRAGE_MAX_FACES='lots' is not valid; ignored"]


def test_corrupt_or_stale_file_never_stops_startup(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{ not json")
    settings, warnings = SettingsStore(path).load()
    assert settings == Settings() and "started with default settings" in warnings[0]
    path.write_text(json.dumps({"face": {"max_faces": "two", "gone_option": 1}, "video": {"fps": 60}}))
    settings, warnings = SettingsStore(path).load()
    assert settings.face.max_faces == 1 and settings.video.fps == 60.0
    assert warnings == [
        f'{path}: face.max_faces = "two" is not a whole number (allowed: 1–16); using 1',
        f"{path}: unknown setting face.gone_option is kept in the file but not used",
    ]


def test_save_failure_names_the_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = SettingsStore(blocker / "settings.json")  # parent is a file: cannot be created
    try:
        store.save(Settings())
    except OSError as exc:
        assert "settings" in str(exc)
    else:
        raise AssertionError("saving under a file must fail")


def test_paths_follow_env_overrides(tmp_path):
    paths = AppPaths.from_env(
        {"MIRAGE_MODELS_DIR": str(tmp_path / "m"), "MIRAGE_CONFIG_DIR": str(tmp_path / "c")}
    )
    assert paths.models_dir == tmp_path / "m"
    assert paths.settings_file == tmp_path / "c" / "settings.json"
    default = AppPaths.from_env({})
    assert default.models_dir == default.data_dir / "models"
