"""HTTP plumbing of the downloader: proxies, redirects that stay on http(s), network errors in words."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

#: urllib gives up after this many redirects of one request (its own default, stated here)
MAX_REDIRECTS = 10
REDIRECT_CODES = {301, 302, 303, 307, 308}


def proxies_for(url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Proxy settings from the given environment, never for loopback (tests, local mirrors)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return {}
    try:
        if ipaddress.ip_address(host).is_loopback:
            return {}
    except ValueError:
        pass
    lowered = {k.lower(): v for k, v in environ.items() if v}
    no_proxy = lowered.get("no_proxy", "")
    if no_proxy and urllib.request.proxy_bypass_environment(host, {"no": no_proxy}):
        return {}
    return {k[: -len("_proxy")]: v for k, v in lowered.items() if k.endswith("_proxy") and k != "no_proxy"}


class RedirectLoop(urllib.error.URLError):
    """Too many redirects, a redirect to itself, or one that leaves http(s)."""


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would follow a redirect to ftp://, and reports a loop as a multi-line HTTPError.
    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        scheme = urlsplit(newurl).scheme.lower()
        if scheme not in ("http", "https"):
            raise RedirectLoop(f"the server redirects to a non-HTTP address ({newurl[:120]})")
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def http_error_302(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> Any:
        try:
            return super().http_error_302(req, fp, code, msg, headers)
        except urllib.error.HTTPError as exc:
            if exc.code in REDIRECT_CODES:
                exc.close()
                raise RedirectLoop(
                    f"the server redirects in a loop (more than {MAX_REDIRECTS} redirects, or back to "
                    "an address already visited)"
                ) from None
            raise

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def open_url(url: str, headers: dict[str, str], timeout: float, environ: Mapping[str, str]) -> Any:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler(proxies_for(url, environ)), _HttpOnlyRedirects()
    )
    return opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)


def describe_network_error(exc: BaseException, timeout: float) -> tuple[str, bool]:
    """A short human reason for a failed request, and whether retrying the same URL makes sense."""
    if isinstance(exc, RedirectLoop):
        return str(exc.reason), False
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the computer offline, or the server down?)", False
    if isinstance(exc, socket.gaierror):
        return "host name not found (is the computer offline?)", False
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s", True
    if isinstance(exc, ssl.SSLError):
        return f"secure connection failed ({exc.reason or exc})", False
    if isinstance(exc, ConnectionError | http.client.HTTPException):
        return f"connection lost ({type(exc).__name__}: {_one_line(exc)})", True
    if isinstance(exc, OSError):
        return f"network error ({exc.strerror or _one_line(exc)})", True
    return f"{type(exc).__name__}: {_one_line(exc)}", False


def timed_out(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    return isinstance(exc, TimeoutError | socket.timeout)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200]
