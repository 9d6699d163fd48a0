"""Is "Mirage Camera" available on this machine, and if not, what exactly to do."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyvirtualcam

from mirage_desktop import VIRTUAL_CAMERA_NAME
from mirage_desktop.sinks.virtual_camera import driver_fix, find_loopback_device
from mirage_desktop.sources.camera_list import V4L_SYSFS, list_v4l2_devices


@dataclass(slots=True)
class VirtualCameraStatus:
    name: str
    backends: list[str]
    device: str | None
    ready: bool
    message: str
    fix: str = ""
    other_loopback_devices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def virtual_camera_status(
    name: str = VIRTUAL_CAMERA_NAME, system: str | None = None, sysfs: Path = V4L_SYSFS
) -> VirtualCameraStatus:
    system = system or platform.system()
    backends = sorted(pyvirtualcam.camera.BACKENDS)
    if system == "Linux":
        device = find_loopback_device(name, sysfs)
        if device:
            return VirtualCameraStatus(name, backends, device, True, f"'{name}' is {device} (v4l2loopback)")
        loopbacks = [f"{d.path} ({d.name})" for d in list_v4l2_devices(sysfs) if d.is_virtual]
        if loopbacks:
            return VirtualCameraStatus(
                name,
                backends,
                None,
                True,
                f"no v4l2loopback device is labelled '{name}'; Mirage will use {loopbacks[0]}. "
                "Reload the module with the label to get the right name in apps.",
                fix=driver_fix(system),
                other_loopback_devices=loopbacks,
            )
        if not Path("/sys/module/v4l2loopback").exists():
            message = "the v4l2loopback driver is not loaded"
        else:
            message = "v4l2loopback is loaded but has no device"
        return VirtualCameraStatus(name, backends, None, False, message, fix=driver_fix(system))
    if system in ("Windows", "Darwin"):
        # Windows/macOS drivers can only be found by trying them; the sink does that when it
        # opens, so here we only report which backends this build can drive.
        return VirtualCameraStatus(
            name,
            backends,
            None,
            bool(backends),
            "checked when the camera starts (OBS Virtual Camera"
            + (" or Unity Capture" if system == "Windows" else "")
            + ")",
            fix=driver_fix(system),
        )
    return VirtualCameraStatus(
        name, backends, None, False, "no virtual camera backend for this OS", driver_fix(system)
    )
