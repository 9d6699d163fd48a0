"""`mirage-cli process`: a video file in, a processed video file out, as fast as possible."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mirage_desktop.cli.common import err, load_user_settings, write_json
from mirage_desktop.engine.builder import PipelineRequest, build_pipeline


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("process", help="process a video file into another video file, as fast as possible")
    p.add_argument("--input", "-i", required=True, type=Path, help="input video file")
    p.add_argument("--output", "-o", required=True, type=Path, help="output video file (.mp4/.avi)")
    p.add_argument("--overlay", action=argparse.BooleanOptionalAction, default=None, help="debug overlay")
    p.add_argument("--face", type=Path, help="photo of the face to wear (face swap; needs the face models)")
    p.add_argument("--metrics-json", help="write the final metrics as JSON to this file ('-' for stdout)")
    p.set_defaults(func=process_command)


def process_command(args: argparse.Namespace) -> int:
    settings = load_user_settings()
    settings.video.source = f"file:{args.input}"
    settings.video.fallback_to_test_pattern = False
    if args.overlay is not None:
        settings.face.debug_overlay = args.overlay
    if args.face:
        settings.face.source_face = str(args.face)
        settings.face.swap_enabled = True
    if args.output.resolve() == args.input.resolve():
        err("The output file must differ from the input file.")
        return 2
    problems: list[str] = []

    def on_problem(area: str, message: str) -> None:
        if message:
            problems.append(message)
            err(f"[{area}] {message}")

    request = PipelineRequest(live=False, virtual_camera=False, record_to=args.output)
    pipeline = build_pipeline(settings, request, on_problem=on_problem)
    started = time.perf_counter()
    pipeline.start()
    while not pipeline.wait(0.5):
        snap = pipeline.collector
        err(f"  {snap.frames_output} frames written")
    elapsed = time.perf_counter() - started
    snapshot = pipeline.metrics()
    fps = snapshot.frames_output / elapsed if elapsed > 0 else 0.0
    print(f"processed {snapshot.frames_output} frames in {elapsed:.2f} s ({fps:.1f} fps) → {args.output}")
    stages = ", ".join(f"{k} {v:.2f} ms" for k, v in snapshot.stage_ms.items())
    if stages:
        print(f"per-stage mean: {stages}")
    if args.metrics_json:
        data = snapshot.to_dict()
        data["elapsed_s"] = elapsed
        data["throughput_fps"] = fps
        write_json(args.metrics_json, data)
    if snapshot.frames_output == 0 or not any(s.startswith("recorder:") for s in snapshot.sinks_active):
        return 1
    return 0
