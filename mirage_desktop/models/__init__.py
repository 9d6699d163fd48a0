"""Model files: the manifest of what Mirage can use, and a store that verifies, downloads and adds them.

The face pipeline asks ``ModelStore().path("inswapper_128")``; everything else here serves that call.
"""

from mirage_desktop.models.download import DownloadSettings, ProgressCallback
from mirage_desktop.models.errors import (
    ManifestError,
    MirrorAttempt,
    ModelBusyError,
    ModelDownloadError,
    ModelError,
    ModelInputError,
    ModelKindError,
    ModelMissingError,
    ModelStorageError,
    ModelVerificationError,
    UnknownModelError,
)
from mirage_desktop.models.manifest import ArchiveMember, ArchiveSpec, Manifest, ModelEntry
from mirage_desktop.models.store import ModelStatus, ModelStore

__all__ = [
    "ArchiveMember",
    "ArchiveSpec",
    "DownloadSettings",
    "Manifest",
    "ManifestError",
    "MirrorAttempt",
    "ModelBusyError",
    "ModelDownloadError",
    "ModelEntry",
    "ModelError",
    "ModelInputError",
    "ModelKindError",
    "ModelMissingError",
    "ModelStatus",
    "ModelStorageError",
    "ModelStore",
    "ModelVerificationError",
    "ProgressCallback",
    "UnknownModelError",
]
