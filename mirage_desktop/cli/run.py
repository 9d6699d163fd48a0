"""`mirage-cli run`: the live loop from a camera, a video file or the test pattern to the
virtual camera and/or a file, for N seconds or until Ctrl-C; with --voice the voice changer runs
beside it (microphone → converter → virtual microphone), and a recording takes its sound from it."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from mirage_desktop.cli import validate
from mirage_desktop.cli.common import add_video_args, apply_video_args, err, load_user_settings, out
from mirage_desktop.cli.face_args import add_face_quality_args, apply_face_map, apply_face_quality_args
from mirage_desktop.cli.outputs import check_json_output, emit_metrics
from mirage_desktop.cli.signals import StopOnSignals
from mirage_desktop.cli.voice_args import (
    add_live_voice_args,
    apply_live_voice_args,
    voice_options_without_voice,
)
from mirage_desktop.engine.builder import PipelineRequest, VoiceRecording, build_pipeline, recording_sound
from mirage_desktop.sinks.base import SinkError
from mirage_desktop.sinks.recorder import LIVE_PRESET, RecorderSink
from mirage_desktop.sources.camera import camera_problem
from mirage_desktop.sources.open import SourceSpec
from mirage_desktop.sources.user_path import path_problem
from mirage_desktop.voice.errors import VoiceError


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
    p.add_argument(
        "--output",
        "-o",
        type=validate.file_path,
        help="also record the output to this video file (.mp4/.avi)",
    )
    p.add_argument("--no-virtual-camera", action="store_true", help="do not publish to the virtual camera")
    p.add_argument("--virtual-camera-name", help="virtual camera device name (default 'Mirage Camera')")
    p.add_argument(
        "--virtual-camera-backend", type=validate.virtual_camera_backend, help="force a pyvirtualcam backend"
    )
    p.add_argument("--overlay", action=argparse.BooleanOptionalAction, default=None, help="debug overlay")
    p.add_argument(
        "--face", type=validate.file_path, help="photo of the face to wear (face swap; needs the face models)"
    )
    p.add_argument("--no-fallback", action="store_true", help="stop instead of showing the test pattern")
    p.add_argument("--stats", action="store_true", help="print metrics every second")
    p.add_argument("--metrics-json", help="write the final metrics as JSON to this file ('-' for stdout)")
    add_video_args(p)
    add_face_quality_args(p)
    add_live_voice_args(p)
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
    apply_face_quality_args(settings, args)
    if args.virtual_camera_name:
        settings.output.virtual_camera_name = args.virtual_camera_name
    if args.virtual_camera_backend:
        settings.output.virtual_camera_backend = args.virtual_camera_backend

    stray = voice_options_without_voice(args)
    if stray:
        err(f"mirage-cli run: {', '.join(stray)} only apply with --voice (e.g. --voice pitch).")
        return 2

    inputs: tuple[str, ...] = ()
    spec = SourceSpec.parse(settings.video.source)
    if spec.kind == "file":
        inputs = (str(Path(spec.value).expanduser()),)
        problem = _file_source_problem(spec, settings.video.fallback_to_test_pattern)
        if problem:
            err(problem)
            return 2
    if spec.kind == "camera":  # a device that is not a camera never becomes one: no test pattern for it
        problem = camera_problem(spec.value)
        if problem:
            err(problem if problem.endswith(".") else f"{problem}.")
            return 2
    recorder = (
        RecorderSink(args.output, inputs=inputs, commit_on_close=False, preset=LIVE_PRESET)
        if args.output is not None
        else None
    )
    voice = None
    try:
        if recorder is not None:
            recorder.prepare()  # the partial file exists from here: every exit path must remove it
        metrics_path = check_json_output(
            args.metrics_json, inputs=inputs + ((str(recorder.destination),) if recorder else ())
        )
        if args.voice is not None:
            voice = _start_voice(apply_live_voice_args(settings.voice, args))
        if recorder is not None:
            recorder.audio = recording_sound(
                spec, recorder.destination.suffix, voice=voice.engine if voice else None
            )
            if voice is not None and spec.kind == "file":
                err("The recording's sound is the converted microphone, not the video file's own sound.")
    except (SinkError, VoiceError) as exc:
        if recorder is not None:
            recorder.discard()
        if voice is not None:
            voice.close()
        err(f"voice: {exc}" if isinstance(exc, VoiceError) else str(exc))
        return 2
    try:
        return _run(args, settings, recorder, metrics_path)
    finally:
        if recorder is not None:
            recorder.discard()  # no-op once committed
        if voice is not None:
            voice.close()


def _file_source_problem(spec: SourceSpec, fallback: bool) -> str | None:
    """A video file source that can never be read (a FIFO, a device, a folder) is refused before
    anything starts; a missing one too without the fallback (with it, the test pattern shows until
    the file appears, as for an unplugged camera)."""
    problem = path_problem(Path(spec.value).expanduser(), "video file")
    if problem is None or (fallback and "does not exist" in problem):
        return None
    return f"The video source {problem}."


def _start_voice(voice_settings):
    """The voice changer, live into the virtual microphone (or --voice-output-device). Raises
    VoiceError with a message for the user (no microphone, no sound server, a bad voice model)."""
    from mirage_desktop.gui.voice_session import open_voice_session

    session = open_voice_session(voice_settings)
    engine = session.engine
    err(f"Voice live ({engine.converter.name}, {engine.spec.backend}) into '{session.target}'.")
    if session.vmic is not None:
        err(f"Select '{session.target}' as the microphone in your call app.")
    return session


def _run(args: argparse.Namespace, settings, recorder: RecorderSink | None, metrics_path: Path | None) -> int:
    def on_problem(area: str, message: str) -> None:
        if message:
            err(f"[{area}] {message}")
        else:
            err(f"[{area}] recovered")

    request = PipelineRequest(
        live=True,
        virtual_camera=not args.no_virtual_camera,
        extra_sinks=(recorder,) if recorder is not None else (),
        # a live call goes on when only the recording fails; with nothing else to feed, it ends
        stop_without_sinks=recorder is not None,
    )
    pipeline = build_pipeline(settings, request, on_problem=on_problem)
    apply_face_map(pipeline.chain.processors, args, settings.face.map_threshold)
    err(
        f"Mirage: running from {settings.video.source} "
        + (f"for {args.seconds:g} s" if args.seconds else "(Ctrl-C stops)")
    )
    said: set[str] = set()
    with StopOnSignals() as stop:
        pipeline.start()
        started = time.monotonic()
        next_stats = started + 1.0
        try:
            while not stop.event.is_set() and pipeline.running:
                _say_picture_notes(pipeline, said)
                if args.seconds and time.monotonic() - started >= args.seconds:
                    break
                if recorder is not None and recorder.failure and isinstance(recorder.audio, VoiceRecording):
                    recorder.audio.detach()  # the call goes on; the voice stops queueing for the file
                stop.event.wait(0.05)
                if args.stats and time.monotonic() >= next_stats:
                    next_stats += 1.0
                    err(pipeline.metrics().summary())
        finally:
            pipeline.stop()
        snapshot = pipeline.metrics()
        print(snapshot.summary())
        code = 0 if snapshot.frames_output > 0 else 1
        if recorder is not None:
            code = _finish_recording(recorder, stop) or code
        failed = emit_metrics(args.metrics_json, metrics_path, snapshot.to_dict())
        if failed:
            err(failed)
            code = code or 1
    return stop.exit_code if stop.stopped else code


def _say_picture_notes(pipeline, said: set[str]) -> None:
    """What the video file source did to the picture (turned upright, frames scaled), once each."""
    for note in getattr(pipeline.source, "notes", ()):
        if note not in said:
            said.add(note)
            err(f"[source] picture: {note}")


def _finish_recording(recorder: RecorderSink, stop: StopOnSignals) -> int:
    """A live recording is complete whenever it is stopped: keep it unless it failed."""
    dest = recorder.destination
    try:
        final = recorder.commit()
    except SinkError as exc:
        err(
            f"Recording failed: {exc}\nNothing was written to {dest}"
            + (" (the file there is unchanged)." if dest.exists() else ".")
        )
        return 1
    out(f"recorded {recorder.frames_written} frames to {final}")
    out(
        f"sound: {recorder.audio.describe}"
        if recorder.audio
        else "sound: none (a video file's own sound is recorded; the microphone with --voice)"
    )
    if stop.stopped:
        err(f"Stopped; the recording was finished and saved to {final}.")
    return 0
