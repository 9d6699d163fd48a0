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
            value = env.get(var, "").strip()
            return Path(value).expanduser() if value else Path(default)

        data_dir = pick("MIRAGE_DATA_DIR", platformdirs.user_data_dir(APP_NAME, _APP_AUTHOR))
        return cls(
            config_dir=pick("MIRAGE_CONFIG_DIR", platformdirs.user_config_dir(APP_NAME, _APP_AUTHOR)),
            data_dir=data_dir,
            models_dir=pick("MIRAGE_MODELS_DIR", str(data_dir / "models")),
            log_dir=pick("MIRAGE_LOG_DIR", platformdirs.user_log_dir(APP_NAME, _APP_AUTHOR)),
            cache_dir=pick("MIRAGE_CACHE_DIR", platformdirs.user_cache_dir(APP_NAME, _APP_AUTHOR)),
        )
