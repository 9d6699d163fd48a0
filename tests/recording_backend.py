"""A pyvirtualcam backend that records what it is sent, registered through pyvirtualcam's
own extension point (the v4l2 device is the one edge these machines cannot reach)."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pyvirtualcam

_ids = itertools.count()


class Recording:
    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.sent_at: list[float] = []
        self.opened: dict = {}
        self.closed = False
        self.lock = threading.Lock()


def register_recording_backend() -> tuple[str, Recording]:
    """Registers a fresh backend; returns its name and the Recording it fills."""
    rec = Recording()
    name = f"recording{next(_ids)}"

    class RecordingBackend:
        def __init__(self, *, width, height, fps, fourcc, device, **kw):
            rec.opened = {"width": width, "height": height, "fps": fps, "fourcc": fourcc, "device": device}
            self._device = device or "/dev/video-recording"
            self._fourcc = fourcc

        def send(self, frame: np.ndarray) -> None:
            with rec.lock:
                rec.frames.append(frame.copy())
                rec.sent_at.append(time.perf_counter())

        def close(self) -> None:
            rec.closed = True

        def device(self) -> str:
            return self._device

        def native_fourcc(self):
            return self._fourcc

    pyvirtualcam.register_backend(name, RecordingBackend)
    return name, rec
