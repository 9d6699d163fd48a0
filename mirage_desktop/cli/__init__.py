"""`mirage-cli`: headless use of Mirage (live loop, file processing, diagnostics)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from mirage_desktop import __version__
from mirage_desktop.cli import devices, doctor, models, process, run, voice
from mirage_desktop.cli.closed_output import EXIT_CLOSED_PIPE, GuardedOutputs, silence_closed_outputs
from mirage_desktop.cli.signals import InterruptOnSignals, exit_code_of, say
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
    """Run one command. Every stop signal (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT) unwinds it like Ctrl-C,
    so its cleanup runs; a closed stdout (``| head -1``) changes nothing it does, and it ends
    quietly with 141 instead of 0."""
    try:
        with GuardedOutputs() as outputs, InterruptOnSignals():
            try:
                code = _dispatch(argv)
            except KeyboardInterrupt as exc:
                code = _interrupted(exc)
            except Exception as exc:
                # a library that turned the interrupt into an error of its own (onnxruntime's import:
                # "ImportError: initialization failed") is still the interrupt, not a crash
                cause = _interrupt_in(exc)
                if cause is None:
                    raise
                code = _interrupted(cause)
            sys.stdout.flush()  # now, under the guard, not at exit
    except BrokenPipeError:
        silence_closed_outputs()
        return EXIT_CLOSED_PIPE
    return EXIT_CLOSED_PIPE if outputs.closed and code == 0 else code


def _interrupted(exc: KeyboardInterrupt) -> int:
    code = exit_code_of(exc)
    say("interrupted\n" if code == 130 else f"{exc.args[0]} received: stopped\n")
    return code


def _interrupt_in(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt among ``exc``'s causes and contexts, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _dispatch(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(AppPaths.from_env().log_dir, logging.INFO if args.verbose else logging.WARNING)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
