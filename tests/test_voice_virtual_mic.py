"""Virtual microphone lifecycle against a real (private) PulseAudio; clear errors when things are missing."""

from __future__ import annotations

import argparse
import json
import os
import subprocess

import pytest
import sounddevice as sd

from mirage_desktop.cli import voice as voice_cli
from mirage_desktop.voice.audio_io import (
    StreamSpec,
    check_sample_rate,
    reinitialize_portaudio,
    resolve_device,
)
from mirage_desktop.voice.devices import describe_audio
from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.virtual_mic import macos, probe_virtual_mic, windows
from mirage_desktop.voice.virtual_mic.pulse import PulseVirtualMic
from tests.pulse_fixture import FAKE_MIC_SOURCE, pulse_server

__all__ = ["pulse_server"]


def _modules(server) -> str:
    return server.pactl("list", "short", "modules").stdout


def test_virtual_mic_is_created_named_and_removed(pulse_server):
    mic = PulseVirtualMic()
    mic.open()
    try:
        sources = pulse_server.pactl("list", "sources").stdout
        assert "Description: Mirage Microphone" in sources
        assert "mirage_mic" in pulse_server.pactl("list", "short", "sources").stdout
        assert len(mic.loaded) == 2
    finally:
        mic.close()
    assert "mirage_sink" not in _modules(pulse_server)
    assert "mirage_mic" not in _modules(pulse_server)


def test_leftovers_from_a_crashed_run_are_cleaned_on_next_start(pulse_server):
    # A real crashed process: it creates the mic and is killed before it can unload anything.
    code = "from mirage_desktop.voice.virtual_mic.pulse import PulseVirtualMic; PulseVirtualMic().open()"
    subprocess.run([os.sys.executable, "-c", code], check=True, env={**os.environ, **pulse_server.env})
    assert "sink_name=mirage_sink" in _modules(pulse_server)
    mic = PulseVirtualMic()
    status = mic.open()
    try:
        assert len(status.details["removed_leftover_modules"]) == 2
        assert _modules(pulse_server).count("sink_name=mirage_sink") == 1
    finally:
        mic.close()
    assert "mirage" not in _modules(pulse_server).replace("mirage_test_mic", "")


def test_a_live_owner_is_not_unloaded(pulse_server):
    first = PulseVirtualMic()
    first.open()
    try:
        second = PulseVirtualMic(pid=first.pid + 1)  # another process; ours is alive
        with pytest.raises(VoiceError, match="Another Mirage"):
            second.open()
        assert second.loaded == []
    finally:
        first.close()


def test_pulse_not_running_gives_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/nothing-here")
    with pytest.raises(VoiceError, match="PulseAudio is not running"):
        PulseVirtualMic().open()
    status = PulseVirtualMic().probe()
    assert not status.available and "pulseaudio --start" in status.message


def test_no_virtual_mic_driver_messages_say_what_to_install(pulse_server):
    reinitialize_portaudio(sd)
    win = windows.probe(sd)
    assert not win.available and "VB-Audio Virtual Cable" in win.message
    mac = macos.probe(sd)
    assert not mac.available and "BlackHole" in mac.message
    assert probe_virtual_mic(sd, "win32").message == win.message


def test_missing_microphone_and_refused_rate_are_clear(pulse_server):
    reinitialize_portaudio(sd, {"PULSE_SOURCE": FAKE_MIC_SOURCE})
    with pytest.raises(VoiceError, match="No microphone matches 'Nonexistent USB Mic'"):
        resolve_device(sd, "Nonexistent USB Mic", "input")
    index = resolve_device(sd, "pulse", "input")
    with pytest.raises(VoiceError, match="refused 1 Hz"):
        check_sample_rate(sd, index, None, 1)


def test_describe_audio_reports_devices_and_virtual_mic(pulse_server):
    reinitialize_portaudio(sd)
    report = describe_audio(sd, "linux")
    data = report.to_dict()
    json.dumps(data)
    assert any(d["name"] == "pulse" for d in data["inputs"])
    assert FAKE_MIC_SOURCE in data["pulse_sources"]
    assert data["voice_backend"] == "pulse" and "libpulse-simple" in data["voice_backend_note"]
    assert data["virtual_mic"]["available"] and data["virtual_mic"]["visible_name"] == "Mirage Microphone"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mirage-cli")
    voice_cli.register(parser.add_subparsers())
    return parser


@pytest.mark.parametrize("backend", ["auto", "portaudio"])
def test_cli_voice_runs_live_and_cleans_up(pulse_server, tmp_path, capsys, backend):
    out = tmp_path / "metrics.json"
    args = _parser().parse_args(
        [
            "voice",
            "--backend",
            backend,
            "--input",
            FAKE_MIC_SOURCE,
            "--converter",
            "pitch",
            "--semitones",
            "4",
            "--seconds",
            "5",
            "--metrics-json",
            str(out),
            "--monitor",
        ]
    )
    assert args.func(args) == 0
    metrics = json.loads(out.read_text())
    assert metrics["converter"] == "pitch" and metrics["blocks"] > 50
    assert metrics["backend"] == {"auto": "pulse", "portaudio": "portaudio"}[backend]
    assert "Mirage Microphone" in capsys.readouterr().out
    assert "mirage" not in _modules(pulse_server).replace("mirage_test_mic", "")  # mic + monitor unloaded


def test_cli_bad_input_is_a_message_not_a_crash(pulse_server, capsys):
    args = _parser().parse_args(["voice", "--input", "Nonexistent USB Mic", "--seconds", "1"])
    assert args.func(args) == 2
    assert "No microphone matches" in capsys.readouterr().err
    args = _parser().parse_args(["voice", "--input", "mirage_mic", "--seconds", "1"])
    assert args.func(args) == 2
    assert "Mirage's own output" in capsys.readouterr().err
    assert "mirage_sink" not in _modules(pulse_server)


def test_unplugged_microphone_mid_stream_keeps_running(pulse_server):
    from mirage_desktop.voice.converters.passthrough import PassthroughConverter
    from mirage_desktop.voice.engine import EngineConfig, VoiceEngine
    from tests.pulse_fixture import wait_for

    extra = pulse_server.pactl("load-module", "module-null-sink", "sink_name=mirage_test_usb", "rate=48000")
    module = extra.stdout.strip()
    mic = PulseVirtualMic()
    mic.open()
    try:
        reinitialize_portaudio(sd, {"PULSE_SOURCE": "mirage_test_usb.monitor", **mic.output_env()})
        spec = StreamSpec(resolve_device(sd, "pulse", "input"), resolve_device(sd, "pulse", "output"))
        engine = VoiceEngine(PassthroughConverter(), spec, EngineConfig(), sd)
        engine.start()
        try:
            assert wait_for(lambda: engine.stream.callbacks > 20, 12.0)
            pulse_server.pactl("unload-module", module)  # the "USB mic" disappears
            before = engine.stream.callbacks
            assert wait_for(
                lambda: engine.stream.callbacks > before + 50 or engine.metrics().stream_restarts, 8
            )
            assert engine.running
            m = engine.metrics()
            assert isinstance(m.to_dict()["status"], str)
        finally:
            engine.stop()
    finally:
        mic.close()
