"""One-Euro filter (Casiez et al., CHI 2012) for point sets: smooth when still, quick when moving.

A fixed low-pass either jitters (high cutoff) or lags (low cutoff). The One-Euro filter raises its
cutoff with the signal's speed, so a still face gets heavy smoothing and a moving one almost none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class OneEuroParams:
    """Defaults tuned for face keypoints in pixels at 25–60 fps.

    ``min_cutoff`` (Hz) sets smoothing at rest: 0.5 Hz cuts 1.5 px of keypoint noise to about
    0.55 px. ``beta`` (per px/s) raises the cutoff with speed: a head moving 200 px/s gets
    0.5 + 0.04·200 = 8.5 Hz, and at 300 px/s the filter trails by about 3 px (a third of a
    frame's motion at 30 fps). ``d_cutoff`` (Hz) smooths the speed estimate itself.
    """

    min_cutoff: float = 0.5
    beta: float = 0.04
    d_cutoff: float = 1.0
    #: step used when two samples share a timestamp (a repeated or badly stamped frame)
    fallback_dt: float = 1.0 / 30.0


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


@dataclass(slots=True)
class OneEuroFilter:
    """Filters an array of points (..., D); each point's speed is the norm over its last axis.

    Using the point's speed (not each coordinate's) keeps the smoothing the same in every direction
    of motion, so a keypoint set does not shear when the head moves diagonally.
    """

    params: OneEuroParams = field(default_factory=OneEuroParams)
    _value: np.ndarray | None = None
    _velocity: np.ndarray | None = None
    _time: float | None = None

    def reset(self) -> None:
        self._value = self._velocity = self._time = None

    def __call__(self, value: np.ndarray, timestamp: float) -> np.ndarray:
        x = np.asarray(value, dtype=np.float64)
        if (
            self._value is None
            or self._velocity is None
            or self._value.shape != x.shape
            or self._time is None
        ):
            self._value, self._velocity, self._time = x.copy(), np.zeros_like(x), timestamp
            return x.copy()
        dt = timestamp - self._time
        if not dt > 0.0:
            dt = self.params.fallback_dt
        p = self.params
        # Low-pass the signed velocity before taking its size: noise then averages out to a small
        # speed, where the size of each noisy step would read as steady motion and stop smoothing.
        a_d = _alpha(p.d_cutoff, dt)
        velocity = a_d * (x - self._value) / dt + (1.0 - a_d) * self._velocity
        speed = np.linalg.norm(velocity, axis=-1, keepdims=True)
        a = _alpha(p.min_cutoff + p.beta * speed, dt)
        smoothed = a * x + (1.0 - a) * self._value
        self._value, self._velocity, self._time = smoothed, velocity, timestamp
        return smoothed.copy()
