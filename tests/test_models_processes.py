"""Things only real processes show: lock contention, a killed lock holder, a write that hits a limit."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mirage_desktop.models import DownloadSettings, Manifest, ModelBusyError, ModelStore
from mirage_desktop.models.lock import FileLock
from tests.test_models_httpserver import model_dict, random_bytes, running_server, sha256, write_manifest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process and rlimit semantics")

REPO = Path(__file__).resolve().parents[1]

HOLD_LOCK = """
import sys, time
from pathlib import Path
from mirage_desktop.models.lock import FileLock
FileLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(60)
"""

DOWNLOAD = """
import sys
from pathlib import Path
from mirage_desktop.models import DownloadSettings, Manifest, ModelError, ModelStore
store = ModelStore(
    Path(sys.argv[2]),
    Manifest.from_file(Path(sys.argv[1])),
    {},
    settings=DownloadSettings(timeout=20, retry_delay=0),
    on_lock_wait=lambda pid: print(f"waiting-for {pid}", flush=True),
)
try:
    print("done", store.download(sys.argv[3]), flush=True)
except ModelError as exc:
    print(exc, flush=True)
    sys.exit(3)
"""

# The limit is set after the imports so that only the download itself runs into it.
DOWNLOAD_WITH_FILE_SIZE_LIMIT = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of being killed
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
"""


def _python(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _readline(process: subprocess.Popen, timeout: float = 15.0) -> str:
    """The next line of a child's output, failing (not hanging) if it does not come."""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no output from process {process.pid} within {timeout} s")
    return process.stdout.readline().strip()


def _wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def test_lock_held_by_another_process_then_released_by_its_death(tmp_path):
    lock_path = tmp_path / "locks" / "swap.onnx.lock"
    holder = _python(HOLD_LOCK, str(lock_path))
    try:
        assert _readline(holder) == "locked"
        waited: list[int | None] = []
        with pytest.raises(ModelBusyError) as busy:
            FileLock(lock_path, timeout=0.3, on_wait=waited.append).acquire()
        assert f"process {holder.pid}" in str(busy.value).lower()
        assert waited == [holder.pid]
    finally:
        holder.kill()
        holder.wait()

    # The holder died without cleaning up: its PID is still in the file, yet the lock is free.
    assert FileLock(lock_path).holder_pid() == holder.pid
    lock = FileLock(lock_path, timeout=2)
    with lock:
        assert lock.holder_pid() == os.getpid()


def test_two_processes_download_one_model_once(tmp_path):
    data = random_bytes(400_000, seed=31)
    gate = threading.Event()
    with running_server() as server:
        url = server.add("/swap.onnx", data, gate=gate)
        manifest = write_manifest(tmp_path / "manifest.json", [model_dict("swap", data, [url])])
        models_dir = tmp_path / "models"
        first = _python(DOWNLOAD, str(manifest), str(models_dir), "swap")
        second = None
        try:
            # The first process is mid-download (its body is held back) when the second starts.
            _wait_for(lambda: server.hits_for("/swap.onnx"))
            second = _python(DOWNLOAD, str(manifest), str(models_dir), "swap")
            assert _readline(second, timeout=5) == f"waiting-for {first.pid}"
            gate.set()
            out_first, _ = first.communicate(timeout=30)
            out_second, _ = second.communicate(timeout=30)
        finally:
            gate.set()
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()

        assert first.returncode == 0, out_first
        assert second.returncode == 0, out_second
        assert len(server.hits_for("/swap.onnx")) == 1  # exactly one of them downloaded
    target = models_dir / "swap.onnx"
    assert f"done {target}" in out_first and f"done {target}" in out_second
    assert sha256(target.read_bytes()) == sha256(data)
    assert not (models_dir / "swap.onnx.part").exists()


def test_a_write_that_hits_the_file_size_limit_reports_a_full_disk(tmp_path):
    data = random_bytes(300_000, seed=32)
    with running_server() as server:
        url = server.add("/swap.onnx", data)
        manifest = write_manifest(tmp_path / "manifest.json", [model_dict("swap", data, [url])])
        models_dir = tmp_path / "models"
        limited = _python(DOWNLOAD_WITH_FILE_SIZE_LIMIT + DOWNLOAD, str(manifest), str(models_dir), "swap")
        output, _ = limited.communicate(timeout=30)

        assert limited.returncode == 3, output
        part = models_dir / "swap.onnx.part"
        assert "the disk is full or the file is too large" in output
        assert str(part) in output and str(models_dir) in output
        assert "Free some space" in output
        assert part.stat().st_size == 100_000  # kept for resume

        store = ModelStore(
            models_dir, Manifest.from_file(manifest), {}, settings=DownloadSettings(retry_delay=0)
        )
        assert store.download("swap").read_bytes() == data
        assert server.hits_for("/swap.onnx")[-1].range == "bytes=100000-"
