"""The lip-sync delay line: exact delay at rest, bounded, smooth changes during sound, jumps in silence."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mirage_desktop.voice.av_delay import MAX_DELAY_MS, SyncDelay
from mirage_desktop.voice.converters.passthrough import PassthroughConverter
from mirage_desktop.voice.pipeline import BlockPipeline, PipelineConfig, process_offline

RATE = 48000
BLOCK = 480


def run(delay: SyncDelay, signal: np.ndarray, targets: dict[int, float] | None = None) -> np.ndarray:
    out = []
    for i, start in enumerate(range(0, len(signal), BLOCK)):
        if targets and i in targets:
            delay.set_target_ms(targets[i])
        out.append(delay.process(signal[start : start + BLOCK].copy()))
    return np.concatenate(out)


def clicks(n: int, at: list[int]) -> np.ndarray:
    x = np.zeros(n, np.float32)
    x[at] = 1.0
    return x


def test_off_is_the_identity():
    x = np.random.default_rng(0).standard_normal(RATE).astype(np.float32)
    assert np.array_equal(run(SyncDelay(RATE, BLOCK), x), x)


def test_a_click_in_silence_comes_out_exactly_the_target_later():
    d = SyncDelay(RATE, BLOCK)
    assert d.set_target_ms(120.0) == pytest.approx(120.0)
    out = run(d, clicks(RATE, [9600, 30000]))
    assert list(np.flatnonzero(out > 0.5)) == [9600 + 5760, 30000 + 5760]
    assert d.delay_ms == pytest.approx(120.0)


@pytest.mark.parametrize(("asked", "got"), [(500.0, MAX_DELAY_MS), (-40.0, 0.0), (float("nan"), 0.0)])
def test_the_target_is_bounded(asked, got):
    assert SyncDelay(RATE, BLOCK).set_target_ms(asked) == pytest.approx(got)


def test_during_sound_the_delay_moves_in_small_crossfaded_steps_without_a_click():
    t = np.arange(2 * RATE) / RATE
    tone = (0.4 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    d = SyncDelay(RATE, BLOCK)
    out = run(d, tone, {20: 80.0})
    # 80 ms at 5 ms per 10 ms block: 16 blocks, never a jump
    assert d.delay_ms == pytest.approx(80.0) and d.changes == 16
    steps = np.abs(np.diff(out))
    assert steps.max() < 1.5 * np.abs(np.diff(tone)).max()
    # never stretched: after the change the output is the input exactly 80 ms late
    lag = round(0.080 * RATE)
    assert np.allclose(out[RATE:], tone[RATE - lag : 2 * RATE - lag], atol=1e-6)


def test_the_pipeline_holds_the_voice_back_by_the_sync_delay():
    pipe = BlockPipeline(PassthroughConverter(), RATE, PipelineConfig(block_ms=10.0, gate_db=None))
    plain = process_offline(
        BlockPipeline(PassthroughConverter(), RATE, PipelineConfig(block_ms=10.0, gate_db=None)),
        clicks(RATE, [12000]),
    )
    pipe.set_sync_delay_ms(100.0)
    held = process_offline(pipe, clicks(RATE, [12000]))
    assert int(np.argmax(held)) - int(np.argmax(plain)) == round(0.1 * RATE)


def test_the_planner_follows_the_pictures_lead_smoothly_and_ignores_jitter():
    from mirage_desktop.gui.lip_sync import LipSyncPlanner

    plan = LipSyncPlanner()
    got = [plan.update(180.0, 70.0) for _ in range(40)]
    # settles on the lead (110 ms) without passing it, and moves in steps of at least the dead band
    assert plan.target_ms == pytest.approx(110.0, abs=10.0)
    set_values = [g for g in got if g is not None]
    assert all(b > a for a, b in itertools.pairwise(set_values))
    assert all(b - a >= 10.0 for a, b in itertools.pairwise(set_values))
    assert all(plan.update(180.0 + j, 70.0) is None for j in (-3, 4, -2, 3))  # jitter moves nothing
    # bounded, never negative (a picture faster than the voice is not waited for)
    for _ in range(60):
        plan.update(900.0, 50.0)
    assert plan.target_ms == pytest.approx(MAX_DELAY_MS)
    fast = LipSyncPlanner()
    assert all(fast.update(20.0, 70.0) is None for _ in range(10)) and fast.target_ms == 0.0


def test_the_planner_lets_go_when_the_picture_stops_or_lip_sync_is_off():
    from mirage_desktop.gui.lip_sync import LipSyncPlanner

    plan = LipSyncPlanner()
    for _ in range(30):
        plan.update(200.0, 60.0)
    assert plan.target_ms > 100
    assert plan.update(None, 60.0) == 0.0  # the camera stopped: no delay at once
    for _ in range(30):
        plan.update(200.0, 60.0)
    plan.enabled = False
    assert plan.update(200.0, 60.0) == 0.0
    assert plan.update(200.0, 60.0) is None
