"""ONNX Runtime with its telemetry off: the one door through which Mirage imports ORT and opens sessions.

The official onnxruntime(-gpu) 1.31 wheels carry Microsoft's 1DS telemetry SDK. Measured here (Linux,
a fresh ``HOME``): ``import onnxruntime`` alone creates ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/
{deviceid,onnxruntime.db}`` (a persistent device id and an event queue), and about 10 s later the
process starts resolving ``mobile.events.data.microsoft.com`` to upload it. Mirage promises that
nothing leaves the machine, so:

* ``ORT_DISABLE_TELEMETRY=1`` must be in the environment *before the native library loads* (its
  Privacy.md: "prevents the uploader, events, and persistent device identifier from being created
  for the process lifetime"). Setting it after the import, or calling only
  ``onnxruntime.disable_telemetry_events()``, was measured to stop neither the folder nor the DNS
  queries. ``mirage_desktop/__init__.py`` therefore calls :func:`keep_telemetry_off` before any Mirage
  module can import ORT; child processes inherit the variable.
* ``disable_telemetry_events()`` is still called before every session (it suppresses the
  "non-essential" events on builds where the variable is not read, e.g. Windows TraceLogging).

Every session Mirage creates goes through :func:`create_session`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

#: read by ORT's native code once, when the library initialises (import time)
TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"
#: where ORT's 1DS layer keeps its device id and event queue, under the user's cache folder
TELEMETRY_FOLDER = Path("Microsoft") / "DeveloperTools" / ".onnxruntime"


def keep_telemetry_off(environ: MutableMapping[str, str] | None = None) -> None:
    """Make ONNX Runtime start with telemetry off. Effective only before ``import onnxruntime``.

    Always "1", whatever the user's environment said: Mirage's promise is that nothing leaves the
    machine, and there is no Mirage feature that needs ORT's telemetry.
    """
    (os.environ if environ is None else environ)[TELEMETRY_ENV] = "1"


def telemetry_folder(home: Path | None = None, environ: MutableMapping[str, str] | None = None) -> Path:
    """Where ORT would write its telemetry store on Linux/macOS ($XDG_CACHE_HOME or ~/.cache)."""
    env = os.environ if environ is None else environ
    cache = env.get("XDG_CACHE_HOME") or str((home or Path.home()) / ".cache")
    return Path(cache) / TELEMETRY_FOLDER


def imported_before_mirage() -> bool:
    """True when ORT was loaded before Mirage could switch its telemetry off (then it may be on).

    Only an embedding program can cause this (Mirage's own entry points import this package first);
    the doctor and the tests use it to say so instead of claiming telemetry is off.
    """
    from mirage_desktop import ORT_PRELOADED

    return ORT_PRELOADED


def onnxruntime_module() -> ModuleType:
    """``import onnxruntime``, with the telemetry switch set first and the event API switched off."""
    keep_telemetry_off()
    import onnxruntime

    disable_events(onnxruntime)
    return onnxruntime


def disable_events(ort: ModuleType) -> None:
    """``ort.disable_telemetry_events()`` where this ORT (or a stand-in module in tests) has it."""
    switch = getattr(ort, "disable_telemetry_events", None)
    if switch is not None:
        switch()


def create_session(
    model: str | Path | bytes,
    sess_options: Any = None,
    providers: Sequence[Any] | None = None,
    *,
    ort: ModuleType | None = None,
) -> Any:
    """``InferenceSession(model, sess_options, providers)`` with telemetry off first.

    ``ort`` lets the provider probe pass its own module (tests give it stand-ins); it defaults to
    the real one, imported through :func:`onnxruntime_module`.
    """
    module = ort if ort is not None else onnxruntime_module()
    if ort is not None:
        keep_telemetry_off()
        disable_events(module)
    source = str(model) if isinstance(model, Path) else model
    return module.InferenceSession(source, sess_options=sess_options, providers=providers)


def telemetry_status() -> dict[str, Any]:
    """For the doctor: is the switch set, and was ORT loaded early enough for it to count."""
    return {
        "env": os.environ.get(TELEMETRY_ENV, ""),
        "off": os.environ.get(TELEMETRY_ENV) == "1" and not imported_before_mirage(),
        "onnxruntime_loaded_before_mirage": imported_before_mirage(),
        "loaded": "onnxruntime" in sys.modules,
    }


__all__ = [
    "TELEMETRY_ENV",
    "TELEMETRY_FOLDER",
    "create_session",
    "disable_events",
    "imported_before_mirage",
    "keep_telemetry_off",
    "onnxruntime_module",
    "telemetry_folder",
    "telemetry_status",
]
