"""The direct PulseAudio backend: routing by server names, clear errors, the standing-queue trimmer,
and a microphone that disappears and comes back while the engine runs (a real private server)."""

from __future__ import annotations

import numpy as np
import pytest

from mirage_desktop.config.settings import VoiceSettings
from mirage_desktop.voice.converters.passthrough import PassthroughConverter
from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.pulse_simple import PA_STREAM_RECORD, PulseSimpleStream
from mirage_desktop.voice.queue_trim import StandingQueueTrimmer
from mirage_desktop.voice.routing import build_engine, choose_backend, route_pulse
from mirage_desktop.voice.virtual_mic.pulse import PulseVirtualMic
from tests.pulse_fixture import FAKE_MIC_SINK, FAKE_MIC_SOURCE, pulse_server, wait_for

__all__ = ["pulse_server"]


# --- the standing-queue trimmer ---------------------------------------------------------------------
def test_trimmer_cuts_only_a_standing_excess_with_a_fade():
    trim = StandingQueueTrimmer(target=480, window_blocks=5, min_cut=240, fade=96)
    block = np.ones(4800, dtype=np.float32)
    for level in (3000, 2600, 2400, 2900, 2500):
        assert trim.apply(block) is block  # not before a whole window was seen
        trim.observe(level)
    out = trim.apply(block)
    assert len(out) == 4800 - (2400 - 480)
    assert out[0] == 0.0 and 0.0 < out[48] < 1.0 and out[96] == 1.0  # faded in, not stepped
    assert trim.cuts == 1 and trim.trimmed == 4800 - len(out)


def test_trimmer_leaves_a_queue_that_drains_to_the_target():
    trim = StandingQueueTrimmer(target=480, window_blocks=4, min_cut=240)
    block = np.ones(960, dtype=np.float32)
    for level in (2000, 500, 1800, 1900):  # it touched the target once: nothing is standing
        trim.observe(level)
    assert len(trim.apply(block)) == 960 and trim.cuts == 0


# --- backend choice and routing ---------------------------------------------------------------------
def test_backend_choice(pulse_server):
    mic = PulseVirtualMic()
    assert choose_backend(VoiceSettings(), mic, "linux") == "pulse"
    assert choose_backend(VoiceSettings(audio_backend="portaudio"), mic, "linux") == "portaudio"
    assert choose_backend(VoiceSettings(), None, "linux") == "portaudio"  # no server: PortAudio
    assert choose_backend(VoiceSettings(), mic, "win32") == "portaudio"
    with pytest.raises(VoiceError, match="--backend portaudio"):
        choose_backend(VoiceSettings(audio_backend="pulse"), mic, "win32")
    with pytest.raises(VoiceError, match="Unknown audio backend"):
        choose_backend(VoiceSettings(audio_backend="jack"), mic, "linux")


def test_route_pulse_uses_server_names_and_refuses_bad_ones(pulse_server):
    mic = PulseVirtualMic()
    mic.open()
    try:
        routing = route_pulse(VoiceSettings(input_device="mirage_test_mic"), mic, to_virtual_mic=True)
        assert (routing.input_device, routing.output_device, routing.backend) == (
            FAKE_MIC_SOURCE,
            "mirage_sink",
            "pulse",
        )
        with pytest.raises(VoiceError, match=r"No microphone matches 'USB Mic'.*mirage_test_mic"):
            route_pulse(VoiceSettings(input_device="USB Mic"), mic, to_virtual_mic=True)
        with pytest.raises(VoiceError, match="Mirage's own output"):
            route_pulse(VoiceSettings(input_device="mirage_mic"), mic, to_virtual_mic=True)
        with pytest.raises(VoiceError, match="No output device matches 'Headphones'"):
            route_pulse(
                VoiceSettings(input_device=FAKE_MIC_SOURCE, output_device="Headphones"),
                mic,
                to_virtual_mic=False,
            )
        to_sink = route_pulse(
            VoiceSettings(input_device=FAKE_MIC_SOURCE, output_device=FAKE_MIC_SINK), mic, False
        )
        assert to_sink.output_device == FAKE_MIC_SINK
    finally:
        mic.close()


def test_build_engine_gives_a_pulse_engine_without_portaudio(pulse_server):
    mic = PulseVirtualMic()
    mic.open()
    try:

        def no_portaudio():
            raise AssertionError("the pulse route must not load PortAudio")

        voice = VoiceSettings(input_device=FAKE_MIC_SOURCE)
        engine = build_engine(
            voice, PassthroughConverter(), mic, mic, platform="linux", sd_loader=no_portaudio
        )
        assert engine.spec.backend == "pulse"
        assert (engine.spec.input_device, engine.spec.output_device) == (FAKE_MIC_SOURCE, "mirage_sink")
        assert engine.spec.sample_rate == 48000 and engine.spec.frames_per_callback == 240
    finally:
        mic.close()


def test_a_missing_device_is_a_clear_message(pulse_server):
    with pytest.raises(VoiceError, match=r"record from 'no_such_source'.*pactl list short sources"):
        PulseSimpleStream(PA_STREAM_RECORD, "no_such_source", 48000)


# --- the microphone goes away mid-stream and comes back ---------------------------------------------
def test_unplugged_microphone_never_feeds_mirage_its_own_output(pulse_server):
    """Unplugging the mic makes PulseAudio move Mirage's input to the default source; on this server
    (as on a desktop whose only microphone was the USB one) that is "Mirage Microphone" itself. The
    engine must notice, stop recording, say why, and resume when the microphone is back."""

    def plug() -> str:
        result = pulse_server.pactl(
            "load-module", "module-null-sink", "sink_name=mirage_test_usb", "rate=48000", "channels=1"
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def our_inputs() -> str:
        return pulse_server.pactl("list", "source-outputs").stdout

    module = plug()
    mic = PulseVirtualMic()
    mic.open()
    voice = VoiceSettings(input_device="mirage_test_usb.monitor")
    engine = build_engine(voice, PassthroughConverter(), mic, mic, platform="linux")
    engine.start()
    try:
        assert wait_for(lambda: engine.stream.progress > 20, 12.0)
        assert pulse_server.pactl("info").stdout.count("Default Source: mirage_mic") == 1
        pulse_server.pactl("unload-module", module)  # the USB mic is pulled out
        assert wait_for(lambda: engine.metrics().feedback_pauses >= 1, 8.0), engine.metrics().status
        status = engine.metrics().status
        assert status.startswith("paused:") and "Mirage Microphone" in status, status
        assert wait_for(lambda: "Mirage voice input" not in our_inputs(), 3.0)  # not recording itself
        assert engine.running  # the app keeps going
        module = plug()  # ... and plugged back in
        assert wait_for(lambda: engine.metrics().status.startswith("running"), 15.0), engine.metrics().status
        before = engine.stream.progress
        assert wait_for(lambda: engine.stream.progress > before + 50, 10.0)
        assert engine.metrics().backend == "pulse"
    finally:
        engine.stop()
        mic.close()
        pulse_server.pactl("unload-module", module)
