"""Pieces shared by the CLI commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mirage_desktop.cli import validate
from mirage_desktop.config.paths import AppPaths
from mirage_desktop.config.settings import Settings, load_settings


def load_user_settings() -> Settings:
    settings, _ = load_settings(AppPaths.from_env().settings_file)
    return settings


def add_video_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--width",
        type=validate.positive_int(max=7680, min=16),
        help="requested camera/test-pattern width (16–7680)",
    )
    parser.add_argument(
        "--height",
        type=validate.positive_int(max=4320, min=16),
        help="requested camera/test-pattern height (16–4320)",
    )
    parser.add_argument(
        "--fps", type=validate.finite_float(1, 240), help="requested camera/test-pattern frame rate (1–240)"
    )
    parser.add_argument(
        "--max-fps",
        type=validate.finite_float(0, 240),
        help="cap the output frame rate, 0 = no cap (MIRAGE_VIDEO_MAX_FPS)",
    )


def apply_video_args(settings: Settings, args: argparse.Namespace) -> None:
    video = settings.video
    for attr in ("width", "height", "fps", "max_fps"):
        value = getattr(args, attr, None)
        if value is not None:
            setattr(video, attr, value)
    settings.validate()


def write_json(path: str | Path, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    if str(path) == "-":
        print(text)
        return
    Path(path).write_text(text + "\n", encoding="utf-8")


def err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def out(message: str) -> None:
    """print to stdout; a path with bytes that are not UTF-8 (a surrogate in Python) is written with
    escapes where a strict stdout would raise UnicodeEncodeError after the work was done."""
    try:
        print(message, flush=True)
    except UnicodeEncodeError:
        # the name's own bytes back (surrogateescape), then each one that is not UTF-8 as \xNN
        text = message.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        try:
            print(text, flush=True)
        except UnicodeEncodeError:  # a stdout that cannot show "→" either (ASCII, Latin-1)
            encoding = getattr(sys.stdout, "encoding", None) or "ascii"
            print(text.encode(encoding, "backslashreplace").decode(encoding), flush=True)
