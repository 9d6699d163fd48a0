"""Child process of tests/test_telemetry.py: opens ONNX Runtime sessions the ways Mirage does.

Run with a fresh HOME/XDG_CACHE_HOME and without ORT_DISABLE_TELEMETRY in the environment (Mirage
must set it itself). ``--control`` imports onnxruntime *before* Mirage, which is what any code path
that bypasses Mirage's switch looks like; the test expects that one to create ORT's telemetry store
and to resolve Microsoft's collector, so the check can fail.

Prints one JSON object: the socket audit events Python saw, the providers the sessions got, and
whether the telemetry folder exists.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

SOCKET_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
        "socket.gethostbyaddr",
    }
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, required=True, help="folder with the stand-in models")
    parser.add_argument("--control", action="store_true", help="import onnxruntime before Mirage")
    parser.add_argument("--sleep", type=float, default=0.0, help="stay alive this long after the sessions")
    args = parser.parse_args()

    events: list[list[str]] = []

    def audit(event: str, event_args: tuple[Any, ...]) -> None:
        if event in SOCKET_EVENTS:
            events.append([event, repr(event_args)[:300]])

    sys.addaudithook(audit)
    # proves the hook is live: this loopback lookup must show up in the report
    socket.getaddrinfo("localhost", 9, type=socket.SOCK_STREAM)

    if args.control:
        import onnxruntime  # noqa: F401  (loaded before Mirage's switch: the state without it)

    from mirage_desktop.processing.face.detector import ScrfdDetector
    from mirage_desktop.runtime.onnx_session import SessionFactory
    from mirage_desktop.runtime.providers import ProviderConfig, probe_providers
    from mirage_desktop.runtime.telemetry import telemetry_folder, telemetry_status
    from mirage_desktop.system.runtime_info import runtime_info

    # every way Mirage opens a session: the provider probe, the factory, the detector's own loader
    report = probe_providers(ProviderConfig(requested="cpu"))
    factory = SessionFactory(ProviderConfig(requested="cpu"))
    models = [factory.create(args.models / name) for name in ("det_10g.onnx", "w600k_r50.onnx")]
    ScrfdDetector.from_path(args.models / "det_10g.onnx")
    info = runtime_info()
    time.sleep(args.sleep)
    print(
        json.dumps(
            {
                "socket_events": events,
                "probe_working": report.working,
                "session_providers": [m.providers for m in models],
                "ort_version": info.onnxruntime.version,
                "telemetry": telemetry_status(),
                "telemetry_folder_exists": telemetry_folder().exists(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
