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


@dataclass(frozen=True, slots=True)
class FaceRegion:
    """One face the face stage found in a frame, and whether its swapped face was pasted."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the frame's pixels
    swapped: bool


@dataclass(frozen=True, slots=True)
class FaceOutcome:
    """What the face stage did to this frame, for the privacy guard that runs right after it.

    Written once per frame by the stage; a frame without one (the stage did not run, raised, or has
    no detector) is treated as "nothing known": the guard then covers the whole frame.
    """

    faces: tuple[FaceRegion, ...] = ()

    @property
    def unswapped(self) -> tuple[FaceRegion, ...]:
        return tuple(f for f in self.faces if not f.swapped)


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
    face_outcome: FaceOutcome | None = None
    #: the privacy guard's verdict for this frame ("swapped", "covered", ...; "" = no face stage)
    privacy: str = ""

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])
