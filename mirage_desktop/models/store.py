"""ModelStore: the one place the app asks for a model file; it verifies, downloads and adds them."""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from stat import S_ISREG

from mirage_desktop.config.paths import AppPaths, folder_problem
from mirage_desktop.models import filekind
from mirage_desktop.models.archive import extract_member
from mirage_desktop.models.copying import copy_hashing, drop_stale_copies
from mirage_desktop.models.download import (
    DownloadSettings,
    Expected,
    FetchError,
    HttpFetcher,
    ProgressCallback,
    fsync_dir,
    sha256_file,
)
from mirage_desktop.models.errors import (
    MirrorAttempt,
    ModelInputError,
    ModelKindError,
    ModelMissingError,
    ModelStorageError,
    ModelVerificationError,
    UnknownModelError,
    storage_error,
)
from mirage_desktop.models.lock import FileLock, NoticeCallback, WaitCallback
from mirage_desktop.models.manifest import ArchiveSpec, Manifest, ModelEntry
from mirage_desktop.models.sidecar import VerifiedRecord, read_record, remove_record, write_record
from mirage_desktop.models.sources import Source, sources_for
from mirage_desktop.models.status import (
    STATES,
    UNHASHED,
    ModelStatus,
    describe,
    download_failed,
    judge,
    missing,
    present,
    wrong_kind,
)
from mirage_desktop.safe_read import kind_of, not_regular_reason

__all__ = ["STATES", "ModelStatus", "ModelStore"]

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"
LOCK_DIR = ".locks"
ARCHIVE_DIR = ".archives"


class ModelStore:
    def __init__(
        self,
        models_dir: Path | None = None,
        manifest: Manifest | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        settings: DownloadSettings | None = None,
        file_hasher: Callable[[Path], str] = sha256_file,
        lock_timeout: float | None = None,
        on_lock_wait: WaitCallback | None = None,
        on_mirror: Callable[[str], None] | None = None,
        on_lock_notice: NoticeCallback | None = None,
    ) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        if models_dir is None:
            models_dir = AppPaths.from_env(self.environ).models_dir
        self.models_dir = Path(models_dir)
        self.manifest = manifest if manifest is not None else Manifest.shipped()
        # The environment may shorten the bounds (MIRAGE_DOWNLOAD_*), for tests of the real CLI.
        self.settings = settings or DownloadSettings.from_env(self.environ)
        self._hash_file = file_hasher
        self._fetcher = HttpFetcher(self.settings, self.environ, tell=self._tell)
        self._lock_timeout = lock_timeout
        self._on_lock_wait = on_lock_wait
        #: told that a command waits for another process's lock, and for whom
        self._on_lock_notice = on_lock_notice
        #: told, as one line each, which source is tried and why one is given up
        self._on_mirror = on_mirror

    # ------------------------------------------------------------------ queries

    def folder_problem(self) -> str | None:
        """Why the models folder cannot hold models (it, or a folder above it, is a file), or None."""
        return folder_problem(self.models_dir, "models folder", "MIRAGE_MODELS_DIR")

    def file_path(self, model_id: str) -> Path:
        return self.models_dir / self.manifest.get(model_id).file

    def status(self, model_id: str, *, rehash: bool = False) -> ModelStatus:
        """The state of the local copy. Hashes only when the cached result is stale (or ``rehash``)."""
        entry = self.manifest.get(model_id)
        path = self.models_dir / entry.file
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            # NotADirectoryError: the models folder path runs through a file, so nothing can be there.
            return missing(entry, path, self.models_dir, self.folder_problem())
        except OSError as exc:
            raise storage_error(exc, path, "read") from exc
        if not path.is_file():
            what = f"{path} is {kind_of(path)}, not a file."
            return present(entry, path, "bad", stat.st_size, None, False, what)

        record = read_record(path)
        fresh = record is not None and record.matches(stat)
        claimed_user = record is not None and record.user_supplied
        size_wrong = entry.size is not None and stat.st_size != entry.size
        actual: str | None = None
        if fresh and not rehash:
            actual = record.sha256
        elif (entry.sha256 is not None and not size_wrong) or claimed_user:
            try:
                actual = self._hash_file(path)
            except OSError as exc:
                raise storage_error(exc, path, "read") from exc
            write_record(
                path,
                VerifiedRecord(
                    size=stat.st_size,
                    mtime_ns=stat.st_mtime_ns,
                    sha256=actual,
                    user_supplied=claimed_user and record.sha256 == actual,
                    source=record.source if record else "",
                ),
            )
        user_supplied = claimed_user and actual is not None and actual == record.sha256
        judged = judge(entry, path, stat.st_size, actual, user_supplied)
        if judged.state in UNHASHED:
            # Nothing but its own bytes vouches for this file: it must at least be the right kind.
            problem = self._kind_problem(path, entry.file, "read")
            if problem:
                return wrong_kind(entry, path, stat.st_size, problem)
        return judged

    def statuses(self) -> list[ModelStatus]:
        return [self.status(entry.id) for entry in self.manifest]

    def path(self, model_id: str) -> Path:
        """The local, verified model file, or an exception whose text tells the user what to do."""
        status = self.status(model_id)
        if status.state == "missing":
            problem = self.folder_problem()
            raise ModelStorageError(problem) if problem else ModelMissingError(status.message)
        if status.state == "bad":
            raise ModelVerificationError(status.message)
        if status.state in ("user-supplied", "unverifiable"):
            log.warning(status.message)
        return status.path

    # ------------------------------------------------------------------ changes

    def download(self, model_id: str, progress: ProgressCallback | None = None) -> Path:
        """Fetch a model unless a usable copy is already here; returns its path.

        Mirrors are tried in order; a dropped connection resumes from the ``.part`` file; the result
        is verified before it is renamed into place. Raise from ``progress`` to cancel (the ``.part``
        stays for the next attempt).
        """
        entry = self.manifest.get(model_id)
        target = self.models_dir / entry.file
        if self.status(entry.id).usable:
            return target
        self._make_models_dir()
        with self._lock(entry.file):
            # Another process may have finished it while we waited for the lock.
            if self.status(entry.id).usable:
                return target
            attempts: list[MirrorAttempt] = []
            sources = sources_for(entry, self.environ)
            for number, source in enumerate(sources, 1):
                if source.problem:
                    attempts.append(MirrorAttempt(source.url, f"{source.origin}: {source.problem}"))
                    self._tell(f"{entry.id}: skipping {source.url} ({source.origin}: {source.problem})")
                    continue
                label = f"{source.url} (from {source.origin})" if source.origin else source.url
                self._tell(f"{entry.id}: trying source {number} of {len(sources)}: {label}")
                try:
                    sha = self._fetch(entry, source, progress)
                except FetchError as exc:
                    log.info("download of %s from %s failed: %s", entry.file, source.url, exc.reason)
                    attempts.append(MirrorAttempt(label, exc.reason))
                    more = "trying the next one" if number < len(sources) else "no sources left"
                    self._tell(f"{entry.id}: gave up on {source.url}: {exc.reason}; {more}")
                    continue
                self._install(self._part(entry), target, sha)
                if entry.archive is not None:
                    self._drop_archive_if_done(entry.archive.archive)
                log.info("installed %s from %s", entry.file, source.url)
                return target
            raise download_failed(entry, self.models_dir, self._part(entry), tuple(attempts))

    def add(self, src_path: Path, model_id: str | None = None, allow_unverified: bool = False) -> Path:
        """Copy a model file the user already has into the store, checking it against the manifest."""
        src = Path(src_path).expanduser()
        reason = not_regular_reason(src)
        if reason:
            raise ModelInputError(
                f"{reason}. Give the path of a model file you downloaded, "
                "e.g. `mirage-cli models add ~/Downloads/inswapper_128.onnx`."
            )
        if model_id is None:
            model_id = self.manifest.guess_id(src.name)
            if model_id is None:
                raise UnknownModelError(
                    f"Cannot tell which model {src.name} is from its name. Say it with --id "
                    f"(one of: {', '.join(self.manifest.ids)})."
                )
        entry = self.manifest.get(model_id)
        target = self.models_dir / entry.file
        # Only a published hash can vouch for the bytes; short of one, the file must be the right kind
        # (checked before copying, so a 3 GB download page is refused at once).
        hash_may_match = entry.sha256 is not None and entry.size in (None, src.stat().st_size)
        if not hash_may_match:
            self._refuse_wrong_kind(src, entry)
        self._make_models_dir()
        with self._lock(entry.file):
            drop_stale_copies(self.models_dir, entry.file)
            in_place = target.exists() and os.path.samefile(src, target)
            staging = target if in_place else self.models_dir / f".{entry.file}.adding-{os.getpid()}"
            actual = self._hash_file(src) if in_place else copy_hashing(src, staging)
            size = staging.stat().st_size
            matches = (entry.size is None or size == entry.size) and (
                entry.sha256 is None or actual == entry.sha256
            )
            if not matches and hash_may_match:
                try:
                    self._refuse_wrong_kind(src, entry)
                except ModelKindError:
                    if not in_place:
                        staging.unlink(missing_ok=True)
                    raise
            if not matches and not allow_unverified:
                if not in_place:
                    staging.unlink(missing_ok=True)
                raise ModelVerificationError(
                    f"{src} does not match the manifest's {entry.id}: expected "
                    f"{describe(entry.size, entry.sha256)}, got {describe(size, actual)}. "
                    "If you built this file yourself or trust it, add it anyway with "
                    f"`mirage-cli models add {src} --id {entry.id} --allow-unverified` "
                    "(it is then marked user-supplied, hash not verified)."
                )
            if not in_place:
                self._install(staging, target, None)
            stat = target.stat()
            write_record(
                target,
                VerifiedRecord(
                    size=stat.st_size,
                    mtime_ns=stat.st_mtime_ns,
                    sha256=actual,
                    user_supplied=not matches,
                    source=str(src.resolve()),
                ),
            )
            if not matches:
                log.warning("%s added as user-supplied: it does not match the manifest", target)
            return target

    # ------------------------------------------------------------------ internals

    def _refuse_wrong_kind(self, src: Path, entry: ModelEntry) -> None:
        kind = filekind.kind_for(entry.file)
        try:
            problem = filekind.check_file(src, kind)
        except OSError as exc:
            raise ModelInputError(f"Cannot read {src}: {exc.strerror or exc}.") from exc
        if problem:
            again = f" (from {entry.manual_url})" if entry.manual_url else ""
            raise ModelKindError(
                f"{src} cannot be {entry.id}: {problem}. Download {entry.file} again{again} and add "
                "that file; --allow-unverified does not change this, Mirage cannot load such a file."
            )

    def _kind_problem(self, path: Path, file_name: str, action: str) -> str | None:
        try:
            return filekind.check_file(path, filekind.kind_for(file_name))
        except OSError as exc:
            raise storage_error(exc, path, action) from exc

    def _tell(self, line: str) -> None:
        log.info(line)
        if self._on_mirror is not None:
            self._on_mirror(line)

    def _part(self, entry: ModelEntry) -> Path:
        return self.models_dir / (entry.file + PART_SUFFIX)

    def _lock(self, file_name: str) -> FileLock:
        return FileLock(
            self.models_dir / LOCK_DIR / (file_name + ".lock"),
            timeout=self._lock_timeout,
            on_wait=self._on_lock_wait,
            on_notice=self._on_lock_notice,
        )

    def _make_models_dir(self) -> None:
        problem = self.folder_problem()
        if problem:
            raise ModelStorageError(problem)
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, self.models_dir, "create the models folder") from exc
        if not self.models_dir.is_dir():
            raise storage_error(
                NotADirectoryError(20, "Not a directory"), self.models_dir, "use the models folder"
            )

    def _fetch(self, entry: ModelEntry, source: Source, progress: ProgressCallback | None) -> str:
        expected = Expected(entry.size, entry.sha256, filekind.kind_for(entry.file))
        part = self._part(entry)
        if source.kind == "direct":
            return self._fetcher.fetch(source.url, part, expected, progress)
        assert entry.archive is not None
        spec = entry.archive.archive
        archive_path = self._archive_path(spec)
        with self._lock(spec.file):
            if not self._archive_ready(spec, archive_path):
                archive_part = archive_path.with_name(archive_path.name + PART_SUFFIX)
                archive_expected = Expected(spec.size, spec.sha256, filekind.kind_for(spec.file))
                sha = self._fetcher.fetch(source.url, archive_part, archive_expected, progress)
                self._install(archive_part, archive_path, sha)
            try:
                limit = self.settings.unknown_size_limit
                return extract_member(archive_path, entry.archive.member, part, expected, limit)
            except FetchError:
                # The zip is not what we need (damaged, or a different pack): fetch it again next time.
                archive_path.unlink(missing_ok=True)
                remove_record(archive_path)
                raise

    def _archive_path(self, spec: ArchiveSpec) -> Path:
        folder = self.models_dir / ARCHIVE_DIR
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, folder, "create") from exc
        return folder / spec.file

    def _archive_ready(self, spec: ArchiveSpec, path: Path) -> bool:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        if not S_ISREG(stat.st_mode):
            return False  # a FIFO or device here would hang the zip check; the download replaces it
        if spec.size is not None and stat.st_size != spec.size:
            return False
        if spec.sha256 is not None:
            record = read_record(path)
            if record is None or not record.matches(stat) or record.sha256 != spec.sha256:
                return self._hash_file(path) == spec.sha256
        return zipfile.is_zipfile(path)

    def _drop_archive_if_done(self, spec: ArchiveSpec) -> None:
        """Delete a downloaded pack once every model the manifest takes from it is installed."""
        if all((self.models_dir / member.file).exists() for member in self.manifest.members_of(spec.id)):
            path = self.models_dir / ARCHIVE_DIR / spec.file
            with self._lock(spec.file):
                path.unlink(missing_ok=True)
                remove_record(path)

    def _install(self, source: Path, target: Path, sha256: str | None) -> None:
        """Atomically move a complete, verified file into place and cache its verification."""
        try:
            os.replace(source, target)
        except OSError as exc:
            raise storage_error(exc, target, "move the finished download to") from exc
        fsync_dir(target.parent)
        if sha256 is not None:
            stat = target.stat()
            write_record(target, VerifiedRecord(size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=sha256))
