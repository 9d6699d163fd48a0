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
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

EMBEDDING_DIM = 512
MAX_NAME = 60


class IdentityError(RuntimeError):
    """The gallery could not do what was asked; the message says why in the user's terms."""


@dataclass(frozen=True, slots=True)
class Identity:
    id: str
    name: str
    embedding: np.ndarray
    thumbnail: Path
    photo: Path | None
    created: float


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
        if not self.root.is_dir():
            return []
        out = []
        for folder in self.root.iterdir():
            if folder.is_dir() and not folder.name.startswith("."):
                try:
                    out.append(self._read(folder))
                except (OSError, ValueError, KeyError) as exc:
                    # a half-deleted or hand-edited folder must not hide the others
                    log.warning("skipping identity %s: %s", folder, exc)
        return sorted(out, key=lambda i: i.created)

    def get(self, identity_id: str) -> Identity:
        folder = self._dir(identity_id)
        try:
            return self._read(folder)
        except (OSError, ValueError, KeyError) as exc:
            raise IdentityError(f"The saved identity '{identity_id}' cannot be read ({exc}).") from exc

    def _read(self, folder: Path) -> Identity:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        embedding = np.load(folder / "embedding.npy", allow_pickle=False).astype(np.float32).reshape(-1)
        if embedding.shape != (EMBEDDING_DIM,) or not np.all(np.isfinite(embedding)):
            raise ValueError(f"embedding has shape {embedding.shape}")
        photo = next(iter(sorted(folder.glob("photo.*"))), None)
        return Identity(
            id=folder.name,
            name=str(meta["name"]),
            embedding=embedding,
            thumbnail=folder / "thumb.png",
            photo=photo,
            created=float(meta.get("created", 0.0)),
        )

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
        return self._read(final)

    def rename(self, identity_id: str, name: str) -> Identity:
        name = clean_name(name)
        folder = self._dir(identity_id)
        meta_path = folder / "meta.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            meta["name"] = name
            tmp = folder / ".meta.json.tmp"
            tmp.write_text(json.dumps(meta), encoding="utf-8")
            tmp.replace(meta_path)
        except (OSError, ValueError) as exc:
            raise IdentityError(f"Could not rename the identity: {exc}") from exc
        return self._read(folder)

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
