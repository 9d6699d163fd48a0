"""Exceptions of the models manager. ``str(exc)`` is always the message to show the user."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path


class ModelError(RuntimeError):
    """Base of every models-manager error; its text says what went wrong and what to do."""


class UnknownModelError(ModelError):
    """An id or file name that the manifest does not list."""


class ManifestError(ModelError):
    """The manifest file is unreadable or malformed."""


class ModelMissingError(ModelError):
    """The model file is not in the models folder."""


class ModelVerificationError(ModelError):
    """A file is present but its size or SHA-256 is not the manifest's."""


class ModelStorageError(ModelError):
    """The models folder cannot be written: disk full, permissions, a path that is not a folder."""


class ModelBusyError(ModelError):
    """Another process holds the lock on a model for longer than we were willing to wait."""


@dataclass(frozen=True, slots=True)
class MirrorAttempt:
    """What one download source said, so the final error can list every mirror's answer."""

    url: str
    reason: str


class ModelDownloadError(ModelError):
    """Every download source failed; ``attempts`` has what each one said."""

    def __init__(self, message: str, attempts: tuple[MirrorAttempt, ...] = ()) -> None:
        super().__init__(message)
        self.attempts = attempts


_DISK_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NO_PERMISSION = {errno.EACCES, errno.EPERM, errno.EROFS}


def storage_error(exc: OSError, path: Path, action: str) -> ModelStorageError:
    """Turn a local filesystem failure into a message naming the path and the way out."""
    folder = path if path.suffix == "" and not path.is_file() else path.parent
    if exc.errno in _DISK_FULL:
        text = (
            f"Could not {action} {path}: the disk is full or the file is too large for this folder "
            f"({exc.strerror}). Free some space in {folder} (or point MIRAGE_MODELS_DIR at a folder on "
            "another disk) and try again; a partial download is kept and resumes."
        )
    elif exc.errno in _NO_PERMISSION:
        text = (
            f"Could not {action} {path}: permission denied ({exc.strerror}). Make {folder} writable for "
            "your user, or set MIRAGE_MODELS_DIR to a folder you can write to."
        )
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST) or isinstance(exc, NotADirectoryError):
        text = (
            f"Could not {action} {path}: part of that path is a file, not a folder ({exc.strerror}). "
            "Remove or rename that file, or set MIRAGE_MODELS_DIR to another folder."
        )
    else:
        text = f"Could not {action} {path}: {exc.strerror or exc}. Check the folder and try again."
    err = ModelStorageError(text)
    err.__cause__ = exc
    return err


class ModelInputError(ModelError):
    """The user named something that cannot be a model file (missing, a folder, a FIFO): exit code 2."""


class ModelKindError(ModelVerificationError):
    """The file is not the kind of file the model must be (an HTML page for an ONNX model, ...)."""
