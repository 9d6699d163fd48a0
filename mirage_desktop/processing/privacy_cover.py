"""Fail closed: once the user has chosen a face to wear, their real face never goes out by accident.

The face stage can miss a face for many reasons (models missing, the processor failed to start or
raised, the detector missed the face on this frame, the tracker lost it, the swapper returned
nothing, the face stage not started yet). In every such case the raw camera frame used to reach the
call. The :class:`PrivacyGuard` runs right after the face stage, owned by the chain (so the chain can
never switch it off the way it switches off a failing processor), and on every frame where a face is
chosen:

* covers each detected face that was not swapped (a coarse pixelation of its expanded box);
* when no face is detected, keeps covering the last known face boxes for ``grace_s`` seconds of
  capture time (a detector miss or a lost track lasts a few frames; the face is still there; with
  no face found at all the whole frame is pixelated by default, as the face may have moved); at
  start-up, or coming back from idle or a failure, no position is known yet, so the whole frame is
  pixelated until the first face is found (or the grace ends: then nobody is in view);
* when the face stage has no result for this frame at all (failed, not started, raised), covers the
  **whole frame** with a label: there is no way to know where the face is;
* if covering itself fails, the frame is replaced by a blank one: never the raw picture.

With the cover switched off by the user (``FaceSettings.privacy_cover``) nothing is covered and the
counters say ``real_face_exposed`` so the window can show it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from mirage_desktop.frame import Frame

log = logging.getLogger(__name__)

FULL_COVER_LABEL = "Face swap unavailable — camera covered"

#: nothing to protect: no face chosen, or the face stage is switched off by the user
STATE_IDLE = "idle"
#: every face found was swapped
STATE_SWAPPED = "swapped"
#: some face region, or the whole frame, was covered on this frame
STATE_COVERED = "covered"
#: the cover is off and a face that should have been swapped went out as it is
STATE_EXPOSED = "exposed"
#: a face is chosen, the stage works, and no face is in view (nor remembered within the grace)
STATE_NO_FACE = "no_face"

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class PrivacyPolicy:
    """How the guard covers. Frozen: a change (the user's switch) replaces the whole policy."""

    #: FaceSettings.privacy_cover; off = the user accepts that their real face may be sent
    enabled: bool = True
    #: keep covering a face this long (capture-clock seconds) after the detector last saw it
    grace_s: float = 1.0
    #: a face box grows by this share of its size on every side (hair line, chin, ears)
    margin: float = 0.35
    #: a remembered face may have moved since it was seen: its box grows more
    grace_margin: float = 0.6
    #: while *no* face is detected within the grace: "frame" pixelates the whole frame (measured:
    #: no leak even across scene cuts and fast moves), "regions" only the last known face boxes
    #: (less of the picture lost, but a face that moved far or a cut leaks; see bench_privacy)
    lost_cover: str = "frame"
    #: blocks across the longer side of a covered face region (measured: nothing recognisable left)
    cells: int = 5
    #: blocks across the longer side of a fully covered frame
    full_cells: int = 12
    label: str = FULL_COVER_LABEL

    def __post_init__(self) -> None:
        if not (math.isfinite(self.grace_s) and self.grace_s >= 0):
            raise ValueError(f"grace_s must be a finite number of seconds >= 0, got {self.grace_s}")
        for name in ("margin", "grace_margin"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value <= 3):
                raise ValueError(f"{name} must be between 0 and 3, got {value}")
        if self.lost_cover not in ("frame", "regions"):
            raise ValueError(f"lost_cover must be 'frame' or 'regions', got {self.lost_cover!r}")
        for name in ("cells", "full_cells"):
            value = getattr(self, name)
            if not 1 <= value <= 64:
                raise ValueError(f"{name} must be between 1 and 64, got {value}")


@dataclass(frozen=True, slots=True)
class StageReport:
    """What the chain saw of the face stage on one frame."""

    #: the stage is switched on and the user has chosen a face to wear
    chosen: bool
    #: the stage ran on this frame, did not raise, and wrote its FaceOutcome
    working: bool
    #: why it is not working (the chain's message), for the log and the counters
    reason: str = ""


@dataclass(slots=True)
class _Remembered:
    box: Box
    seen_at: float


@dataclass(slots=True)
class _Counters:
    frames: int = 0
    covered_frames: int = 0
    full_covers: int = 0
    regions_covered: int = 0
    exposed_frames: int = 0
    guard_errors: int = 0
    state: str = STATE_IDLE
    reason: str = ""


def expand(box: Sequence[float], margin: float, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """``box`` grown by ``margin`` of its size on every side, as integer pixels clipped to the frame."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return (0, 0, int(shape[1]), int(shape[0]))  # a garbage box: cover everything, not nothing
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    height, width = shape[:2]
    x0 = max(0, (math.floor(x1 - margin * w)))
    y0 = max(0, (math.floor(y1 - margin * h)))
    x3 = min(int(width), (math.ceil(x2 + margin * w)))
    y3 = min(int(height), (math.ceil(y2 + margin * h)))
    if x3 <= x0 or y3 <= y0:
        return None
    return x0, y0, x3, y3


def pixelate(image: np.ndarray, rect: tuple[int, int, int, int], cells: int) -> None:
    """Replace ``rect`` of ``image`` in place by at most ``cells`` flat blocks across its longer side.

    Each block is the mean of the pixels it replaces (INTER_AREA), drawn back with INTER_NEAREST, so
    no pixel keeps any detail finer than a block.
    """
    x0, y0, x1, y1 = rect
    region = image[y0:y1, x0:x1]
    h, w = region.shape[:2]
    block = max(1, math.ceil(max(w, h) / cells))
    size = (max(1, math.ceil(w / block)), max(1, math.ceil(h / block)))
    small = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    region[...] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def cover_frame(image: np.ndarray, cells: int, label: str) -> None:
    """The whole frame as a few dark blocks with ``label`` across it, in place."""
    h, w = image.shape[:2]
    pixelate(image, (0, 0, w, h), cells)
    image //= 3  # dark, so the label reads on any picture and nobody mistakes it for the call
    _draw_label(image, label)


def _draw_label(image: np.ndarray, text: str) -> None:
    h, w = image.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    # OpenCV's Hershey fonts have no "—": draw an ASCII dash instead of a "?"
    text = text.replace("—", "-")
    thickness = max(1, round(h / 360))
    (tw, th), _base = cv2.getTextSize(text, font, 1.0, thickness)
    scale = min(1.5, 0.9 * w / max(tw, 1), 0.08 * h / max(th, 1))
    (tw, th), _base = cv2.getTextSize(text, font, scale, thickness)
    origin = ((w - tw) // 2, (h + th) // 2)
    cv2.putText(image, text, origin, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def _overlaps(a: Box, b: Box) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


@dataclass(slots=True)
class PrivacyGuard:
    """Decides, per frame, what of the face stage's result may be published; see the module doc.

    Runs on the processing thread only; ``set_enabled`` and ``counters`` may be called from any
    thread (they swap or read whole objects).
    """

    policy: PrivacyPolicy = field(default_factory=PrivacyPolicy)
    _memory: list[_Remembered] = field(default_factory=list)
    #: whether the previous frame was chosen-and-working (else the guard knows no face positions)
    _tracking: bool = False
    _counters: _Counters = field(default_factory=_Counters)

    def set_enabled(self, enabled: bool) -> None:
        """The user's switch (``FaceSettings.privacy_cover``); takes effect from the next frame."""
        self.policy = replace(self.policy, enabled=bool(enabled))

    def apply(self, frame: Frame, report: StageReport) -> Frame:
        """Cover what must not go out; never raises, never returns the raw frame when in doubt."""
        policy = self.policy  # one read: a concurrent switch lands on the next frame
        try:
            return self._apply(frame, report, policy)
        except Exception as exc:
            self._counters.guard_errors += 1
            log.exception("privacy cover failed; blanking the frame")
            return self._blank(frame, policy, f"privacy cover failed: {exc}")

    def _apply(self, frame: Frame, report: StageReport, policy: PrivacyPolicy) -> Frame:
        c = self._counters
        c.frames += 1
        if not report.chosen:
            # the user wants their own face now: forget old positions so a later swap starts clean
            self._memory.clear()
            self._tracking = False
            return self._verdict(frame, STATE_IDLE, "")
        outcome = frame.face_outcome
        if not report.working or outcome is None:
            self._tracking = False
            reason = report.reason or "the face stage gave no result for this frame"
            if not policy.enabled:
                return self._exposed(frame, reason)
            image = self._writable(frame)
            cover_frame(image, policy.full_cells, policy.label)
            c.covered_frames += 1
            c.full_covers += 1
            return self._verdict(frame, STATE_COVERED, reason)
        now = float(frame.captured_at)
        if not self._tracking:
            # Start-up, or back from idle or a failure: where the face is is not known yet, so the
            # whole frame counts as "last seen now" until the detector finds it (or the grace ends).
            height, width = frame.image.shape[:2]
            self._memory = [_Remembered((0.0, 0.0, float(width), float(height)), now)]
            self._tracking = True
        detected = [f.box for f in outcome.faces]
        kept = []
        for old in self._memory:
            age = now - old.seen_at
            if age < 0:  # the capture clock restarted (a new source): count the grace from now
                old.seen_at, age = now, 0.0
            if age <= policy.grace_s and not any(_overlaps(old.box, box) for box in detected):
                kept.append(old)
        self._memory = [_Remembered(tuple(float(v) for v in box), now) for box in detected] + kept
        shape = frame.image.shape
        rects = [expand(f.box, policy.margin, shape) for f in outcome.unswapped]
        if kept and not detected and policy.lost_cover == "frame":
            # nothing found while a face was here a moment ago: it can be anywhere by now
            rects.append((0, 0, int(shape[1]), int(shape[0])))
        else:
            rects += [expand(m.box, policy.grace_margin, shape) for m in kept]
        rects = [r for r in rects if r is not None]
        if not rects:
            return self._verdict(frame, STATE_SWAPPED if detected else STATE_NO_FACE, "")
        reason = "a face was not swapped" if outcome.unswapped else "face not found: covering where it was"
        if not policy.enabled:
            return self._exposed(frame, reason)
        image = self._writable(frame)
        for rect in rects:
            pixelate(image, rect, policy.cells)
        c.covered_frames += 1
        c.regions_covered += len(rects)
        return self._verdict(frame, STATE_COVERED, reason)

    def _blank(self, frame: Frame, policy: PrivacyPolicy, reason: str) -> Frame:
        try:
            blank = np.zeros_like(frame.image)
        except Exception:  # not even the frame's shape is readable
            blank = np.zeros((360, 640, 3), np.uint8)
        try:
            _draw_label(blank, policy.label)
        except Exception:
            log.debug("label on the blank frame failed", exc_info=True)
        frame.image = blank
        self._counters.covered_frames += 1
        self._counters.full_covers += 1
        return self._verdict(frame, STATE_COVERED, reason)

    def _exposed(self, frame: Frame, reason: str) -> Frame:
        self._counters.exposed_frames += 1
        return self._verdict(frame, STATE_EXPOSED, f"privacy cover is off: {reason}")

    def _verdict(self, frame: Frame, state: str, reason: str) -> Frame:
        self._counters.state, self._counters.reason = state, reason
        frame.privacy = state
        return frame

    @staticmethod
    def _writable(frame: Frame) -> np.ndarray:
        if not frame.image.flags.writeable:
            frame.image = frame.image.copy()
        return frame.image

    def counters(self) -> dict[str, Any]:
        """For the metrics and the window's header (names are part of the GUI contract)."""
        c = self._counters
        return {
            "privacy_cover": self.policy.enabled,
            "privacy_state": c.state,
            "real_face_exposed": c.state == STATE_EXPOSED,
            "privacy_reason": c.reason,
            "privacy_frames": c.frames,
            "privacy_covered_frames": c.covered_frames,
            "privacy_full_covers": c.full_covers,
            "privacy_regions_covered": c.regions_covered,
            "privacy_exposed_frames": c.exposed_frames,
            "privacy_guard_errors": c.guard_errors,
        }


__all__ = [
    "FULL_COVER_LABEL",
    "STATE_COVERED",
    "STATE_EXPOSED",
    "STATE_IDLE",
    "STATE_NO_FACE",
    "STATE_SWAPPED",
    "PrivacyGuard",
    "PrivacyPolicy",
    "StageReport",
    "cover_frame",
    "expand",
    "pixelate",
]
