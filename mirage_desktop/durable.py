"""Making a write survive a power cut: fsync of a file, or of the folder that holds a rename."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Best effort: a file or folder that cannot be opened or synced (folders on Windows) is skipped."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
