"""SOLA splicing: join consecutively converted blocks without clicks.

Each converted chunk overlaps the previous one by ``crossfade + search`` samples. The splicer finds the
offset (within ``search``) where the new chunk best matches the tail kept from the previous one
(normalised cross-correlation), crossfades there and emits exactly one block. Because the chunks are
phase-aligned before fading, the default fade keeps amplitude constant (sin²/cos²); an equal-power
fade (sin/cos) is available for uncorrelated material but bumps aligned audio by up to 3 dB.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

FadeCurve = Literal["equal_gain", "equal_power"]


class SolaSplicer:
    def __init__(self, crossfade: int, search: int, curve: FadeCurve = "equal_gain") -> None:
        if crossfade < 1 or search < 0:
            raise ValueError("crossfade must be >= 1 and search >= 0")
        self.crossfade = crossfade
        self.search = search
        phase = (np.arange(crossfade, dtype=np.float64) + 0.5) / crossfade * (np.pi / 2)
        if curve == "equal_power":
            self._fade_in, self._fade_out = np.sin(phase), np.cos(phase)
        else:
            self._fade_in, self._fade_out = np.sin(phase) ** 2, np.cos(phase) ** 2
        self._tail: np.ndarray | None = None
        self.last_offset = 0

    def chunk_length(self, block: int) -> int:
        return block + self.crossfade + self.search

    def reset(self) -> None:
        self._tail = None

    def _best_offset(self, chunk: np.ndarray) -> int:
        assert self._tail is not None
        cf = self.crossfade
        region = chunk[: cf + self.search].astype(np.float64)
        num = np.correlate(region, self._tail, mode="valid")  # one value per offset 0..search
        energy = np.cumsum(np.concatenate([[0.0], region * region]))
        # The floor keeps near-silent candidates from winning on a tiny denominator.
        tail_energy = float(np.dot(self._tail, self._tail))
        den = np.sqrt((energy[cf:] - energy[:-cf] + 0.01 * tail_energy + 1e-6) * (tail_energy + 1e-6))
        score = num / den
        # On periodic audio several offsets match equally well (one per period). Picking another one
        # each block drops or repeats a period every block, which is heard as a pitch change and makes
        # latency wander. So ties go to the offset that continues the timeline exactly: the previous one.
        offsets = np.arange(len(score))
        score -= 0.05 * np.abs(offsets - self.last_offset) / max(1, self.search)
        return int(np.argmax(score))

    def splice(self, chunk: np.ndarray, block: int) -> np.ndarray:
        """Return ``block`` samples continuing the previous output; ``chunk`` has chunk_length(block)."""
        cf = self.crossfade
        if len(chunk) != self.chunk_length(block):
            raise ValueError(f"chunk has {len(chunk)} samples, expected {self.chunk_length(block)}")
        offset = 0 if self._tail is None else self._best_offset(chunk)
        out = np.array(chunk[offset : offset + block], dtype=np.float32)
        if self._tail is not None:
            n = min(cf, block)
            out[:n] = self._tail[:n] * self._fade_out[:n] + out[:n] * self._fade_in[:n]
        self._tail = np.array(chunk[offset + block : offset + block + cf], dtype=np.float64)
        self.last_offset = offset
        return out
