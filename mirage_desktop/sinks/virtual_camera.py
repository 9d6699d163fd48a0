"""Publishes frames as the "Mirage Camera" virtual webcam through pyvirtualcam.

Linux: the v4l2loopback device whose card_label is "Mirage Camera" (found in sysfs).
Windows: a Unity Capture device registered under that name, else OBS Virtual Camera.
macOS: OBS Virtual Camera.
"""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyvirtualcam

from mirage_desktop import VIRTUAL_CAMERA_NAME
from mirage_desktop.frame import Frame
from mirage_desktop.sinks.base import FrameSink, SinkError, fit_to
from mirage_desktop.sources.camera_list import V4L_SYSFS

log = logging.getLogger(__name__)

LINUX_MODPROBE = (
    f'sudo modprobe v4l2loopback devices=1 video_nr=10 card_label="{VIRTUAL_CAMERA_NAME}" exclusive_caps=1'
)


def driver_fix(system: str | None = None) -> str:
    """The exact steps that give the user a working "Mirage Camera" on this OS.

    A line indented by two spaces is a command to run as it stands (``runnable_lines``); every
    other line is explanation.
    """
    system = system or platform.system()
    if system == "Linux":
        return (
            "Install and load the v4l2loopback driver (Debian/Ubuntu below; on Fedora install it with "
            "`sudo dnf install v4l2loopback` instead of the first line):\n"
            "  sudo apt install v4l2loopback-dkms\n"
            f"  {LINUX_MODPROBE}\n"
            "exclusive_caps=1 is what lets Chrome, Zoom and Meet list the camera."
        )
    if system == "Windows":
        return (
            "Install OBS Studio (it provides 'OBS Virtual Camera'), or register Unity Capture under the name "
            f'"{VIRTUAL_CAMERA_NAME}" as administrator:\n'
            f'  regsvr32 UnityCaptureFilter64bit.dll "/i:UnityCaptureName={VIRTUAL_CAMERA_NAME}"'
        )
    if system == "Darwin":
        return "Install OBS Studio 30+, start its Virtual Camera once and approve the system extension."
    return "No virtual camera backend is known for this operating system."


def runnable_lines(fix: str) -> list[str]:
    """The commands in a ``driver_fix`` text, one per line, ready to paste into a terminal."""
    return [line.strip() for line in fix.splitlines() if line.startswith("  ") and line.strip()]


def find_loopback_device(label: str = VIRTUAL_CAMERA_NAME, sysfs: Path = V4L_SYSFS) -> str | None:
    """The /dev/videoN whose v4l2loopback card_label is ``label``, or None."""
    if not sysfs.is_dir():
        return None
    for node in sorted(sysfs.glob("video*")):
        try:
            name = (node / "name").read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        if name.lower() == label.lower():
            return f"/dev/{node.name}"
    return None


def known_backends() -> list[str]:
    """The pyvirtualcam backends registered in this process (the built-in ones plus any registered)."""
    return sorted(pyvirtualcam.camera.BACKENDS)


@dataclass(frozen=True, slots=True)
class CameraTarget:
    backend: str | None
    device: str | None
    note: str = ""


def plan_targets(
    name: str = VIRTUAL_CAMERA_NAME,
    backend: str | None = None,
    system: str | None = None,
    sysfs: Path = V4L_SYSFS,
) -> list[CameraTarget]:
    """Backends/devices to try, best first."""
    system = system or platform.system()
    if backend:
        return [CameraTarget(backend, name or None)]
    if system == "Linux":
        device = find_loopback_device(name, sysfs)
        if device:
            return [CameraTarget("v4l2loopback", device)]
        # No device carries our label: any loopback device still works, just under another name.
        return [CameraTarget("v4l2loopback", None, f"no v4l2loopback device is labelled '{name}'")]
    if system == "Windows":
        return [CameraTarget("unitycapture", name), CameraTarget("obs", None, "using OBS Virtual Camera")]
    if system == "Darwin":
        return [CameraTarget("obs", None, "using OBS Virtual Camera")]
    return []


_FORMATS = {
    "BGR": (pyvirtualcam.PixelFormat.BGR, None),
    "RGB": (pyvirtualcam.PixelFormat.RGB, cv2.COLOR_BGR2RGB),
    "RGBA": (pyvirtualcam.PixelFormat.RGBA, cv2.COLOR_BGR2RGBA),
    "I420": (pyvirtualcam.PixelFormat.I420, cv2.COLOR_BGR2YUV_I420),
    "GRAY": (pyvirtualcam.PixelFormat.GRAY, cv2.COLOR_BGR2GRAY),
}


class VirtualCameraSink(FrameSink):
    """``pixel_format`` is what Mirage hands to pyvirtualcam; BGR lets the native backend
    convert to its own format (I420/NV12/UYVY) in C, which is the cheapest path."""

    def __init__(
        self,
        name: str = VIRTUAL_CAMERA_NAME,
        backend: str | None = None,
        pixel_format: str = "BGR",
        sysfs: Path = V4L_SYSFS,
        system: str | None = None,
    ) -> None:
        if pixel_format.upper() not in _FORMATS:
            raise SinkError(f"Unsupported virtual camera pixel format {pixel_format!r}.")
        self.camera_name = name
        self.backend = backend or None
        self.pixel_format = pixel_format.upper()
        self._sysfs = sysfs
        self._system = system or platform.system()
        self._cam: pyvirtualcam.Camera | None = None
        self._size = (0, 0)
        self.device = ""
        self.note = ""
        self.name = "virtual_camera"

    def open(self, width: int, height: int, fps: float) -> None:
        fmt, _ = _FORMATS[self.pixel_format]
        errors: list[str] = []
        for target in plan_targets(self.camera_name, self.backend, self._system, self._sysfs):
            if target.backend and target.backend not in known_backends():
                # pyvirtualcam raises a bare KeyError for it, then its half-built Camera's __del__
                # prints "Exception ignored" on stderr: refuse it before a Camera is created.
                known = ", ".join(known_backends()) or "none on this system"
                errors.append(f"unknown backend '{target.backend}' (known: {known})")
                continue
            try:
                cam = pyvirtualcam.Camera(
                    width, height, fps, fmt=fmt, device=target.device, backend=target.backend
                )
            except (RuntimeError, ValueError, KeyError, OSError) as exc:
                errors.append(f"{target.backend}: {exc}")
                continue
            self._cam = cam
            self._size = (width, height)
            self.device = cam.device
            self.note = target.note
            self.name = f"virtual_camera:{cam.backend}:{cam.device}"
            if target.note:
                log.warning("virtual camera: %s; publishing on %s", target.note, cam.device)
            return
        detail = "; ".join(errors) if errors else "no virtual camera backend exists for this OS"
        raise SinkError(
            f"The virtual camera '{self.camera_name}' is not available ({detail}).\n"
            + driver_fix(self._system)
        )

    def _convert(self, image: np.ndarray) -> np.ndarray:
        _, code = _FORMATS[self.pixel_format]
        image = fit_to(image, *self._size)
        return image if code is None else cv2.cvtColor(image, code)

    def pace(self) -> bool:
        # pyvirtualcam's pacer needs one frame sent to know where the schedule starts.
        if self._cam is None or self._cam.frames_sent == 0:
            return False
        self._cam.sleep_until_next_frame()
        return True

    def write(self, frame: Frame) -> None:
        if self._cam is not None:
            self._cam.send(self._convert(frame.image))

    def close(self) -> None:
        if self._cam is not None:
            self._cam.close()
            self._cam = None
