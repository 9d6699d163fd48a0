"""Saved identities: an embedding (.npy), a small face thumbnail and a name; the photo only on request.

Layout under ``root`` (AppPaths.data_dir / "identities"): one folder per identity holding
``embedding.npy``, ``thumb.png``, ``meta.json`` and, if the user opted in, ``photo.<ext>``.
No Qt here, so it can be tested and reused without a window.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mirage_desktop import safe_read
from mirage_desktop.config.paths import folder_problem
from mirage_desktop.gui.identity_files import (
    EMBEDDING_DIM,
    MAX_NAME,
    DamagedIdentity,
    photo_in,
    read_embedding,
    read_meta,
    read_meta_object,
    thumbnail_problem,
)

log = logging.getLogger(__name__)

__all__ = ["EMBEDDING_DIM", "MAX_NAME", "GalleryScan", "Identity", "IdentityError", "IdentityStore"]
#: a folder set aside (renamed NAME.corrupt-STAMP) is kept but no longer an identity
SET_ASIDE_MARK = ".corrupt-"


class IdentityError(RuntimeError):
    """The gallery could not do what was asked; the message says why in the user's terms."""


@dataclass(frozen=True, slots=True)
class Identity:
    id: str
    name: str
    embedding: np.ndarray
    #: None when the picture could not be shown (missing or set aside): the identity still works
    thumbnail: Path | None
    photo: Path | None
    created: float


@dataclass(slots=True)
class GalleryScan:
    """What one look at the gallery folder found: the identities, and every entry it could not use."""

    identities: list[Identity] = field(default_factory=list)
    #: one sentence per entry set aside or skipped, naming it (shown in the window)
    problems: list[str] = field(default_factory=list)


def clean_name(name: str) -> str:
    name = " ".join(name.split())[:MAX_NAME]
    if not name:
        raise IdentityError("Give the identity a name.")
    return name


class IdentityStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, identity_id: str) -> Path:
        if not identity_id or "/" in identity_id or "\\" in identity_id or identity_id.startswith("."):
            raise IdentityError(f"'{identity_id}' is not an identity id.")
        return self.root / identity_id

    def list(self) -> list[Identity]:
        return self.scan().identities

    def scan(self) -> GalleryScan:
        """Every identity that can be read. A damaged one is set aside (its folder renamed
        ``ID.corrupt-STAMP``, kept) and named in ``problems``; one that cannot be read now
        (permissions) is skipped and named. Nothing here raises: one bad folder never hides the rest."""
        found = GalleryScan()
        if self.root.exists() or self.root.is_symlink():
            self._scan_into(found)
        for message in found.problems:
            log.warning("%s", message)
        log.info(
            "gallery %s: loaded %d identities; %d problems",
            self.root,
            len(found.identities),
            len(found.problems),
        )
        return found

    def _scan_into(self, found: GalleryScan) -> None:
        blocked = folder_problem(self.root, "gallery folder", "MIRAGE_DATA_DIR")
        if blocked:
            found.problems.append(blocked)
            return
        try:
            entries = sorted(self.root.iterdir())
        except OSError as exc:
            found.problems.append(f"The gallery folder {self.root} cannot be read: {exc.strerror or exc}.")
            return
        for folder in entries:
            if folder.name.startswith(".") or SET_ASIDE_MARK in folder.name or not folder.is_dir():
                continue
            try:
                identity, note = self._read(folder, repair=True)
            except DamagedIdentity as exc:
                found.problems.append(self._set_aside(folder, str(exc)))
                continue
            except OSError as exc:
                found.problems.append(
                    f"Gallery: '{folder.name}' cannot be read now ({exc.strerror or exc}); "
                    "it is left as it is and not shown."
                )
                continue
            if note:
                found.problems.append(note)
            found.identities.append(identity)
        found.identities.sort(key=lambda i: i.created)

    def _set_aside(self, folder: Path, reason: str) -> str:
        kept = safe_read.set_aside(folder)
        if kept is None:
            return f"Gallery: '{folder.name}' is damaged ({reason}) and could not be moved aside; not shown."
        return (
            f"Gallery: set aside the damaged identity '{folder.name}' ({reason}); "
            f"it is kept as {kept.name}. The others are loaded."
        )

    def get(self, identity_id: str) -> Identity:
        folder = self._dir(identity_id)
        try:
            return self._read(folder)[0]
        except (OSError, ValueError) as exc:
            raise IdentityError(f"The saved identity '{identity_id}' cannot be read ({exc}).") from exc

    def _read(self, folder: Path, repair: bool = False) -> tuple[Identity, str]:
        """The identity and a note about a damaged picture ("" if none). With ``repair``, a damaged
        thumbnail is set aside (the identity is shown without a picture)."""
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder.name} does not exist")
        meta = read_meta(folder)
        embedding = read_embedding(folder)
        thumbnail: Path | None = folder / "thumb.png"
        note = ""
        problem = thumbnail_problem(thumbnail)
        if problem:
            missing = safe_read.kind_of(thumbnail) in ("missing", "a broken link")
            kept = None if missing or not repair else safe_read.set_aside(thumbnail)
            if kept is not None:
                note = (
                    f"Gallery: the picture of '{meta.name}' is damaged ({problem}); kept as {kept.name}, "
                    "and the face is shown without it."
                )
            log.warning("identity %s: %s", folder.name, problem)
            thumbnail = None
        if meta.note:
            log.warning("identity %s: %s", folder.name, meta.note)
        identity = Identity(
            id=folder.name,
            name=meta.name,
            embedding=embedding,
            thumbnail=thumbnail,
            photo=photo_in(folder),
            created=meta.created,
        )
        return identity, note

    def save(
        self, name: str, embedding: np.ndarray, thumbnail_bgr: np.ndarray, photo: Path | None = None
    ) -> Identity:
        name = clean_name(name)
        vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vector.shape != (EMBEDDING_DIM,):
            raise IdentityError(f"An identity needs a {EMBEDDING_DIM}-number embedding, got {vector.shape}.")
        identity_id = uuid.uuid4().hex[:12]
        final = self._dir(identity_id)
        staging = self.root / f".{identity_id}.saving"
        try:
            staging.mkdir(parents=True)
            np.save(staging / "embedding.npy", vector, allow_pickle=False)
            ok, png = cv2.imencode(".png", thumbnail_bgr)
            if not ok:
                raise IdentityError("The face thumbnail could not be encoded.")
            (staging / "thumb.png").write_bytes(png.tobytes())
            if photo is not None:
                shutil.copyfile(photo, staging / f"photo{Path(photo).suffix.lower() or '.jpg'}")
            meta = {"name": name, "created": time.time()}
            (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            # a folder appears whole or not at all, so a crash never leaves a broken identity behind
            staging.rename(final)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise IdentityError(f"Could not save the identity in {self.root}: {exc.strerror or exc}") from exc
        return self._read(final)[0]

    def rename(self, identity_id: str, name: str) -> Identity:
        name = clean_name(name)
        folder = self._dir(identity_id)
        meta_path = folder / "meta.json"
        try:
            meta = read_meta_object(folder)  # the other keys in it are kept
            meta["name"] = name
            tmp = folder / ".meta.json.tmp"
            tmp.write_text(json.dumps(meta), encoding="utf-8")
            tmp.replace(meta_path)
        except (OSError, ValueError) as exc:
            raise IdentityError(f"Could not rename the identity: {exc}") from exc
        return self.get(identity_id)

    def delete(self, identity_id: str) -> None:
        folder = self._dir(identity_id)
        if not folder.is_dir():
            return
        trash = self.root / f".{identity_id}.deleting"
        try:
            folder.rename(trash)  # vanishes from list() at once, even if rmtree is slow or fails
        except OSError as exc:
            raise IdentityError(f"Could not delete the identity: {exc.strerror or exc}") from exc
        shutil.rmtree(trash, ignore_errors=True)
