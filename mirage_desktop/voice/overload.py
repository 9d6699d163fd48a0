"""Block-size adaptation: trade a little latency for stability when the converter runs hot."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AdaptPolicy:
    raise_above: float = 0.75
    raise_after: int = 40
    lower_below: float = 0.55
    lower_after: int = 120


class BlockAdapter:
    """Doubles the block after ``raise_after`` consecutive blocks with runtime/real above ``raise_above``;
    halves it (not below the configured size) after ``lower_after`` blocks below ``lower_below``."""

    def __init__(self, base_block: int, max_block: int, policy: AdaptPolicy | None = None) -> None:
        self.base = base_block
        self.max = max_block
        self.policy = policy or AdaptPolicy()
        self._hot = 0
        self._cool = 0

    def update(self, block: int, ratio: float) -> int:
        p = self.policy
        self._hot = self._hot + 1 if ratio > p.raise_above else 0
        self._cool = self._cool + 1 if ratio < p.lower_below else 0
        if self._hot >= p.raise_after and block < self.max:
            self._hot = self._cool = 0
            return min(block * 2, self.max)
        if self._cool >= p.lower_after and block > self.base:
            self._hot = self._cool = 0
            return max(block // 2, self.base)
        return block
