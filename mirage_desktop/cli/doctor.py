"""`mirage-cli doctor`: everything worth knowing when something does not work."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from mirage_desktop import __version__
from mirage_desktop.cli.common import load_user_settings, write_json
from mirage_desktop.config.paths import AppPaths, folder_problem
from mirage_desktop.runtime.providers import ProviderConfig, probe_providers
from mirage_desktop.system.runtime_info import runtime_info
from mirage_desktop.system.virtual_camera_status import virtual_camera_status
from mirage_desktop.voice import describe_audio


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="versions, ONNX Runtime providers, GPU, virtual camera, audio, folders")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=doctor_command)


def _dir_status(path: Path, what: str, variable: str) -> dict:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free if existing.exists() else None
    problem = folder_problem(path, what, variable)
    return {
        "path": str(path),
        "exists": path.is_dir(),
        "writable": problem is None and os.access(existing, os.W_OK),
        "free_gb": None if free is None else round(free / 1e9, 1),
        "problem": problem,
    }


def collect() -> dict:
    paths = AppPaths.from_env()
    info = runtime_info().to_dict()
    face = load_user_settings().face
    # A real session per provider: onnxruntime-gpu lists CUDA even where it cannot load.
    probe = probe_providers(ProviderConfig(requested=face.providers, cuda_only=face.cuda_only))
    return {
        "mirage": __version__,
        **info,
        "execution_providers": probe.to_dict(),
        "virtual_camera": virtual_camera_status().to_dict(),
        "audio": describe_audio().to_dict(),
        "folders": {
            "models": _dir_status(paths.models_dir, "models folder", "MIRAGE_MODELS_DIR"),
            "config": _dir_status(paths.config_dir, "settings folder", "MIRAGE_CONFIG_DIR"),
            "logs": _dir_status(paths.log_dir, "log folder", "MIRAGE_LOG_DIR"),
            "cache": _dir_status(paths.cache_dir, "cache folder", "MIRAGE_CACHE_DIR"),
        },
    }


def doctor_command(args: argparse.Namespace) -> int:
    data = collect()
    if args.json:
        write_json("-", data)
        return 0
    ort = data["onnxruntime"]
    print(f"Mirage {data['mirage']} on Python {data['python']}, {data['platform']}")
    print("Libraries: " + ", ".join(f"{k} {v}" for k, v in data["libraries"].items()))
    print(f"ONNX Runtime {ort['version']} ({', '.join(ort['distributions']) or 'not installed'})")
    print(f"  providers listed: {', '.join(ort['available_providers']) or 'none'}")
    probe = data["execution_providers"]
    print(f"  providers that really start: {', '.join(probe['working']) or 'none'}")
    print(f"  Mirage will use: {', '.join(probe['chosen']) or 'nothing usable'}")
    for note in probe["notes"]:
        print(f"  note: {note}")
    for problem in ort["problems"]:
        print(f"  PROBLEM: {problem}")
    if data["gpus"]:
        for gpu in data["gpus"]:
            print(f"GPU: {gpu['name']} ({gpu['memory_total_mb']} MB, driver {gpu['driver']})")
    else:
        print("GPU: no NVIDIA GPU found (nvidia-smi absent); face swap runs on the CPU, slowly")
    vc = data["virtual_camera"]
    print(f"Virtual camera: {'ready' if vc['ready'] else 'NOT AVAILABLE'} — {vc['message']}")
    if not vc["ready"]:
        for line in vc["fix"].splitlines():
            print(f"    {line}")
    audio = data["audio"]
    print(f"Audio: {len(audio['inputs'])} input(s), {len(audio['outputs'])} output(s)")
    for problem in audio["errors"]:
        print(f"  {problem}")
    mic = audio["virtual_mic"]
    print(f"Virtual microphone: {'ready' if mic['available'] else 'NOT AVAILABLE'} — {mic['message']}")
    for name, folder in data["folders"].items():
        if folder["problem"]:
            print(f"Folder {name}: {folder['path']} — PROBLEM: {folder['problem']}")
            continue
        state = "exists" if folder["exists"] else "not created yet"
        print(f"Folder {name}: {folder['path']} ({state}, free {folder['free_gb']} GB)")
    return 0
