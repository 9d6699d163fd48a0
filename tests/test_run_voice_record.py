"""`mirage-cli run --voice ... --output`: the recording's sound is the converted microphone, on the
picture's timeline (both placed by capture time), and the voice engine's output tap behind it.

Sync is measured, not assumed: the fake microphone's own source is recorded in this process with
every read stamped (``perf_counter`` and the server's latency), so each played click has a time on
the clock ``Frame.captured_at`` uses; the recording's t = 0 is its first frame's ``captured_at``
(``LiveAudio.clock_origin``). A click heard at file time f was in sync when f = click time − origin.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from mirage_desktop.cli import build_parser
from mirage_desktop.cli import run as run_cli
from mirage_desktop.voice.audio_io import RingIO
from mirage_desktop.voice.converters.passthrough import PassthroughConverter
from mirage_desktop.voice.converters.pitch import PitchShiftConverter
from mirage_desktop.voice.engine import EngineConfig, VoiceEngine
from mirage_desktop.voice.pipeline import PipelineConfig
from mirage_desktop.voice.pulse_simple import PA_STREAM_RECORD, PulseSimpleStream
from mirage_desktop.voice.routing import pulse_spec
from tests.pulse_fixture import FAKE_MIC_SOURCE, RATE, play, pulse_server, wait_for, write_wav

__all__ = ["pulse_server"]

FPS = 30.0
FRAME_S = 1.0 / FPS
#: clicks: 10 ms of 1 kHz under a Hann window, at uneven gaps (a lag is never taken for a gap)
CLICK_AT_S = (0.3, 0.95, 1.4, 2.25, 2.7)
CLICK_S = 0.01
#: recorded audio vs. where the click belongs on the picture's timeline. Measured here: +0.2 to
#: +1.6 ms (printed by the test; the same for every click of a run). The budget: one 5 ms I/O
#: fragment of timing uncertainty on each of the two stamped streams (the engine's and the
#: reference), one 20 ms block of SOLA/resampler alignment slack, AAC's frame alignment; < 1 frame.
SYNC_TOLERANCE_S = 0.030
SETTLE_S = 2.0


def _click(rate: int = RATE) -> np.ndarray:
    t = np.arange(int(CLICK_S * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * 1000.0 * t) * np.hanning(len(t))).astype(np.float32)


def _click_train(seconds: float, at: tuple[float, ...] = CLICK_AT_S) -> np.ndarray:
    x = np.zeros(int(seconds * RATE), np.float32)
    c = _click()
    for t in at:
        x[int(t * RATE) : int(t * RATE) + len(c)] = c
    return x


def _locate(audio: np.ndarray, count: int, rate: int = RATE) -> list[float]:
    """Onsets (s) of the ``count`` strongest clicks, in time order: matched filter, peak = centre."""
    c = _click(rate)
    score = np.abs(np.correlate(audio, c, mode="valid"))
    found: list[int] = []
    guard = int(0.2 * rate)
    work = score.copy()
    for _ in range(count):
        i = int(np.argmax(work))
        if work[i] <= 0.1 * float(np.dot(c, c)):
            break
        found.append(i)
        work[max(0, i - guard) : i + guard] = 0
    return sorted(i / rate for i in found)


class StampedSource(threading.Thread):
    """Records a PulseAudio source here with each 5 ms read stamped (perf_counter, server latency)."""

    FRAGMENT = 240

    def __init__(self, source: str, seconds: float) -> None:
        super().__init__(daemon=True, name="stamped-source")
        self.stream = PulseSimpleStream(
            PA_STREAM_RECORD, source, RATE, stream_name="test reference", fragment_s=self.FRAGMENT / RATE
        )
        self.audio = np.zeros(int(seconds * RATE), np.float32)
        self.stamps: list[tuple[int, float, float]] = []
        self.pos = 0
        self._halt = threading.Event()

    def run(self) -> None:
        n = self.FRAGMENT
        try:
            while not self._halt.is_set() and self.pos + n <= len(self.audio):
                self.stream.read(self.audio[self.pos : self.pos + n])
                now = time.perf_counter()
                self.pos += n
                self.stamps.append((self.pos, now, self.stream.latency_s()))
        finally:
            self.stream.close()

    def finish(self) -> np.ndarray:
        self._halt.set()
        self.join(3)
        return self.audio[: self.pos]

    def start_time(self) -> float:
        """perf_counter time of sample 0 (median over reads after the first 0.1 s)."""
        values = [t - lat - pos / RATE for pos, t, lat in self.stamps[20:] if np.isfinite(lat)]
        return float(np.median(values))


def _decode(path: Path) -> tuple[dict, np.ndarray, float]:
    """Stream facts, the sound as mono float32 at its own rate placed by pts, and the sound's rate."""
    info: dict = {}
    pieces: list[tuple[float, np.ndarray]] = []
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        info["video_codec"], info["audio_codec"] = v.codec_context.name, a.codec_context.name
        rate = a.codec_context.sample_rate
        frames = [float(f.pts * f.time_base) for f in c.decode(v)]
        info["frames"] = len(frames)
        info["video_start"], info["video_end"] = frames[0], frames[-1] + FRAME_S
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        for f in c.decode(a):
            data = f.to_ndarray()
            pieces.append((float(f.pts * f.time_base), data.reshape(data.shape[0], -1).mean(axis=0)))
    start = pieces[0][0]
    end = max(t + len(x) / rate for t, x in pieces)
    sound = np.zeros(round((end - start) * rate) + 1, np.float32)
    for t, x in pieces:
        i = round((t - start) * rate)
        sound[i : i + len(x)] = x[: len(sound) - i]
    info["audio_start"], info["audio_end"] = start, end
    return info, sound, start


@pytest.mark.parametrize("voice", [["--voice", "pitch", "--semitones", "0"], ["--voice", "passthrough"]])
def test_run_records_converted_microphone_in_sync_with_the_picture(
    pulse_server, tmp_path, monkeypatch, voice
):
    out = tmp_path / "live.mp4"
    audio_holder: list = []
    real = run_cli.recording_sound

    def keep(*a, **kw):
        audio_holder.append(real(*a, **kw))
        return audio_holder[-1]

    monkeypatch.setattr(run_cli, "recording_sound", keep)
    train = _click_train(3.2)
    wav = write_wav(tmp_path / "clicks.wav", train)
    played: dict = {}

    def player() -> None:
        # Once the recording has its first frame and the voice reaches it, and the sound server
        # has settled (an idle null sink's monitor starts a second or two late, and reports ~270 ms
        # of input latency for about a second before it drops to its steady figure), the fake mic
        # is recorded with stamps (only now: a stream opened before the virtual microphone loads
        # is moved onto it by the server) and the clicks played into it.
        if wait_for(lambda: audio_holder and audio_holder[0].packets > 0, 20.0):
            time.sleep(SETTLE_S)
            played["reference"] = StampedSource(FAKE_MIC_SOURCE, 30.0)
            played["reference"].start()
            time.sleep(0.4)
            played["proc"] = play(pulse_server, wav)

    threading.Thread(target=player, daemon=True).start()
    argv = ["run", "--source", "test", "--seconds", "8", "--output", str(out), "--no-virtual-camera"]
    argv += ["--no-overlay", "--width", "320", "--height", "180", "--fps", f"{FPS:g}"]
    args = build_parser().parse_args(
        [*argv, "--mic", FAKE_MIC_SOURCE, "--voice", "pitch", "--semitones", "0"]
    )
    try:
        code = args.func(args)
    finally:
        if "proc" in played:
            played["proc"].wait(10)
    assert code == 0
    assert "proc" in played, "the recording never got the voice"
    reference = played["reference"]
    ref = reference.finish()
    assert out.is_file() and not [p for p in tmp_path.iterdir() if ".partial" in p.name]
    origin = audio_holder[0].clock_origin
    info, sound, sound_start = _decode(out)
    assert info["video_codec"] == "h264" and info["audio_codec"] == "aac", info
    # both tracks cover the same span, within one frame
    assert abs(info["audio_start"] - info["video_start"]) <= FRAME_S, info
    assert abs(info["audio_end"] - info["video_end"]) <= FRAME_S, info

    ref_clicks = [reference.start_time() + t for t in _locate(ref, len(CLICK_AT_S))]
    assert len(ref_clicks) == len(CLICK_AT_S), "the reference did not hear every click"
    got = [sound_start + t for t in _locate(sound, len(CLICK_AT_S))]
    assert len(got) == len(CLICK_AT_S), f"the recording holds {len(got)} of {len(CLICK_AT_S)} clicks"
    # correlation: the recorded clicks are the played ones (shape), not just loud moments
    c = _click()
    for t in got:
        i = round((t - sound_start) * RATE)
        seg = sound[i : i + len(c)]
        assert np.dot(seg, c) / np.sqrt(np.dot(seg, seg) * np.dot(c, c) + 1e-12) > 0.8
    offsets = [g - (r - origin) for g, r in zip(got, ref_clicks, strict=True)]
    report = ", ".join(f"{o * 1000:+.1f}" for o in offsets)
    print(f"{voice[1]}: recorded audio minus picture timeline, ms: {report}")
    assert max(abs(o) for o in offsets) <= SYNC_TOLERANCE_S, f"offsets ms: {report}"


# --- refused before anything is recorded -----------------------------------------------------------


def _cli(tmp_path: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mirage_desktop.cli", "run", "--source", "test", "--seconds", "2"]
    cmd += ["--no-virtual-camera", "--output", str(tmp_path / "out.mp4"), *extra]
    return subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=60)


def _no_file_left(tmp_path: Path) -> None:
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith("out") or "partial" in p.name]
    assert left == [], left


def test_voice_without_a_sound_server_exits_2_and_leaves_no_file(tmp_path):
    result = _cli(tmp_path, "--voice", "pitch", env={"PULSE_SERVER": f"unix:{tmp_path}/nothing-here"})
    assert result.returncode == 2, result.stderr
    assert "PulseAudio is not running" in result.stderr
    assert "Traceback" not in result.stderr
    _no_file_left(tmp_path)


def test_voice_with_a_missing_microphone_exits_2_and_leaves_no_file(pulse_server, tmp_path):
    result = _cli(tmp_path, "--voice", "passthrough", "--mic", "Nonexistent USB Mic")
    assert result.returncode == 2, result.stderr
    assert "No microphone matches 'Nonexistent USB Mic'" in result.stderr
    assert "Traceback" not in result.stderr
    _no_file_left(tmp_path)
    assert "mirage_sink" not in pulse_server.pactl("list", "short", "modules").stdout  # mic unloaded


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--voice", "pitch", "--semitones", "99"], "out of range"),
        (["--voice", "pitch", "--semitones", "nan"], "not a finite number"),
        (["--semitones", "3"], "--semitones only apply with --voice"),
        (["--voice", "chipmunk"], "invalid choice"),
    ],
)
def test_bad_voice_arguments_exit_2_before_anything_opens(tmp_path, capsys, extra, message):
    argv = ["run", "--source", "test", "--seconds", "2", "--no-virtual-camera"]
    try:  # (not cli.main: it would point logging at this test's captured stderr for good)
        args = build_parser().parse_args([*argv, "--output", str(tmp_path / "out.mp4"), *extra])
        code = args.func(args)
    except SystemExit as exc:  # argparse's own refusal
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
    _no_file_left(tmp_path)


# --- the output tap, against a simulated microphone with exact capture times -------------------------


class SimulatedMic(RingIO):
    """Delivers ``signal`` in 5 ms fragments, each ``latency`` s after its last sample was captured
    (sample k is captured at ``t0 + k / rate``), and consumes the playback ring at the same pace.
    Its reported input latency grows between deliveries, as a sound server's does."""

    FRAGMENT = 240

    def __init__(self, capture, playback, signal: np.ndarray, latency: float = 0.02) -> None:
        super().__init__(capture, playback)
        self.signal = signal
        self.latency = latency
        self.t0 = 0.0
        self._last = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.played: list[np.ndarray] = []

    def open(self) -> None:
        self._stop.clear()
        self.t0 = time.perf_counter() + 0.05
        self._last = self.t0
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        n, pos = self.FRAGMENT, 0
        out = np.zeros(n, np.float32)
        while not self._stop.is_set():
            due = self.t0 + (pos + n) / RATE + self.latency
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            chunk = np.zeros(n, np.float32)
            part = self.signal[pos : pos + n]
            chunk[: len(part)] = part
            self._last = time.perf_counter()
            self.callbacks += 1
            self._capture(chunk)
            self._play(out, n)
            self.played.append(out.copy())
            pos += n

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self._thread = None

    @property
    def is_open(self) -> bool:
        return self._thread is not None

    @property
    def latency_s(self) -> tuple[float, float]:
        return self.latency + max(0.0, time.perf_counter() - self._last), 0.0

    def capture_time(self, sample: int) -> float:
        return self.t0 + sample / RATE


def _tapped_engine(converter, signal: np.ndarray) -> tuple[VoiceEngine, SimulatedMic]:
    engine = VoiceEngine(
        converter, pulse_spec(None, None, RATE), EngineConfig(pipeline=PipelineConfig(gate_db=None))
    )
    mic = SimulatedMic(engine._capture, engine._playback, signal)
    engine.stream = mic  # the engine reads its timing from the stream as from a real one
    return engine, mic


@pytest.mark.parametrize("sync_ms", [0.0, 200.0])
@pytest.mark.parametrize("converter", [PassthroughConverter, lambda: PitchShiftConverter(semitones=0)])
def test_output_tap_stamps_blocks_with_their_capture_time(converter, sync_ms):
    clicks = (0.4, 0.9, 1.55)
    engine, mic = _tapped_engine(converter(), _click_train(2.2, clicks))
    engine.set_sync_delay_ms(sync_ms)  # the tap is before the lip-sync delay: stamps must not move
    calls: list[tuple[np.ndarray, float, float]] = []
    engine.add_output_tap(lambda block, at: calls.append((block.copy(), at, time.perf_counter())))
    engine.start()
    try:
        time.sleep(2.4)
    finally:
        engine.stop()
    assert len(calls) > 50
    stamps = np.array([at for _, at, _ in calls])
    assert np.all(np.diff(stamps) > 0), "captured_at must increase"
    assert all(at < called for _, at, called in calls), "a block cannot be captured after it is tapped"
    assert all(b.dtype == np.float32 and b.ndim == 1 for b, _, _ in calls)
    # the voice laid out by the stamps, starting at the first block's stamp
    origin = stamps[0]
    span = int((stamps[-1] - origin) * RATE) + len(calls[-1][0]) + 1
    laid = np.zeros(span, np.float32)
    for block, at, _ in calls:
        i = round((at - origin) * RATE)
        laid[i : i + len(block)] = block[: span - i]
    found = [origin + t for t in _locate(laid, len(clicks))]
    assert len(found) == len(clicks)
    errors = [f - mic.capture_time(round(c * RATE)) for f, c in zip(found, clicks, strict=True)]
    print("tap stamp errors ms:", [round(e * 1000, 2) for e in errors])
    assert max(abs(e) for e in errors) < 0.004, [round(e * 1000, 2) for e in errors]
    # ...while what goes to the microphone is held back by the delay
    if sync_ms:
        played = np.concatenate(mic.played)
        heard = _locate(played, len(clicks))
        first = mic.t0 + heard[0] - mic.latency  # played sample k left at about t0 + k/rate + latency
        assert first - found[0] > sync_ms / 1000 * 0.8


def test_a_failing_output_tap_is_dropped_and_the_engine_goes_on(caplog):
    engine, mic = _tapped_engine(PassthroughConverter(), _click_train(2.0, (0.3, 1.2)))
    good: list[float] = []
    bad_calls: list[int] = []

    def bad(block, at):
        bad_calls.append(1)
        raise RuntimeError("recorder exploded")

    def slow_but_fine(block, at):
        good.append(at)

    engine.add_output_tap(bad)
    engine.add_output_tap(slow_but_fine)
    engine.add_output_tap(slow_but_fine)  # twice: still one tap
    with caplog.at_level(logging.ERROR, logger="mirage_desktop.voice.engine"):
        engine.start()
        try:
            assert wait_for(lambda: len(good) > 20, 5.0)
            blocks_before = engine.metrics().blocks
            time.sleep(0.5)
            m = engine.metrics()
        finally:
            engine.stop()
    assert len(bad_calls) == 1 and engine.output_taps == (slow_but_fine,)
    assert len([r for r in caplog.records if "output tap" in r.getMessage()]) == 1
    assert m.blocks > blocks_before + 10 and "error" not in m.status
    assert len(good) == len(set(good))  # one call per block
    assert sum(np.count_nonzero(np.abs(p) > 0.05) for p in mic.played) > 0  # the microphone still hears it
    engine.remove_output_tap(slow_but_fine)
    engine.remove_output_tap(slow_but_fine)  # unknown now: ignored
    assert engine.output_taps == ()
