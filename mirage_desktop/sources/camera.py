"""A webcam through OpenCV: chosen by index or name, MJPG when offered, real fps measured."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import stat
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import cv2

from mirage_desktop.frame import Frame
from mirage_desktop.safe_read import kind_of
from mirage_desktop.sources.base import FrameSource, SourceError, SourceInfo, SourceLost
from mirage_desktop.sources.camera_list import list_cameras
from mirage_desktop.sources.user_path import shown

log = logging.getLogger(__name__)

#: a device that keeps failing reads this long is treated as unplugged
LOST_AFTER_S = 1.5
#: Linux numbers cameras /dev/video0 to /dev/video99 by default (v4l2loopback's range too)
MAX_CAMERA_INDEX = 99
#: the character-device major number of video4linux (Documentation/admin-guide/devices.txt)
V4L_MAJOR = 81


def default_capture_backend() -> int:
    system = platform.system()
    if system == "Linux":
        return cv2.CAP_V4L2
    if system == "Windows":
        return cv2.CAP_DSHOW  # MSMF opens slowly and often ignores MJPG requests
    if system == "Darwin":
        return cv2.CAP_AVFOUNDATION
    return cv2.CAP_ANY


def _no_camera_advice(system: str) -> str:
    if system == "Linux":
        return (
            "Check that it is plugged in, that no other app (Zoom, a browser tab) is using it, and that "
            "your user may open it (`sudo usermod -aG video $USER`, then log in again)."
        )
    if system == "Darwin":
        return (
            "Check that it is connected and that Mirage may use the camera (System Settings → Privacy & "
            "Security → Camera)."
        )
    return "Check that it is connected, not used by another app, and allowed in Settings → Privacy → Camera."


def _index(index: int) -> int:
    # OpenCV raises a TypeError traceback for an index past a C int; no system numbers cameras so far
    if not 0 <= index <= MAX_CAMERA_INDEX:
        raise SourceError(f"Camera {index} is out of range: cameras are numbered 0 to {MAX_CAMERA_INDEX}.")
    return index


def not_a_camera(path: str) -> str | None:
    """Why an existing ``path`` can never be a camera (a regular file, /dev/zero), or None; a path
    that does not exist may be a camera not plugged in yet."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISCHR(st.st_mode):
        return f"{shown(path)} is {kind_of(path)}, not a camera device"
    if platform.system() == "Linux" and os.major(st.st_rdev) != V4L_MAJOR:
        return f"{shown(path)} is a character device but not a camera (video4linux) device"
    return None


def camera_problem(device: int | str) -> str | None:
    """Why ``device`` (an index or a device path) can never open, or None."""
    text = str(device).strip()
    if text.isascii() and text.isdigit():
        try:
            _index(int(text))
        except SourceError as exc:
            return str(exc)
        return None
    return not_a_camera(text) if text.startswith("/dev/") else None


def _device_path(path: str) -> str:
    """A camera named by its device path: it must be a video device (a missing one is unplugged)."""
    problem = not_a_camera(path)
    if problem:
        raise SourceError(f"{problem}.")
    if not os.path.exists(path):
        raise SourceError(
            f"Cannot open {shown(path)}: no such device. {_no_camera_advice(platform.system())}"
        )
    return path


class CameraSource(FrameSource):
    """``device`` is an index (0, 1, ...) or a name (matched case-insensitively)."""

    def __init__(
        self,
        device: int | str = 0,
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        prefer_mjpg: bool = True,
        capture_factory: Callable[[int | str, int], Any] | None = None,
        lost_after_s: float = LOST_AFTER_S,
        clock=time.perf_counter,
    ) -> None:
        self.device = device
        self.width, self.height, self.fps = width, height, fps
        self.prefer_mjpg = prefer_mjpg
        self._factory = capture_factory or (lambda dev, api: cv2.VideoCapture(dev, api))
        self._clock = clock
        self._lost_after_s = lost_after_s
        self._cap: Any = None
        self._info: SourceInfo | None = None
        self._index = 0
        self._stamps: deque[float] = deque(maxlen=60)

    def _resolve(self) -> tuple[int | str, str]:
        if isinstance(self.device, int):
            return _index(self.device), f"camera {self.device}"
        text = str(self.device).strip()
        if text.isascii() and text.isdigit():
            return _index(int(text)), f"camera {text}"
        if text.startswith("/dev/"):
            return _device_path(text), text
        wanted = text.lower()
        for cam in list_cameras():
            if wanted in cam.name.lower():
                return cam.index, cam.name
        names = ", ".join(c.name for c in list_cameras()) or "none"
        raise SourceError(f"No camera named '{text}' was found (cameras found: {names}).")

    def open(self) -> SourceInfo:
        system = platform.system()
        target, label = self._resolve()
        cap = self._factory(target, default_capture_backend())
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            raise SourceError(f"Cannot open {label}. {_no_camera_advice(system)}")
        detail = []
        if self.prefer_mjpg:
            # MJPG must be requested before the size: many UVC cameras offer 720p30 only in MJPG.
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        with contextlib.suppress(cv2.error):
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # a deep driver queue is hidden latency
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(f"{label} opened but delivers no frames. {_no_camera_advice(system)}")
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
        if fourcc:
            detail.append("".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00"))
        reported_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) or self.fps
        self._cap = cap
        self._info = SourceInfo(
            name=label,
            kind="camera",
            width=int(first.shape[1]),
            height=int(first.shape[0]),
            fps=reported_fps,
            detail=" ".join(detail),
        )
        if (self._info.width, self._info.height) != (self.width, self.height):
            log.info(
                "%s: asked for %dx%d, got %dx%d",
                label,
                self.width,
                self.height,
                first.shape[1],
                first.shape[0],
            )
        return self._info

    @property
    def info(self) -> SourceInfo | None:
        return self._info

    @property
    def measured_fps(self) -> float:
        if len(self._stamps) < 2:
            return 0.0
        span = self._stamps[-1] - self._stamps[0]
        return (len(self._stamps) - 1) / span if span > 0 else 0.0

    def read(self) -> Frame:
        if self._cap is None:
            raise SourceLost("The camera is not open.")
        failing_since: float | None = None
        while True:
            ok, image = self._cap.read()
            now = self._clock()
            if ok and image is not None:
                break
            failing_since = failing_since or now
            if now - failing_since > self._lost_after_s:
                name = self._info.name if self._info else "The camera"
                raise SourceLost(f"{name} stopped delivering frames (unplugged or taken by another app).")
            time.sleep(0.01)
        self._stamps.append(now)
        frame = Frame(image, self._index, now, source=self._info.name if self._info else "camera")
        self._index += 1
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
