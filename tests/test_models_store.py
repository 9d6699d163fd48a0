"""ModelStore without the network: path(), status(), the verification cache, add(), storage errors."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from mirage_desktop.models import (
    Manifest,
    ModelError,
    ModelMissingError,
    ModelStorageError,
    ModelStore,
    ModelVerificationError,
    UnknownModelError,
)
from mirage_desktop.models.download import sha256_file
from mirage_desktop.models.errors import storage_error
from mirage_desktop.models.sidecar import read_record, sidecar_path
from mirage_desktop.runtime.probe_model import identity_model_bytes
from tests.test_models_httpserver import model_dict, random_bytes, sha256

DATA = random_bytes(50_000, seed=21)
ONNX = identity_model_bytes()
URL = "https://models.example/swap.onnx"


class CountingHasher:
    def __init__(self) -> None:
        self.calls: list[Path] = []

    def __call__(self, path: Path) -> str:
        self.calls.append(path)
        return sha256_file(path)


def make_store(tmp_path: Path, *models: dict, **options) -> ModelStore:
    manifest = Manifest.from_dict({"models": list(models) or [model_dict("swap", DATA, [URL])]})
    return ModelStore(tmp_path / "models", manifest, {}, **options)


def place(store: ModelStore, name: str, data: bytes) -> Path:
    store.models_dir.mkdir(parents=True, exist_ok=True)
    path = store.models_dir / name
    path.write_bytes(data)
    return path


def test_missing_model_says_how_to_get_it(tmp_path):
    store = make_store(tmp_path)
    with pytest.raises(ModelMissingError) as missing:
        store.path("swap")
    message = str(missing.value)
    assert "`mirage-cli models download swap`" in message
    assert f"put swap.onnx in {store.models_dir}" in message
    assert URL in message
    assert store.status("swap").present is False


def test_unknown_id_lists_the_known_ones(tmp_path):
    with pytest.raises(UnknownModelError, match="Known models: swap"):
        make_store(tmp_path).path("nope")


def test_verified_result_is_cached_until_the_file_changes(tmp_path):
    hasher = CountingHasher()
    store = make_store(tmp_path, file_hasher=hasher)
    path = place(store, "swap.onnx", DATA)

    assert store.path("swap") == path
    assert len(hasher.calls) == 1
    record = read_record(path)
    assert (record.sha256, record.size, record.user_supplied) == (sha256(DATA), len(DATA), False)

    assert store.path("swap") == path
    assert store.status("swap").state == "verified"
    assert len(hasher.calls) == 1  # served from the sidecar

    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert store.path("swap") == path
    assert len(hasher.calls) == 2  # new mtime: hashed again

    store.status("swap", rehash=True)
    assert len(hasher.calls) == 3


def test_a_corrupted_file_is_refused_with_expected_and_actual(tmp_path):
    store = make_store(tmp_path)
    bad = bytearray(DATA)
    bad[100] ^= 0xFF
    place(store, "swap.onnx", bytes(bad))

    with pytest.raises(ModelVerificationError) as refused:
        store.path("swap")

    message = str(refused.value)
    assert f"expected {len(DATA):,} bytes, sha256 {sha256(DATA)}" in message
    assert f"got {len(DATA):,} bytes, sha256 {sha256(bytes(bad))}" in message
    assert "--allow-unverified" in message and "models download swap" in message
    status = store.status("swap")
    assert (status.state, status.sha256_ok, status.verified) == ("bad", False, False)


def test_a_damaged_sidecar_is_ignored(tmp_path):
    store = make_store(tmp_path)
    path = place(store, "swap.onnx", DATA)
    sidecar_path(path).write_text("{not json", encoding="utf-8")
    assert store.status("swap").state == "verified"
    assert read_record(path).sha256 == sha256(DATA)


def test_size_only_and_unverifiable_entries(tmp_path, caplog):
    store = make_store(
        tmp_path,
        model_dict("sized", ONNX, [URL], sha=None),
        model_dict("blind", None, [URL]),
    )
    # Without a hash only the kind of file vouches for it: these are real ONNX models.
    place(store, "sized.onnx", ONNX)
    place(store, "blind.onnx", identity_model_bytes((3, 3)))

    sized = store.status("sized")
    assert (sized.state, sized.verified, sized.sha256_ok) == ("size-only", True, None)
    place(store, "sized.onnx", ONNX + b"!")
    assert store.status("sized").state == "bad"

    with caplog.at_level(logging.WARNING):
        assert store.path("blind") == store.models_dir / "blind.onnx"
    assert "cannot be verified" in caplog.text


def test_add_copies_a_matching_file_and_guesses_its_id(tmp_path):
    store = make_store(tmp_path)
    src = tmp_path / "downloads" / "swap.onnx"
    src.parent.mkdir()
    src.write_bytes(DATA)

    path = store.add(src)

    assert path.read_bytes() == DATA and src.exists()
    status = store.status("swap")
    assert (status.state, status.user_supplied) == ("verified", False)
    assert not [p for p in store.models_dir.iterdir() if "adding" in p.name]


def test_add_refuses_a_mismatch_unless_allowed(tmp_path, caplog):
    store = make_store(tmp_path)
    own = identity_model_bytes((2, 30))  # a self-built stand-in: other weights, other size
    src = tmp_path / "my_swapper.onnx"
    src.write_bytes(own)

    with pytest.raises(ModelVerificationError) as refused:
        store.add(src, "swap")
    assert "--allow-unverified" in str(refused.value)
    assert f"got {len(own):,} bytes, sha256 {sha256(own)}" in str(refused.value)
    assert not (store.models_dir / "swap.onnx").exists()

    path = store.add(src, "swap", allow_unverified=True)

    record = read_record(path)
    assert record.user_supplied and record.sha256 == sha256(own) and record.source == str(src.resolve())
    status = store.status("swap")
    assert (status.state, status.user_supplied, status.verified, status.sha256_ok) == (
        "user-supplied",
        True,
        False,
        False,
    )
    with caplog.at_level(logging.WARNING):
        assert store.path("swap") == path
    assert "user-supplied, hash not verified" in caplog.text

    # Replacing the file behind the store's back voids the user's approval.
    path.write_bytes(own + b"changed")
    with pytest.raises(ModelVerificationError):
        store.path("swap")


def test_add_of_a_file_already_in_place(tmp_path):
    store = make_store(tmp_path)
    path = place(store, "swap.onnx", identity_model_bytes((1, 23)))
    assert store.add(path, allow_unverified=True) == path
    assert store.status("swap").state == "user-supplied"


def test_add_needs_an_id_it_can_guess(tmp_path):
    store = make_store(tmp_path)
    src = tmp_path / "weights.bin"
    src.write_bytes(DATA)
    with pytest.raises(UnknownModelError, match="--id"):
        store.add(src)
    with pytest.raises(ModelError, match="does not exist"):
        store.add(tmp_path / "absent.onnx")
    assert store.add(src, "swap").read_bytes() == DATA


def test_models_dir_under_a_regular_file_is_reported(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder should be")
    manifest = Manifest.from_dict({"models": [model_dict("swap", DATA, [URL])]})
    store = ModelStore(blocker / "models", manifest, {})

    assert store.status("swap").state == "missing"
    with pytest.raises(ModelStorageError) as failed:
        store.download("swap")
    message = str(failed.value)
    assert str(blocker / "models") in message
    assert "is a file, not a folder" in message and "MIRAGE_MODELS_DIR" in message

    src = tmp_path / "swap.onnx"
    src.write_bytes(DATA)
    with pytest.raises(ModelStorageError, match="not a folder"):
        store.add(src)


def test_default_store_uses_the_app_models_dir_and_shipped_manifest(tmp_path):
    store = ModelStore(environ={"MIRAGE_MODELS_DIR": str(tmp_path / "m")})
    assert store.models_dir == tmp_path / "m"
    assert "inswapper_128" in store.manifest


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "permission denied"),
    ],
)
def test_storage_errors_name_the_path_and_the_way_out(tmp_path, code, advice):
    part = tmp_path / "models" / "swap.onnx.part"
    error = storage_error(OSError(code, os.strerror(code)), part, "write")
    assert isinstance(error, ModelStorageError)
    assert f"Could not write {part}" in str(error) and advice in str(error)
    assert str(tmp_path / "models") in str(error) and "MIRAGE_MODELS_DIR" in str(error)
