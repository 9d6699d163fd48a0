"""`mirage-cli`: headless use of Mirage (live loop, file processing, diagnostics)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from mirage_desktop import __version__
from mirage_desktop.cli import devices, doctor, models, process, run, voice
from mirage_desktop.config.logs import setup_logging
from mirage_desktop.config.paths import AppPaths

COMMANDS = (run, process, devices, doctor, models, voice)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mirage-cli",
        description="Mirage without the window: live avatar loop, file processing and diagnostics.",
    )
    parser.add_argument("--version", action="version", version=f"Mirage {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="print info messages, not only warnings")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(AppPaths.from_env().log_dir, logging.INFO if args.verbose else logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
