"""The RVC voice library of the Voice tab: the .pth files in Mirage's voices folder plus the ones the
user added from elsewhere (remembered in ``voices.json`` beside it), and each voice's .index files.

RVC voices come as ``NAME.pth`` with, often, an ``added_IVF…_NAME_v2.index`` in the same folder;
both are listed. Nothing is loaded here (the voice loads on a worker thread when chosen).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from mirage_desktop.config.paths import AppPaths

log = logging.getLogger(__name__)

MAX_REMEMBERED = 50


class VoiceLibrary:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._list = self.folder / "voices.json"

    @classmethod
    def default(cls) -> VoiceLibrary:
        return cls(AppPaths.from_env().data_dir / "voices")

    def _remembered(self) -> list[str]:
        try:
            data = json.loads(self._list.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [p for p in data if isinstance(p, str)] if isinstance(data, list) else []

    def remember(self, path: str | Path) -> None:
        path = str(Path(path).expanduser().resolve())
        items = [path] + [p for p in self._remembered() if p != path]
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self._list.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(items[:MAX_REMEMBERED], indent=1), encoding="utf-8")
            tmp.replace(self._list)
        except OSError as exc:  # a read-only data folder: the voice still works this session
            log.warning("could not remember voice %s: %s", path, exc)

    def voices(self, extra: Iterable[str] = ()) -> list[Path]:
        """Voices that exist now: the folder's, the remembered ones, and ``extra`` (e.g. the setting)."""
        found: dict[str, Path] = {}
        candidates = [*extra, *self._remembered()]
        if self.folder.is_dir():
            candidates += [str(p) for p in sorted(self.folder.glob("**/*.pth"))]
        for item in candidates:
            path = Path(item)
            if path.suffix.lower() == ".pth" and path.is_file():
                found.setdefault(str(path.resolve()), path)
        return sorted(found.values(), key=lambda p: p.stem.lower())

    @staticmethod
    def indexes_for(model: str, extra: Iterable[str] = ()) -> list[Path]:
        """.index files beside the voice (RVC puts them there), the voice's own first, then ``extra``."""
        out: list[Path] = [Path(p) for p in extra if Path(p).is_file()]
        if model:
            voice = Path(model)
            beside = sorted(
                voice.parent.glob("*.index"), key=lambda p: (voice.stem.lower() not in p.name.lower(), p.name)
            )
            out += [p for p in beside if p not in out]
        return out
