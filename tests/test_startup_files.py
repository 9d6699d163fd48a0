"""Every file Mirage reads at start-up, damaged every way we know (issue 17.2 and 17.7): the bad entry
is set aside (kept, renamed ``.corrupt-…``) or left alone when it is not Mirage's to move, named in
words, and everything else loads. Real files, FIFOs, links to /dev/zero, and the real window.

Each read runs on a thread with a deadline, so a regression that blocks on a FIFO fails the test
instead of hanging the run.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from mirage_desktop.config.logs import setup_logging
from mirage_desktop.config.paths import AppPaths
from mirage_desktop.config.settings import Settings, SettingsSaveError, SettingsStore
from mirage_desktop.gui.app import build_window
from mirage_desktop.gui.gallery import GalleryWidget
from mirage_desktop.gui.identity_store import IdentityStore
from mirage_desktop.gui.voice_library import VoiceLibrary
from mirage_desktop.sources.camera_list import list_v4l2_devices

DEEP = "[" * 100_000 + "]" * 100_000
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def bounded(fn: Callable[[], object], seconds: float = 10.0) -> object:
    """fn() on a thread; fails (never hangs) when it has not returned within ``seconds``."""
    result: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # re-raised on the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    if errors:
        raise errors[0]
    return result[0]


# -- the kinds of damage, as makers of a path ------------------------------------------------------


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _folder(path: Path) -> None:
    path.mkdir()
    (path / "inside.txt").write_text("kept")


def _huge(path: Path) -> None:
    with open(path, "wb") as fh:
        fh.truncate(40 * 1024 * 1024)  # sparse: no disk used


SPECIAL = {"fifo": _fifo, "link to /dev/zero": _zero, "folder": _folder, "huge": _huge}
BAD_JSON = {
    "null": _bytes(b"null"),
    "a list": _bytes(b'["name", "Alice"]'),
    "a number": _bytes(b"42"),
    "empty": _bytes(b""),
    "binary garbage": _bytes(bytes(range(256)) * 4),
    "not UTF-8": _bytes('{"name": "Zoë"}'.encode("latin-1")),
    "100 000 deep": _bytes(DEEP.encode()),
    "truncated": _bytes(b'{"name": "Al'),
    **SPECIAL,
}


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder`` and, for regular files, its bytes (special files by kind)."""
    out: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = f"link to {os.readlink(path)}"
        elif path.is_file() and path.stat().st_size < 1 << 20:
            out[rel] = path.read_bytes()
        else:
            out[rel] = "dir" if path.is_dir() else "special or big"
    return out


def gallery(tmp_path: Path) -> tuple[IdentityStore, str]:
    store = IdentityStore(tmp_path / "identities")
    thumb = np.full((128, 128, 3), 120, np.uint8)
    good = store.save("Good", np.random.default_rng(1).normal(size=512).astype(np.float32), thumb)
    return store, good.id


def damaged_identity(store: IdentityStore, name: str, make: Callable[[Path], None]) -> Path:
    """A whole identity, with the file ``name`` replaced by ``make``."""
    thumb = np.full((128, 128, 3), 60, np.uint8)
    saved = store.save("Bad", np.random.default_rng(2).normal(size=512).astype(np.float32), thumb)
    folder = store.root / saved.id
    target = folder / name
    if target.is_dir() and not target.is_symlink():
        target.rmdir()
    else:
        target.unlink(missing_ok=True)
    make(target)
    return folder


def _set_aside_once(store: IdentityStore, folder: Path) -> Path:
    (kept,) = [p for p in store.root.iterdir() if p.name.startswith(folder.name + ".corrupt-")]
    assert not folder.exists()
    return kept


# -- identities --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(BAD_JSON))
def test_a_damaged_meta_json_is_set_aside_named_and_the_others_load(tmp_path, kind):
    store, good = gallery(tmp_path)
    folder = damaged_identity(store, "meta.json", BAD_JSON[kind])
    before = snapshot(folder)
    scan = bounded(store.scan)
    assert [i.id for i in scan.identities] == [good]
    (problem,) = scan.problems
    assert folder.name in problem and "meta.json" in problem and "set aside" in problem
    kept = _set_aside_once(store, folder)
    assert snapshot(kept) == before  # kept whole: nothing inside was changed or lost
    assert [i.id for i in bounded(store.scan).identities] == [good]  # and not read again


@pytest.mark.parametrize(
    ("meta", "words"),
    [
        ({"created": 1.0}, "name is missing"),
        ({"name": None}, "name is null"),
        ({"name": 7}, "name is a number"),
        ({"name": ["Al"]}, "name is a list"),
        ({"name": "   "}, "name is text"),
        ({"name": {"first": "Al"}}, "name is an object"),
    ],
)
def test_meta_json_fields_of_the_wrong_type(tmp_path, meta, words):
    store, good = gallery(tmp_path)
    folder = damaged_identity(store, "meta.json", _bytes(json.dumps(meta).encode()))
    scan = store.scan()
    assert [i.id for i in scan.identities] == [good]
    assert words in scan.problems[0], scan.problems
    _set_aside_once(store, folder)


@pytest.mark.parametrize("created", [None, "yesterday", True, [1], 1e400])
def test_a_wrong_created_time_does_not_hide_the_identity(tmp_path, created):
    store, _ = gallery(tmp_path)
    folder = damaged_identity(
        store, "meta.json", _bytes(json.dumps({"name": "Late", "created": created}).encode())
    )
    scan = store.scan()
    assert sorted(i.name for i in scan.identities) == ["Good", "Late"]
    assert scan.identities[0].name == "Late"  # shown first: created 0
    assert folder.exists()


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


GOOD_NPY = _npy(np.ones(512, np.float32))
BAD_EMBEDDINGS = {
    "truncated": _bytes(GOOD_NPY[: len(GOOD_NPY) // 2]),
    "header only": _bytes(GOOD_NPY[:128]),
    "wrong shape": _bytes(_npy(np.ones(256, np.float32))),
    "NaN": _bytes(_npy(np.full(512, np.nan, np.float32))),
    "infinite": _bytes(_npy(np.full(512, np.inf, np.float64))),
    "all zeros": _bytes(_npy(np.zeros(512, np.float32))),
    "text": _bytes(_npy(np.array(["a"] * 512))),
    "pickled objects": _bytes(_npy(np.array([object()] * 512, dtype=object))),
    "garbage": _bytes(os.urandom(2048)),
    "empty": _bytes(b""),
    "missing": lambda path: None,
    **SPECIAL,
}


@pytest.mark.parametrize("kind", sorted(BAD_EMBEDDINGS))
def test_a_damaged_embedding_is_set_aside_and_the_others_load(tmp_path, kind):
    store, good = gallery(tmp_path)
    folder = damaged_identity(store, "embedding.npy", BAD_EMBEDDINGS[kind])
    scan = bounded(store.scan)
    assert [i.id for i in scan.identities] == [good]
    assert "embedding.npy" in scan.problems[0] and folder.name in scan.problems[0]
    _set_aside_once(store, folder)


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


GOOD_PNG = cv2.imencode(".png", np.full((128, 128, 3), 30, np.uint8))[1].tobytes()
BAD_THUMBS = {
    "garbage": _bytes(os.urandom(4096)),
    "a JPEG": _bytes(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()),
    "truncated": _bytes(GOOD_PNG[: len(GOOD_PNG) // 2]),
    "100 000 px a side": _bytes(_png_header(100_000, 100_000) + GOOD_PNG[33:]),
    **SPECIAL,
}


@pytest.mark.parametrize("kind", sorted(BAD_THUMBS))
def test_a_damaged_thumbnail_is_set_aside_and_the_face_still_loads(qtbot, tmp_path, kind):
    store, _ = gallery(tmp_path)
    folder = damaged_identity(store, "thumb.png", BAD_THUMBS[kind])
    scan = bounded(store.scan)  # sets the bad picture aside (on a thread: it must not block)
    assert any("picture of 'Bad'" in p and "kept as thumb.png.corrupt-" in p for p in scan.problems)
    widget = GalleryWidget(store)
    qtbot.addWidget(widget)
    assert sorted(widget.names()) == ["Bad", "Good"]
    bad = next(i for i in store.list() if i.name == "Bad")
    assert bad.thumbnail is None and folder.exists()
    assert [p.name.split(".corrupt-")[0] for p in folder.glob("thumb.png.corrupt-*")] == ["thumb.png"]


def test_a_missing_thumbnail_is_no_problem_to_report(tmp_path):
    store, _ = gallery(tmp_path)
    folder = damaged_identity(store, "thumb.png", lambda path: None)
    scan = store.scan()
    assert sorted(i.name for i in scan.identities) == ["Bad", "Good"] and scan.problems == []
    assert folder.exists()


def test_a_photo_that_is_not_a_file_is_ignored(tmp_path):
    store, _ = gallery(tmp_path)
    folder = damaged_identity(store, "photo.jpg", _fifo)
    bad = next(i for i in bounded(store.list) if i.name == "Bad")
    assert bad.photo is None and folder.exists()


@pytest.mark.skipif(AS_ROOT, reason="root reads files whatever their permissions")
def test_an_unreadable_identity_is_named_and_left_where_it_is(tmp_path):
    store, good = gallery(tmp_path)
    folder = damaged_identity(store, "meta.json", _bytes(b'{"name": "Locked"}'))
    (folder / "meta.json").chmod(0)
    scan = store.scan()
    assert [i.id for i in scan.identities] == [good]
    assert "cannot be read now" in scan.problems[0] and folder.exists()


def test_the_gallery_folder_being_a_file_is_named(tmp_path):
    root = tmp_path / "identities"
    root.write_text("not a folder")
    scan = IdentityStore(root).scan()
    assert scan.identities == [] and "is a file, not a folder" in scan.problems[0]


def test_renaming_an_identity_keeps_its_other_keys_and_refuses_a_damaged_one(tmp_path):
    store, good = gallery(tmp_path)
    meta = store.root / good / "meta.json"
    meta.write_text(json.dumps({"name": "Good", "created": 5.0, "note": "mine"}))
    store.rename(good, "Better")
    assert json.loads(meta.read_text()) == {"name": "Better", "created": 5.0, "note": "mine"}
    meta.write_text("null")
    from mirage_desktop.gui.identity_store import IdentityError

    with pytest.raises(IdentityError, match="null"):
        store.rename(good, "Best")
    assert meta.read_text() == "null"


# -- the voice library -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(k for k in BAD_JSON if k != "a list"))
def test_a_damaged_voice_list_is_set_aside_and_the_folder_still_searched(tmp_path, kind):
    folder = tmp_path / "voices"
    folder.mkdir()
    (folder / "alto.pth").write_bytes(b"x")
    BAD_JSON[kind](folder / "voices.json")
    library = VoiceLibrary(folder)
    assert [p.name for p in bounded(library.voices)] == ["alto.pth"]
    assert "voice list" in library.problems[0] and "set aside" in library.problems[0]
    assert len(list(folder.glob("voices.json.corrupt-*"))) == 1
    library.remember(tmp_path / "tenor.pth")  # a fresh list, the old one kept beside it
    assert json.loads((folder / "voices.json").read_text()) == [str((tmp_path / "tenor.pth").resolve())]


def test_links_back_into_the_voices_folder_do_not_multiply_the_search(tmp_path):
    folder = tmp_path / "voices"
    (folder / "deep" / "er").mkdir(parents=True)
    (folder / "deep" / "er" / "bass.pth").write_bytes(b"x")
    for name in ("a", "b", "c"):
        (folder / name).symlink_to(folder)  # 3^40 paths if links were followed
    assert [p.name for p in bounded(VoiceLibrary(folder).voices, 5)] == ["bass.pth"]


# -- settings.json ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("fifo", "is a named pipe (FIFO), not a regular file — using default settings"),
        ("link to /dev/zero", "is a link to /dev/zero, a character device, not a regular file"),
        ("folder", "is a folder, not a regular file"),
    ],
)
def test_a_special_settings_path_is_named_never_read_nor_replaced(tmp_path, kind, words):
    path = tmp_path / "settings.json"
    SPECIAL[kind](path)
    before = snapshot(tmp_path)
    store = SettingsStore(path)
    settings, warnings = bounded(store.load_with_env)
    assert settings == Settings() and words in warnings[0], warnings
    settings.video.fps = 24.0
    with pytest.raises(SettingsSaveError, match="not a regular file"):
        bounded(lambda: store.save(settings))
    assert snapshot(tmp_path) == before


def test_a_huge_settings_file_is_set_aside_and_saving_works(tmp_path):
    path = tmp_path / "settings.json"
    _huge(path)
    store = SettingsStore(path)
    settings, warnings = bounded(store.load)
    assert settings == Settings() and "set it aside as" in warnings[0]
    (kept,) = tmp_path.glob("settings.json.corrupt-*")
    assert kept.stat().st_size == 40 * 1024 * 1024
    settings.video.fps = 24.0
    store.save(settings)
    assert json.loads(path.read_text())["video"]["fps"] == 24.0


def test_a_settings_file_that_turns_into_a_fifo_is_not_replaced_by_the_save(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"video": {"fps": 30}}')
    store = SettingsStore(path)
    settings, _ = store.load()
    path.unlink()
    os.mkfifo(path)
    settings.video.fps = 24.0
    with pytest.raises(SettingsSaveError, match="named pipe"):
        bounded(lambda: store.save(settings))
    assert path.exists() and not path.is_file()


def test_a_linked_settings_file_stays_a_link(tmp_path):
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "mirage.json"
    real.write_text('{"video": {"fps": 30}, "mine": {"keep": 1}}')
    path = tmp_path / "config" / "settings.json"
    path.parent.mkdir()
    path.symlink_to(real)
    store = SettingsStore(path)
    settings, _ = store.load()
    settings.video.fps = 24.0
    store.save(settings)
    assert path.is_symlink() and os.readlink(path) == str(real)
    saved = json.loads(real.read_text())
    assert saved["video"]["fps"] == 24.0 and saved["mine"] == {"keep": 1}


def test_a_corrupt_backup_that_is_a_fifo_does_not_block_the_next_backup(tmp_path):
    path = tmp_path / "settings.json"
    os.mkfifo(tmp_path / "settings.json.corrupt-20260101-000000")
    path.write_bytes(b"{broken")
    store = SettingsStore(path)
    _, warnings = bounded(store.load)
    assert "kept it as" in warnings[0]


# -- the log file and the camera list -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero", "folder"])
def test_a_log_file_that_is_not_a_file_means_console_only(tmp_path, kind):
    import logging

    SPECIAL[kind](tmp_path / "mirage.log")
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        assert bounded(lambda: setup_logging(tmp_path)) is None
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero", "folder", "huge"])
def test_a_camera_whose_sysfs_name_is_not_a_file_is_skipped(tmp_path, kind):
    for index, name in ((0, "Real Cam"), (1, None)):
        node = tmp_path / f"video{index}"
        node.mkdir()
        (node / "index").write_text("0\n")
        if name is None:
            SPECIAL[kind](node / "name")
        else:
            (node / "name").write_text(name + "\n")
    devices = bounded(lambda: list_v4l2_devices(tmp_path))
    assert [d.name for d in devices] == ["Real Cam"]


# -- the real window on all of it ---------------------------------------------------------------


def test_the_window_opens_on_a_damaged_gallery_and_voice_list_and_names_them(qtbot):
    paths = AppPaths.from_env()
    store, _ = gallery(paths.data_dir)
    null_meta = damaged_identity(store, "meta.json", _bytes(b"null"))
    voices = paths.data_dir / "voices"
    voices.mkdir(parents=True)
    (voices / "voices.json").write_text(DEEP)
    paths.config_dir.mkdir(parents=True)
    paths.settings_file.write_text(json.dumps({"gui": {"active_identity": null_meta.name}}))
    settings_store = SettingsStore(paths.settings_file)
    settings, _ = settings_store.load_with_env()
    window = build_window(settings, paths, virtual_camera=False, settings_store=settings_store)
    qtbot.addWidget(window)
    window.show()
    try:
        assert window.gallery.names() == ["Good"]
        problems = window.problems.problems
        assert null_meta.name in problems["gallery-load"] and "null" in problems["gallery-load"]
        assert "nested too deeply" in problems["voice-library"]
        assert "could not be restored" in problems["identity"]  # the face worn last was the damaged one
        assert window.problems.isVisible() and null_meta.name in window.problems.text.text()
        assert window.voice_controls.library_note.isVisibleTo(window.voice_controls)
    finally:
        window.quit()


def test_paths_no_file_can_have_in_the_settings_do_not_stop_the_window(qtbot):
    # a 300-character name (ENAMETOOLONG) and a NUL (ValueError) where the Voice tab looks for files
    long_name = "/tmp/" + "v" * 300 + ".pth"
    paths = AppPaths.from_env()
    paths.config_dir.mkdir(parents=True)
    voice = {"converter": "rvc", "rvc_model": long_name, "rvc_index": "/tmp/a\u0000b.index"}
    video = {"source": "file:/tmp/" + "c" * 300 + ".mp4"}
    paths.settings_file.write_text(json.dumps({"voice": voice, "video": video}))
    settings_store = SettingsStore(paths.settings_file)
    settings, _ = settings_store.load_with_env()
    window = build_window(settings, paths, virtual_camera=False, settings_store=settings_store)
    qtbot.addWidget(window)
    try:
        rvc = window.voice_controls
        assert rvc.rvc_voice.currentData() == long_name and "(not found)" in rvc.rvc_voice.currentText()
        assert rvc.rvc_index.currentData() == "/tmp/a\u0000b.index"  # shown as saved, not another one
        assert window.devices.source.currentData() == video["source"]
    finally:
        window.quit()
