"""argparse ``type=`` checks for every number and name the CLI takes.

Each check raises ``argparse.ArgumentTypeError`` with the allowed range in its text, so a bad value
ends as ``mirage-cli run: error: argument --width: ...`` (exit code 2) before anything is opened:
without them 0 or -1 crashed deep in OpenCV, 100000×100000 tried to allocate 28 GiB, and ``nan`` or
``inf`` seconds ran forever.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

from mirage_desktop.sources.user_path import shown

#: a week: longer than any call, short enough that a typo (an extra zero or two) is still caught
MAX_SECONDS = 7 * 24 * 3600.0

#: what audio hardware and PulseAudio really run at; 1 Hz was accepted and gave ~21 s of latency
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000


def _fmt(value: float) -> str:
    return f"{value:g}"


def _parse_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value


def _named(check: Callable[[str], object], name: str) -> Callable[[str], object]:
    # argparse prints the type's __name__ when the check raises something other than ArgumentTypeError.
    check.__name__ = name
    return check


def int_range(minimum: int, maximum: int, unit: str = "") -> Callable[[str], int]:
    """A whole number from ``minimum`` to ``maximum`` inclusive."""
    suffix = f" {unit}" if unit else ""

    def check(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"'{text}' is not a whole number (allowed: {minimum} to {maximum}{suffix})"
            ) from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"{value} is out of range: use a whole number from {minimum} to {maximum}{suffix}"
            )
        return value

    return _named(check, "whole number")  # type: ignore[return-value]


def positive_int(max: int, min: int = 1, unit: str = "") -> Callable[[str], int]:
    return int_range(min, max, unit)


def finite_float(min: float, max: float, unit: str = "") -> Callable[[str], float]:
    """A finite number from ``min`` to ``max`` inclusive (nan and inf are refused)."""
    suffix = f" {unit}" if unit else ""

    def check(text: str) -> float:
        try:
            value = _parse_float(text)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{exc} (allowed: {_fmt(min)} to {_fmt(max)}{suffix})") from None
        if not min <= value <= max:
            raise argparse.ArgumentTypeError(
                f"{_fmt(value)} is out of range: use a number from {_fmt(min)} to {_fmt(max)}{suffix}"
            )
        return value

    return _named(check, "number")  # type: ignore[return-value]


def existing_file(kind: str, suffixes: tuple[str, ...]) -> Callable[[str], str]:
    """A path to a readable file ending in one of ``suffixes`` (a folder or a missing file is refused)."""

    def check(text: str) -> str:
        from pathlib import Path

        path = Path(text).expanduser()
        if not text.strip():
            raise argparse.ArgumentTypeError(f"give the {kind} file")
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a folder, not a {kind} file")
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"{text}: no such {kind} file")
        if path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(
                f"{text} is not a {kind} file (expected {' or '.join(suffixes)})"
            )
        return str(path)

    return _named(check, f"{kind} file")  # type: ignore[return-value]


def file_path(text: str) -> Path:
    """A path to a file, exactly as typed (never stripped: "clip.mp4 " is not "clip.mp4"). Refused:
    an empty one (``Path("")`` is the current folder) and one ending in a separator (``Path`` would
    drop it, and with it the meaning "a folder")."""
    if not text:
        raise argparse.ArgumentTypeError("the path is empty")
    if text.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(f"{shown(text)} ends with '/', so it names a folder, not a file")
    return Path(text)


file_path.__name__ = "file path"


def duration_seconds(text: str) -> float:
    """0 (= until Ctrl-C) or a finite number of seconds up to a week."""
    allowed = f"0 (= until Ctrl-C) or a number of seconds up to {_fmt(MAX_SECONDS)} (7 days)"
    try:
        value = _parse_float(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; use {allowed}") from None
    if value < 0 or value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{_fmt(value)} is out of range; use {allowed}")
    return value


duration_seconds.__name__ = "seconds"


def sample_rate(text: str) -> int:
    """A sample rate in Hz that audio devices run at (8000–192000)."""
    return int_range(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, "Hz, e.g. 48000 or 44100")(text)


sample_rate.__name__ = "sample rate"


def virtual_camera_backend(text: str) -> str:
    """A pyvirtualcam backend registered in this build (asking for another one crashed in pyvirtualcam)."""
    from mirage_desktop.sinks.virtual_camera import known_backends

    name = text.strip()
    known = known_backends()
    if name not in known:
        listed = ", ".join(known) if known else "none on this system"
        raise argparse.ArgumentTypeError(f"unknown virtual camera backend '{text}' (known: {listed})")
    return name


virtual_camera_backend.__name__ = "virtual camera backend"
