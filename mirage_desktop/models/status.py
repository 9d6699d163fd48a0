"""ModelStatus: the state of one local model file, and how a present file is judged."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mirage_desktop.models.errors import MirrorAttempt, ModelDownloadError
from mirage_desktop.models.manifest import ModelEntry

#: states a present file can be in; the first four may be used
STATES = ("verified", "size-only", "user-supplied", "unverifiable", "bad", "missing")
USABLE = frozenset({"verified", "size-only", "user-supplied", "unverifiable"})
#: usable states in which nothing but the file's own bytes vouches for it: its kind is checked
UNHASHED = frozenset({"size-only", "user-supplied", "unverifiable"})


@dataclass(frozen=True, slots=True)
class ModelStatus:
    id: str
    file: str
    path: Path
    present: bool
    #: the file is the manifest's (by SHA-256, or by size where no hash is published)
    verified: bool
    size: int | None
    expected_size: int | None
    #: None when there is no published hash to compare with (or the file is missing)
    sha256_ok: bool | None
    user_supplied: bool
    message: str
    #: one of STATES
    state: str = "missing"

    @property
    def usable(self) -> bool:
        return self.state in USABLE


def describe(size: int | None, sha256: str | None) -> str:
    parts = [f"{size:,} bytes" if size is not None else "unknown size"]
    parts.append(f"sha256 {sha256}" if sha256 else "no published sha256")
    return ", ".join(parts)


def present(
    entry: ModelEntry,
    path: Path,
    state: str,
    size: int | None,
    sha256_ok: bool | None,
    user_supplied: bool,
    message: str,
) -> ModelStatus:
    return ModelStatus(
        id=entry.id,
        file=entry.file,
        path=path,
        present=True,
        verified=state in ("verified", "size-only"),
        size=size,
        expected_size=entry.size,
        sha256_ok=sha256_ok,
        user_supplied=user_supplied,
        message=message,
        state=state,
    )


def judge(entry: ModelEntry, path: Path, size: int, actual: str | None, user_supplied: bool) -> ModelStatus:
    hash_ok = None if entry.sha256 is None or actual is None else actual == entry.sha256
    size_ok = entry.size is None or size == entry.size
    if entry.sha256 is not None and not size_ok:
        hash_ok = False  # a file of another size cannot have the published hash
    if hash_ok and size_ok:
        return present(entry, path, "verified", size, True, False, f"{entry.file} is verified.")
    if user_supplied:
        return present(
            entry,
            path,
            "user-supplied",
            size,
            hash_ok,
            True,
            f"{path} was added with --allow-unverified: user-supplied, hash not verified. "
            "Mirage uses it as it is.",
        )
    if hash_ok is False or not size_ok:
        return present(
            entry,
            path,
            "bad",
            size,
            hash_ok,
            False,
            f"{path} is not the expected file: expected {describe(entry.size, entry.sha256)}, "
            f"got {describe(size, actual)}. Delete it and run `mirage-cli models download {entry.id}`, "
            f"or keep it with `mirage-cli models add {path} --id {entry.id} --allow-unverified`.",
        )
    if entry.size is not None:
        return present(
            entry,
            path,
            "size-only",
            size,
            None,
            False,
            f"{entry.file} has the expected size; no SHA-256 is published for it, so its content "
            "is not verified.",
        )
    return present(
        entry,
        path,
        "unverifiable",
        size,
        None,
        False,
        f"{path} cannot be verified: neither its size nor its hash is published.",
    )


def wrong_kind(entry: ModelEntry, path: Path, size: int, problem: str) -> ModelStatus:
    return present(
        entry,
        path,
        "bad",
        size,
        None,
        False,
        f"{path} is not a usable model: {problem}. Delete it and run "
        f"`mirage-cli models download {entry.id}`, or add the right file with `mirage-cli models add`.",
    )


def missing(entry: ModelEntry, path: Path, models_dir: Path, problem: str | None) -> ModelStatus:
    return ModelStatus(
        id=entry.id,
        file=entry.file,
        path=path,
        present=False,
        verified=False,
        size=None,
        expected_size=entry.size,
        sha256_ok=None,
        user_supplied=False,
        message=(
            f"{entry.file} is not installed. {problem}"
            if problem
            else f"{entry.file} is not installed. Run `mirage-cli models download {entry.id}`, "
            f"or put {entry.file} in {models_dir}"
            + (f" (download it from {entry.manual_url})" if entry.manual_url else "")
            + "."
        ),
        state="missing",
    )


def download_failed(
    entry: ModelEntry, models_dir: Path, part: Path, attempts: tuple[MirrorAttempt, ...]
) -> ModelDownloadError:
    """Every source failed: what each said, how to get the file by hand, what is kept for a resume."""
    lines = [f"Could not download {entry.file} ({entry.id}); every source failed:"]
    lines += [f"  - {attempt.url}: {attempt.reason}" for attempt in attempts] or ["  - (no sources)"]
    if entry.urls:
        lines.append(
            f"Download {entry.file} from {entry.manual_url} and put it in {models_dir}, "
            "or run `mirage-cli models add PATH`."
        )
        if entry.archive is not None and entry.archive.archive.urls:
            spec = entry.archive.archive
            lines.append(f"({entry.file} is also inside {spec.file}: {spec.urls[0]})")
    elif entry.archive is not None:
        spec = entry.archive.archive
        lines.append(
            f"Download {entry.file} from {entry.manual_url} (take {entry.archive.member} out of "
            f"{spec.file}) and put it in {models_dir}, or run `mirage-cli models add PATH`."
        )
    kept = part.stat().st_size if part.is_file() else 0
    if kept:
        lines.append(
            f"The {kept:,} bytes already downloaded are kept in {part}; the next attempt resumes from there."
        )
    return ModelDownloadError("\n".join(lines), attempts)
