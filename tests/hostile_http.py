"""A real HTTP server on 127.0.0.1 whose handlers misbehave the way broken mirrors do, for the models
tests: bytes past the file's size, a byte every few hundredths of a second, silence after the headers,
redirects, a connection cut mid-body, a resume from another file. Every handler stops by itself (and
when the server stops), so nothing can hang; the store it builds has every bound shrunk.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mirage_desktop.models import DownloadSettings, Manifest, ModelStore
from mirage_desktop.runtime.probe_model import identity_model_bytes
from tests.test_models_httpserver import random_bytes

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


def store_for(tmp_path: Path, *models: dict, settings: DownloadSettings = FAST, **options) -> ModelStore:
    manifest = Manifest.from_dict({"models": list(models)})
    return ModelStore(tmp_path / "models", manifest, {}, settings=settings, **options)


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    try:
        return fn(), time.monotonic() - started
    except Exception as exc:
        return exc, time.monotonic() - started
