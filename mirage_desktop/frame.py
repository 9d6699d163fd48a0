"""The unit of work that flows from a source through the processors to the sinks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class Annotation:
    """Something a processor found in a frame, for the debug overlay to draw.

    Coordinates are in the frame's own pixel space.
    """

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    label: str = ""
    points: np.ndarray | None = None  # N×2 landmarks, optional
    color: tuple[int, int, int] = (0, 220, 0)  # BGR


@dataclass(slots=True)
class Frame:
    """One video frame and what the pipeline knows about it.

    ``captured_at`` is ``time.perf_counter()`` taken by the source right after the frame
    was read from the device; every latency figure is measured from it.
    """

    image: np.ndarray  # H×W×3 uint8, BGR
    index: int
    captured_at: float
    source: str = ""
    annotations: list[Annotation] = field(default_factory=list)
    stage_ms: dict[str, float] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])
