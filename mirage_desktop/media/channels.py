"""Mixing any channel layout down to stereo or mono, with every channel heard.

Coefficients are ITU-R BS.775's (the ones FFmpeg and Dolby decoders use): front left/right at 1, the
centre at -3 dB into both sides, surrounds (side or back) at -3 dB into their side, a back or top
centre at -6 dB into both. Two choices are deliberate:

- The LFE channel is kept at -10 dB (E-AC-3's downmix range for it) where BS.775 drops it: a
  recorder that writes speech to the 4th channel of a 6-channel file would otherwise come out
  silent, and a real LFE track is bass only, which -10 dB keeps from booming.
- The mix is not normalised (FFmpeg divides by the row sum, putting a centre-channel voice at
  -11 dB in 5.1 and -13 dB in 7.1). One channel alone never exceeds full scale with these
  coefficients; several loud channels at once can, and a memoryless soft knee above -0.9 dBFS
  takes those peaks instead of hard clipping (bending them towards -0.09 dBFS). It acts on each
  sample alone, so a chunked mix equals the whole-file mix exactly.

Channels whose position is unknown (a layout FFmpeg cannot name, "USR" channels, an unusual count
from a file without a channel map) each go to both sides at 1/sqrt(n): uncorrelated channels keep
their total power, and any one of them is heard.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_H = math.sqrt(0.5)  # -3 dB
_LFE = 10 ** (-10 / 20)  # -10 dB
_C, _S = math.cos(math.pi / 8), math.sin(math.pi / 8)  # a channel halfway between front and centre

#: channel name (FFmpeg's) → (gain into left, gain into right)
STEREO_GAINS: dict[str, tuple[float, float]] = {
    "FL": (1.0, 0.0),
    "FR": (0.0, 1.0),
    "FC": (_H, _H),
    "LFE": (_LFE, _LFE),
    "LFE2": (_LFE, _LFE),
    "BL": (_H, 0.0),
    "BR": (0.0, _H),
    "SL": (_H, 0.0),
    "SR": (0.0, _H),
    "BC": (0.5, 0.5),
    "FLC": (_C, _S),
    "FRC": (_S, _C),
    "WL": (1.0, 0.0),
    "WR": (0.0, 1.0),
    "SDL": (_H, 0.0),
    "SDR": (0.0, _H),
    "TC": (0.5, 0.5),
    "TFL": (_H, 0.0),
    "TFR": (0.0, _H),
    "TFC": (0.5, 0.5),
    "TBL": (_H, 0.0),
    "TBR": (0.0, _H),
    "TBC": (0.5, 0.5),
    "TSL": (_H, 0.0),
    "TSR": (0.0, _H),
    "BFL": (_H, 0.0),
    "BFR": (0.0, _H),
    "BFC": (0.5, 0.5),
    "DL": (1.0, 0.0),  # a stereo downmix carried as such
    "DR": (0.0, 1.0),
}

#: channel order by count for files that carry no channel map (WAV without a mask, FLAC, AIFF): the
#: WAVE_FORMAT_EXTENSIBLE / FLAC order, which FFmpeg's default layouts also follow for 5.1 and 7.1
DEFAULT_ORDER: dict[int, tuple[str, ...]] = {
    1: ("FC",),
    2: ("FL", "FR"),
    3: ("FL", "FR", "FC"),
    4: ("FL", "FR", "BL", "BR"),
    5: ("FL", "FR", "FC", "BL", "BR"),
    6: ("FL", "FR", "FC", "LFE", "BL", "BR"),
    7: ("FL", "FR", "FC", "LFE", "BC", "SL", "SR"),
    8: ("FL", "FR", "FC", "LFE", "BL", "BR", "SL", "SR"),
}

#: where the soft knee starts (-0.9 dBFS); below it samples pass unchanged
KNEE = 0.9
#: what it bends towards (-0.09 dBFS), never reached: a peak cannot flatten at full scale
CEILING = 0.99


@dataclass(frozen=True)
class Downmix:
    """A fixed matrix from the input's channels to ``out_channels``; ``identity`` passes them as they are."""

    names: tuple[str, ...]
    out_channels: int
    matrix: np.ndarray  # in_channels × out_channels
    identity: bool
    #: the matrix can take the mix past full scale (several channels into one): soft knee on
    guard: bool = False

    @property
    def in_channels(self) -> int:
        return len(self.names)

    def describe(self) -> str:
        if self.identity:
            return ""
        target = "mono" if self.out_channels == 1 else "stereo"
        return f"{self.in_channels} channels ({' '.join(self.names)}) mixed down to {target}"

    def apply(self, block: np.ndarray) -> np.ndarray:
        """float32 samples × in_channels → samples × out_channels."""
        block = np.asarray(block, dtype=np.float32)
        if block.ndim == 1:
            block = block[:, None]
        if self.identity:
            return block
        mixed = block @ self.matrix
        return soft_knee(mixed) if self.guard else mixed


def soft_knee(x: np.ndarray) -> np.ndarray:
    """Unchanged up to ``KNEE``, then bent smoothly (slope 1 at the knee) towards full scale, never past."""
    mag = np.abs(x)
    over = mag > KNEE
    if not over.any():
        return x.astype(np.float32, copy=False)
    room = CEILING - KNEE
    bent = KNEE + room * np.tanh((mag[over] - KNEE) / room)
    out = x.astype(np.float32, copy=True)
    out[over] = np.sign(x[over]) * bent
    return out


def names_for(count: int, names: Sequence[str] | None = None) -> tuple[str, ...]:
    """The channels' names: the ones given when each is known, else the default order for the count,
    else "?" for every channel (position unknown)."""
    if names is not None and len(names) == count and all(n in STEREO_GAINS for n in names):
        return tuple(names)
    if names is not None and len(names) == count and any(n in STEREO_GAINS for n in names):
        return tuple(n if n in STEREO_GAINS else "?" for n in names)
    return DEFAULT_ORDER.get(count, ("?",) * count)


def downmix_for(count: int, names: Sequence[str] | None = None, out_channels: int | None = None) -> Downmix:
    """The mix from ``count`` channels (named as FFmpeg names them, when known) to ``out_channels``
    (default: mono stays mono, anything else becomes stereo)."""
    if count < 1:
        raise ValueError("a sound with no channels")
    named = names_for(count, names)
    out = out_channels or (1 if count == 1 else 2)
    if out not in (1, 2):
        raise ValueError(f"cannot mix down to {out} channels")
    if count == out and (count == 1 or named == ("FL", "FR") or names is None):
        return Downmix(named, out, np.eye(count, dtype=np.float32), identity=True)
    unknown = 1.0 / math.sqrt(count) if count > 1 else 1.0
    stereo = np.array(
        [STEREO_GAINS.get(n, (unknown, unknown)) if count > 1 else (1.0, 1.0) for n in named],
        dtype=np.float32,
    )
    # mono is the two sides' mean: a centre voice stays at -3 dB, a left-only one at -6 dB
    matrix = stereo if out == 2 else stereo.mean(axis=1, keepdims=True)
    guard = bool(np.abs(matrix).sum(axis=0).max() > 1.0 + 1e-6)
    return Downmix(named, out, matrix, identity=False, guard=guard)
