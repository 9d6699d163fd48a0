"""A real HTTP file server on 127.0.0.1 for the models tests, with faults we can switch on per path.

It speaks enough HTTP for the downloader: Range (206 / 416), servers that ignore Range, error
statuses, connections cut after N bytes, slow bodies and hung requests. Its own tests are below.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

_RANGE = re.compile(r"bytes=(\d+)-$")


@dataclass
class Route:
    data: bytes
    #: answer with this status instead of the file (e.g. 404)
    status: int | None = None
    ignore_range: bool = False
    #: body bytes to send before dropping the connection, for the next ``cuts`` responses
    cut_after: int | None = None
    cuts: int = 0
    #: seconds to sleep after every 16 KiB of body (a slow server)
    chunk_delay: float = 0.0
    #: seconds to sleep before answering at all (a stalled server)
    hang: float = 0.0
    #: when set, the body is held back until the test sets this event
    gate: threading.Event | None = None


@dataclass(frozen=True)
class Hit:
    path: str
    range: str | None
    status: int


class ModelHttpServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        # A short poll keeps shutdown (and so each test's teardown) fast.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, data: bytes, **options: Any) -> str:
        self.routes[path] = Route(data=data, **options)
        return self.url(path)

    def hits_for(self, path: str) -> list[Hit]:
        with self._lock:
            return [hit for hit in self.hits if hit.path == path]

    def record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)

    def start(self) -> ModelHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _make_handler(owner: ModelHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            route = owner.routes.get(self.path)
            requested = self.headers.get("Range")
            if route is None:
                owner.record(Hit(self.path, requested, 404))
                self.send_error(404, "Not Found")
                return
            if route.hang:
                time.sleep(route.hang)
            if route.status is not None:
                owner.record(Hit(self.path, requested, route.status))
                self.send_error(route.status)
                return
            data, start = route.data, 0
            match = _RANGE.match(requested or "")
            if match and not route.ignore_range:
                start = int(match.group(1))
                if start >= len(data):
                    owner.record(Hit(self.path, requested, 416))
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                owner.record(Hit(self.path, requested, 206))
            else:
                self.send_response(200)
                owner.record(Hit(self.path, requested, 200))
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if route.gate is not None:
                route.gate.wait(timeout=20)
            limit = len(body)
            cut = False
            if route.cuts > 0 and route.cut_after is not None:
                route.cuts -= 1
                limit, cut = min(limit, route.cut_after), True
            try:
                for offset in range(0, limit, 16384):
                    self.wfile.write(body[offset : min(limit, offset + 16384)])
                    if route.chunk_delay:
                        time.sleep(route.chunk_delay)
                self.wfile.flush()
                if cut:
                    # Drop the connection mid-body, as a flaky network would.
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
            except OSError:
                pass  # the client went away; nothing to do

    return Handler


@contextmanager
def running_server() -> Iterator[ModelHttpServer]:
    server = ModelHttpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http_server():
    with running_server() as server:
        yield server


def random_bytes(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def refused_url(path: str = "/nothing.onnx") -> str:
    """An address where nothing listens: the port was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def model_dict(
    model_id: str,
    data: bytes | None,
    urls: list[str],
    *,
    file: str | None = None,
    size: int | str | None = "auto",
    sha: str | None = "auto",
    required: bool = True,
    archive: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One manifest entry; "auto" fills in the real size/hash of ``data``."""
    entry: dict[str, Any] = {
        "id": model_id,
        "file": file or f"{model_id}.onnx",
        "size": (len(data) if data is not None else None) if size == "auto" else size,
        "sha256": (sha256(data) if data is not None else None) if sha == "auto" else sha,
        "hash_source": "test",
        "licence": "test licence",
        "feature": "face_swap",
        "required": required,
        "urls": urls,
    }
    if archive is not None:
        entry["archive"] = archive
    return entry


def write_manifest(path: Path, models: list[dict[str, Any]], archives: dict[str, Any] | None = None) -> Path:
    path.write_text(json.dumps({"models": models, "archives": archives or {}}), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- the helper's own tests


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(), exc.headers


def test_server_serves_ranges_and_faults(http_server):
    data = random_bytes(50_000)
    url = http_server.add("/f.bin", data)
    assert _get(url)[:2] == (200, data)
    status, body, headers = _get(url, {"Range": "bytes=40000-"})
    assert (status, body) == (206, data[40000:])
    assert headers["Content-Range"] == "bytes 40000-49999/50000"
    assert _get(url, {"Range": "bytes=50000-"})[0] == 416

    http_server.add("/ignore.bin", data, ignore_range=True)
    assert _get(http_server.url("/ignore.bin"), {"Range": "bytes=10-"})[:2] == (200, data)
    http_server.add("/gone.bin", data, status=404)
    assert _get(http_server.url("/gone.bin"))[0] == 404
    assert [hit.status for hit in http_server.hits_for("/f.bin")] == [200, 206, 416]


def test_server_cuts_the_connection_mid_body(http_server):
    data = random_bytes(100_000)
    url = http_server.add("/cut.bin", data, cut_after=30_000, cuts=1)
    with urllib.request.urlopen(url, timeout=5) as response:
        received = b""
        while chunk := response.read(8192):
            received += chunk
    assert len(received) == 30_000 and received == data[:30_000]
    assert _get(url)[1] == data  # only the first response was cut
