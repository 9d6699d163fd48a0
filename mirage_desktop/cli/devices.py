"""`mirage-cli devices`: cameras, virtual camera, audio — and what is missing and how to fix it."""

from __future__ import annotations

import argparse

from mirage_desktop.cli.common import write_json
from mirage_desktop.sources.camera_list import list_cameras
from mirage_desktop.system.virtual_camera_status import virtual_camera_status
from mirage_desktop.voice import describe_audio


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="list cameras, the virtual camera and audio devices")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=devices_command)


def collect() -> dict:
    cams = list_cameras()
    return {
        "cameras": [c.to_dict() for c in cams],
        "virtual_camera": virtual_camera_status().to_dict(),
        "audio": describe_audio().to_dict(),
    }


def devices_command(args: argparse.Namespace) -> int:
    data = collect()
    if args.json:
        write_json("-", data)
        return 0
    print("Cameras:")
    if data["cameras"]:
        for cam in data["cameras"]:
            print(f"  camera:{cam['index']}  {cam['name']}  {cam['path']}")
    else:
        print("  none found — Mirage will show its test pattern; use --source FILE to use a video instead")
    vc = data["virtual_camera"]
    print("\nVirtual camera:")
    print(f"  {vc['name']}: {'ready' if vc['ready'] else 'NOT AVAILABLE'} — {vc['message']}")
    print(f"  pyvirtualcam backends in this build: {', '.join(vc['backends']) or 'none'}")
    if vc["fix"] and not (vc["ready"] and vc["device"]):
        print("  To fix:")
        for line in vc["fix"].splitlines():
            print(f"    {line}")
    audio = data["audio"]
    print("\nAudio:")
    if audio["voice_backend"] == "pulse":
        print(f"  voice route: {audio['voice_backend_note']}; pass these names to `voice --input`")
        for name in audio["pulse_sources"]:
            print(f"  input:  {name}")
        for name in audio["pulse_sinks"]:
            print(f"  output: {name}")
    else:
        if audio["voice_backend_note"]:
            print(f"  voice route: {audio['voice_backend_note']}")
        for dev in audio["inputs"]:
            print(f"  input:  {dev['name']}")
        for dev in audio["outputs"]:
            print(f"  output: {dev['name']}")
    for problem in audio["errors"]:
        print(f"  {problem}")
    mic = audio["virtual_mic"]
    state = f"ready as '{mic['visible_name']}'" if mic["available"] else "NOT AVAILABLE"
    print(f"\nVirtual microphone: {state}")
    if mic["message"]:
        print(f"  {mic['message']}")
    return 0
