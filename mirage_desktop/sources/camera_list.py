"""Camera enumeration without opening devices where the OS lets us (opening is slow and
can steal a camera another app is using)."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from pathlib import Path

from mirage_desktop import VIRTUAL_CAMERA_NAME, safe_read

V4L_SYSFS = Path("/sys/class/video4linux")
#: a device name is at most 32 bytes in the kernel; sysfs pages are 4 kB
SYSFS_LIMIT = 4096
_VIRTUAL_HINTS = ("loopback", "dummy", "obs virtual", "mirage camera", "unity video capture")


@dataclass(slots=True)
class CameraDevice:
    index: int
    name: str
    path: str = ""
    is_virtual: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def list_v4l2_devices(sysfs: Path = V4L_SYSFS) -> list[CameraDevice]:
    """All V4L2 capture nodes from sysfs (Linux), virtual ones flagged.

    UVC cameras expose a second, metadata-only node with ``index`` 1; it is skipped.
    """
    devices: list[CameraDevice] = []
    if not sysfs.is_dir():
        return devices
    for node in sorted(sysfs.glob("video*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 0):
        if not node.name[5:].isdigit():
            continue
        try:
            name = _read_small(node / "name")
        except OSError:  # a node that went away, or not a sysfs file at all
            continue
        try:
            if _read_small(node / "index") not in ("", "0"):
                continue
        except OSError:
            pass
        is_virtual = any(h in name.lower() for h in _VIRTUAL_HINTS)
        devices.append(CameraDevice(int(node.name[5:]), name, f"/dev/{node.name}", is_virtual))
    return devices


def _read_small(path: Path) -> str:
    """A sysfs attribute: a regular file of a few bytes (never a FIFO or a device that never ends)."""
    return safe_read.read_text(path, SYSFS_LIMIT, what="camera attribute", errors="replace").strip()


def list_cameras(sysfs: Path = V4L_SYSFS, include_virtual: bool = False) -> list[CameraDevice]:
    """Physical cameras usable as a source. Our own output is never offered as an input:
    capturing "Mirage Camera" would feed the avatar back into itself."""
    if platform.system() == "Linux":
        cams = list_v4l2_devices(sysfs)
        return [
            c
            for c in cams
            if (include_virtual or not c.is_virtual) and c.name.lower() != VIRTUAL_CAMERA_NAME.lower()
        ]
    return _probe_indices()


def _probe_indices(limit: int = 4) -> list[CameraDevice]:
    # Windows/macOS: OpenCV has no name enumeration; probing a few indices is the portable way.
    import cv2

    from mirage_desktop.sources.camera import default_capture_backend

    found = []
    for i in range(limit):
        cap = cv2.VideoCapture(i, default_capture_backend())
        try:
            if cap.isOpened():
                found.append(CameraDevice(i, f"Camera {i}"))
        finally:
            cap.release()
    return found
