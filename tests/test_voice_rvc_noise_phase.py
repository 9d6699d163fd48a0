"""RVC details that decide whether Mirage's synthesizer is RVC's: the NSF sine's phase (a sample's
phase includes its own step, as RVC's SineGen has it) and the noise, which never repeats."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mirage_desktop.voice.converters.rvc.noise import IndexedNoise
from mirage_desktop.voice.converters.rvc.synth import HarmonicSource


def _rvc_sine(f0: torch.Tensor, upp: int, sr: int) -> torch.Tensor:
    """RVC's SineGen for the fundamental, written from its definition: the phase is the running sum
    of f0/sr over the upsampled samples, the current one included (its rand_ini is 0 for harmonic 0)."""
    f0_up = torch.nn.functional.interpolate(f0[:, None].double(), scale_factor=upp, mode="nearest")[:, 0]
    rad = (f0_up / sr) % 1
    return torch.sin(torch.cumsum(rad, dim=1) * 2 * math.pi) * HarmonicSource.SINE_AMP


def _source_sine(f0: torch.Tensor, upp: int, sr: int, phase0=None) -> torch.Tensor:
    src = HarmonicSource(sr)
    with torch.no_grad():  # the learned gain as identity: tanh⁻¹ of the output is the source itself
        src.l_linear.weight.fill_(1.0)
        src.l_linear.bias.zero_()
        out = src(f0, upp, phase0, torch.zeros(f0.shape[0], f0.shape[1] * upp))
    return torch.atanh(out[:, 0].double())


@pytest.mark.parametrize("sr", [32000, 40000, 48000])
def test_nsf_sine_phase_matches_rvc(sr):
    upp = sr // 100
    f0 = torch.linspace(90, 320, 50)[None].float()
    ours = _source_sine(f0, upp, sr)
    theirs = _rvc_sine(f0, upp, sr)
    err = float((ours - theirs).pow(2).mean())
    snr = 10 * math.log10(float(theirs.pow(2).mean()) / max(err, 1e-30))
    assert snr > 100, f"{snr:.1f} dB"
    # one sample late (the old phase) is tens of dB worse: the check can tell the two apart
    late = torch.roll(theirs, 1, dims=1)
    late_snr = 10 * math.log10(float(theirs.pow(2).mean()) / float((ours - late).pow(2).mean()))
    assert late_snr < 60


def test_nsf_phase0_continues_a_split_stream():
    sr, upp = 40000, 400
    f0 = (150 + 40 * torch.sin(torch.arange(40) / 5.0))[None].float()
    whole = _source_sine(f0, upp, sr)
    k = 17
    phase0 = (f0[0, :k].double() * upp / sr).sum() % 1.0  # what the converter carries between calls
    tail = _source_sine(f0[:, k:], upp, sr, phase0=phase0[None])
    assert float((whole[:, k * upp :] - tail).abs().max()) < 1e-6


def test_indexed_noise_is_addressable_and_never_repeats():
    noise = IndexedNoise(seed=7, block=48000)
    a = noise.take(12345, 12345 + 96000)
    # the same indices, asked again in other pieces (a re-synthesis), give the same values
    b = np.concatenate([noise.take(12345, 50000), noise.take(50000, 12345 + 96000)], axis=1)
    assert np.array_equal(a, b)
    assert IndexedNoise(seed=7, block=48000).take(60000, 60010).tolist() == noise.take(60000, 60010).tolist()
    # 30 s of source noise at 48 kHz: no lag of 1–12 s (the old tables wrapped at 2 s and 10 s) correlates
    long = noise.take(0, 48000 * 30)[0].astype(np.float64)
    assert abs(long.mean()) < 0.01 and abs(long.std() - 1) < 0.01
    for lag_s in (1, 2, 5, 10, 12):
        lag = lag_s * 48000
        r = np.corrcoef(long[:-lag], long[lag:])[0, 1]
        assert abs(r) < 0.01, (lag_s, r)


def test_indexed_noise_latent_rows_are_independent():
    noise = IndexedNoise(seed=1, block=100, rows=192)
    z = noise.take(0, 3000)  # 30 s of latent frames
    assert z.shape == (192, 3000) and z.dtype == np.float32
    lag = 1000  # the old latent table's period (10 s)
    r = np.corrcoef(z[:, :-lag].ravel(), z[:, lag:].ravel())[0, 1]
    assert abs(r) < 0.01
    with pytest.raises(ValueError):
        noise.take(-1, 5)
