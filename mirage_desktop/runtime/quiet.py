"""Keeps native libraries' console noise out of the user's terminal.

ONNX Runtime prints a screenful (C++ logs on fd 2, a Python banner on stdout) for every GPU
provider that is listed but cannot load. Probing is *expected* to hit that on CPU-only
machines; the probe turns it into one line in its report, and the raw text goes to the log.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Captured:
    text: str = ""


@contextmanager
def native_output_captured() -> Iterator[Captured]:
    """Capture fds 1 and 2 (what C/C++ code writes to) and Python's own sys.stdout/stderr
    (ORT's Python layer prints there, and they need not be fds 1/2) for the block."""
    box = Captured()
    py_text = io.StringIO()
    try:
        saved = (os.dup(1), os.dup(2))
    except OSError:  # windowed builds may have no console fds at all
        with contextlib.redirect_stdout(py_text), contextlib.redirect_stderr(py_text):
            yield box
        box.text = py_text.getvalue()
        return
    with tempfile.TemporaryFile() as tmp:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            with contextlib.redirect_stdout(py_text), contextlib.redirect_stderr(py_text):
                yield box
        finally:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            box.text = py_text.getvalue() + tmp.read().decode("utf-8", errors="replace")
    if box.text.strip():
        log.debug("native output while probing:\n%s", box.text)
