"""The face stage: track faces, choose whom to swap, run the per-face stages (render.py), paste back."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mirage_desktop.config.paths import AppPaths
from mirage_desktop.config.settings import FaceSettings
from mirage_desktop.frame import Annotation, FaceOutcome, FaceRegion, Frame
from mirage_desktop.processing.base import FrameProcessor, ProcessorError
from mirage_desktop.processing.face.embedder import ArcFaceEmbedder, normalize
from mirage_desktop.processing.face.job import FaceJob
from mirage_desktop.processing.face.look import FaceLook
from mirage_desktop.processing.face.paste import FacePaster
from mirage_desktop.processing.face.render import Enhancer, FaceRenderer
from mirage_desktop.processing.face.reuse import (
    SwapCache,
    SwappedFace,
    SwapTask,
    SwapWorker,
    background_threads,
    swap_task,
)
from mirage_desktop.processing.face.source_face import SourceFace, SourceFaceError, load_source_face
from mirage_desktop.processing.face.swapper import FaceSwapper
from mirage_desktop.processing.face.swappers import DEFAULT_SWAPPER, Swapper, load_swapper_model
from mirage_desktop.processing.face.types import DetectedFace
from mirage_desktop.runtime.onnx_session import SessionFactory
from mirage_desktop.runtime.providers import ProviderConfig

log = logging.getLogger(__name__)

NO_SOURCE = (
    "No source face is set: choose a reference photo to start swapping (video passes through unchanged)."
)


class Tracker(Protocol):
    def update(self, image_bgr: np.ndarray, timestamp: float) -> list[DetectedFace]: ...

    def counters(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SourceIdentity:
    """One identity, ready for the swapper; replaced as a whole so a frame never sees half of one.

    ``latent`` is the identity in the form the current swapper takes (inswapper: through its emap;
    HyperSwap: the embedding itself); ``swapper`` names which one it was made for.
    """

    embedding: np.ndarray
    latent: np.ndarray
    label: str = ""
    swapper: str = ""


@dataclass(frozen=True, slots=True)
class MapEntry:
    """Map mode: faces that look like ``target`` (a unit gallery embedding) wear ``source``."""

    target: np.ndarray
    source: SourceIdentity
    label: str = ""


class Embedder(Protocol):
    def embed(self, image_bgr: np.ndarray, kps: np.ndarray) -> np.ndarray: ...


@dataclass(slots=True)
class FaceSwapParts:
    """What the processor runs on; ``source_finder``: photo → SourceFace (None: embeddings only).

    ``load_enhancer`` / ``load_swapper`` open a model by registry id (on a worker thread when the look
    changes live); ``embedder`` recognises faces for map mode. ``paster`` is kept for callers that
    still pass one; the face stages keep their own pasters per crop size.
    """

    tracker: Tracker
    swapper: Swapper
    paster: FacePaster | None = None
    source_finder: Callable[[Path], SourceFace] | None = None
    providers: list[str] = field(default_factory=list)
    load_enhancer: Callable[[str, float], Enhancer] | None = None
    load_swapper: Callable[[str], Swapper] | None = None
    embedder: Embedder | None = None


#: a face pasted at less opacity than this counts as not swapped (mostly the real face shows)
MIN_SWAPPED_OPACITY = 0.5
#: a failed enhancer is tried again when asked for, at most this often (seconds)
ENHANCER_RETRY_S = 3.0
#: map mode re-recognises each tracked face this often (frames); new tracks are recognised at once
MAP_REFRESH_FRAMES = 15
#: temporal reuse on its own thread: how long a frame waits for its own swap (a GPU makes it in time,
#: so every frame is swapped fresh; a CPU does not, and the frame shows the latest swap instead)
FRESH_WAIT_S = 0.02


@dataclass(slots=True)
class _TrackMatch:
    frame: int
    entry: int  # index into the map, -1 = a bystander
    similarity: float


@dataclass(slots=True)
class _StageCounters:
    swapped_frames: int = 0
    enhanced_frames: int = 0
    enhanced_faces: int = 0
    enhancer_ms: float = 0.0
    enhancer_ms_total: float = 0.0
    mask_ms: float = 0.0
    map_matched: int = 0
    map_bystanders: int = 0
    map_unknown: int = 0
    fresh_frames: int = 0
    reused_frames: int = 0
    swap_age_ms: float = 0.0


class FaceSwapProcessor(FrameProcessor):
    """Swaps faces in each frame and runs the per-face stages of the current look on them.

    Without map mode, up to ``max_faces`` of the largest tracked faces wear the source identity; in
    map mode, each face that is recognised as a mapped person wears that person's source and faces
    recognised as nobody mapped stay as they are (faces that cannot be recognised count as unswapped,
    so the privacy guard covers them). Give it its parts directly, or a ``loader`` that builds them
    in ``start()`` (model loading belongs on the processing thread and its failures must become a
    ProcessorError, not a crash).
    """

    name = "face_swap"
    face_stage = True  # the chain's privacy guard covers what this stage did not swap

    def __init__(
        self,
        parts: FaceSwapParts | None = None,
        *,
        loader: Callable[[], FaceSwapParts] | None = None,
        source_embedding: np.ndarray | None = None,
        source_image: Path | None = None,
        max_faces: int = 1,
        debug_overlay: bool = False,
        look: FaceLook | None = None,
        swapper_id: str = DEFAULT_SWAPPER,
        temporal_reuse: bool = False,
        live_mouth: bool = True,
    ) -> None:
        if parts is None and loader is None:
            raise ValueError("FaceSwapProcessor needs its parts or a loader")
        self._parts = parts
        self._loader = loader
        self.max_faces = max(1, int(max_faces))
        self.debug_overlay = debug_overlay
        self._identity: SourceIdentity | None = None
        self._pending_embedding = source_embedding
        self._pending_image = source_image
        # Set from the moment the user asks for a face, even before (or if never) it loads: a face
        # that is chosen but cannot be worn must be covered, not sent.
        self._source_requested = source_embedding is not None or source_image is not None
        self._lock = threading.Lock()  # serialises identity/model changes, never taken by process()
        self._notice: str | None = None
        self._swap_faces_last = 0
        self._total_faces_swapped = 0
        self._frames = 0
        self._closed_counters: dict[str, Any] = {}
        self._look = look or FaceLook()
        self._swapper_id = swapper_id
        self._swapper: Swapper | None = parts.swapper if parts is not None else None
        self._enhancer: Enhancer | None = None
        self._enhancer_state = "off"
        self._enhancer_wanted = ""
        self._enhancer_failed_at = 0.0
        self._map: tuple[MapEntry, ...] = ()
        self._map_threshold = 0.4
        self._matches: dict[int, _TrackMatch] = {}
        self._pending_map: tuple[tuple[tuple[Path, Path], ...], float] | None = None
        #: why the requested map could not be made (None: fine or not asked for)
        self._map_problem: str | None = None
        self._renderer = FaceRenderer()
        self._stage = _StageCounters()
        self._closed = False
        # temporal reuse (reuse.py): the swapper on its own thread, or every Nth frame in line
        self._reuse_async = bool(temporal_reuse)
        self._swap_interval = 1
        #: on frames that show an earlier swap, the mouth (which moves most) is the camera's
        self.live_mouth = live_mouth
        self._cache = SwapCache()
        self._worker: SwapWorker | None = None
        self._last_swap_frame = -(10**9)
        self._track_lock = threading.Lock()
        if parts is not None:
            self._apply_pending()
            self._want_enhancer(self._look, wait=True)

    # --- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._parts is None:
            assert self._loader is not None
            try:
                self._parts = self._loader()
            except ProcessorError:
                raise
            except (RuntimeError, OSError, ValueError) as exc:
                # ModelMissingError, ModelContractError, ProviderError all carry user-facing text
                raise ProcessorError(f"Face swap is off: {exc}") from exc
            self._swapper = self._parts.swapper
            self._apply_pending()
            # a run that starts with an enhancer has it from the first frame (the CLI's summary counts it)
            self._want_enhancer(self._look, wait=True)

    def _apply_pending(self) -> None:
        if self._pending_embedding is not None:
            embedding, self._pending_embedding = self._pending_embedding, None
            self.set_source_embedding(embedding)
        if self._pending_image is not None:
            path, self._pending_image = self._pending_image, None
            try:
                self.set_source_image(path)
            except SourceFaceError as exc:
                self._say(str(exc))
        if self._pending_map is not None:
            (pairs, threshold), self._pending_map = self._pending_map, None
            try:
                self._load_map(pairs, threshold)
            except SourceFaceError as exc:
                self._map_problem = str(exc)
                self._say(f"Map mode is off: {exc}")

    # --- identity (any thread) -----------------------------------------------------------------------
    def _make_identity(self, embedding: np.ndarray, label: str) -> SourceIdentity:
        swapper = self._swapper
        assert swapper is not None
        vector = normalize(embedding)
        return SourceIdentity(vector, swapper.latent(vector), label, swapper.name)

    def set_source_embedding(self, embedding: np.ndarray, label: str = "") -> None:
        """Wear this identity from the next frame on. Safe to call from any thread."""
        self._source_requested = True
        vector = normalize(embedding)
        if self._parts is None:
            self._pending_embedding = vector
            return
        identity = self._make_identity(vector, label)
        with self._lock:
            self._identity = identity
            self._notice = None

    def set_source_image(self, path: Path) -> SourceFace | None:
        """Wear the largest face of this photo. Raises SourceFaceError with a message for the user.

        Before ``start()`` the photo is only remembered (returns None); it is read when models load.
        """
        path = Path(path)
        self._source_requested = True
        if self._parts is None:
            self._pending_image = path
            return None
        if self._parts.source_finder is None:
            raise SourceFaceError(
                "This face swapper was set up without a face detector for photos; set an embedding."
            )
        source = self._parts.source_finder(path)
        self.set_source_embedding(source.embedding, label=path.name)
        for note in source.notes:
            log.info(note)
        return source

    def clear_source(self) -> None:
        with self._lock:
            self._identity = None
            self._source_requested = False

    def set_face_map(
        self, entries: Sequence[tuple[np.ndarray, np.ndarray, str]], threshold: float = 0.4
    ) -> None:
        """Map mode: ``(target embedding, source embedding, label)`` per mapped person; () = off.

        A target given as several embeddings (rows) is averaged into one gallery embedding.
        """
        if self._parts is None:
            raise RuntimeError("map mode needs the face models: call it after start()")
        made = []
        for target, source, label in entries:
            rows = np.asarray(target, np.float32).reshape(-1, 512)
            mean = normalize(np.mean([normalize(r) for r in rows], axis=0))
            made.append(MapEntry(mean, self._make_identity(source, label), label))
        with self._lock:
            self._map = tuple(made)
            self._map_threshold = float(threshold)
            self._matches = {}
            if made:
                self._source_requested = True

    def set_face_map_photos(self, pairs: Sequence[tuple[Path, Path]], threshold: float = 0.4) -> None:
        """Map mode from photos: faces like TARGET's photo wear SOURCE's face; read when models load.

        Raises SourceFaceError (a photo without a face, unreadable) once the models are loaded.
        """
        self._pending_map = (tuple((Path(t), Path(s)) for t, s in pairs), float(threshold))
        self._source_requested = True
        if self._parts is not None:
            self._apply_pending()

    def _load_map(self, pairs: tuple[tuple[Path, Path], ...], threshold: float) -> None:
        parts = self._parts
        assert parts is not None
        if parts.source_finder is None:
            raise SourceFaceError("This face swap was set up without a face detector for photos.")
        entries = []
        for target, source in pairs:
            entries.append(
                (
                    parts.source_finder(target).embedding,
                    parts.source_finder(source).embedding,
                    f"{target.name}→{source.name}",
                )
            )
        self.set_face_map(entries, threshold)

    @property
    def face_chosen(self) -> bool:
        """The user asked to wear a face (it may still be loading, or have failed to load)."""
        return self._source_requested

    @property
    def source(self) -> SourceIdentity | None:
        return self._identity

    @property
    def look(self) -> FaceLook:
        return self._look

    @property
    def tracker(self) -> Tracker | None:
        """The face tracker once the models are loaded (adaptive quality sets its processing size)."""
        parts = self._parts
        return parts.tracker if parts is not None else None

    @property
    def enhancer_state(self) -> str:
        """ "off", "on", "loading <id>", "failed: …" (adaptive quality waits while one loads)."""
        return self._enhancer_state

    @property
    def notice(self) -> str | None:
        """The latest thing the user should know (no source set, fp16 fallback, ...)."""
        swapper = self._swapper
        if swapper is not None and getattr(swapper, "notice", None):
            return swapper.notice
        return self._notice

    def _say(self, message: str) -> None:
        if message != self._notice:
            log.warning(message)
        self._notice = message

    # --- the look and its models (any thread; never restarts the pipeline) ---------------------------
    def set_look(self, look: FaceLook) -> None:
        """Use this look from the next frame on; a model it needs loads beside the running one."""
        self._look = look
        enhancer = self._enhancer
        if enhancer is not None and look.enhancer == enhancer.name:
            enhancer.fidelity = look.codeformer_fidelity
        if self._parts is not None:
            self._want_enhancer(look, wait=False)

    @property
    def temporal_reuse(self) -> bool:
        return self._reuse_async

    def set_temporal_reuse(self, on: bool) -> None:
        """Swap on the swapper's own thread at the rate the machine allows (live), or in line."""
        self._reuse_async = bool(on)

    @property
    def swap_interval(self) -> int:
        return self._swap_interval

    def set_swap_interval(self, every: int) -> None:
        """Start a swap at most every ``every`` frames, showing the latest one between (adaptive
        quality's swap-rate rung); 1 = every frame (on its own thread: as often as it can)."""
        self._swap_interval = max(1, int(every))

    def set_swapper(self, swapper_id: str, wait: bool = False) -> None:
        """Switch the swapper family (e.g. to hyperswap_1a_256); identities are re-made for it."""
        if swapper_id == self._swapper_id or self._parts is None:
            self._swapper_id = swapper_id
            return
        load = self._parts.load_swapper
        if load is None:
            self._say(f"This face swap was set up without a way to load {swapper_id}.")
            return

        def work() -> None:
            try:
                swapper = load(swapper_id)
            except (KeyError, RuntimeError, OSError, ValueError) as exc:
                self._say(f"Could not switch the face swapper to {swapper_id}: {exc}")
                return
            with self._lock:
                self._swapper = swapper
                self._swapper_id = swapper_id
                if self._identity is not None:
                    old = self._identity
                    self._identity = SourceIdentity(
                        old.embedding, swapper.latent(old.embedding), old.label, swapper.name
                    )
                self._map = tuple(
                    MapEntry(
                        e.target,
                        SourceIdentity(
                            e.source.embedding, swapper.latent(e.source.embedding), e.label, swapper.name
                        ),
                        e.label,
                    )
                    for e in self._map
                )

        self._run(work, wait)

    def _want_enhancer(self, look: FaceLook, wait: bool) -> None:
        wanted = look.enhancer
        current = self._enhancer
        # asking again for an enhancer that failed retries it (the user may have installed it since),
        # at most every ENHANCER_RETRY_S: a slider dragged beside it must not reload a broken file
        retry = (
            self._enhancer_state.startswith(("failed", "unavailable"))
            and time.monotonic() - self._enhancer_failed_at >= ENHANCER_RETRY_S
        )
        if (
            wanted == self._enhancer_wanted
            and not retry
            and (not wanted or current is not None or not wait or self._enhancer_state != "off")
        ):
            return
        self._enhancer_wanted = wanted
        if not wanted:
            self._enhancer = None
            self._enhancer_state = "off"
            return
        if current is not None and current.name == wanted:
            self._enhancer_state = "on"
            return
        assert self._parts is not None
        load = self._parts.load_enhancer
        if load is None:
            self._enhancer_state = f"unavailable: {wanted} cannot be loaded here"
            self._say(f"Face enhancer off: this face swap was set up without a way to load {wanted}.")
            return
        self._enhancer_state = f"loading {wanted}"
        fidelity = look.codeformer_fidelity

        def work() -> None:
            try:
                enhancer = load(wanted, fidelity)
            except (KeyError, RuntimeError, OSError, ValueError) as exc:
                if self._enhancer_wanted != wanted:
                    return  # the user moved on while it loaded: that choice's state counts
                # the swap goes on without it: a broken enhancer must never stop the face swap, and
                # the one it was to replace stops too (the notice says "off", so it must be off)
                self._enhancer = None
                self._enhancer_state = f"failed: {exc}"
                self._say(f"Face enhancer off: {exc}")
                return
            if self._closed or self._enhancer_wanted != wanted:
                return
            enhancer.fidelity = self._look.codeformer_fidelity
            self._enhancer = enhancer
            self._enhancer_state = "on"

        self._run(work, wait)

    @staticmethod
    def _run(work: Callable[[], None], wait: bool) -> None:
        if wait:
            work()
        else:
            threading.Thread(target=work, name="face-model-loader", daemon=True).start()

    # --- per frame -----------------------------------------------------------------------------------
    def prepare(self, frame: Frame) -> None:
        """Find this frame's faces ahead of ``process`` (the pipeline's prepare thread, one frame ahead)."""
        parts = self._parts
        if parts is None or self._swapper is None:
            return
        t0 = time.perf_counter()
        frame.faces = self._track(parts, frame)
        frame.stage_ms["face.detect_track"] = (time.perf_counter() - t0) * 1000.0

    def _track(self, parts: FaceSwapParts, frame: Frame) -> list[DetectedFace]:
        # the tracker keeps state from frame to frame: one frame at a time, in order
        with self._track_lock:
            return parts.tracker.update(frame.image, frame.captured_at)

    def process(self, frame: Frame) -> Frame:
        parts = self._parts
        swapper = self._swapper
        if parts is None or swapper is None:
            return frame
        self._frames += 1
        t0 = time.perf_counter()
        if frame.faces is None:
            faces = self._track(parts, frame)
            frame.stage_ms["face.detect_track"] = (time.perf_counter() - t0) * 1000.0
        else:
            faces = frame.faces
        t1 = time.perf_counter()
        # one read each: a concurrent change lands on the next frame
        identity, face_map, look, enhancer = self._identity, self._map, self._look, self._enhancer
        if face_map:
            plan, bystanders = self._plan_map(frame.image, faces, face_map)
        elif identity is not None:
            chosen = sorted(faces, key=lambda f: f.area, reverse=True)[: self.max_faces]
            plan, bystanders = [(f, identity) for f in chosen], set()
        else:
            self._swap_faces_last = 0
            # nothing swapped: if a face is chosen (its photo failed to load) the guard covers these
            frame.face_outcome = FaceOutcome(tuple(FaceRegion(_box(f), False) for f in faces))
            if self._notice is None:
                self._say(NO_SOURCE)
            return frame
        image = frame.image
        if not image.flags.writeable:
            image = frame.image = image.copy()
        if self._reuse_async or self._swap_interval > 1:
            return self._process_reusing(frame, faces, plan, bystanders, swapper, look, enhancer, t1)
        # every face is cropped (and enhanced) from the unpasted frame before any is pasted, so
        # overlapping faces never read a pasted neighbour
        jobs: list[FaceJob] = []
        for face, who in plan:
            latent = who.latent if who.swapper in ("", swapper.name) else swapper.latent(who.embedding)
            job = self._renderer.swap(image, face, swapper, latent)
            if job is not None:
                jobs.append(job)
        t2 = time.perf_counter()
        enhanced = 0
        if enhancer is not None and jobs:
            try:
                jobs = [self._renderer.enhance(image, job, enhancer, look.enhancer_blend) for job in jobs]
                enhanced = sum(1 for job in jobs if "enhance" in job.ms)
            except (RuntimeError, ValueError) as exc:
                # a model that fails when run: the swap goes on unenhanced, and the user is told
                self._enhancer = None
                self._enhancer_state = f"failed: {exc}"
                self._say(f"Face enhancer off: {exc}")
        t3 = time.perf_counter()
        jobs = [self._renderer.finish(job, look) for job in jobs]
        t4 = time.perf_counter()
        done, pasted = self._paste(frame, jobs, look, "SWAP")
        t5 = time.perf_counter()
        frame.stage_ms["face.swap"] = (t2 - t1) * 1000.0
        if enhancer is not None:
            frame.stage_ms["face.enhance"] = (t3 - t2) * 1000.0
            self._stage.enhancer_ms = (t3 - t2) * 1000.0
        frame.stage_ms["face.mask"] = (t4 - t3) * 1000.0
        frame.stage_ms["face.paste"] = (t5 - t4) * 1000.0
        self._stage.mask_ms = (t4 - t3) * 1000.0
        if done:
            self._stage.swapped_frames += 1
        if enhanced:
            self._stage.enhanced_frames += 1
            self._stage.enhanced_faces += enhanced
            self._stage.enhancer_ms_total += (t3 - t2) * 1000.0
        self._swap_faces_last = done
        self._total_faces_swapped += done
        # every face found: swapped, bystander (map mode), or not swapped (not chosen by max_faces,
        # collapsed, swapper gave None, not recognised in map mode) — those the guard covers
        frame.face_outcome = FaceOutcome(
            tuple(FaceRegion(_box(f), id(f) in pasted, id(f) in bystanders) for f in faces)
        )
        return frame

    def _process_reusing(
        self,
        frame: Frame,
        faces: list[DetectedFace],
        plan: list[tuple[DetectedFace, SourceIdentity]],
        bystanders: set[int],
        swapper: Swapper,
        look: FaceLook,
        enhancer: Enhancer | None,
        t1: float,
    ) -> Frame:
        """Temporal reuse (reuse.py): start a swap when one is due, show each face's latest swap."""
        image, now = frame.image, frame.captured_at
        worker = self._worker
        if worker is not None and worker.failure is not None:
            failure, self._worker = worker.failure, None
            worker.close(timeout=0)
            raise ProcessorError(f"Face swap stopped: {failure}") from failure
        due = plan and self._frames - self._last_swap_frame >= self._swap_interval
        if due and (not self._reuse_async or worker is None or worker.idle):
            task = SwapTask(
                seq=self._frames,
                image=image.copy() if self._reuse_async else image,
                captured_at=now,
                faces=tuple(
                    (f, w.latent if w.swapper in ("", swapper.name) else swapper.latent(w.embedding), id(w))
                    for f, w in plan
                ),
                swapper=swapper,
                enhancer=enhancer,
                enhancer_blend=look.enhancer_blend,
            )
            self._last_swap_frame = self._frames
            if self._reuse_async:
                if worker is None:
                    worker = self._worker = SwapWorker(self._cache, self._swap_done)
                worker.submit(task)
                # a machine that swaps within a frame shows every frame's own swap
                if worker.swap_ms <= FRESH_WAIT_S * 1500.0:
                    worker.wait_done(task.seq, FRESH_WAIT_S)
            else:
                made, enhanced, problem = swap_task(self._renderer, task)
                self._cache.put(made, time.perf_counter())
                self._swap_done(task, made, enhanced, problem)
        t2 = time.perf_counter()
        jobs: list[FaceJob] = []
        reused = fresh = 0
        enhanced_shown = 0
        present = frozenset(f.track_id for f in faces)
        for face, who in plan:
            cached = self._cache.find(face, now, id(who), present)
            if cached is None:
                continue  # no swap of this face yet: unswapped, so the guard covers it
            job = self._renderer.reuse(
                image, face, cached.size, cached.template, cached.result, cached.mask, cached.finish
            )
            if job is None:
                continue
            if cached.captured_at >= now:
                fresh += 1
            else:
                reused += 1
                self._stage.swap_age_ms = (now - cached.captured_at) * 1000.0
            enhanced_shown += int(cached.enhanced)
            jobs.append(job)
        self._cache.forget_except({f.track_id for f in faces}, now)
        # an earlier swap has an earlier mouth: the camera's mouth keeps the lips on the voice
        finish_look = look
        if reused and self.live_mouth and not look.mouth_mask:
            finish_look = dataclasses.replace(look, mouth_mask=True)
        jobs = [self._renderer.finish(job, finish_look) for job in jobs]
        t3 = time.perf_counter()
        done, pasted = self._paste(frame, jobs, look, "SWAP*" if reused else "SWAP")
        t4 = time.perf_counter()
        frame.stage_ms["face.swap"] = (t2 - t1) * 1000.0
        frame.stage_ms["face.mask"] = (t3 - t2) * 1000.0
        frame.stage_ms["face.paste"] = (t4 - t3) * 1000.0
        if done:
            self._stage.swapped_frames += 1
            if reused:
                self._stage.reused_frames += 1
            else:
                self._stage.fresh_frames += 1
        if enhanced_shown:
            self._stage.enhanced_frames += 1
            self._stage.enhanced_faces += enhanced_shown
        self._swap_faces_last = done
        self._total_faces_swapped += done
        frame.face_outcome = FaceOutcome(
            tuple(FaceRegion(_box(f), id(f) in pasted, id(f) in bystanders) for f in faces)
        )
        return frame

    def _paste(self, frame: Frame, jobs: list[FaceJob], look: FaceLook, label: str) -> tuple[int, set[int]]:
        """Paste the finished jobs into ``frame.image``: how many were pasted, and the ids of the faces
        that count as swapped for the privacy guard."""
        done = 0
        pasted: set[int] = set()
        for job in jobs:
            if not self._renderer.paste(frame.image, job, look):
                continue
            done += 1
            # below half opacity the face shown is mostly the camera's: the guard must treat it as
            # unswapped (covered while the privacy cover is on), not as a swap
            if look.opacity >= MIN_SWAPPED_OPACITY:
                pasted.add(id(job.face))
            if self.debug_overlay:
                x1, y1, x2, y2 = _box(job.face)
                frame.annotations.append(
                    Annotation(box=(x1, y1, x2, y2), label=label, points=job.face.kps.copy())
                )
        return done, pasted

    def _swap_done(self, task: SwapTask, made: list[SwappedFace], enhanced: int, problem: str | None) -> None:
        """A swap finished (swapper thread, or in line): account the enhancer's work and failures."""
        if problem is not None and self._enhancer is task.enhancer:
            self._enhancer = None
            self._enhancer_state = f"failed: {problem}"
            self._say(f"Face enhancer off: {problem}")

    def _plan_map(
        self, image: np.ndarray, faces: list[DetectedFace], face_map: tuple[MapEntry, ...]
    ) -> tuple[list[tuple[DetectedFace, SourceIdentity]], set[int]]:
        embedder = self._parts.embedder if self._parts is not None else None
        plan: list[tuple[DetectedFace, SourceIdentity]] = []
        bystanders: set[int] = set()
        seen: set[int] = set()
        for face in faces:
            match = self._matches.get(face.track_id) if face.track_id >= 0 else None
            if match is None or self._frames - match.frame >= MAP_REFRESH_FRAMES:
                match = self._recognise(image, face, face_map, embedder)
                if match is not None and face.track_id >= 0:
                    self._matches[face.track_id] = match
            seen.add(face.track_id)
            if match is None:
                self._stage.map_unknown += 1
            elif match.entry < 0:
                bystanders.add(id(face))
                self._stage.map_bystanders += 1
            else:
                plan.append((face, face_map[match.entry].source))
                self._stage.map_matched += 1
        for track in [t for t in self._matches if t not in seen]:
            del self._matches[track]
        return plan, bystanders

    def _recognise(
        self,
        image: np.ndarray,
        face: DetectedFace,
        face_map: tuple[MapEntry, ...],
        embedder: Embedder | None,
    ) -> _TrackMatch | None:
        if embedder is None:
            return None
        try:
            vector = embedder.embed(image, face.kps)
        except (ValueError, RuntimeError, np.linalg.LinAlgError):
            return None  # not recognisable: counted as unswapped, so it is covered
        sims = [float(np.dot(vector, e.target)) for e in face_map]
        best = int(np.argmax(sims))
        entry = best if sims[best] >= self._map_threshold else -1
        return _TrackMatch(self._frames, entry, sims[best])

    def counters(self) -> dict[str, Any]:
        look = self._look
        enhancer = self._enhancer
        out: dict[str, Any] = {
            "swap_faces_last": self._swap_faces_last,
            "total_faces_swapped": self._total_faces_swapped,
            "frames_swapped": self._stage.swapped_frames,
            "enhanced_frames": self._stage.enhanced_frames,
            "enhanced_faces": self._stage.enhanced_faces,
            "enhancer": enhancer.name if enhancer is not None else "",
            "enhancer_state": self._enhancer_state,
            "enhancer_ms": round(self._stage.enhancer_ms, 2),
            #: mean over the frames that were enhanced
            "enhancer_ms_mean": round(self._stage.enhancer_ms_total / max(1, self._stage.enhanced_frames), 2),
            "enhancer_fidelity": (
                round(look.codeformer_fidelity, 3) if look.enhancer == "codeformer" else None
            ),
            "face_stages": look.active_stages(),
            "face_mask_ms": round(self._stage.mask_ms, 2),
            "map_mode": bool(self._map),
            "map_people": [e.label for e in self._map],
            "map_problem": self._map_problem or "",
            "map_faces_matched": self._stage.map_matched,
            "map_bystanders": self._stage.map_bystanders,
            "map_unrecognised": self._stage.map_unknown,
            "swap_mode": self._swap_mode(),
            "swap_refresh_hz": round(self._cache.refresh_hz(), 2),
            "swaps_run": self._cache.swaps,
            "swap_ms": round(self._worker.swap_ms, 1) if self._worker is not None else None,
            "swap_age_ms": round(self._stage.swap_age_ms, 1),
            "frames_fresh_swap": self._stage.fresh_frames,
            "frames_reused_swap": self._stage.reused_frames,
            "face_swap_source": self._identity.label if self._identity else "",
            "face_swap_notice": self.notice or "",
        }
        if self._parts is not None:
            out["face_providers"] = list(self._parts.providers)
            out["face_swapper_model"] = self._swapper.name if self._swapper is not None else ""
            try:
                out.update(self._parts.tracker.counters())
            except Exception:  # counters are best effort
                log.debug("tracker counters failed", exc_info=True)
        elif self._closed_counters:
            return dict(self._closed_counters)  # the run's last figures, taken as it closed
        return out

    def _swap_mode(self) -> str:
        if self._reuse_async:
            every = "" if self._swap_interval == 1 else f", at most every {self._swap_interval} frames"
            return f"own thread, latest swap reused{every}"
        if self._swap_interval == 1:
            return "every frame"
        return f"every {self._swap_interval} frames, reused between"

    def close(self) -> None:
        # Final metrics are read after the pipeline stopped: keep what described the run.
        self._closed = True
        if self._parts is not None:
            self._closed_counters = self.counters()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()
        self._parts = None


def _box(face: DetectedFace) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in face.box)
    return (x1, y1, x2, y2)


# --- building from settings ----------------------------------------------------------------------------
def load_swapper(factory: SessionFactory, model_path: Callable[[str], Path], precision: str) -> FaceSwapper:
    """inswapper for ``precision``; fp16 keeps a lazy fp32 fallback for broken fp16 output."""
    return load_swapper_model(DEFAULT_SWAPPER, factory, model_path, precision)


def build_face_swap_processor(
    face: FaceSettings,
    model_path: Callable[[str], Path],
    source_image: Path | None = None,
    *,
    session_factory: SessionFactory | None = None,
    paster: FacePaster | None = None,
    live: bool = True,
) -> FaceSwapProcessor:
    """The face stage from settings: the one place the CLI, the window and the self-test get it from.

    Loads det_10g, w600k_r50, the chosen swapper and (when set) the enhancer in ``start()``.
    ``model_path`` is e.g. ``ModelStore().path``; a missing model or unusable provider becomes a
    ProcessorError carrying the user-facing message, so the chain passes frames through (covered).
    A missing or broken *enhancer* only switches the enhancer off, with a message: the swap goes on.
    ``live``: temporal reuse as the settings say; offline (a file) every frame gets its own swap.
    """
    from mirage_desktop.processing.face.detector import ScrfdDetector
    from mirage_desktop.processing.face.enhancers import load_enhancer
    from mirage_desktop.processing.face.tracker import FaceTracker

    source = source_image or (Path(face.source_face) if face.source_face else None)
    reuse = live and face.temporal_reuse

    def load() -> FaceSwapParts:
        factory = session_factory or SessionFactory(
            ProviderConfig(
                requested=face.providers,
                cuda_only=face.cuda_only,
                trt_fp16=face.swapper_precision == "fp16",
                cache_dir=AppPaths.from_env().cache_dir,
            )
        )
        det_model = factory.create(model_path("det_10g"))

        def detector() -> ScrfdDetector:
            # one detector object per thread (they share the session): source photos are read off-thread
            return ScrfdDetector(
                det_model.session,
                input_size=face.detector_size,
                score_threshold=face.detector_score,
                model_name=det_model.path.name,
            )

        tracker = FaceTracker(
            detector(),
            detect_interval=face.detect_interval,
            max_faces=face.max_faces,
            proc_max_dim=face.proc_max_dim,
        )
        # with temporal reuse the swapper and enhancer run on the swap thread: one core fewer, so the
        # picture's own work (detection, paste) is never starved by a swap in progress
        swap_factory = (
            dataclasses.replace(factory, intra_op_threads=background_threads()) if reuse else factory
        )
        swapper = load_swapper_model(face.swapper, swap_factory, model_path, face.swapper_precision)
        embedder = ArcFaceEmbedder(factory.create(model_path("w600k_r50")))
        photo_detector = detector()

        def find(path: Path) -> SourceFace:
            return load_source_face(path, photo_detector, embedder)

        return FaceSwapParts(
            tracker=tracker,
            swapper=swapper,
            paster=paster,
            source_finder=find,
            providers=list(det_model.providers),
            load_enhancer=lambda enhancer_id, fidelity: load_enhancer(
                enhancer_id, swap_factory, model_path, fidelity
            ),
            load_swapper=lambda swapper_id: load_swapper_model(
                swapper_id, swap_factory, model_path, face.swapper_precision
            ),
            embedder=embedder,
        )

    return FaceSwapProcessor(
        loader=load,
        source_image=source,
        max_faces=face.max_faces,
        debug_overlay=face.debug_overlay,
        look=FaceLook.from_settings(face),
        swapper_id=face.swapper,
        temporal_reuse=reuse,
    )


__all__: Sequence[str] = (
    "FaceSwapParts",
    "FaceSwapProcessor",
    "MapEntry",
    "SourceIdentity",
    "build_face_swap_processor",
    "load_swapper",
)
