"""The RVC voice library of the Voice tab: the .pth files in Mirage's voices folder plus the ones the
user added from elsewhere (remembered in ``voices.json`` beside it), and each voice's .index files.

RVC voices come as ``NAME.pth`` with, often, an ``added_IVF…_NAME_v2.index`` in the same folder;
both are listed. Nothing is loaded here (the voice loads on a worker thread when chosen).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from mirage_desktop import safe_read
from mirage_desktop.config.paths import AppPaths

log = logging.getLogger(__name__)

MAX_REMEMBERED = 50
#: voices.json holds at most MAX_REMEMBERED paths: a few kB
LIST_LIMIT = 256 * 1024
#: how deep, and how many entries, the voices folder is searched (links to folders are not followed:
#: two links back to the folder itself would otherwise make 2^40 paths)
WALK_DEPTH = 4
WALK_ENTRIES = 20_000


class VoiceLibrary:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._list = self.folder / "voices.json"
        #: what was wrong with voices.json, in words, once per problem (shown in the Voice tab)
        self.problems: list[str] = []
        # a damaged voices.json that could not be set aside is not overwritten either
        self._keep_list = False

    @classmethod
    def default(cls) -> VoiceLibrary:
        return cls(AppPaths.from_env().data_dir / "voices")

    def _remembered(self) -> list[str]:
        try:
            data = safe_read.read_json(self._list, LIST_LIMIT, what="the voice list")
        except FileNotFoundError:
            return []
        except safe_read.UnreadableFile as exc:  # a FIFO, a device, a folder, a huge file
            self._damaged(str(exc))
            return []
        except OSError as exc:  # permissions: leave it, and do not write over it
            self._note(f"The voice list {self._list} cannot be read ({exc.strerror or exc}).")
            self._keep_list = True
            return []
        except ValueError as exc:
            self._damaged(f"the voice list {self._list} is not valid JSON ({exc})")
            return []
        if not isinstance(data, list):
            self._damaged(f"the voice list {self._list} is not a list of voices")
            return []
        return [p for p in data if isinstance(p, str) and p and "\0" not in p]

    def _damaged(self, reason: str) -> None:
        kept = safe_read.set_aside(self._list)
        if kept is None:
            self._keep_list = True
            self._note(f"{reason[0].upper()}{reason[1:]}; it could not be moved aside and is left as it is.")
        else:
            self._note(
                f"{reason[0].upper()}{reason[1:]}; set aside as {kept.name}. Voices added before are "
                "still found in the voices folder."
            )

    def _note(self, message: str) -> None:
        if message not in self.problems:
            log.warning("%s", message)
            self.problems.append(message)

    def remember(self, path: str | Path) -> None:
        path = str(Path(path).expanduser().resolve())
        items = [path] + [p for p in self._remembered() if p != path]
        if self._keep_list:
            log.warning("not remembering voice %s: the voice list is left as it is", path)
            return
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
        candidates = [*extra, *self._remembered(), *sorted(self._pth_files())]
        for item in candidates:
            path = Path(item)
            try:
                if path.suffix.lower() == ".pth" and _is_file(path):
                    found.setdefault(str(path.resolve()), path)
            except (OSError, RuntimeError):  # a loop of links: not a voice
                continue
        return sorted(found.values(), key=lambda p: p.stem.lower())

    def _pth_files(self) -> Iterator[str]:
        """The .pth files under the voices folder, bounded in depth and count (never following links
        to folders)."""
        seen = 0
        top = str(self.folder)
        for root, dirs, files in os.walk(top, onerror=lambda exc: None, followlinks=False):
            depth = root[len(top) :].count(os.sep)
            if depth >= WALK_DEPTH:
                dirs[:] = []
            seen += len(dirs) + len(files)
            if seen > WALK_ENTRIES:
                self._note(
                    f"The voices folder {self.folder} holds too many files; only part of it is searched."
                )
                return
            yield from (os.path.join(root, f) for f in files if f.lower().endswith(".pth"))

    @staticmethod
    def indexes_for(model: str, extra: Iterable[str] = ()) -> list[Path]:
        """.index files beside the voice (RVC puts them there), the voice's own first, then ``extra``."""
        out: list[Path] = [Path(p) for p in extra if _is_file(p)]
        if model:
            voice = Path(model)
            try:
                beside = sorted(
                    voice.parent.glob("*.index"),
                    key=lambda p: (voice.stem.lower() not in p.name.lower(), p.name),
                )
            except (OSError, ValueError):  # a hand-edited path no folder can have
                beside = []
            out += [p for p in beside if p not in out]
        return out


def _is_file(path: str | Path) -> bool:
    """Path.is_file, False for a name no file can have (a NUL, a 300-character component) instead
    of an exception: the paths come from the settings file and voices.json."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False
