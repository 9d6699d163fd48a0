"""`mirage-cli run`: the live loop from a camera, a video file or the test pattern to the
virtual camera and/or a file, for N seconds or until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from pathlib import Path

from mirage_desktop.cli import validate
from mirage_desktop.cli.common import add_video_args, apply_video_args, err, load_user_settings, write_json
from mirage_desktop.engine.builder import PipelineRequest, build_pipeline


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the live loop (camera/file/test pattern → virtual camera and/or file)",
        description="Run the live loop. The debug overlay (boxes, fps, latency) is on unless --no-overlay "
        "or MIRAGE_DEBUG_OVERLAY=0.",
    )
    p.add_argument("--source", help="'camera:0', 'camera:NAME', 'test', or a video file (default: settings)")
    p.add_argument(
        "--seconds",
        type=validate.duration_seconds,
        default=0.0,
        help="stop after this many seconds (default 0: until Ctrl-C)",
    )
    p.add_argument("--output", "-o", type=Path, help="also record the output to this video file (.mp4/.avi)")
    p.add_argument("--no-virtual-camera", action="store_true", help="do not publish to the virtual camera")
    p.add_argument("--virtual-camera-name", help="virtual camera device name (default 'Mirage Camera')")
    p.add_argument(
        "--virtual-camera-backend", type=validate.virtual_camera_backend, help="force a pyvirtualcam backend"
    )
    p.add_argument("--overlay", action=argparse.BooleanOptionalAction, default=None, help="debug overlay")
    p.add_argument("--face", type=Path, help="photo of the face to wear (face swap; needs the face models)")
    p.add_argument("--no-fallback", action="store_true", help="stop instead of showing the test pattern")
    p.add_argument("--stats", action="store_true", help="print metrics every second")
    p.add_argument("--metrics-json", help="write the final metrics as JSON to this file ('-' for stdout)")
    add_video_args(p)
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    settings = load_user_settings()
    if args.source:
        settings.video.source = args.source
    apply_video_args(settings, args)
    if args.no_fallback:
        settings.video.fallback_to_test_pattern = False
    if args.overlay is not None:
        settings.face.debug_overlay = args.overlay
    elif "MIRAGE_DEBUG_OVERLAY" not in os.environ:
        settings.face.debug_overlay = True
    if args.face:
        settings.face.source_face = str(args.face)
        settings.face.swap_enabled = True
    if args.virtual_camera_name:
        settings.output.virtual_camera_name = args.virtual_camera_name
    if args.virtual_camera_backend:
        settings.output.virtual_camera_backend = args.virtual_camera_backend

    def on_problem(area: str, message: str) -> None:
        if message:
            err(f"[{area}] {message}")
        else:
            err(f"[{area}] recovered")

    request = PipelineRequest(live=True, virtual_camera=not args.no_virtual_camera, record_to=args.output)
    pipeline = build_pipeline(settings, request, on_problem=on_problem)
    stop = threading.Event()
    previous = (
        signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    )
    if previous is not None:
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    err(
        f"Mirage: running from {settings.video.source} "
        + (f"for {args.seconds:g} s" if args.seconds else "(Ctrl-C stops)")
    )
    pipeline.start()
    started = time.monotonic()
    next_stats = started + 1.0
    try:
        while not stop.is_set() and pipeline.running:
            if args.seconds and time.monotonic() - started >= args.seconds:
                break
            stop.wait(0.05)
            if args.stats and time.monotonic() >= next_stats:
                next_stats += 1.0
                err(pipeline.metrics().summary())
    finally:
        pipeline.stop()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    snapshot = pipeline.metrics()
    print(snapshot.summary())
    if args.metrics_json:
        write_json(args.metrics_json, snapshot.to_dict())
    if args.output is not None and any(s.startswith("recorder:") for s in snapshot.sinks_active):
        print(f"recorded to {args.output}")
    return 0 if snapshot.frames_output > 0 else 1
