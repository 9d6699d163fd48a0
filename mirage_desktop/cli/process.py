"""`mirage-cli process`: a video file in, a processed video file out, as fast as possible.

Nothing the user has is put at risk: everything that can be checked is checked before the first
frame (exit 2), the video is written to a partial file beside the output and renamed into place
only when complete, and Ctrl-C/SIGTERM stop cleanly (exit 130/143), saying what became of the file.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mirage_desktop.cli import validate
from mirage_desktop.cli.common import err, load_user_settings, out
from mirage_desktop.cli.face_args import (
    add_face_quality_args,
    apply_face_map,
    apply_face_quality_args,
    face_summary,
)
from mirage_desktop.cli.face_check import check_face
from mirage_desktop.cli.outputs import check_json_output, emit_metrics
from mirage_desktop.cli.progress import Progress
from mirage_desktop.cli.signals import StopOnSignals
from mirage_desktop.engine.builder import PipelineRequest, build_pipeline
from mirage_desktop.engine.pipeline import Pipeline
from mirage_desktop.media.audio import AudioTrack, NoSuchAudioStream, audio_for
from mirage_desktop.sinks.base import SinkError
from mirage_desktop.sinks.recorder import RecorderSink
from mirage_desktop.sources.base import SourceError
from mirage_desktop.sources.video_file import VideoFileSource
from mirage_desktop.voice.converters import CONVERTERS

#: how long stopping may take: one frame through the face models, then the file's index
STOP_TIMEOUT_S = 60.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("process", help="process a video file into another video file, as fast as possible")
    p.add_argument("--input", "-i", required=True, type=validate.file_path, help="input video file")
    p.add_argument(
        "--output", "-o", required=True, type=validate.file_path, help="output video file (.mp4/.avi)"
    )
    p.add_argument("--overlay", action=argparse.BooleanOptionalAction, default=None, help="debug overlay")
    p.add_argument(
        "--face", type=validate.file_path, help="photo of the face to wear (face swap; needs the face models)"
    )
    p.add_argument(
        "--allow-passthrough",
        action="store_true",
        help="when the face cannot be worn, write the video anyway (faces covered unless the privacy "
        "cover is off) instead of refusing",
    )
    p.add_argument(
        "--voice",
        choices=sorted(CONVERTERS),
        help="convert the input's sound with this voice converter, as live (default: keep it as it is)",
    )
    p.add_argument(
        "--semitones", type=validate.finite_float(-24, 24), default=0.0, help="--voice pitch: shift, e.g. 4"
    )
    p.add_argument(
        "--formant", type=validate.finite_float(0.5, 2.0), default=1.0, help="--voice pitch: formant factor"
    )
    p.add_argument(
        "--audio-stream",
        type=validate.positive_int(64),
        metavar="N",
        help="which of the input's audio streams to keep, counted from 1 (default: the one marked "
        "default, else the first)",
    )
    p.add_argument("--metrics-json", help="write the final metrics as JSON to this file ('-' for stdout)")
    add_face_quality_args(p)
    p.set_defaults(func=process_command)


def _check_input(path: Path) -> tuple[str | None, int]:
    """Why the input cannot be processed (or None), and how many frames it announces."""
    source = VideoFileSource(path, loop=False, paced=False)
    try:
        source.open()
    except SourceError as exc:
        return str(exc), 0
    finally:
        source.close()
    return None, source.frame_count


def _picture_notes(pipeline: Pipeline) -> list[str]:
    """What the source did to the picture (turned upright, frames scaled to one size)."""
    return [f"picture: {note}" for note in getattr(pipeline.source, "notes", ())]


def _sound(args: argparse.Namespace, suffix: str) -> AudioTrack | None:
    """The input's sound for the output: copied, or through the voice converter. Raises ValueError
    with the reason when the converter cannot be made."""
    hook = None
    if args.voice:
        from mirage_desktop.media.voice_hook import ConverterHook
        from mirage_desktop.voice.converters import create_converter
        from mirage_desktop.voice.errors import VoiceError

        try:
            converter = create_converter(args.voice, semitones=args.semitones, formant=args.formant)
        except VoiceError as exc:
            raise ValueError(str(exc)) from exc
        hook = ConverterHook(converter)
    try:
        return audio_for(args.input, suffix, hook=hook, stream=args.audio_stream)
    except NoSuchAudioStream:
        raise  # the user's choice: refused (exit 2), not worked around
    except (OSError, ValueError) as exc:  # PyAV's errors are OSError/ValueError subclasses
        err(f"[sound] the input's sound cannot be read ({exc}); writing the video without it")
        return None


def process_command(args: argparse.Namespace) -> int:
    settings = load_user_settings()
    settings.video.source = f"file:{args.input}"
    settings.video.fallback_to_test_pattern = False
    if args.overlay is not None:
        settings.face.debug_overlay = args.overlay
    if args.face:
        settings.face.source_face = str(args.face)
        settings.face.swap_enabled = True
    apply_face_quality_args(settings, args)

    problem, total = _check_input(args.input)
    if problem:
        err(problem)
        return 2
    recorder = RecorderSink(args.output, inputs=(args.input,), commit_on_close=False)
    try:
        recorder.prepare()  # creates the partial file: from here every exit path must remove it
    except SinkError as exc:
        err(str(exc))
        return 2
    try:
        try:
            recorder.audio = _sound(args, recorder.destination.suffix)
            if recorder.audio is not None and recorder.audio.note:
                err(f"[sound] {recorder.audio.note}")
        except ValueError as exc:
            err(f"{exc}\nNothing was written.")
            return 2
        if args.voice and recorder.audio is None:
            err(f"[sound] {args.input} has no sound: --voice {args.voice} has nothing to convert")
        return _process(args, settings, recorder, total)
    finally:
        recorder.discard()  # no-op once committed; closes the input's sound either way


def _process(args: argparse.Namespace, settings, recorder: RecorderSink, total: int = 0) -> int:
    dest = recorder.destination
    try:
        metrics_path = check_json_output(args.metrics_json, inputs=(args.input, dest))
    except SinkError as exc:
        err(str(exc))
        return 2
    face = check_face(settings)
    if face.problem:
        if not args.allow_passthrough:
            err(
                f"{face.problem}\nNothing was written. To write the video without the swap anyway, "
                "add --allow-passthrough."
            )
            return 2
        err(f"[face] {face.problem} (--allow-passthrough: writing the video without the swap)")
    apply_face_map(face.processors, args, settings.face.map_threshold)
    map_problem = next(
        (str(c["map_problem"]) for c in (p.counters() for p in face.processors) if c.get("map_problem")), ""
    )
    if map_problem:
        err(f"--map: {map_problem}\nNothing was written.")
        return 2

    progress = Progress(total)

    def on_problem(area: str, message: str) -> None:
        # the recorder is the only sink: its failure is the closing message, said once
        if message and not area.startswith("sink:"):
            progress.clear()  # on a terminal: below the bar, not into it
            err(f"[{area}] {message}")

    request = PipelineRequest(
        live=False,
        virtual_camera=False,
        processors=face.processors,
        extra_sinks=(recorder,),
        stop_without_sinks=True,
    )
    pipeline = build_pipeline(settings, request, on_problem=on_problem)
    started = time.perf_counter()
    with StopOnSignals() as stop:
        pipeline.start()
        broken: list[str] = []
        while pipeline.running:
            if stop.event.wait(0.2 if progress.tty else 0.5):
                break
            # a processor that fails mid-run passes frames through: not what was asked for
            broken = [] if args.allow_passthrough else pipeline.chain.problems()
            if broken:
                break
            progress.update(pipeline.collector.frames_output)
        progress.update(pipeline.collector.frames_output, force=progress.tty)
        progress.clear()
        pipeline.stop(STOP_TIMEOUT_S)
        if pipeline.running:
            err(f"Mirage could not stop within {STOP_TIMEOUT_S:g} s; the partial output was removed.")
            return stop.exit_code if stop.stopped else 1
        elapsed = time.perf_counter() - started
        broken = broken or ([] if args.allow_passthrough else pipeline.chain.problems())
        if broken:
            recorder.discard()
            # the chain has already logged the reason (one line, above): say what it means
            err(
                f"Nothing was written to {recorder.destination}: a processing step stopped during the "
                "run (the reason is above). To write the video without it anyway, add --allow-passthrough."
            )
            code = 1
        else:
            code = _finish(pipeline, recorder, stop, elapsed)
    snapshot = pipeline.metrics()
    stages = ", ".join(f"{k} {v:.2f} ms" for k, v in snapshot.stage_ms.items())
    if stages:
        print(f"per-stage mean: {stages}")
    data = snapshot.to_dict()
    data["elapsed_s"] = elapsed
    data["throughput_fps"] = snapshot.frames_output / elapsed if elapsed > 0 else 0.0
    data["output"] = str(recorder.committed) if recorder.committed else None
    failed = emit_metrics(args.metrics_json, metrics_path, data)
    if failed:
        err(failed)
        return code or 1
    return code


def _finish(pipeline: Pipeline, recorder: RecorderSink, stop: StopOnSignals, elapsed: float) -> int:
    """Keep or remove the output, say which, and choose the exit code."""
    dest = recorder.destination
    frames = recorder.frames_written
    problems = pipeline.problems
    # the input was not read to its end: interrupted, damaged input, or a thread that failed
    cut_short = next((problems[a] for a in ("source", "processing", "output") if a in problems), None)
    failed_code = stop.exit_code if stop.stopped else 1
    if recorder.failure or frames == 0:
        recorder.discard()
        reason = recorder.failure or cut_short or "; ".join(pipeline.metrics().problems)
        if not reason and stop.stopped:
            reason = "Interrupted before the first frame was finished."
        err(f"{reason or 'No frames were processed.'}\nNothing was written to {dest}.")
        return failed_code
    if stop.stopped or cut_short:
        why = "interrupted" if stop.stopped else "the input was not read to its end"
        if dest.exists():  # an incomplete video never replaces a file the user already had
            recorder.discard()
            err(f"Stopped after {frames} frames ({why}); {dest} already existed and was left unchanged.")
            return failed_code
    existed = dest.exists()
    # the whole input was read: the rest of its sound goes in too (same length as the input)
    recorder.audio_to_end = not (stop.stopped or cut_short)
    try:
        final = recorder.commit(replace=not (stop.stopped or cut_short))
    except SinkError as exc:
        err(f"{exc}\nNothing was written to {dest}" + (" (the file there is unchanged)." if existed else "."))
        return failed_code
    if stop.stopped or cut_short:
        err(f"Stopped after {frames} frames ({why}); the frames processed so far were saved to {final}.")
        for line in _picture_notes(pipeline):
            err(line)
        return failed_code
    fps = frames / elapsed if elapsed > 0 else 0.0
    out(f"processed {frames} frames in {elapsed:.2f} s ({fps:.1f} fps) → {final}")
    for line in _picture_notes(pipeline) + face_summary(pipeline.metrics().processors, frames):
        out(line)
    out(f"sound: {recorder.audio.describe}" if recorder.audio else "sound: none (the input has none)")
    return 0
