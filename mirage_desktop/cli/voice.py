"""`mirage-cli voice`: microphone -> voice converter -> virtual microphone, live."""

from __future__ import annotations

import argparse
import sys
import threading
import time

from mirage_desktop.cli import validate, voice_file
from mirage_desktop.cli.closed_output import EXIT_CLOSED_PIPE, reader_gone, silence_closed_outputs
from mirage_desktop.cli.common import load_user_settings
from mirage_desktop.cli.outputs import check_json_output, emit_metrics
from mirage_desktop.cli.signals import StopOnSignals
from mirage_desktop.cli.voice_args import add_pitch_args
from mirage_desktop.config.settings import RVC_PITCH_ESTIMATORS, VoiceSettings
from mirage_desktop.sinks.output_file import OutputError
from mirage_desktop.voice.converters import CONVERTERS, create_converter, rvc
from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.metrics import VoiceMetrics
from mirage_desktop.voice.pipeline import PipelineConfig
from mirage_desktop.voice.routing import BACKENDS, ServerWatch, build_engine, open_outputs
from mirage_desktop.voice.virtual_mic import make_virtual_mic

_PIPELINE = PipelineConfig()
#: a second of queued output is already far past usable in a call; the rings hold 4 s
MAX_BUFFER_MS = 1000.0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "voice",
        help="live voice changer into the virtual microphone",
        description="Convert your microphone live and publish it as the 'Mirage Microphone'.",
    )
    p.add_argument("--input", help="microphone: PortAudio name, or on Linux a PulseAudio source name")
    p.add_argument("--output-device", help="play here instead of the virtual microphone")
    p.add_argument("--converter", choices=sorted(CONVERTERS), help="voice converter (default: settings)")
    add_pitch_args(p)
    group = p.add_argument_group("RVC voice (--converter rvc)")
    group.add_argument("--model", type=validate.existing_file("voice model", (".pth",)),
                     help="the RVC v1/v2 voice, VOICE.pth")  # fmt: skip
    group.add_argument("--index", type=validate.existing_file("voice index", (".index",)),
                     help="its feature index, VOICE.index (optional)")  # fmt: skip
    group.add_argument(
        "--index-rate",
        type=validate.finite_float(0, 1),
        help="share of each frame taken from the index (default 0.5; 0–1)",
    )
    group.add_argument(
        "--protect",
        type=validate.finite_float(0, 0.5),
        help="keep unvoiced consonants closer to your own (default 0.33; 0–0.5, 0.5 = off)",
    )
    group.add_argument("--f0-method", choices=RVC_PITCH_ESTIMATORS, help="pitch estimator (default fcpe)")
    p.add_argument(
        "--seconds",
        type=validate.duration_seconds,
        default=0.0,
        help="stop after N seconds (0 = until Ctrl+C)",
    )
    p.add_argument("--monitor", action="store_true", default=None, help="also play to your headphones")
    p.add_argument("--monitor-device", help="headphones (default: the system output)")
    # Below the SOLA crossfade a block is shorter than its own fade; above max_block_ms the pipeline
    # would silently clamp it.
    block = validate.finite_float(_PIPELINE.crossfade_ms, _PIPELINE.max_block_ms, "ms")
    p.add_argument(
        "--block-ms",
        type=block,
        help=f"block size in ms (default 10; {_PIPELINE.crossfade_ms:g}–{_PIPELINE.max_block_ms:g})",
    )
    p.add_argument(
        "--buffer-ms",
        type=validate.finite_float(0, MAX_BUFFER_MS, "ms"),
        help=f"output jitter buffer in ms (default 10; 0–{MAX_BUFFER_MS:g})",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        help="audio I/O: auto (Linux: PulseAudio directly), pulse, or portaudio (default: settings)",
    )
    p.add_argument(
        "--gate-db",
        type=validate.finite_float(-120, 0, "dBFS"),
        help="noise gate threshold in dBFS (default -50; -120–0)",
    )
    p.add_argument("--no-gate", action="store_true", help="disable the noise gate")
    p.add_argument(
        "--gate-mode",
        choices=("level", "vad"),
        help="level: mute below --gate-db; vad: Silero voice-activity gate, so breaths, clicks and "
        "keyboard stay silent (adds a 64 ms look-ahead) (default: settings)",
    )
    p.add_argument(
        "--denoise",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="RNNoise noise suppression on the microphone before the converter (adds 20 ms; "
        "default: settings)",
    )
    p.add_argument("--policy", choices=("dry", "silence"), help="what plays when conversion is late")
    p.add_argument("--no-adapt", action="store_true", help="keep the block size fixed")
    p.add_argument(
        "--sample-rate",
        type=validate.sample_rate,
        help=f"force a device sample rate in Hz (default: negotiated; "
        f"{validate.MIN_SAMPLE_RATE}–{validate.MAX_SAMPLE_RATE})",
    )
    voice_file.add_arguments(p)
    p.add_argument("--stats", action="store_true", help="print metrics every second")
    p.add_argument("--metrics-json", help="write the final metrics to this file ('-' = stdout)")
    p.set_defaults(func=voice_command)


def _voice_settings(args: argparse.Namespace) -> VoiceSettings:
    # the shared loader reports a broken settings file on stderr, as every command does
    settings = load_user_settings()
    voice = settings.voice
    overrides = {
        "input_device": args.input,
        "output_device": args.output_device,
        "converter": args.converter,
        "semitones": args.semitones,
        "formant": args.formant,
        "rvc_model": args.model,
        "rvc_index": args.index,
        "rvc_index_rate": args.index_rate,
        "rvc_protect": args.protect,
        "rvc_pitch": args.f0_method,
        "block_ms": args.block_ms,
        "buffer_ms": args.buffer_ms,
        "gate_db": args.gate_db,
        "monitor": args.monitor,
        "monitor_device": args.monitor_device,
        "overload_policy": args.policy,
        "audio_backend": args.backend,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(voice, key, value)
    if args.no_gate:
        voice.gate_enabled = False
    if args.gate_mode is not None:
        voice.gate_mode = args.gate_mode
    if args.denoise is not None:
        voice.denoise = args.denoise
    if args.no_adapt:
        voice.adapt_block = False
    if args.block_ms is None:
        voice.block_ms = rvc.block_ms(voice)
    return voice


def converter_options(voice: VoiceSettings) -> dict:
    """What create_converter needs from the settings (each converter takes the keys it knows)."""
    return rvc.settings_options(voice)


def _print_stats(m: VoiceMetrics) -> None:
    if m.live_latency_ms > 0:
        latency = f"latency {m.live_latency_ms:.0f} ms (drift {m.latency_drift_ms:+.0f})"
    else:  # the first seconds, before the server has settled and a sample was taken
        latency = f"latency ~{m.estimated_latency_ms:.0f} ms (estimated)"
    print(
        f"[voice] {m.status}: block {m.block_ms:.0f} ms, runtime {m.runtime_ms_last:.1f} ms "
        f"(ratio {m.ratio_last:.2f}, max {m.ratio_max:.2f}), {latency}, "
        f"level {m.input_level_db:.0f} dB{' gate open' if m.gate_open else ''}, xruns {m.xruns}, "
        f"dropped {m.dropped_blocks}, restarts {m.stream_restarts}",
        flush=True,
    )
    if m.denoise or m.gate_mode == "vad" or m.frontend_note:
        stages = [f"denoise {m.denoise_ms_mean:.2f} ms/block"] if m.denoise else []
        if m.gate_mode == "vad":
            stages.append(f"vad {m.vad_ms_mean:.2f} ms/block{' speech' if m.vad_speaking else ''}")
        note = f" ({m.frontend_note})" if m.frontend_note else ""
        print(
            f"[voice] input: {', '.join(stages) or 'no stages'}, +{m.frontend_latency_ms:.0f} ms{note}",
            flush=True,
        )


def run_voice(args: argparse.Namespace, stop: threading.Event) -> int:
    voice = _voice_settings(args)
    if voice_file.wants_file(args):  # a recording instead of the microphone, on the same path
        return voice_file.run_file_conversion(args, voice, converter_options(voice), stop)
    metrics_path = check_json_output(args.metrics_json)
    converter = create_converter(voice.converter, **converter_options(voice))
    vmic, pulse, target = open_outputs(voice, sys.platform, make_virtual_mic)
    code = 0
    try:
        if vmic is not None:
            print(f"Virtual microphone ready: select '{target}' in your call app.", flush=True)
        engine = build_engine(voice, converter, vmic, pulse, sample_rate=args.sample_rate)
        engine.start()
        watch = ServerWatch(pulse)
        try:
            print(f"Voice live ({converter.name}, {engine.spec.backend}); Ctrl+C to stop.", flush=True)
            started = time.monotonic()
            while not stop.wait(1.0):
                metrics = engine.metrics()
                lost = watch.check(metrics.status, metrics.callbacks)
                if lost:
                    print(f"voice: {lost}", file=sys.stderr, flush=True)
                    if pulse is not None:
                        pulse.forget()
                    code = 1
                    break
                if args.stats:
                    _print_stats(metrics)
                if reader_gone():  # `--stats | head -1` has what it wanted
                    code = EXIT_CLOSED_PIPE
                    break
                if args.seconds and time.monotonic() - started >= args.seconds:
                    break
        finally:
            engine.stop()
            metrics = engine.metrics()
            failed = emit_metrics(args.metrics_json, metrics_path, metrics.to_dict())
            if failed:
                print(f"voice: {failed}", file=sys.stderr, flush=True)
                code = code or 1
            if args.stats and code == 0:
                _print_stats(metrics)
    finally:
        if vmic is not None:
            vmic.close()
    return code


def voice_command(args: argparse.Namespace) -> int:
    """Until Ctrl-C, SIGTERM (a session ending), SIGHUP (the terminal closing) or SIGQUIT: each
    stops the voice the same way, unloading the virtual microphone, and ends with 0. A closed
    stdout (``--stats | head -1``) stops it too, quietly (141)."""
    with StopOnSignals() as signals:
        try:
            return run_voice(args, signals.event)
        except (VoiceError, OutputError) as exc:
            print(f"voice: {exc}", file=sys.stderr, flush=True)
            return 2
        except BrokenPipeError:
            # the microphone is already gone (the finally blocks ran); nothing more to say
            silence_closed_outputs()
            return EXIT_CLOSED_PIPE
