"""Versions and runtimes: Python, libraries, ONNX Runtime build and providers, GPU."""

from __future__ import annotations

import importlib.metadata as md
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field

ORT_DISTRIBUTIONS = (
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-directml",
    "onnxruntime-silicon",
    "onnxruntime-openvino",
)
LIBRARIES = (
    "numpy",
    "opencv-python",
    "opencv-python-headless",
    "PySide6-Essentials",
    "PySide6",
    "pyvirtualcam",
    "sounddevice",
    "platformdirs",
    "scipy",
    "torch",
)


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


@dataclass(slots=True)
class OrtInfo:
    distributions: dict[str, str]
    version: str | None
    available_providers: list[str]
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class GpuInfo:
    name: str
    memory_total_mb: int | None = None
    driver: str = ""


@dataclass(slots=True)
class RuntimeInfo:
    python: str
    platform: str
    libraries: dict[str, str]
    onnxruntime: OrtInfo
    gpus: list[GpuInfo]

    def to_dict(self) -> dict:
        return asdict(self)


def ort_info() -> OrtInfo:
    dists = {d: v for d in ORT_DISTRIBUTIONS if (v := _version(d))}
    problems = []
    if len(dists) > 1:
        problems.append(
            f"Several ONNX Runtime packages are installed ({', '.join(dists)}); they overwrite each other's "
            "files and the GPU is then often not used. Keep one: "
            "`pip uninstall -y " + " ".join(dists) + "` then reinstall Mirage."
        )
    try:
        from mirage_desktop.runtime.telemetry import onnxruntime_module

        ort = onnxruntime_module()
        version = ort.__version__
        providers = list(ort.get_available_providers())
    except Exception as exc:  # a broken install must still produce a report
        version, providers = None, []
        problems.append(f"ONNX Runtime cannot be imported: {exc}")
    return OrtInfo(dists, version, providers, problems)


def gpus() -> list[GpuInfo]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3:
            mem = int(parts[1]) if parts[1].isdigit() else None
            found.append(GpuInfo(parts[0], mem, parts[2]))
    return found


def runtime_info() -> RuntimeInfo:
    libs = {d: v for d in LIBRARIES if (v := _version(d))}
    try:
        import cv2

        libs["cv2 (imported)"] = cv2.__version__
    except Exception as exc:
        libs["cv2 (imported)"] = f"import failed: {exc}"
    return RuntimeInfo(
        python=sys.version.split()[0],
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        libraries=libs,
        onnxruntime=ort_info(),
        gpus=gpus(),
    )
