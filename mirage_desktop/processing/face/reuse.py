"""Temporal reuse: swap at the rate the machine allows, show the latest swapped face on every frame.

A CPU swaps a face in about a second; a call wants 20–30 frames a second. So the swap (and the
enhancer) run on their own thread (``SwapWorker``), always on the newest frame they can get, and each
result is kept per tracked face (``SwapCache``) in its own aligned crop. Every output frame then takes
that crop and places it with the *current* frame's alignment of the face (``FaceRenderer.reuse``): the
swapped face follows the head on every frame, never a stale position, and the mouth, which moves the
most between swaps, is taken live from the camera (the mouth-mask stage). A face that has no swap yet
is reported unswapped, so the privacy guard covers it: the real face is never the fallback.

On a machine that swaps faster than a frame, the face stage waits a few ms for the frame's own swap
(``FRESH_WAIT_S``), so a GPU still shows a fresh swap on every frame. On a CPU the swapper's thread
runs at a lower priority with one core fewer than the machine has (``background_threads``), so the
picture (detection, paste, output) always gets the CPU first and the swap takes what is left: the
frame rate holds and the refresh rate is what the machine can spare.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mirage_desktop.processing.face.job import FaceJob, SwapFinish
from mirage_desktop.processing.face.render import Enhancer, FaceRenderer
from mirage_desktop.processing.face.swappers import Swapper
from mirage_desktop.processing.face.types import DetectedFace

log = logging.getLogger(__name__)

#: a swap whose track is gone is forgotten once it was not shown for this long; while its face is
#: tracked it is kept however old it is (a slow CPU refreshes only every few seconds)
MAX_REUSE_AGE_S = 3.0
#: how many recent swaps the refresh rate is taken over
RATE_WINDOW = 8
#: the swap thread's nice value on Linux: the picture's threads get about 3× its share of a busy
#: CPU (10 starved it to a swap every 20-30 s beside other programs; the refresh must go on)
SWAP_NICE = 5


@dataclass(frozen=True, slots=True)
class SwappedFace:
    """One face's latest swap, in the aligned crop it was made in."""

    track_id: int
    size: int
    template: str
    #: the swapped (and enhanced) face, BGR uint8, size×size
    result: np.ndarray
    #: the swap's own support in that crop (0..1), before the look's masks
    mask: np.ndarray
    #: capture time of the frame it was swapped from
    captured_at: float
    #: the frame's box of the face then (a new track id of the same person finds it by overlap)
    box: tuple[float, float, float, float]
    enhanced: bool
    swapper: str
    identity: int  # id() of the SourceIdentity worn
    #: the look's colour match of this swap, made on the first frame that shows it and kept for the
    #: frames after (each swap has its own: a new swap is matched again)
    finish: SwapFinish = field(default_factory=SwapFinish, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SwapTask:
    """What one swap needs: the frame (owned by the task) and each face with its latent."""

    seq: int
    image: np.ndarray
    captured_at: float
    faces: tuple[tuple[DetectedFace, np.ndarray, int], ...]  # face, latent, identity id
    swapper: Swapper
    enhancer: Enhancer | None
    enhancer_blend: float


class SwapCache:
    """The latest swap of each tracked face; written by the swapper's thread, read per frame."""

    def __init__(self) -> None:
        self._faces: dict[int, SwappedFace] = {}
        self._seen: dict[int, float] = {}  # track id → capture time it was last shown
        self._untracked = -1
        self._lock = threading.Lock()
        self._made: deque[float] = deque(maxlen=RATE_WINDOW)
        self.swaps = 0

    def put(self, faces: Sequence[SwappedFace], at: float) -> None:
        with self._lock:
            for face in faces:
                if face.track_id >= 0:
                    self._faces[face.track_id] = face
                else:  # an untracked face: found again by overlap only
                    self._untracked -= 1
                    self._faces[self._untracked] = face
            self._made.append(at)
            self.swaps += 1

    def find(
        self,
        face: DetectedFace,
        now: float,
        identity: int | None = None,
        present: frozenset[int] = frozenset(),
    ) -> SwappedFace | None:
        """This face's latest swap. A face whose track is new (the tracker re-detected the same head
        under a new id) takes the swap it overlaps most among tracks not in this frame (``present``)
        that wore the same ``identity``: a swapped face of the same source, never someone's own."""
        with self._lock:
            found = self._faces.get(face.track_id) if face.track_id >= 0 else None
            if found is None:
                best = 0.3  # IoU a new track of the same head must reach
                for key, cached in reversed(list(self._faces.items())):  # the newest wins a tie
                    if (key >= 0 and key in present) or (
                        identity is not None and cached.identity != identity
                    ):
                        continue
                    overlap = _iou(cached.box, face.box)
                    if overlap > best:
                        best, found = overlap, cached
                if found is not None and face.track_id >= 0:
                    self._faces[face.track_id] = found  # the new track keeps it until its own arrives
            if found is not None:
                key = face.track_id if face.track_id >= 0 else self._key_of(found)
                self._seen[key] = now
            return found

    def _key_of(self, found: SwappedFace) -> int:
        return next((k for k, v in self._faces.items() if v is found), found.track_id)

    def forget_except(self, track_ids: set[int], now: float) -> None:
        """Drop swaps of tracks that are gone and were not shown for MAX_REUSE_AGE_S."""
        with self._lock:
            for key in [k for k in self._faces if k not in track_ids]:
                if now - self._seen.setdefault(key, now) > MAX_REUSE_AGE_S:
                    del self._faces[key]
                    self._seen.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._faces.clear()
            self._seen.clear()

    def refresh_hz(self) -> float:
        """Swaps a second over the last few (0 until two are made)."""
        with self._lock:
            made = list(self._made)
        if len(made) < 2 or made[-1] <= made[0]:
            return 0.0
        return (len(made) - 1) / (made[-1] - made[0])


def swap_task(renderer: FaceRenderer, task: SwapTask) -> tuple[list[SwappedFace], int, str | None]:
    """Run one task's swaps (and enhancer): the faces made, how many were enhanced, an enhancer error."""
    out: list[SwappedFace] = []
    enhanced = 0
    problem: str | None = None
    jobs: list[tuple[FaceJob, int]] = []
    for face, latent, identity in task.faces:
        job = renderer.swap(task.image, face, task.swapper, latent)
        if job is not None:
            jobs.append((job, identity))
    if task.enhancer is not None and jobs:
        try:
            jobs = [(renderer.enhance(task.image, j, task.enhancer, task.enhancer_blend), i) for j, i in jobs]
        except (RuntimeError, ValueError) as exc:
            problem = str(exc)
    for job, identity in jobs:
        job.result.setflags(write=False)  # shown by many frames: none of them may change it
        done = "enhance" in job.ms
        enhanced += int(done)
        box = tuple(float(v) for v in job.face.box)
        out.append(
            SwappedFace(
                track_id=job.face.track_id,
                size=job.size,
                template=job.template,
                result=job.result,
                mask=job.mask,
                captured_at=task.captured_at,
                box=box,  # type: ignore[arg-type]
                enhanced=done,
                swapper=task.swapper.name,
                identity=identity,
            )
        )
    return out, enhanced, problem


class SwapWorker:
    """The swapper's own thread: takes the newest task (an older one waiting is replaced), swaps it,
    fills the cache. ``on_done(task, faces, enhanced, enhancer_problem)`` runs on this thread."""

    def __init__(
        self,
        cache: SwapCache,
        on_done: Callable[[SwapTask, list[SwappedFace], int, str | None], None] | None = None,
    ) -> None:
        self.cache = cache
        self._on_done = on_done
        self._renderer = FaceRenderer()
        self._cond = threading.Condition()
        self._pending: SwapTask | None = None
        self._busy = False
        self._done_seq = -1
        self._closed = False
        #: what made the swapper fail (the face stage raises it on the next frame: fail closed)
        self.failure: BaseException | None = None
        self.swap_ms = 0.0
        self.replaced = 0
        self._thread = threading.Thread(target=self._run, name="mirage-swap", daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        with self._cond:
            return not self._busy and self._pending is None

    def submit(self, task: SwapTask) -> None:
        with self._cond:
            if self._closed:
                return
            if self._pending is not None:
                self.replaced += 1
            self._pending = task
            self._cond.notify_all()

    def wait_done(self, seq: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s for task ``seq`` (or a newer one) to be swapped."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._done_seq < seq and not self._closed and self.failure is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return self._done_seq >= seq

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        lower_this_thread_priority()
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                task, self._pending = self._pending, None
                self._busy = True
            t0 = time.perf_counter()
            try:
                faces, enhanced, problem = swap_task(self._renderer, task)
            except Exception as exc:  # a swapper that fails when run: the stage reports it, covered
                log.debug("the swap thread failed", exc_info=True)
                with self._cond:
                    self.failure = exc
                    self._busy = False
                    self._cond.notify_all()
                return
            done_at = time.perf_counter()
            self.swap_ms = (done_at - t0) * 1000.0
            self.cache.put(faces, done_at)
            if self._on_done is not None:
                try:
                    self._on_done(task, faces, enhanced, problem)
                except Exception:
                    log.exception("swap result listener failed")
            with self._cond:
                self._busy = False
                self._done_seq = max(self._done_seq, task.seq)
                self._cond.notify_all()


def background_threads() -> int:
    """Threads for models that run on the swapper's thread: one core is left for the picture."""
    from mirage_desktop.runtime.onnx_session import default_intra_op_threads

    return max(1, default_intra_op_threads() - 1)


def lower_this_thread_priority() -> bool:
    """Run the calling thread (and ONNX Runtime work done on it) after the picture's threads."""
    try:
        if sys.platform.startswith("linux"):
            # Linux applies a "process" priority to the one thread whose id is given
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SWAP_NICE)
            return True
        if sys.platform == "win32":
            import ctypes

            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            return bool(kernel32.SetThreadPriority(kernel32.GetCurrentThread(), -1))  # BELOW_NORMAL
    except (OSError, AttributeError, ValueError):
        log.debug("could not lower the swap thread's priority", exc_info=True)
    return False


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    w = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    h = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = w * h
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0
