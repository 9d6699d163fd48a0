"""The unit of work that flows from a source through the processors to the sinks."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

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


@dataclass(frozen=True, slots=True)
class FaceRegion:
    """One face the face stage found in a frame, and whether its swapped face was pasted."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the frame's pixels
    swapped: bool
    #: map mode recognised this face as someone not mapped: it stays as it is, on purpose
    bystander: bool = False


@dataclass(frozen=True, slots=True)
class FaceOutcome:
    """What the face stage did to this frame, for the privacy guard that runs right after it.

    Written once per frame by the stage; a frame without one (the stage did not run, raised, or has
    no detector) is treated as "nothing known": the guard then covers the whole frame.
    """

    faces: tuple[FaceRegion, ...] = ()

    @property
    def unswapped(self) -> tuple[FaceRegion, ...]:
        return tuple(f for f in self.faces if not f.swapped and not f.bystander)


@dataclass(slots=True)
class Frame:
    """One video frame and what the pipeline knows about it.

    ``captured_at`` is ``time.perf_counter()`` taken by the source right after the frame
    was read from the device; every latency figure is measured from it.

    A frame read from a media file also carries its presentation timestamp there: ``pts`` in units
    of ``time_base`` seconds, exactly as the file has it (a looping file adds one loop's length per
    loop), so writers keep the source's timing (variable frame rate included) and its sound in sync.
    Live sources leave both None.
    """

    image: np.ndarray  # H×W×3 uint8, BGR
    index: int
    captured_at: float
    source: str = ""
    annotations: list[Annotation] = field(default_factory=list)
    stage_ms: dict[str, float] = field(default_factory=dict)
    face_outcome: FaceOutcome | None = None
    #: the privacy guard's verdict for this frame ("swapped", "covered", ...; "" = no face stage)
    privacy: str = ""
    #: presentation timestamp in the source media, in ``time_base`` units (None: a live source)
    pts: int | None = None
    time_base: Fraction | None = None
    #: faces found ahead of processing by a pipelined detection stage (None: not looked for yet)
    faces: list[Any] | None = None

    @property
    def media_time(self) -> float | None:
        """The presentation time in seconds on the source media's timeline, or None."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])
