"""RNNoise noise suppression (voice/denoise.py) with the real library from the pyrnnoise wheel.

Measured here on jfk.flac + noise at -35 dBFS (10 ms blocks): the noise between phrases drops from
-34 dBFS to -51 (white) / -58 (pink); loud speech frames lose a median 0.3 dB. Its delay is exactly
960 samples (20 ms) at 48 kHz.
"""

from __future__ import annotations

import _ctypes
import sys
import threading
import time

import numpy as np
import pytest

from mirage_desktop.voice.converters import create_converter
from mirage_desktop.voice.denoise import LIB_ENV, RNNOISE_DELAY, Denoiser, RNNoise, StageUnavailable
from mirage_desktop.voice.frontend import InputFrontEnd
from mirage_desktop.voice.pipeline import BlockPipeline, PipelineConfig, process_offline
from tests.frontend_audio import FRAME, RATE, db, frame_db, jfk, max_step, pink, run_blocks, white


@pytest.fixture(scope="module")
def speech(testdata):
    return jfk(testdata)


def _aligned(stage: Denoiser, noisy: np.ndarray, block: int = FRAME):
    y = run_blocks(stage, noisy, block)
    lat = stage.latency_samples
    return y[lat:], lat


@pytest.mark.parametrize(("noise", "min_drop_db"), [(white, 12.0), (pink, 15.0)])
def test_rnnoise_lowers_the_noise_floor_and_keeps_speech(speech, noise, min_drop_db):
    x = speech
    noisy = x + noise(len(x), -35.0, seed=7)
    y, _ = _aligned(Denoiser(RATE), noisy)
    n = len(y) // FRAME * FRAME
    clean_db = frame_db(x[:n])
    pauses = np.repeat(clean_db < -37.0, FRAME)  # between phrases: only jfk's hiss + the added noise
    loud = clean_db > -20.0
    assert pauses.sum() > RATE  # > 1 s of pauses to measure on
    floor_in, floor_out = db(noisy[:n][pauses]), db(y[:n][pauses])
    drop = floor_in - floor_out
    print(f"{noise.__name__}: noise floor {floor_in:.1f} -> {floor_out:.1f} dBFS ({drop:.1f} dB lower)")
    assert drop >= min_drop_db
    change = frame_db(y[:n])[loud] - clean_db[loud]
    print(
        f"loud speech frames: median {np.median(change):+.2f} dB, "
        f"10th percentile {np.percentile(change, 10):+.2f} dB"
    )
    assert np.median(change) > -1.5  # speech energy kept
    assert np.percentile(change, 10) > -4.0


@pytest.mark.parametrize(
    ("rate", "block"), [(48000, 480), (48000, 960), (48000, 500), (44100, 441), (16000, 160)]
)
def test_reported_latency_is_the_real_delay(speech, rate, block):
    from mirage_desktop.voice.resample import resample

    x = resample(speech[: 4 * RATE], RATE, rate)
    d = Denoiser(rate)
    y = run_blocks(d, x, block)
    n = len(y)
    lat = d.latency_samples
    # the output is the input delayed by exactly `lat`: that shift fits far better than its neighbours
    err = {s: db(y[s:n] - x[: n - s]) - db(x[: n - s]) for s in range(lat - 6, lat + 7)}
    assert min(err, key=err.get) == lat, err
    assert err[lat] < -10.0
    if rate == RATE and block % FRAME == 0:
        assert lat == RNNOISE_DELAY  # whole frames: only RNNoise's own 20 ms
    assert len(y) == len(x) // block * block
    assert d.late_pads == 0


def test_block_length_change_mid_stream_keeps_lengths_and_counts_the_pad():
    d = Denoiser(RATE)
    x = white(RATE, -30.0)
    out = [d.process(x[:480]), d.process(x[480:960]), d.process(x[960:2400]), d.process(x[2400:2410])]
    assert [len(o) for o in out] == [480, 480, 1440, 10]
    assert d.latency_samples >= RNNOISE_DELAY
    assert np.all(np.isfinite(np.concatenate(out)))


def test_missing_library_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv(LIB_ENV, str(tmp_path / "nope" / "librnnoise.so"))
    with pytest.raises(StageUnavailable, match="does not exist"):
        Denoiser(RATE)


def test_wrong_library_is_refused_clearly(monkeypatch, tmp_path):
    fake = tmp_path / "librnnoise.so"
    fake.write_bytes(b"not a shared library")
    with pytest.raises(StageUnavailable, match="not a usable RNNoise library"):
        RNNoise(fake)
    # a real shared library without RNNoise's functions (Python's own _ctypes extension)
    monkeypatch.setenv(LIB_ENV, _ctypes.__file__)
    with pytest.raises(StageUnavailable, match="not a usable RNNoise library"):
        Denoiser(RATE)


def test_voice_goes_on_without_the_stage_when_rnnoise_is_missing(monkeypatch, tmp_path, speech):
    monkeypatch.setenv(LIB_ENV, str(tmp_path / "missing.so"))
    x = speech[: 2 * RATE]
    with_stage = BlockPipeline(create_converter("passthrough"), RATE, PipelineConfig(denoise=True))
    assert "does not exist" in with_stage.frontend.notes()
    assert not with_stage.frontend.denoiser.engaged
    plain = BlockPipeline(create_converter("passthrough"), RATE, PipelineConfig())
    np.testing.assert_array_equal(process_offline(with_stage, x), process_offline(plain, x))
    assert with_stage.algorithmic_latency_s() == plain.algorithmic_latency_s()
    assert with_stage.set_denoise(True)  # asking again says why, and still does not raise


class _Exploding:
    name = "boom"
    latency_samples = 0

    def __init__(self) -> None:
        self.calls = 0

    def process(self, block):
        self.calls += 1
        if self.calls > 3:
            raise RuntimeError("library fault")
        return block

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_stage_that_fails_while_streaming_is_switched_off_and_audio_passes():
    front = InputFrontEnd(RATE, denoise=True, denoise_factory=_Exploding)
    x = white(RATE // 2, -20.0)
    out = run_blocks(front, x)
    np.testing.assert_array_equal(out, x[: len(out)])
    assert "library fault" in front.notes()
    assert not front.denoiser.engaged


def _toggled(front: InputFrontEnd, x: np.ndarray, toggles: dict[int, bool]) -> np.ndarray:
    out = []
    for k, i in enumerate(range(0, len(x) // FRAME * FRAME, FRAME)):
        if k in toggles:
            front.set_denoise(toggles[k])
        out.append(front.process(x[i : i + FRAME]))
    return np.concatenate(out)


def test_switching_on_and_off_while_speaking_does_not_glitch(speech):
    x = speech[: 4 * RATE]
    loud = np.flatnonzero(frame_db(x) > -22.0)
    # switch on, off, on, off, each time in the middle of a word (10 ms blocks)
    points = [int(k) for k in loud[np.linspace(len(loud) // 8, len(loud) - 20, 4).astype(int)]]
    assert np.all(np.diff(points) > 20)
    front = InputFrontEnd(RATE)
    y = _toggled(front, x, dict(zip(points, (True, False, True, False), strict=True)))
    assert np.all(np.isfinite(y)) and len(y) == len(x)
    # no step larger than the speech itself ever makes (a click would be a jump far beyond that)
    assert max_step(y) <= 1.05 * max_step(x)
    # no gap: every 10 ms of the output around a switch still carries the word
    for k in points:
        around = frame_db(y[(k - 3) * FRAME : (k + 6) * FRAME])
        source = frame_db(x[(k - 3) * FRAME : (k + 6) * FRAME])
        assert np.all(around > source - 12.0), (k, around - source)
    assert not front.denoiser.engaged
    assert front.latency_samples == 0  # off again: no delay left behind


def test_switching_from_another_thread_while_streaming(speech):
    """The GUI switches from its own thread while the scheduler streams: no exception, no NaN, and the
    stage really engages and disengages."""
    x = speech[: 3 * RATE] + white(3 * RATE, -40.0)
    front = InputFrontEnd(RATE)
    engaged, stop = [], threading.Event()

    def flip() -> None:
        on = True
        while not stop.is_set():
            front.set_denoise(on)
            on = not on
            stop.wait(0.03)

    t = threading.Thread(target=flip)
    t.start()
    try:
        out = []
        for i in range(0, len(x), FRAME):
            out.append(front.process(x[i : i + FRAME]))
            engaged.append(front.denoiser.engaged)
            time.sleep(0.002)  # paced like a stream (faster than real time), so the flips land mid-way
    finally:
        stop.set()
        t.join()
    y = np.concatenate(out)
    assert np.all(np.isfinite(y))
    assert max_step(y) <= 1.05 * max_step(x)
    assert any(engaged) and not all(engaged)


def test_on_from_the_start_it_counts_its_delay_before_the_first_block():
    """Offline users (media/voice_hook.py) compensate the pipeline's delay as soon as it is built."""
    plain = BlockPipeline(create_converter("passthrough"), RATE, PipelineConfig(gate_db=None))
    with_stage = BlockPipeline(
        create_converter("passthrough"), RATE, PipelineConfig(denoise=True, gate_db=None)
    )
    assert with_stage.frontend.denoiser.engaged
    extra = with_stage.algorithmic_latency_s() - plain.algorithmic_latency_s()
    assert extra == pytest.approx(RNNOISE_DELAY / RATE)
    # and the first block already goes through RNNoise (no warm-up, no crossfade at stream start)
    x = white(RATE // 10, -20.0, seed=3)
    y = process_offline(with_stage, x)
    assert db(y[: RNNOISE_DELAY // 2]) < -100.0  # RNNoise's own delay: silence first


def test_cli_flags_reach_the_pipeline_config():
    from mirage_desktop.cli import build_parser
    from mirage_desktop.cli.voice import _voice_settings
    from mirage_desktop.voice.routing import engine_config

    parser = build_parser()
    voice = _voice_settings(parser.parse_args(["voice", "--denoise", "--gate-mode", "vad"]))
    cfg = engine_config(voice).pipeline
    assert (cfg.denoise, cfg.gate_mode, cfg.gate_db is not None) == (True, "vad", True)
    voice = _voice_settings(parser.parse_args(["voice", "--no-denoise", "--gate-mode", "level", "--no-gate"]))
    cfg = engine_config(voice).pipeline
    assert (cfg.denoise, cfg.gate_mode, cfg.gate_db) == (False, "level", None)
    with pytest.raises(SystemExit):
        parser.parse_args(["voice", "--gate-mode", "loud"])


def test_a_frozen_app_finds_its_bundled_copies(monkeypatch, tmp_path):
    """mirage.spec copies the two model files into the bundle; the packages are not there."""
    from mirage_desktop.voice import denoise, vad

    lib = tmp_path / "pyrnnoise" / denoise._library_name()
    onnx_file = tmp_path / "silero_vad" / "data" / vad.MODEL_FILE
    for path in (lib, onnx_file):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.delenv(LIB_ENV, raising=False)
    monkeypatch.delenv(vad.MODEL_ENV, raising=False)
    assert denoise.find_library() == lib
    assert vad.find_model() == onnx_file


def test_pins_in_pyproject_match_install_script_and_this_environment():
    """Both wheels are installed with --no-deps by scripts/install.sh (only their model files are
    used); pyproject.toml's voice-models extra records the measured versions."""
    import re
    from importlib.metadata import version
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    root = Path(__file__).resolve().parents[1]
    pins = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = dict(p.split("==") for p in pins["voice-models"])
    assert set(pins) == {"pyrnnoise", "silero-vad"}
    script = (root / "scripts" / "install.sh").read_text()
    for name, pinned in pins.items():
        assert re.search(rf"install --no-deps[^\n]*\b{re.escape(name)}=={re.escape(pinned)}\b", script), name
        assert version(name) == pinned
