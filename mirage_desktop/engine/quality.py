"""Adaptive quality: keep the live loop inside its frame budget by trading quality for time.

``QualityController`` is pure (no threads, no Qt, no clock of its own): it is fed each frame's
processing time and answers with a ``Decision`` when the quality level should change. The levels
form a ladder built from the user's own settings (level 0), each rung changing one knob, cheapest
loss first:

1. the face enhancer's cost: codeformer / gfpgan_1.4 / gpen_bfr_512 → gpen_bfr_256 → off;
2. the swap rate: every frame → every 2nd → every 3rd, only where the face stage reuses the last
   swap on the frames between (temporal reuse; ``set_swap_interval``). A face stage without it
   would show the real face on those frames, so the rung is skipped and the notes say so;
3. the frame rate: 30 → 24 → 20 → 15 fps (rungs below the target, down to ``min_fps``);
4. the processing resolution (the tracker's ``proc_max_dim``, and the detector's input size where
   the model takes any size): 512 → 384 → 256.

Degrading: once ``min_samples`` frames have been seen at a level, the p90 of the last ``window``
frames (lower nearest rank, so one slow frame never moves it) is compared with the budget
(1000 / the level's fps); ``overload_frames`` judgements over it in a row step one rung down.
When frames are so slow that counting them would take seconds a rung (a 0.7 s swapper), time
counts instead: judging starts after 3 frames once ``settle_s`` passed at the level, and 2
judgements over budget ``overload_s`` apart are enough.
Restoring: ``restore_frames`` (300) judgements in a row with the p90 under ``restore_ratio``
(0.60) of the budget of the level above step one rung back up. A restore that has to be undone
within ``restore_frames`` doubles the wait before that restore is tried again (up to 8×), so a
load that sits on the edge of one rung does not flip back and forth. Pinned knobs get no rungs.

``AdaptiveQuality`` joins a controller to a running pipeline: it reads the level-0 settings from
the face stage, applies each decision (``FaceSwapProcessor.set_look``, the tracker's
``set_proc_max_dim``, the pipeline's fps cap), logs it, and exposes ``quality_*`` counters for the
stats. It runs on the processing thread, between frames, so the tracker is never changed mid-frame.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mirage_desktop.config.settings import QUALITY_KNOBS

log = logging.getLogger(__name__)

#: each enhancer's cheaper replacement; "" = off. gpen_bfr_256 is ~8.6 GMACs against 137.6–404.9
ENHANCER_CHEAPER = {
    "codeformer": "gpen_bfr_256",
    "gfpgan_1.4": "gpen_bfr_256",
    "gpen_bfr_512": "gpen_bfr_256",
}
SWAP_INTERVALS = (2, 3)
FPS_RUNGS = (30.0, 24.0, 20.0, 15.0)
PROC_RUNGS = (512, 384, 256)
DEFAULT_MIN_FPS = 15.0
MAX_BACKOFF = 8
#: the detector input sizes allowed (detector.MIN_INPUT_SIZE / MAX_INPUT_SIZE; multiples of 32)
DETECTOR_MIN, DETECTOR_MAX = 320, 640


@dataclass(frozen=True, slots=True)
class QualityLevel:
    """Everything one level sets; level 0 is what the user chose."""

    enhancer: str = ""
    swap_every: int = 1
    max_fps: float = 30.0
    proc_max_dim: int = 640

    @property
    def budget_ms(self) -> float:
        return 1000.0 / self.max_fps

    def value(self, knob: str) -> Any:
        return {
            "enhancer": self.enhancer,
            "swap_rate": self.swap_every,
            "fps": self.max_fps,
            "resolution": self.proc_max_dim,
        }[knob]

    def describe(self) -> str:
        swap = "every frame" if self.swap_every == 1 else f"every {self.swap_every} frames"
        return f"enhancer {self.enhancer or 'off'}, swap {swap}, {self.max_fps:g} fps, {self.proc_max_dim} px"


def show(knob: str, value: Any) -> str:
    if knob == "enhancer":
        return str(value) or "off"
    if knob == "swap_rate":
        return "every frame" if value == 1 else f"every {value} frames"
    if knob == "fps":
        return f"{value:g} fps"
    return f"{value} px"


@dataclass(frozen=True, slots=True)
class Decision:
    """One change of level, with the reason the user reads in the stats and the log."""

    previous: int
    level: int
    knob: str  # one of QUALITY_KNOBS, or "all" when the ladder was rebuilt
    old: Any
    new: Any
    setting: QualityLevel
    reason: str
    at: float

    @property
    def degrade(self) -> bool:
        return self.level > self.previous


def build_ladder(
    base: QualityLevel,
    *,
    swap_reuse: bool = False,
    pins: Iterable[str] = (),
    min_fps: float = DEFAULT_MIN_FPS,
    knobs: Iterable[str] = QUALITY_KNOBS,
) -> tuple[list[QualityLevel], list[str]]:
    """The levels from ``base`` down, one knob changed per rung, and notes on the rungs left out.

    ``knobs`` are the ones this pipeline can change at all (a stage without an enhancer hook, no
    tracker, ...); a pinned or missing knob keeps its level-0 value on every rung.
    """
    pinned = set(pins)
    available = set(knobs)
    levels = [base]
    notes: list[str] = []

    def add(**change: Any) -> None:
        levels.append(dataclasses.replace(levels[-1], **change))

    for knob in QUALITY_KNOBS:
        if knob in pinned:
            notes.append(f"{knob}: pinned by the user")
            continue
        if knob not in available:
            notes.append(f"{knob}: skipped (this pipeline cannot change it)")
            continue
        if knob == "enhancer":
            current = base.enhancer
            while current:
                current = ENHANCER_CHEAPER.get(current, "")
                add(enhancer=current)
        elif knob == "swap_rate":
            if not swap_reuse:
                notes.append(
                    "swap_rate: skipped (the face stage has no temporal reuse: swapping less often "
                    "would leave faces unswapped on the frames between)"
                )
                continue
            for every in SWAP_INTERVALS:
                if every > base.swap_every:
                    add(swap_every=every)
        elif knob == "fps":
            for fps in FPS_RUNGS:
                if min_fps <= fps < base.max_fps:
                    add(max_fps=fps)
        else:
            for size in PROC_RUNGS:
                if size < base.proc_max_dim:
                    add(proc_max_dim=size)
    return levels, notes


def p90_lower(values: Iterable[float]) -> float:
    """The 90th percentile by the lower nearest rank: the value of one slow frame never counts."""
    ordered = sorted(values)
    return ordered[int(0.9 * (len(ordered) - 1))]


class QualityController:
    """Chooses the quality level from per-frame processing times (see the module doc)."""

    def __init__(
        self,
        base: QualityLevel,
        *,
        swap_reuse: bool = False,
        pins: Iterable[str] = (),
        min_fps: float = DEFAULT_MIN_FPS,
        knobs: Iterable[str] = QUALITY_KNOBS,
        window: int = 30,
        min_samples: int = 10,
        overload_frames: int = 5,
        restore_frames: int = 300,
        restore_ratio: float = 0.60,
        settle_s: float = 1.0,
        overload_s: float = 0.5,
    ) -> None:
        if not 1 <= min_samples <= window:
            raise ValueError("min_samples must be from 1 to window")
        if overload_frames < 1 or restore_frames < 1 or not 0 < restore_ratio < 1:
            raise ValueError("overload_frames and restore_frames must be positive, restore_ratio in (0, 1)")
        self.pins = tuple(pins)
        self.min_fps = float(min_fps)
        self.swap_reuse = swap_reuse
        self.knobs = tuple(knobs)
        self.window = window
        self.min_samples = min_samples
        self.overload_frames = overload_frames
        self.restore_frames = restore_frames
        self.restore_ratio = restore_ratio
        self.settle_s = settle_s
        self.overload_s = overload_s
        self.levels, self.notes = self._ladder(base)
        self.level = 0
        self.changes = 0
        self.frames = 0
        self.last_reason = "full quality (no change yet)"
        self.last_p90: float | None = None
        self.history: deque[Decision] = deque(maxlen=64)
        self._samples: deque[float] = deque(maxlen=window)
        self._over = 0
        self._stable = 0
        self._level_since: float | None = None
        self._over_since = 0.0
        #: level → frame at which the loop was restored to it (to spot restores that do not hold)
        self._restored_at: dict[int, int] = {}
        #: level → how many times restore_frames restoring *from* it takes
        self._backoff: dict[int, int] = {}

    def _ladder(self, base: QualityLevel) -> tuple[list[QualityLevel], list[str]]:
        return build_ladder(
            base, swap_reuse=self.swap_reuse, pins=self.pins, min_fps=self.min_fps, knobs=self.knobs
        )

    # -- state -----------------------------------------------------------------------------------
    @property
    def current(self) -> QualityLevel:
        return self.levels[self.level]

    @property
    def budget_ms(self) -> float:
        return self.current.budget_ms

    def restore_wait(self) -> int:
        """Frames under the restore threshold needed before the next step up."""
        return self.restore_frames * self._backoff.get(self.level, 1)

    # -- per frame -------------------------------------------------------------------------------
    def observe(self, frame_ms: float, now: float) -> Decision | None:
        """Record one frame's processing time; a Decision when the level changes (applied by the caller)."""
        self.frames += 1
        self._samples.append(float(frame_ms))
        if self._level_since is None:
            self._level_since = now
        samples = len(self._samples)
        if samples < self.min_samples and (samples < 3 or now - self._level_since < self.settle_s):
            return None
        p90 = self.last_p90 = p90_lower(self._samples)
        budget = self.budget_ms
        if p90 > budget:
            self._stable = 0
            self._over += 1
            if self._over == 1:
                self._over_since = now
            long_enough = self._over >= self.overload_frames or (
                self._over >= 2 and now - self._over_since >= self.overload_s
            )
            if long_enough and self.level + 1 < len(self.levels):
                return self._move(
                    self.level + 1, now, f"frame time p90 {p90:.1f} ms is over the {budget:.1f} ms budget"
                )
            return None
        self._over = 0
        if self.level == 0:
            return None
        above = self.levels[self.level - 1].budget_ms
        if p90 < self.restore_ratio * above:
            self._stable += 1
            if self._stable >= self.restore_wait():
                return self._move(
                    self.level - 1,
                    now,
                    f"frame time p90 {p90:.1f} ms stayed under {self.restore_ratio:.0%} of the "
                    f"{above:.1f} ms budget for {self._stable} frames",
                )
        else:
            self._stable = 0
        return None

    def _move(self, level: int, now: float, why: str) -> Decision:
        previous = self.level
        old, new = self.levels[previous], self.levels[level]
        knob = next(k for k in QUALITY_KNOBS if old.value(k) != new.value(k))
        verb = "lowered" if level > previous else "restored"
        reason = f"{knob} {verb}: {show(knob, old.value(knob))} → {show(knob, new.value(knob))} ({why})"
        if level > previous:
            restored = self._restored_at.pop(previous, None)
            if restored is not None and self.frames - restored < self.restore_frames:
                # the restore to `previous` did not hold: wait longer before trying it again
                self._backoff[level] = min(MAX_BACKOFF, self._backoff.get(level, 1) * 2)
                reason += f"; the last restore did not hold, next try after {self._wait_from(level)} frames"
        else:
            self._restored_at[level] = self.frames
        return self._record(previous, level, knob, old.value(knob), new.value(knob), reason, now)

    def _wait_from(self, level: int) -> int:
        return self.restore_frames * self._backoff.get(level, 1)

    def _record(
        self, previous: int, level: int, knob: str, old: Any, new: Any, reason: str, now: float
    ) -> Decision:
        self.level = level
        self.changes += 1
        self.last_reason = reason
        self._samples.clear()  # the next judgement is about the new level only
        self._over = self._stable = 0
        self._level_since = now
        decision = Decision(previous, level, knob, old, new, self.levels[level], reason, now)
        self.history.append(decision)
        return decision

    def rebase(self, base: QualityLevel, now: float, why: str) -> Decision:
        """Start again from a new level 0 (the user changed a setting the ladder was built from)."""
        previous = self.level
        self.levels, self.notes = self._ladder(base)
        self._restored_at.clear()
        self._backoff.clear()
        return self._record(previous, 0, "all", None, None, f"back to full quality: {why}", now)

    def counters(self) -> dict[str, Any]:
        return {
            "quality_enabled": True,
            "quality_level": self.level,
            "quality_levels": len(self.levels),
            "quality_setting": self.current.describe(),
            "quality_changes": self.changes,
            "quality_reason": self.last_reason,
            "quality_budget_ms": round(self.budget_ms, 2),
            "quality_frame_ms_p90": None if self.last_p90 is None else round(self.last_p90, 2),
            "quality_pins": list(self.pins),
            "quality_notes": list(self.notes),
        }


# -- joining a controller to a running pipeline --------------------------------------------------------
class AdaptiveQuality:
    """Applies a QualityController's decisions to the face stage and the pipeline's fps cap.

    ``face_stage`` may offer ``look`` + ``set_look`` (the enhancer), ``set_swap_interval`` (temporal
    reuse) and ``tracker`` with ``set_proc_max_dim``; what it lacks has no rungs. ``set_fps`` sets the
    processing loop's rate cap. Call ``observe`` on the processing thread after every frame.
    """

    def __init__(
        self,
        face_stage: Any,
        set_fps: Callable[[float], None],
        target_fps: float,
        *,
        pins: Iterable[str] = (),
        min_fps: float = DEFAULT_MIN_FPS,
        **controller_options: Any,
    ) -> None:
        self.stage = face_stage
        self._set_fps = set_fps
        self.target_fps = float(target_fps)
        self._tracker = getattr(face_stage, "tracker", None)
        self._detector_base = self._detector_size()
        knobs = ["fps"]
        if face_stage is not None and hasattr(face_stage, "set_look") and hasattr(face_stage, "look"):
            knobs.append("enhancer")
        if hasattr(self._tracker, "set_proc_max_dim"):
            knobs.append("resolution")
        swap_reuse = face_stage is not None and hasattr(face_stage, "set_swap_interval")
        if swap_reuse:
            knobs.append("swap_rate")
        self.controller = QualityController(
            self._read_base(),
            swap_reuse=swap_reuse,
            pins=pins,
            min_fps=min_fps,
            knobs=knobs,
            **controller_options,
        )
        self._applied = self.controller.current
        for note in self.controller.notes:
            log.info("adaptive quality: %s", note)
        log.info(
            "adaptive quality: %d levels from %s (budget %.1f ms)",
            len(self.controller.levels),
            self._applied.describe(),
            self.controller.budget_ms,
        )

    def _read_base(self) -> QualityLevel:
        look = getattr(self.stage, "look", None)
        return QualityLevel(
            enhancer=getattr(look, "enhancer", "") or "",
            swap_every=int(getattr(self.stage, "swap_interval", 1) or 1),
            max_fps=self.target_fps,
            proc_max_dim=int(getattr(self._tracker, "proc_max_dim", 640)),
        )

    def observe(self, frame_ms: float, now: float) -> Decision | None:
        look = getattr(self.stage, "look", None)
        if look is not None and (look.enhancer or "") != self._applied.enhancer:
            # the user chose another enhancer: that is the new full quality
            base = dataclasses.replace(self.controller.levels[0], enhancer=look.enhancer or "")
            decision = self.controller.rebase(
                base, now, f"the enhancer was changed to {look.enhancer or 'off'}"
            )
            self._apply(decision)
            return decision
        if str(getattr(self.stage, "enhancer_state", "")).startswith("loading"):
            return None  # the old enhancer still runs until the new one is loaded: nothing to judge
        decision = self.controller.observe(frame_ms, now)
        if decision is not None:
            self._apply(decision)
        return decision

    def _apply(self, decision: Decision) -> None:
        level, old = decision.setting, self._applied
        (log.warning if decision.degrade else log.info)("adaptive quality: %s", decision.reason)
        if level.enhancer != old.enhancer and "enhancer" in self.controller.knobs:
            self.stage.set_look(dataclasses.replace(self.stage.look, enhancer=level.enhancer))
        if level.swap_every != old.swap_every and hasattr(self.stage, "set_swap_interval"):
            self.stage.set_swap_interval(level.swap_every)
        if level.max_fps != old.max_fps:
            self._set_fps(0.0 if level.max_fps >= self.target_fps else level.max_fps)
        if level.proc_max_dim != old.proc_max_dim and hasattr(self._tracker, "set_proc_max_dim"):
            self._tracker.set_proc_max_dim(level.proc_max_dim)
            self._set_detector_size(level.proc_max_dim)
        self._applied = level

    # the detector sees the tracker's shrunken image letterboxed into its own canvas: shrink that too
    def _detector(self) -> Any:
        detector = getattr(self._tracker, "detector", None)
        if detector is None or not isinstance(getattr(detector, "input_size", None), int):
            return None
        try:
            dims = detector.session.get_inputs()[0].shape[2:]
        except (AttributeError, IndexError, TypeError):
            return None
        # a model with a fixed input size only ever takes that size
        return None if any(isinstance(d, int) for d in dims) else detector

    def _detector_size(self) -> int | None:
        detector = self._detector()
        return detector.input_size if detector is not None else None

    def _set_detector_size(self, proc_max_dim: int) -> None:
        detector, base = self._detector(), self._detector_base
        if detector is None or base is None:
            return
        full = self.controller.levels[0].proc_max_dim
        size = base if proc_max_dim >= full else min(base, max(DETECTOR_MIN, proc_max_dim // 32 * 32))
        detector.input_size = int(min(DETECTOR_MAX, size))

    def counters(self) -> dict[str, Any]:
        out = self.controller.counters()
        detector = self._detector_size()
        if detector is not None:
            out["quality_detector_size"] = detector
        return out
