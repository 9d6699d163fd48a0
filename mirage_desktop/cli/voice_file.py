"""`mirage-cli voice --input-file IN --output-file OUT`: convert a recording with the live voice path."""

from __future__ import annotations

import argparse
import sys
import threading

from mirage_desktop.config.settings import VoiceSettings
from mirage_desktop.voice.errors import VoiceError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input-file",
        metavar="IN",
        help="convert this recording instead of the microphone (any format soundfile reads; read in "
        "chunks, so any length)",
    )
    p.add_argument(
        "--output-file",
        metavar="OUT",
        help="where the converted recording goes (format from the extension: .wav, .flac, .ogg, ...)",
    )


def wants_file(args: argparse.Namespace) -> bool:
    return getattr(args, "input_file", None) is not None or getattr(args, "output_file", None) is not None


def run_file_conversion(
    args: argparse.Namespace, voice: VoiceSettings, options: dict, stop: threading.Event
) -> int:
    from mirage_desktop.sinks.output_file import OutputError
    from mirage_desktop.voice.converters import create_converter
    from mirage_desktop.voice.file_convert import convert_file
    from mirage_desktop.voice.routing import engine_config

    if not args.input_file or not args.output_file:
        missing = "--output-file" if args.input_file else "--input-file"
        print(f"voice: {missing} is missing: give --input-file IN and --output-file OUT", file=sys.stderr)
        return 2
    try:
        converter = create_converter(voice.converter, **options)
        result = convert_file(
            args.input_file, args.output_file, converter, engine_config(voice).pipeline, stop=stop
        )
    except (VoiceError, OutputError) as exc:
        print(f"voice: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print(f"voice: interrupted; {args.output_file} was not written", file=sys.stderr, flush=True)
        return 130
    speed = result.wall_s / result.seconds if result.seconds else 0.0
    if result.mixed:
        print(f"voice: {args.input_file}: {result.mixed}", file=sys.stderr, flush=True)
    print(
        f"Converted {args.input_file} -> {args.output_file} ({voice.converter}, {result.seconds:.2f} s "
        f"at {result.sample_rate} Hz, {result.wall_s:.2f} s = {speed:.2f}x real time)",
        flush=True,
    )
    return 0
