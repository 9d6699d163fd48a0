"""Per-user directories (platformdirs), each overridable by an environment variable.

The overrides exist so tests and portable installs never touch the real home directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from mirage_desktop import APP_NAME

_APP_AUTHOR = False  # no vendor folder level on Windows: %APPDATA%\Mirage


@dataclass(frozen=True, slots=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    models_dir: Path
    log_dir: Path
    cache_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AppPaths:
        env = os.environ if environ is None else environ

        def pick(var: str, default: str) -> Path:
            value = env.get(var, "")  # exactly: a folder named with a trailing space is that folder
            return Path(value).expanduser() if value.strip() else Path(default)

        data_dir = pick("MIRAGE_DATA_DIR", platformdirs.user_data_dir(APP_NAME, _APP_AUTHOR))
        return cls(
            config_dir=pick("MIRAGE_CONFIG_DIR", platformdirs.user_config_dir(APP_NAME, _APP_AUTHOR)),
            data_dir=data_dir,
            models_dir=pick("MIRAGE_MODELS_DIR", str(data_dir / "models")),
            log_dir=pick("MIRAGE_LOG_DIR", platformdirs.user_log_dir(APP_NAME, _APP_AUTHOR)),
            cache_dir=pick("MIRAGE_CACHE_DIR", platformdirs.user_cache_dir(APP_NAME, _APP_AUTHOR)),
        )


def file_in_the_way(folder: Path) -> Path | None:
    """The file that stops ``folder`` from being a folder: ``folder`` itself or one above it; else None.

    A path such as MIRAGE_MODELS_DIR pointing at a file otherwise reads as "not created yet" or
    "not installed", and the advice to create or download into it cannot work.
    """
    current = Path(folder)
    while True:
        if current.is_dir():
            return None
        if current.exists() or current.is_symlink():
            return current
        if current == current.parent:
            return None
        current = current.parent


def folder_problem(folder: Path, what: str, variable: str = "") -> str | None:
    """A user-facing sentence when ``folder`` cannot be a folder because of a file in the way."""
    blocker = file_in_the_way(folder)
    if blocker is None:
        return None
    if blocker == Path(folder):
        what_is_wrong = f"The {what} {folder} is a file, not a folder."
    else:
        what_is_wrong = f"The {what} {folder} cannot be created: {blocker} is a file, not a folder."
    fix = f", or set {variable} to a folder" if variable else ""
    return f"{what_is_wrong} Move or rename that file{fix}."
