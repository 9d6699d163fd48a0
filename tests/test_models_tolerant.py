"""Model sidecars and lock files read tolerantly (issue 17.2), and lock waits that say who (17.3).

A damaged record (null, a list, wrong types, garbage, deep nesting, a FIFO, a link to /dev/zero, huge,
a folder) is set aside or ignored with a word; nothing raises, hangs or reads without bound. Real
processes hold the locks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mirage_desktop.models.lock import FileLock
from mirage_desktop.models.lockowner import LockOwner, encode, process_start
from mirage_desktop.models.sidecar import read_record, sidecar_path
from tests.hostile_http import BIG, HTML, store_for
from tests.test_models_httpserver import model_dict, sha256

# ---------------------------------------------------------------------------------------------- locks

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, sys.argv[2].encode())
print("locked", flush=True)
time.sleep(float(sys.argv[3]))
"""


def _holder(lock: Path, record: bytes, seconds: float = 30.0) -> subprocess.Popen:
    lock.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock), record.decode(), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_waiter_says_who_holds_the_lock_and_that_it_waits(tmp_path):
    lock = tmp_path / ".locks" / "m.onnx.lock"
    proc = _holder(lock, b"{}", seconds=1.0)
    try:
        # The record names the holder itself (its PID and start time): alive, so we wait.
        real = LockOwner(proc.pid, "mirage-cli models download m", time.time(), process_start(proc.pid))
        lock.write_bytes(encode(real))
        notices: list[str] = []
        with FileLock(lock, timeout=10, poll_interval=0.05, on_notice=notices.append):
            pass
    finally:
        proc.kill()
        proc.wait()
    waiting = notices[0]
    assert waiting.startswith(f"Waiting for process {proc.pid} (mirage-cli models download m, since ")
    assert "which is working on m.onnx" in waiting


@pytest.mark.parametrize("who", ["dead", "reused"])
def test_a_lock_held_for_an_owner_that_is_gone_is_taken_over(tmp_path, who):
    lock = tmp_path / ".locks" / "m.onnx.lock"
    if who == "dead":
        gone = subprocess.Popen(["true"])
        gone.wait()
        record = LockOwner(pid=gone.pid, command="mirage-cli models add m.onnx")
    else:  # a live process whose start time is not the recorded one: the PID was reused
        record = LockOwner(pid=os.getppid(), command="mirage-cli models add m.onnx", started=1)
    proc = _holder(lock, encode(record))
    try:
        notices: list[str] = []
        started = time.monotonic()
        with FileLock(lock, timeout=5, poll_interval=0.05, on_notice=notices.append) as held:
            assert held.holder_pid() == os.getpid()
        assert time.monotonic() - started < 2
        assert proc.poll() is None  # taken over while the fd's holder still runs
    finally:
        proc.kill()
        proc.wait()
    assert any(
        n.startswith("Taking over the lock on m.onnx") and f"process {record.pid}" in n for n in notices
    )


@pytest.mark.parametrize(
    "content", ["fifo", "devzero", "folder", "huge", "garbage", "null", "list", "nested", "pid-as-text"]
)
def test_a_damaged_lock_file_never_hangs_or_raises(tmp_path, content):
    lock = tmp_path / ".locks" / "m.onnx.lock"
    lock.parent.mkdir()
    _damage(lock, content)
    notices: list[str] = []

    started = time.monotonic()
    with FileLock(lock, timeout=3, poll_interval=0.05, on_notice=notices.append) as held:
        assert held.holder_pid() == os.getpid()
    assert time.monotonic() - started < 2
    if content in ("fifo", "devzero", "folder"):
        assert any("set it aside" in n for n in notices)
        assert list(lock.parent.glob("m.onnx.lock.corrupt-*"))


def _damage(path: Path, content: str) -> None:
    if content == "fifo":
        os.mkfifo(path)
    elif content == "devzero":
        path.symlink_to("/dev/zero")
    elif content == "folder":
        path.mkdir()
    elif content == "huge":
        with open(path, "wb") as fh:
            fh.truncate(64 * 1024 * 1024)  # sparse: costs no disk
    else:
        path.write_text(
            {
                "garbage": "\x00\xff not json",
                "null": "null",
                "list": "[1, 2]",
                "nested": "[" * 100_000,
                "pid-as-text": '{"pid": "1234", "since": "yesterday"}',
            }[content]
        )


# ---------------------------------------------------------------------------------------------- sidecars

SIDECARS = ["null", "list", "wrong types", "garbage", "nested", "fifo", "devzero", "huge", "folder"]


@pytest.mark.parametrize("content", SIDECARS)
def test_a_damaged_sidecar_is_set_aside_and_the_model_hashed_again(tmp_path, content, caplog):
    store = store_for(tmp_path, model_dict("m", BIG, ["https://example.invalid/m.onnx"]))
    store.models_dir.mkdir(parents=True)
    (store.models_dir / "m.onnx").write_bytes(BIG)
    sidecar = sidecar_path(store.models_dir / "m.onnx")
    if content == "wrong types":
        sidecar.write_text(json.dumps({"size": "big", "mtime_ns": [1], "sha256": 5, "user_supplied": "yes"}))
    else:
        _damage(sidecar, content)

    started = time.monotonic()
    status = store.status("m")

    assert time.monotonic() - started < 3
    assert status.state == "verified"
    assert read_record(store.models_dir / "m.onnx").sha256 == sha256(BIG)  # a fresh record
    assert list(store.models_dir.glob("m.onnx.verified.json.corrupt-*"))
    assert "verification record" in caplog.text


def test_the_windows_model_check_and_models_list_survive_damaged_records(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    from mirage_desktop.cli import models as models_cli
    from mirage_desktop.gui.first_run import model_rows

    store = store_for(
        tmp_path,
        model_dict("m", BIG, ["https://example.invalid/m.onnx"]),
        model_dict("n", None, ["https://example.invalid/n.onnx"]),
    )
    store.models_dir.mkdir(parents=True)
    (store.models_dir / "m.onnx").write_bytes(BIG)
    (store.models_dir / "n.onnx").write_bytes(HTML)
    _damage(sidecar_path(store.models_dir / "m.onnx"), "fifo")
    _damage(sidecar_path(store.models_dir / "n.onnx"), "nested")
    (store.models_dir / ".locks").mkdir()
    _damage(store.models_dir / ".locks" / "m.onnx.lock", "devzero")

    rows = model_rows(store, list(store.manifest))

    assert [(row.id, row.state) for row in rows] == [("m", "verified"), ("n", "bad")]
    parser = argparse.ArgumentParser()
    models_cli.register(parser.add_subparsers(), store_factory=lambda **_: store)
    args = parser.parse_args(["models", "list"])
    assert args.func(args) == 0
    assert "bad" in capsys.readouterr().out


def test_a_copy_left_by_a_killed_models_add_is_removed_by_the_next_one(tmp_path, caplog):
    store = store_for(tmp_path, model_dict("m", BIG, ["https://example.invalid/m.onnx"]))
    store.models_dir.mkdir(parents=True)
    stale = store.models_dir / ".m.onnx.adding-99999"
    stale.write_bytes(BIG[:1000])
    src = tmp_path / "m.onnx"
    src.write_bytes(BIG)

    assert store.add(src).read_bytes() == BIG
    assert not stale.exists()
    assert "a copy left by an interrupted `models add`" in caplog.text
