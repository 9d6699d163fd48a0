"""The settings file: reading it whatever it is, keeping what it held, and saving it atomically.

The path may name anything: a FIFO (an open blocks for ever), ``/dev/zero`` (never ends), a folder,
a huge file, a link into a dotfiles folder. Only a regular file of at most SETTINGS_LIMIT bytes is
read (safe_read: non-blocking open, fstat on the descriptor); anything else is named for what it is
and the defaults are used. A special file is never replaced by a save (it is not Mirage's to
replace); a too-big regular file is set aside (renamed, kept) so the next save can write a fresh one.
A link to a regular file stays a link: the save replaces the file it points to.
"""

from __future__ import annotations

import copy
import errno
import glob
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mirage_desktop import safe_read
from mirage_desktop.config.settings import Settings
from mirage_desktop.durable import fsync_path

log = logging.getLogger(__name__)

CORRUPT_TAG = "corrupt"
REPLACED_TAG = "replaced"
#: a settings file is a few kB; a bigger one is not one Mirage wrote
SETTINGS_LIMIT = 1024 * 1024


def special_reason(path: Path) -> str | None:
    """Why ``path`` is not something to read or replace ("... is a named pipe (FIFO) ..."); None
    for a regular file or nothing at all."""
    kind = safe_read.special_kind(path)
    if kind is None:
        return None
    if os.path.islink(path):
        return f"{path} is a link to {os.path.realpath(path)}, {kind}, not a regular file"
    return f"{path} is {kind}, not a regular file"


class SettingsSaveError(OSError):
    """Saving did not happen; the message names the file, and the old file is untouched."""


class _Unusable(ValueError):
    """The file was read but holds no settings object."""


class SettingsStore:
    """Loads and saves ``Settings`` as JSON at one path, without ever losing what the file held.

    The store remembers the file as it was parsed and the values it was loaded with. ``save`` writes
    every setting the user changed since; for a setting left alone it writes back what the file had,
    even a value this version rejected, so a newer version's keys, a typo the user wants to fix by
    hand, or an out-of-range value are still there next time. A file that cannot be parsed is kept
    as a dated backup before anything else happens, and is left in place until the first save.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        #: where a file that could not be parsed was kept (None: it could be parsed, or none existed)
        self.backup: Path | None = None
        #: what loading found wrong, in words (the same list ``load`` returns)
        self.warnings: list[str] = []
        self._raw: dict[str, Any] | None = None
        # the effective values from the file alone (before environment overrides)
        self._file_values: dict[str, Any] = Settings().to_dict()
        # what "unchanged" means for the next save: the values at load, or at the last save
        self._baseline: dict[str, Any] | None = None
        # why saving must not happen (the file could not be read nor kept); None: saving is safe
        self._refuse: str | None = None
        # the file's bytes as last read or written, to notice edits made outside this store
        self._disk: bytes | None = None

    # -- reading -----------------------------------------------------------------------------------
    def load(self) -> tuple[Settings, list[str]]:
        settings, warnings = self._read()
        self._baseline = settings.to_dict()
        return settings, warnings

    def load_with_env(self, environ: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
        """The file plus MIRAGE_* overrides; the overrides are never written back by ``save``."""
        settings, warnings = self._read()
        warnings = warnings + settings.apply_env(environ)
        self._baseline = settings.to_dict()
        self.warnings = warnings
        return settings, warnings

    def _read(self) -> tuple[Settings, list[str]]:
        self._raw, self.backup, self._refuse, self._disk = {}, None, None, None
        self._file_values = Settings().to_dict()
        try:
            data = safe_read.read_bytes(self.path, SETTINGS_LIMIT, what="settings file")
        except FileNotFoundError:
            return self._done(Settings(), [])
        except OSError as exc:
            return self._done(Settings(), [self._unreadable(exc)])
        self._disk = data
        try:
            parsed = _parse_object(data)
        except _Unusable as exc:
            return self._done(Settings(), [self._keep_unusable(data, str(exc))])
        settings, warnings = Settings.from_dict(parsed, where=str(self.path))
        self._raw = parsed
        self._file_values = settings.to_dict()
        return self._done(settings, warnings)

    def _follow_outside_edits(self) -> None:
        """The file was edited (by hand, or by another Mirage) since it was read: merge into that."""
        try:
            data: bytes | None = safe_read.read_bytes(self.path, SETTINGS_LIMIT, what="settings file")
        except FileNotFoundError:
            data = None
        except safe_read.UnreadableFile as exc:
            # it became a FIFO, a device or a huge file since it was read: not Mirage's to replace
            raise SettingsSaveError(errno.EPERM, f"settings not saved: {exc}") from exc
        except OSError:
            return  # the write that follows reports it
        if data == self._disk:
            return
        self._raw, self._file_values = {}, Settings().to_dict()
        if data is not None:
            try:
                self._raw = _parse_object(data)
            except _Unusable:
                try:
                    kept = keep_copy(self.path, data, CORRUPT_TAG)
                except OSError as exc:
                    raise SettingsSaveError(
                        exc.errno,
                        f"could not save settings to {self.path}: it was changed outside Mirage and "
                        f"cannot be backed up first ({exc.strerror})",
                    ) from exc
                log.warning("%s was damaged outside Mirage; kept it as %s before saving", self.path, kept)
            else:
                self._file_values = Settings.from_dict(self._raw)[0].to_dict()
        self._disk = data

    def _unreadable(self, exc: OSError) -> str:
        """The warning for a path that could not be read, after deciding whether saves may replace it."""
        special = special_reason(self.path)
        if special:
            # a FIFO, a device, a folder, a socket: someone put it there; a save must not replace it
            self._refuse = (
                f"{special}, so Mirage neither reads nor replaces it; changes made now are not saved"
            )
            return f"{special} — using default settings; changes made now are not saved"
        if isinstance(exc, safe_read.UnreadableFile):
            # a regular file far bigger than any settings file: kept under another name, out of the way
            kept = safe_read.set_aside(self.path)
            if kept is not None:
                self.backup = kept
                return f"{exc}; set it aside as {kept} and started with default settings"
        # Nothing can be kept of a file that cannot be read, so it must not be replaced either.
        reason = exc.strerror or str(exc)
        self._refuse = (
            f"{self.path} could not be read ({reason}), so Mirage does not overwrite it; "
            "changes made now are not saved"
        )
        return f"{self._refuse}. Using default settings."

    def _done(self, settings: Settings, warnings: list[str]) -> tuple[Settings, list[str]]:
        self.warnings = warnings
        return settings, warnings

    def _keep_unusable(self, data: bytes, reason: str) -> str:
        try:
            self.backup = keep_copy(self.path, data, CORRUPT_TAG)
        except OSError as exc:
            self._refuse = (
                f"{self.path} could not be read ({reason}) and no backup of it could be made "
                f"({exc.strerror or exc}), so Mirage does not overwrite it; changes made now are not saved"
            )
            return f"{self._refuse}. Using default settings."
        return (
            f"{self.path} could not be read ({reason}); kept it as {self.backup} "
            "and started with default settings"
        )

    # -- writing -----------------------------------------------------------------------------------
    def is_dirty(self, settings: Settings) -> bool:
        """True when ``settings`` differ from what was loaded or last saved."""
        if self._raw is None:
            self._read()
        return settings.to_dict() != (self._baseline or self._file_values)

    def save(self, settings: Settings) -> None:
        """Write atomically so a crash or a full disk never leaves a half-written file.

        Raises SettingsSaveError (an OSError) with the path in the message when the file cannot be
        written; the old file is then untouched.
        """
        if self._raw is None:
            # Saved without loading (tests, the self-test): still keep what the file holds.
            self._read()
        if self._refuse:
            raise SettingsSaveError(errno.EPERM, self._refuse)
        self._follow_outside_edits()
        current = settings.to_dict()
        merged, replaced = self._merge(current)
        if replaced:
            self._keep_before_replacing(replaced)
        payload = (json.dumps(merged, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
        atomic_write(self.path, payload, what="settings")
        self._disk = payload
        self._raw = merged
        self._baseline = current
        self._file_values = Settings.from_dict(merged)[0].to_dict()

    def _merge(self, current: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        baseline = self._baseline or self._file_values
        merged = copy.deepcopy(self._raw or {})
        replaced: list[str] = []
        for section, values in current.items():
            base = baseline[section]
            raw_section = merged.get(section)
            if section in merged and not isinstance(raw_section, dict):
                if values == base:
                    continue  # the user's odd section stays as it was until a setting in it changes
                replaced.append(section)
                raw_section = None
            if raw_section is None:
                raw_section = merged[section] = {}
            for key, value in values.items():
                if value != base[key]:
                    raw_section[key] = value
                elif key not in raw_section:
                    # the file's own value, not an environment override that happens to be in effect
                    raw_section[key] = self._file_values[section][key]
        return merged, replaced

    def _keep_before_replacing(self, sections: list[str]) -> None:
        try:
            data = safe_read.read_bytes(self.path, SETTINGS_LIMIT, what="settings file")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise SettingsSaveError(
                exc.errno or errno.EPERM,
                f"could not save settings to {self.path}: cannot back it up first ({exc.strerror or exc})",
            ) from exc
        try:
            kept = keep_copy(self.path, data, REPLACED_TAG)
        except OSError as exc:
            raise SettingsSaveError(
                exc.errno, f"could not save settings to {self.path}: cannot back it up first ({exc.strerror})"
            ) from exc
        log.warning(
            "%s: replacing %s (not objects of settings); the old file is kept as %s",
            self.path,
            ", ".join(sections),
            kept,
        )


def _parse_object(data: bytes) -> dict[str, Any]:
    """The file's JSON object; raises _Unusable saying, in words, why there is none."""
    try:
        parsed = safe_read.loads_json(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _Unusable(f"not UTF-8 text: byte {exc.start} is 0x{data[exc.start]:02x}") from None
    except json.JSONDecodeError as exc:
        raise _Unusable(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise _Unusable(f"not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise _Unusable(f"a JSON {type(parsed).__name__}, not an object of settings")
    return parsed


def keep_copy(path: Path, data: bytes, tag: str) -> Path:
    """Keep ``data`` as ``<path>.<tag>-YYYYmmdd-HHMMSS[-N]`` beside ``path``; never overwrites a file.

    The same bytes kept before are not kept twice: each ``mirage-cli`` run on one broken file would
    otherwise add a copy.
    """
    pattern = glob.escape(str(path)) + f".{tag}-*"
    for existing in sorted(glob.glob(pattern)):
        try:
            # a backup may itself have been replaced by a FIFO or a huge file: never block on it
            if safe_read.read_bytes(existing, max(len(data), 1)) == data:
                return Path(existing)
        except OSError:
            continue
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        candidate = path.with_name(f"{path.name}.{tag}-{stamp}" + ("" if n == 1 else f"-{n}"))
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError:
            candidate.unlink(missing_ok=True)
            raise
        return candidate
    raise FileExistsError(errno.EEXIST, f"too many backups of {path} this second")


def atomic_write(path: Path, data: bytes, what: str = "file") -> None:
    """Replace ``path`` with ``data`` in one step: a temporary file beside it, fsynced, renamed.

    Raises SettingsSaveError naming the path; on any failure the old file is untouched and the
    temporary file is removed.
    """
    special = special_reason(path)
    if special:
        message = f"could not save {what}: {special}, and Mirage does not replace it"
        raise SettingsSaveError(errno.EPERM, message)
    if path.is_symlink():
        # a link (a dotfiles folder, a synced drive): replace the file it points to, keep the link
        path = Path(os.path.realpath(path))
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if path.is_file():
            # keep the user's permissions (a settings file made private stays private)
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
        tmp = None
        # the rename itself survives a power cut only once the folder is synced
        fsync_path(path.parent)
    except OSError as exc:
        raise SettingsSaveError(exc.errno, f"could not save {what} to {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
    settings, warnings = SettingsStore(path).load_with_env(environ)
    for message in warnings:
        log.warning(message)
    return settings, warnings
