"""Unit tests for the voice DSP parts: ring buffer, resampler, SOLA, gate, block adaptation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from mirage_desktop.voice.gate import NoiseGate, rms_db
from mirage_desktop.voice.overload import AdaptPolicy, BlockAdapter
from mirage_desktop.voice.resample import StreamResampler, resample
from mirage_desktop.voice.ring_buffer import RingBuffer
from mirage_desktop.voice.sola import SolaSplicer


def test_ring_buffer_wraps_around_in_order():
    ring = RingBuffer(10)
    out = np.zeros(4, dtype=np.float32)
    seen = []
    value = 0
    for _ in range(20):  # far more than the capacity: every write/read crosses the end at some point
        chunk = np.arange(value, value + 3, dtype=np.float32)
        value += 3
        assert ring.write(chunk) == 3
        got = ring.read_into(out[:3])
        assert got == 3
        seen.extend(out[:3].tolist())
    assert seen == list(range(60))
    assert ring.overflow_samples == 0 and ring.underflow_samples == 0


def test_ring_buffer_counts_overflow_and_underflow():
    ring = RingBuffer(8)
    assert ring.write(np.ones(6, dtype=np.float32)) == 6
    assert ring.write(np.full(5, 2.0, dtype=np.float32)) == 2  # only 2 fit; 3 dropped
    assert ring.overflow_samples == 3 and ring.overflow_events == 1
    out = np.full(10, 9.0, dtype=np.float32)
    assert ring.read_into(out) == 8
    assert out.tolist() == [1.0] * 6 + [2.0, 2.0, 0.0, 0.0]  # missing part is zeroed, not stale
    assert ring.underflow_samples == 2 and ring.underflow_events == 1
    ring.write(np.arange(5, dtype=np.float32))
    assert ring.skip(3) == 3 and ring.available() == 2
    small = np.zeros(2, dtype=np.float32)
    ring.read_into(small)
    assert small.tolist() == [3.0, 4.0]


@pytest.mark.parametrize(("src", "dst"), [(48000, 16000), (16000, 48000), (48000, 40000), (44100, 48000)])
def test_stream_resampler_chunks_equal_one_shot(src, dst):
    rs = StreamResampler(src, dst)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(rs.quantum * 60).astype(np.float32)
    chunked = np.concatenate([rs.process(c) for c in np.split(x, 12)])
    ref = StreamResampler(src, dst).process(x)
    assert len(chunked) == len(x) * dst // src
    np.testing.assert_allclose(chunked, ref, atol=1e-5)


def test_stream_resampler_keeps_frequency_and_level():
    src, dst = 48000, 16000
    t = np.arange(src) / src
    x = 0.5 * np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    rs = StreamResampler(src, dst)
    y = np.concatenate([rs.process(c) for c in np.split(x, 50)])
    y = y[1000:]  # skip the start-up transient
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    peak_hz = np.argmax(spectrum) * dst / len(y)
    assert abs(peak_hz - 1000) < 2
    assert abs(np.sqrt(np.mean(y**2)) - 0.5 / np.sqrt(2)) < 0.01
    assert rs.delay_s < 0.001


def test_stream_resampler_delay_is_what_it_reports():
    src, dst = 48000, 16000
    noise = np.random.default_rng(3).standard_normal(src).astype(np.float32)
    rs = StreamResampler(src, dst)
    y = np.concatenate([rs.process(c) for c in np.split(noise, 50)])
    ref = resample(noise, src, dst)  # zero-phase reference
    corr = signal.correlate(y[2000:6000], ref[2000:6000], mode="full")
    lag = int(np.argmax(corr)) - 3999
    assert lag == round(rs.delay_s * dst)


def test_stream_resampler_rejects_partial_quantum():
    rs = StreamResampler(48000, 44100)
    with pytest.raises(ValueError, match="multiple"):
        rs.process(np.zeros(rs.quantum + 1, dtype=np.float32))


def _max_jump(x: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(x))))


def test_sola_splices_shifted_sine_without_discontinuity():
    rate, freq, block, cf, search = 48000, 220.0, 960, 240, 480
    sola = SolaSplicer(cf, search)
    out = []
    rng = np.random.default_rng(0)
    for k in range(30):
        # Each chunk starts a random phase off, as a converter's blocks do: naive joins would click.
        start = k * block + rng.integers(-200, 200)
        t = (start + np.arange(sola.chunk_length(block))) / rate
        out.append(sola.splice(np.sin(2 * np.pi * freq * t).astype(np.float32), block))
    y = np.concatenate(out)
    smooth = 2 * np.pi * freq / rate  # the largest step a clean sine of this frequency takes
    assert _max_jump(y) < 1.5 * smooth
    naive = []
    for k in range(30):
        start = k * block + rng.integers(-200, 200)
        naive.append(np.sin(2 * np.pi * freq * (start + np.arange(block)) / rate))
    assert _max_jump(np.concatenate(naive)) > 5 * smooth  # proves the test can fail


def test_sola_does_not_skip_periods_of_a_steady_tone():
    # Every period of a sine is an equally good match; skipping one per block would raise the pitch.
    rate, block, cf, search = 48000, 960, 240, 480
    sola = SolaSplicer(cf, search)
    x = np.sin(2 * np.pi * 440 * np.arange(rate * 2) / rate).astype(np.float32)
    n = (len(x) - sola.chunk_length(block)) // block
    y = np.concatenate(
        [sola.splice(x[k * block : k * block + sola.chunk_length(block)], block) for k in range(n)]
    )
    np.testing.assert_allclose(y, x[: len(y)], atol=1e-4)


def test_sola_keeps_continuous_input_exact():
    sola = SolaSplicer(64, 128)
    x = np.random.default_rng(2).standard_normal(64 * 100).astype(np.float32)
    block = 320
    out = [
        sola.splice(x[k * block : k * block + sola.chunk_length(block)], block)
        for k in range((len(x) - sola.chunk_length(block)) // block)
    ]
    y = np.concatenate(out)
    np.testing.assert_allclose(y, x[: len(y)], atol=1e-5)  # offset 0, fades of identical data


def test_noise_gate_mutes_silence_and_ramps():
    gate = NoiseGate(-40.0, 48000, hold_s=0.05)
    quiet = np.full(480, 1e-4, dtype=np.float32)
    loud = np.full(480, 0.3, dtype=np.float32)
    assert np.all(gate.apply(rms_db(quiet), quiet.copy()) == 0)
    opened = gate.apply(rms_db(loud), loud.copy())
    assert opened[0] == 0 and opened[-1] == pytest.approx(0.3)  # ramps up, no step
    assert np.all(np.diff(opened) >= 0)
    assert np.allclose(gate.apply(rms_db(loud), loud.copy()), 0.3)
    for _ in range(5):  # hold: 50 ms = 5 blocks of 10 ms stay open
        assert gate.is_open
        gate.apply(rms_db(quiet), quiet.copy())
    gate.apply(rms_db(quiet), quiet.copy())
    assert not gate.is_open
    assert np.all(gate.apply(rms_db(quiet), quiet.copy()) == 0)
    off = NoiseGate(None, 48000)
    assert np.array_equal(off.apply(-120.0, quiet.copy()), quiet)


def test_block_adapter_raises_and_lowers_with_hysteresis():
    adapter = BlockAdapter(960, 7680, AdaptPolicy(raise_above=0.75, raise_after=40, lower_below=0.55))
    block = 960
    for _ in range(39):
        block = adapter.update(block, 0.9)
    assert block == 960
    block = adapter.update(block, 0.9)
    assert block == 1920
    for _ in range(119):
        block = adapter.update(block, 0.3)
    assert block == 1920
    block = adapter.update(block, 0.3)
    assert block == 960
    for _ in range(500):
        block = adapter.update(block, 0.3)
    assert block == 960  # never below the configured size
    for _ in range(1000):
        block = adapter.update(block, 2.0)
    assert block == 7680  # never above the maximum
