"""Logging to the user's log dir (rotating) and, for the CLI, to stderr."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def setup_logging(log_dir: Path, console_level: int = logging.WARNING) -> Path | None:
    """Returns the log file path, or None when the log dir cannot be written (then stderr only)."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):
        if getattr(handler, "_mirage", False):
            root.removeHandler(handler)
    # Windowed (frozen) builds have no stderr at all.
    if sys.stderr is not None:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(console_level)
        console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        console._mirage = True  # type: ignore[attr-defined]
        root.addHandler(console)
    log_file = log_dir / "mirage.log"
    special = _special(log_file)
    if special:
        # opening a FIFO for writing blocks until someone reads it: every command would hang here
        logging.getLogger(__name__).warning(
            "cannot write logs to %s: it is %s, not a regular file; logging to the console only",
            log_file,
            special,
        )
        return None
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError as exc:
        logging.getLogger(__name__).warning(
            "cannot write logs to %s (%s); logging to the console only", log_dir, exc
        )
        return None
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler._mirage = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    return log_file


def _special(path: Path) -> str | None:
    """What ``path`` is when it exists and is not a regular file (a FIFO, a device, a folder)."""
    from mirage_desktop.safe_read import special_kind

    return special_kind(path)
