"""Downloads without bounds (issue 17.3) and tolerant model sidecars and lock files (17.2).

A real HTTP server on 127.0.0.1 whose handlers misbehave the way broken mirrors do: bytes past the
file's size, a byte every few tenths of a second, silence after the headers, an HTML page, redirect
loops, a resume that sends another file. Every timeout here is shrunk through DownloadSettings and
every server handler stops by itself, so nothing can hang.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mirage_desktop.models import (
    DownloadSettings,
    Manifest,
    ModelDownloadError,
    ModelStorageError,
    ModelStore,
)
from mirage_desktop.models.errors import ModelInputError, ModelKindError
from mirage_desktop.models.limits import STALL_MIN_BYTES, STALL_TIMEOUT_S, UNKNOWN_SIZE_LIMIT
from mirage_desktop.models.lock import FileLock
from mirage_desktop.models.lockowner import LockOwner, encode, process_start
from mirage_desktop.models.sidecar import read_record, sidecar_path
from mirage_desktop.runtime.probe_model import identity_model_bytes
from tests.test_models_httpserver import model_dict, random_bytes, sha256

REPO = Path(__file__).resolve().parents[1]
FAST = DownloadSettings(
    timeout=2.0, retry_delay=0.0, chunk_size=16384, stall_timeout=0.8, stall_min_bytes=4096
)
#: a real ONNX model big enough to be streamed in several chunks
ONNX = identity_model_bytes((1, 4))
BIG = random_bytes(120_000, seed=7)
HTML = b"<!DOCTYPE html>\n<html><head><title>Not Found</title></head><body>gone</body></html>\n"

#: the start of an ONNX model: ir_version 8, then a graph field announced as 4 GB long
ONNX_START = b"\x08\x08\x3a\x80\x80\x80\x80\x10"

Route = Callable[[BaseHTTPRequestHandler], None]


class HostileServer:
    """Routes are functions of the request handler; each call of a path takes the next one."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Route]] = {}
        self.hits: list[tuple[str, str | None]] = []
        self.stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.hits.append((self.path, self.headers.get("Range")))
                routes = owner.routes.get(self.path)
                if not routes:
                    self.send_error(404)
                    return
                route = routes.pop(0) if len(routes) > 1 else routes[0]
                with contextlib.suppress(OSError):  # the client hung up, as it should on a bad mirror
                    route(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def add(self, path: str, *routes: Route) -> str:
        self.routes[path] = list(routes)
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def count(self, path: str) -> int:
        return sum(1 for hit, _ in self.hits if hit == path)

    # -------------------------------------------------------------------- misbehaviours

    def body(self, data: bytes, length: int | None = None, status: int = 200, **headers: str) -> Route:
        def route(h: BaseHTTPRequestHandler) -> None:
            h.send_response(status)
            h.send_header("Content-Length", str(len(data) if length is None else length))
            for name, value in headers.items():
                h.send_header(name.replace("_", "-"), value)
            h.end_headers()
            h.wfile.write(data)

        return route

    def endless(self, seconds: float = 8.0) -> Route:
        """200 without a Content-Length, then bytes until the client hangs up (or ``seconds``)."""

        def route(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.end_headers()
            h.wfile.write(ONNX_START)  # so the kind check passes and the size cap is what stops it
            chunk = random_bytes(65536, seed=3)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not self.stopping.is_set():
                h.wfile.write(chunk)

        return route

    def trickle(self, total: int, every: float = 0.1) -> Route:
        def route(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Length", str(total))
            h.end_headers()
            for _ in range(total):
                if self.stopping.wait(every):
                    return
                h.wfile.write(b"\0")
                h.wfile.flush()

        return route

    def silent(self, total: int, seconds: float = 8.0) -> Route:
        def route(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Length", str(total))
            h.end_headers()
            h.wfile.flush()
            self.stopping.wait(seconds)

        return route

    def redirect(self, to: str) -> Route:
        def route(h: BaseHTTPRequestHandler) -> None:
            h.send_response(302)
            h.send_header("Location", to)
            h.send_header("Content-Length", "0")
            h.end_headers()

        return route

    def cut(self, data: bytes, after: int, etag: str) -> Route:
        def route(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Length", str(len(data)))
            h.send_header("ETag", etag)
            h.end_headers()
            h.wfile.write(data[:after])
            h.wfile.flush()
            h.close_connection = True

        return route

    def resume(self, data: bytes, etag: str) -> Route:
        """Honours Range (206) for whatever file it has now."""

        def route(h: BaseHTTPRequestHandler) -> None:
            start = int((h.headers.get("Range") or "bytes=0-")[6:].rstrip("-") or 0)
            h.send_response(206 if start else 200)
            if start:
                h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            h.send_header("Content-Length", str(len(data) - start))
            h.send_header("ETag", etag)
            h.end_headers()
            h.wfile.write(data[start:])

        return route

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def hostile() -> Iterator[HostileServer]:
    server = HostileServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server():
    with hostile() as running:
        yield running


def store_for(tmp_path: Path, *models: dict, settings: DownloadSettings = FAST, **options) -> ModelStore:
    manifest = Manifest.from_dict({"models": list(models)})
    return ModelStore(tmp_path / "models", manifest, {}, settings=settings, **options)


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    try:
        return fn(), time.monotonic() - started
    except Exception as exc:
        return exc, time.monotonic() - started


# ---------------------------------------------------------------------------------------------- size caps


def test_bytes_past_the_expected_size_stop_the_source_and_the_next_one_is_used(tmp_path, server):
    endless = server.add("/endless/m.onnx", server.endless())
    good = server.add("/good/m.onnx", server.body(BIG))
    told: list[str] = []
    store = store_for(tmp_path, model_dict("m", BIG, [endless, good]), on_mirror=told.append)

    path, elapsed = timed(lambda: store.download("m"))

    assert path == tmp_path / "models" / "m.onnx" and path.read_bytes() == BIG
    assert elapsed < 5
    gave_up = next(line for line in told if "gave up on" in line and "/endless/" in line)
    assert f"more than the {len(BIG):,} bytes this file can have" in gave_up
    assert server.count("/endless/m.onnx") == 1  # not retried: more bytes will not make it right


def test_an_endless_body_for_a_model_of_unknown_size_stops_at_the_stated_limit(tmp_path, server):
    settings = DownloadSettings(**{**_fields(FAST), "unknown_size_limit": 300_000})
    url = server.add("/m.onnx", server.endless())
    store = store_for(tmp_path, model_dict("m", None, [url]), settings=settings)

    failed, elapsed = timed(lambda: store.download("m"))

    assert isinstance(failed, ModelDownloadError) and elapsed < 5
    assert "more than the 300,000-byte limit for a model whose size is not published" in str(failed)
    assert not (tmp_path / "models" / "m.onnx.part").exists()  # discarded, not kept for a resume
    assert UNKNOWN_SIZE_LIMIT == 2 * 1024**3  # the product's stated limit


def test_a_content_length_over_the_expected_size_is_refused_before_any_byte_is_written(tmp_path, server):
    url = server.add("/m.onnx", server.body(b"", length=len(BIG) + 1))
    unknown = server.add("/u.onnx", server.body(b"", length=50 * 1024**3))
    store = store_for(tmp_path, model_dict("m", BIG, [url]), model_dict("u", None, [unknown]))

    with pytest.raises(ModelDownloadError, match="a different file"):
        store.download("m")
    with pytest.raises(ModelDownloadError, match="53,687,091,200 bytes, more than the"):
        store.download("u")
    assert not list((tmp_path / "models").glob("*.part"))


def test_a_part_file_bigger_than_the_model_is_discarded_with_a_word(tmp_path, server):
    url = server.add("/m.onnx", server.body(BIG))
    told: list[str] = []
    store = store_for(tmp_path, model_dict("m", BIG, [url]), on_mirror=told.append)
    store.models_dir.mkdir(parents=True)
    (store.models_dir / "m.onnx.part").write_bytes(BIG + b"left over from another file")

    assert store.download("m").read_bytes() == BIG
    assert any("discarding" in line and "not the start of it" in line for line in told)
    assert server.hits == [("/m.onnx", None)]  # no Range from the oversized part


@pytest.mark.parametrize("kind", ["symlink to /dev/zero", "fifo", "folder"])
def test_a_part_that_is_not_a_regular_file(tmp_path, server, kind):
    url = server.add("/m.onnx", server.body(BIG))
    told: list[str] = []
    store = store_for(tmp_path, model_dict("m", BIG, [url]), on_mirror=told.append)
    store.models_dir.mkdir(parents=True)
    part = store.models_dir / "m.onnx.part"
    if kind == "fifo":
        os.mkfifo(part)
    elif kind == "folder":
        part.mkdir()
    else:
        part.symlink_to("/dev/zero")

    result, elapsed = timed(lambda: store.download("m"))

    assert elapsed < 5
    if kind == "folder":
        assert isinstance(result, ModelStorageError) and "is a folder" in str(result)
        assert part.is_dir()
    else:
        assert result.read_bytes() == BIG and not result.is_symlink()
        assert any(f"removing {part}" in line for line in told)


# ---------------------------------------------------------------------------------------------- stalls


def test_a_trickling_mirror_is_given_up_after_the_stall_timeout(tmp_path, server):
    slow = server.add("/slow/m.onnx", server.trickle(len(BIG), every=0.05))
    good = server.add("/good/m.onnx", server.body(BIG))
    told: list[str] = []
    store = store_for(tmp_path, model_dict("m", BIG, [slow, good]), on_mirror=told.append)

    path, elapsed = timed(lambda: store.download("m"))

    assert path.read_bytes() == BIG
    assert FAST.stall_timeout <= elapsed < FAST.stall_timeout + 2.5
    line = next(line for line in told if "gave up on" in line and "/slow/" in line)
    assert "stalled" in line and "less than 4,096 bytes in 0.8 s" in line
    assert server.count("/slow/m.onnx") == 1  # a stall is not retried on the same mirror
    assert (STALL_TIMEOUT_S, STALL_MIN_BYTES) == (30.0, 64 * 1024)  # the product's defaults


def test_silence_after_the_headers_is_a_stall_too(tmp_path, server):
    url = server.add("/m.onnx", server.silent(len(BIG)))
    store = store_for(tmp_path, model_dict("m", BIG, [url]))

    failed, elapsed = timed(lambda: store.download("m"))

    assert isinstance(failed, ModelDownloadError) and elapsed < 3
    assert "no answer within 0.8 s after 0 bytes" in str(failed)
    assert server.count("/m.onnx") == 1


# ---------------------------------------------------------------------------------------------- kinds


def test_an_html_page_for_a_model_without_a_hash_is_refused_and_the_next_mirror_used(tmp_path, server):
    page = server.add("/page/m.onnx", server.body(HTML * 20, Content_Type="text/html"))
    good = server.add("/good/m.onnx", server.body(ONNX))
    told: list[str] = []
    store = store_for(tmp_path, model_dict("m", None, [page, good]), on_mirror=told.append)

    path = store.download("m")

    assert path.read_bytes() == ONNX and store.status("m").state == "unverifiable"
    assert any("it is an HTML page, not an ONNX model" in line for line in told)


def test_a_short_html_page_alone_leaves_nothing_installed(tmp_path, server):
    page = server.add("/m.onnx", server.body(HTML))  # 0.1 kB: shorter than the sniffed head
    store = store_for(tmp_path, model_dict("m", None, [page]))

    with pytest.raises(ModelDownloadError, match="it is an HTML page, not an ONNX model"):
        store.download("m")
    assert store.status("m").state == "missing"
    assert not list(store.models_dir.iterdir()) or not (store.models_dir / "m.onnx").exists()


def test_a_hash_mismatch_names_what_the_server_sent(tmp_path, server):
    page = server.add("/m.onnx", server.body(HTML))
    store = store_for(tmp_path, model_dict("m", BIG, [page], size=None))

    with pytest.raises(ModelDownloadError, match=r"wrong content: expected sha256 .*\(it is an HTML page\)"):
        store.download("m")


def test_a_file_of_the_wrong_kind_already_in_the_folder_is_bad(tmp_path):
    store = store_for(tmp_path, model_dict("m", None, ["https://example.invalid/m.onnx"]))
    store.models_dir.mkdir(parents=True)
    (store.models_dir / "m.onnx").write_bytes(HTML)

    status = store.status("m")

    assert status.state == "bad" and "it is an HTML page, not an ONNX model" in status.message


def _voice_entries() -> list[dict]:
    voice = model_dict("voice", None, ["https://example.invalid/v.pth"], file="voice.pth")
    index = model_dict("feats", None, ["https://example.invalid/f.index"], file="feats.index")
    for entry in (voice, index):
        entry["feature"] = "voice_conversion"
    return [voice, index]


def test_models_add_checks_the_kind_of_a_users_file(tmp_path):
    torch = pytest.importorskip("torch")
    faiss = pytest.importorskip("faiss")
    import numpy as np

    store = store_for(tmp_path, model_dict("m", None, ["https://example.invalid/m.onnx"]), *_voice_entries())
    files = tmp_path / "downloads"
    files.mkdir()
    checkpoint = io.BytesIO()
    torch.save({"weight": torch.zeros(3)}, checkpoint)
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("readme.txt", "not a checkpoint")
    index = faiss.IndexFlatL2(8)
    index.add(np.zeros((4, 8), dtype="float32"))
    cases = {
        ("page.onnx", "m"): (HTML, "it is an HTML page, not an ONNX model"),
        ("empty.onnx", "m"): (b"", "it is empty, not an ONNX model"),
        ("cut.onnx", "m"): (ONNX[:-3], "an ONNX model cut short"),
        ("voice.pth", "voice"): (plain_zip.getvalue(), "a zip without a PyTorch checkpoint"),
        ("page.pth", "voice"): (HTML, "it is an HTML page, not a PyTorch checkpoint"),
        ("page.index", "feats"): (HTML, "it is an HTML page, not a faiss index"),
    }
    for (name, model_id), (data, expected) in cases.items():
        (files / name).write_bytes(data)
        with pytest.raises(ModelKindError, match=expected):
            store.add(files / name, model_id, allow_unverified=True)
    assert not store.models_dir.exists() or not [p for p in store.models_dir.iterdir() if p.is_file()]

    (files / "good.onnx").write_bytes(ONNX)
    (files / "good.pth").write_bytes(checkpoint.getvalue())
    (files / "good.index").write_bytes(bytes(faiss.serialize_index(index)))
    assert store.add(files / "good.onnx", "m").name == "m.onnx"
    assert store.add(files / "good.pth", "voice").name == "voice.pth"
    assert store.add(files / "good.index", "feats").name == "feats.index"
    assert {store.status(i).state for i in ("m", "voice", "feats")} == {"unverifiable"}


def test_models_add_of_a_fifo_or_a_folder_says_what_it_is(tmp_path):
    store = store_for(tmp_path, model_dict("m", None, ["https://example.invalid/m.onnx"]))
    fifo = tmp_path / "m.onnx"
    os.mkfifo(fifo)
    with pytest.raises(ModelInputError, match=r"is a named pipe \(FIFO\), not a regular file"):
        store.add(fifo, "m")
    with pytest.raises(ModelInputError, match="is a folder"):
        store.add(tmp_path, "m")


# ---------------------------------------------------------------------------------------------- redirects


def test_redirect_loops_and_redirects_off_http_are_refused(tmp_path, server):
    loop = server.add("/loop/m.onnx", server.redirect("/loop/m.onnx"))
    ftp = server.add("/ftp/m.onnx", server.redirect("ftp://127.0.0.1/m.onnx"))
    store = store_for(tmp_path, model_dict("m", BIG, [loop, ftp]))

    failed, elapsed = timed(lambda: store.download("m"))

    assert isinstance(failed, ModelDownloadError) and elapsed < 5
    lines = str(failed).splitlines()
    assert any("/loop/" in line and "redirects in a loop" in line for line in lines)
    assert any("/ftp/" in line and "redirects to a non-HTTP address" in line for line in lines)
    assert server.count("/loop/m.onnx") <= 6


# ---------------------------------------------------------------------------------------------- resumes


def test_a_resume_that_sends_another_file_starts_again_instead_of_splicing(tmp_path, server):
    first = identity_model_bytes((1, 2000))
    second = first.replace(b"mirage", b"MIRAGE", 1)  # same size, differs from byte 4: a splice shows
    assert first[: len(first) // 2] != second[: len(first) // 2]
    url = server.add(
        "/m.onnx",
        server.cut(first, after=len(first) // 2, etag='"v1"'),
        server.resume(second, etag='"v2"'),  # 206 from the middle of a different file
    )
    store = store_for(tmp_path, model_dict("m", first, [url], sha=None))

    path = store.download("m")

    assert path.read_bytes() == second  # whole, never half of one and half of the other
    ranges = [rng for _, rng in server.hits]
    assert ranges == [None, f"bytes={len(first) // 2}-", None]


def test_a_resume_answered_with_200_restarts_from_zero(tmp_path, server):
    url = server.add("/m.onnx", server.cut(BIG, after=50_000, etag='"a"'), server.body(BIG))
    store = store_for(tmp_path, model_dict("m", BIG, [url]))

    assert store.download("m").read_bytes() == BIG


# ---------------------------------------------------------------------------------------------- settings


def test_settings_from_the_environment_ignore_bad_values(caplog):
    env = {
        "MIRAGE_DOWNLOAD_STALL_S": "1.5",
        "MIRAGE_DOWNLOAD_TIMEOUT_S": "nan",
        "MIRAGE_DOWNLOAD_MAX_BYTES": "-4",
        "MIRAGE_DOWNLOAD_RETRY_DELAY_S": "0",
    }
    settings = DownloadSettings.from_env(env)
    assert (settings.stall_timeout, settings.timeout, settings.unknown_size_limit, settings.retry_delay) == (
        1.5,
        DownloadSettings().timeout,
        UNKNOWN_SIZE_LIMIT,
        0.0,
    )
    assert "MIRAGE_DOWNLOAD_TIMEOUT_S" in caplog.text and "MIRAGE_DOWNLOAD_MAX_BYTES" in caplog.text


def _fields(settings: DownloadSettings) -> dict:
    return {name: getattr(settings, name) for name in DownloadSettings.__slots__}


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


def test_an_archive_of_unknown_size_is_checked_and_a_fifo_in_its_place_does_not_hang(tmp_path, server):
    pack = io.BytesIO()
    with zipfile.ZipFile(pack, "w") as archive:
        archive.writestr("det.onnx", BIG)
    page = server.add("/page/pack.zip", server.body(HTML * 10))
    good = server.add("/good/pack.zip", server.body(pack.getvalue()))
    archives = {"pack": {"file": "pack.zip", "size": None, "sha256": None, "urls": [page, good]}}
    entry = model_dict("det", BIG, [], archive={"id": "pack", "member": "det.onnx"})
    manifest = Manifest.from_dict({"models": [entry], "archives": archives})
    told: list[str] = []
    store = ModelStore(tmp_path / "models", manifest, {}, settings=FAST, on_mirror=told.append)
    (store.models_dir / ".archives").mkdir(parents=True)
    os.mkfifo(store.models_dir / ".archives" / "pack.zip")

    path, elapsed = timed(lambda: store.download("det"))

    assert elapsed < 5 and path.read_bytes() == BIG
    assert any("/page/" in line and "it is an HTML page, not a zip archive" in line for line in told)
