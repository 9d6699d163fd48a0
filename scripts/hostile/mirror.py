"""A misbehaving HTTP mirror on 127.0.0.1 for the model cases of the hostile battery: answers for one
path are given in order (the last one repeats), and every answer stops by itself or when the mirror
stops, so no case can hang on it."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: what an ONNX model starts with (ir_version 8, then a graph field of 4 GB), so the kind check passes
ONNX_START = b"\x08\x08\x3a\x80\x80\x80\x80\x10"

Route = Callable[[BaseHTTPRequestHandler], None]


class Mirror:
    """A local HTTP server whose answers for one path are given in order (the last one repeats)."""

    def __init__(self, *routes: Route) -> None:
        self.routes = list(routes)
        self.hits = 0
        self.stop = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.hits += 1
                route = owner.routes.pop(0) if len(owner.routes) > 1 else owner.routes[0]
                with contextlib.suppress(OSError):
                    route(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/model.onnx"


@contextlib.contextmanager
def mirror(*routes: Route) -> Iterator[Mirror]:
    running = Mirror(*routes)
    running.thread.start()
    try:
        yield running
    finally:
        running.stop.set()
        running.server.shutdown()
        running.server.server_close()


def _headers(h: BaseHTTPRequestHandler, status: int, length: int | None, **extra: str) -> None:
    h.send_response(status)
    if length is not None:
        h.send_header("Content-Length", str(length))
    for name, value in extra.items():
        h.send_header(name.replace("_", "-"), value)
    h.end_headers()


def endless(m: Mirror) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        _headers(h, 200, None)
        h.wfile.write(ONNX_START)
        chunk = os.urandom(65536)
        deadline = time.monotonic() + 40  # the case's own timeout is shorter
        while not m.stop.is_set() and time.monotonic() < deadline:
            h.wfile.write(chunk)

    return route


def body(data: bytes, length: int | None = None, status: int = 200, **extra: str) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        _headers(h, status, len(data) if length is None else length, **extra)
        h.wfile.write(data)

    return route


def trickle(m: Mirror, total: int) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        _headers(h, 200, total)
        while not m.stop.wait(0.5):
            h.wfile.write(b"\0")
            h.wfile.flush()

    return route


def redirect_to_itself(h: BaseHTTPRequestHandler) -> None:
    _headers(h, 302, 0, Location=h.path)


def cut(data: bytes, after: int, etag: str) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        _headers(h, 200, len(data), ETag=etag)
        h.wfile.write(data[:after])
        h.wfile.flush()
        h.close_connection = True

    return route


def ranged(data: bytes, etag: str) -> Route:
    """Honours Range for the file it has now (which may not be the one it sent before)."""

    def route(h: BaseHTTPRequestHandler) -> None:
        start = int((h.headers.get("Range") or "bytes=0-")[6:].rstrip("-") or 0)
        extra = {"ETag": etag}
        if start:
            extra["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        _headers(h, 206 if start else 200, len(data) - start, **extra)
        h.wfile.write(data[start:])

    return route
