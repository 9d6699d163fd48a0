"""The model manifest: what each model file is, how big, its SHA-256, where it may be fetched.

The canonical list is the data file ``manifest.json`` beside this module (package data, so wheels and
frozen builds carry it). Tests and developers build their own from a dict or another file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mirage_desktop.models.errors import ManifestError, UnknownModelError
from mirage_desktop.safe_read import loads_json, read_text

SHIPPED_MANIFEST = "manifest.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
FEATURES = ("face_swap", "face_enhancer", "voice_conversion")


@dataclass(frozen=True, slots=True)
class ArchiveSpec:
    """A zip that carries one or more model files (insightface ships its packs this way)."""

    id: str
    file: str
    size: int | None
    sha256: str | None
    hash_source: str
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ArchiveMember:
    archive: ArchiveSpec
    #: the member's name inside the zip
    member: str


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    file: str
    #: bytes; None when nobody has published it
    size: int | None
    #: lower-case hex; None when no trustworthy hash is known (then only the size is checked)
    sha256: str | None
    #: where the size/hash came from, so anyone can re-check it
    hash_source: str
    licence: str
    #: direct mirrors, tried in order (before the archive, if any)
    urls: tuple[str, ...]
    #: "face_swap" or "face_enhancer"
    feature: str
    #: needed for the feature to work at all (vs an optional extra)
    required: bool
    description: str = ""
    archive: ArchiveMember | None = None

    @property
    def verification(self) -> str:
        """How strongly a local copy can be checked: "sha256", "size" or "none"."""
        if self.sha256:
            return "sha256"
        return "size" if self.size is not None else "none"

    @property
    def manual_url(self) -> str:
        """The address a person should fetch by hand when automatic download fails."""
        if self.urls:
            return self.urls[0]
        if self.archive and self.archive.archive.urls:
            return self.archive.archive.urls[0]
        return ""


@dataclass(frozen=True, slots=True)
class Manifest:
    entries: tuple[ModelEntry, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for entry in self.entries:
            if entry.id in seen:
                raise ManifestError(f"The model manifest lists {entry.id!r} twice.")
            seen.add(entry.id)

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, model_id: object) -> bool:
        return any(entry.id == model_id for entry in self.entries)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(entry.id for entry in self.entries)

    def get(self, model_id: str) -> ModelEntry:
        for entry in self.entries:
            if entry.id == model_id:
                return entry
        raise UnknownModelError(
            f"Unknown model {model_id!r}. Known models: {', '.join(self.ids)} (see `mirage-cli models list`)."
        )

    def required(self) -> tuple[ModelEntry, ...]:
        return tuple(entry for entry in self.entries if entry.required)

    def members_of(self, archive_id: str) -> tuple[ModelEntry, ...]:
        return tuple(e for e in self.entries if e.archive is not None and e.archive.archive.id == archive_id)

    def guess_id(self, file_name: str) -> str | None:
        """The id whose file a user's file most likely is: same file name, else same stem as an id."""
        name = Path(file_name).name.lower()
        for entry in self.entries:
            if entry.file.lower() == name:
                return entry.id
        stem = Path(name).stem
        for entry in self.entries:
            if entry.id.lower() == stem or Path(entry.file).stem.lower() == stem:
                return entry.id
        return None

    @classmethod
    def shipped(cls) -> Manifest:
        source = resources.files("mirage_desktop.models").joinpath(SHIPPED_MANIFEST)
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise ManifestError(
                f"The model manifest shipped with Mirage is missing or unreadable ({exc}). Reinstall Mirage."
            ) from exc
        return cls.from_json(text, origin="the shipped manifest")

    @classmethod
    def from_file(cls, path: Path) -> Manifest:
        try:
            # a regular file of sane size only: a FIFO or /dev/zero here must not hang or eat memory
            text = read_text(path, what="model manifest")
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"Cannot read the model manifest {path}: {exc}") from exc
        return cls.from_json(text, origin=str(path))

    @classmethod
    def from_json(cls, text: str, origin: str = "<json>") -> Manifest:
        try:
            data = loads_json(text)
        except ValueError as exc:
            raise ManifestError(f"The model manifest {origin} is not valid JSON: {exc}") from exc
        return cls.from_dict(data, origin=origin)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "<dict>") -> Manifest:
        if not isinstance(data, Mapping) or not isinstance(data.get("models"), list):
            raise ManifestError(f"The model manifest {origin} has no 'models' list.")
        archives = {
            key: _parse_archive(key, value, origin) for key, value in (data.get("archives") or {}).items()
        }
        return cls(tuple(_parse_entry(raw, archives, origin) for raw in data["models"]))


def _parse_archive(key: str, raw: Any, origin: str) -> ArchiveSpec:
    where = f"archive {key!r} in {origin}"
    if not isinstance(raw, Mapping):
        raise ManifestError(f"The {where} must be an object.")
    return ArchiveSpec(
        id=key,
        file=_file_name(raw.get("file"), where),
        size=_size(raw.get("size"), where),
        sha256=_sha(raw.get("sha256"), where),
        hash_source=str(raw.get("hash_source") or "unknown"),
        urls=_urls(raw.get("urls"), where),
    )


def _parse_entry(raw: Any, archives: Mapping[str, ArchiveSpec], origin: str) -> ModelEntry:
    if not isinstance(raw, Mapping):
        raise ManifestError(f"Every model in {origin} must be an object.")
    model_id = raw.get("id")
    if not isinstance(model_id, str) or not _ID.match(model_id):
        raise ManifestError(f"A model in {origin} has a missing or invalid id: {model_id!r}.")
    where = f"model {model_id!r} in {origin}"
    feature = raw.get("feature")
    if feature not in FEATURES:
        raise ManifestError(f"The {where} needs 'feature' to be one of {', '.join(FEATURES)}.")
    archive = None
    if raw.get("archive") is not None:
        spec = raw["archive"]
        if not isinstance(spec, Mapping) or spec.get("id") not in archives or not spec.get("member"):
            raise ManifestError(f"The {where} names an archive that the manifest does not define.")
        archive = ArchiveMember(archive=archives[spec["id"]], member=str(spec["member"]))
    urls = _urls(raw.get("urls", []), where)
    if not urls and archive is None:
        raise ManifestError(f"The {where} has neither download URLs nor an archive.")
    sha256 = _sha(raw.get("sha256"), where)
    return ModelEntry(
        id=model_id,
        file=_file_name(raw.get("file"), where),
        size=_size(raw.get("size"), where),
        sha256=sha256,
        hash_source=str(raw.get("hash_source") or "unknown"),
        licence=str(raw.get("licence") or "unknown"),
        urls=urls,
        feature=feature,
        required=bool(raw.get("required", False)),
        description=str(raw.get("description") or ""),
        archive=archive,
    )


def _file_name(value: Any, where: str) -> str:
    # A bare name only: a manifest must never be able to write outside the models folder.
    if not isinstance(value, str) or not value or Path(value).name != value or value in (".", ".."):
        raise ManifestError(f"The {where} needs a plain 'file' name, got {value!r}.")
    return value


def _size(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ManifestError(f"The {where} has an invalid size {value!r} (bytes, or null if unknown).")
    return value


def _sha(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.match(value.lower()):
        raise ManifestError(f"The {where} has an invalid sha256 {value!r} (64 hex digits, or null).")
    return value.lower()


def _urls(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(u, str) and u.startswith(("https://", "http://")) for u in value
    ):
        raise ManifestError(f"The {where} needs 'urls' to be a list of http(s) addresses.")
    return tuple(value)


def entries_for(manifest: Manifest, ids: Iterable[str]) -> tuple[ModelEntry, ...]:
    return tuple(manifest.get(model_id) for model_id in ids)
