"""The face-swap frame processor: track faces, swap the largest ones to the source identity, paste back."""

from __future__ import annotations

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
from mirage_desktop.processing.face.align import align_matrix, warp_crop
from mirage_desktop.processing.face.embedder import ArcFaceEmbedder, normalize
from mirage_desktop.processing.face.paste import FacePaster
from mirage_desktop.processing.face.source_face import SourceFace, SourceFaceError, load_source_face
from mirage_desktop.processing.face.swapper import SWAP_SIZE, FaceSwapper, load_emap
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
    """One identity, ready for the swapper; replaced as a whole so a frame never sees half of one."""

    embedding: np.ndarray
    latent: np.ndarray
    label: str = ""


@dataclass(slots=True)
class FaceSwapParts:
    """What the processor runs on; ``source_finder``: photo → SourceFace (None: embeddings only)."""

    tracker: Tracker
    swapper: FaceSwapper
    paster: FacePaster
    source_finder: Callable[[Path], SourceFace] | None = None
    providers: list[str] = field(default_factory=list)


class FaceSwapProcessor(FrameProcessor):
    """Swaps up to ``max_faces`` of the largest tracked faces in each frame to the source identity.

    Give it its parts directly, or a ``loader`` that builds them in ``start()`` (model loading belongs
    on the processing thread and its failures must become a ProcessorError, not a crash).
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
        self._lock = threading.Lock()  # serialises identity changes, never taken by process()
        self._notice: str | None = None
        self._swap_faces_last = 0
        self._total_faces_swapped = 0
        self._frames = 0
        self._closed_counters: dict[str, Any] = {}
        if parts is not None:
            self._apply_pending()

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
            self._apply_pending()

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

    # --- identity (any thread) -----------------------------------------------------------------------
    def set_source_embedding(self, embedding: np.ndarray, label: str = "") -> None:
        """Wear this identity from the next frame on. Safe to call from any thread."""
        self._source_requested = True
        vector = normalize(embedding)
        if self._parts is None:
            self._pending_embedding = vector
            return
        latent = self._parts.swapper.latent(vector)
        with self._lock:
            self._identity = SourceIdentity(embedding=vector, latent=latent, label=label)
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

    @property
    def face_chosen(self) -> bool:
        """The user asked to wear a face (it may still be loading, or have failed to load)."""
        return self._source_requested

    @property
    def source(self) -> SourceIdentity | None:
        return self._identity

    @property
    def notice(self) -> str | None:
        """The latest thing the user should know (no source set, fp16 fallback, ...)."""
        if self._parts is not None and self._parts.swapper.notice:
            return self._parts.swapper.notice
        return self._notice

    def _say(self, message: str) -> None:
        if message != self._notice:
            log.warning(message)
        self._notice = message

    # --- per frame -----------------------------------------------------------------------------------
    def process(self, frame: Frame) -> Frame:
        parts = self._parts
        if parts is None:
            return frame
        self._frames += 1
        t0 = time.perf_counter()
        faces = parts.tracker.update(frame.image, frame.captured_at)
        t1 = time.perf_counter()
        frame.stage_ms["face.detect_track"] = (t1 - t0) * 1000.0
        identity = self._identity  # one read: a concurrent set_source_* lands on the next frame
        if identity is None:
            self._swap_faces_last = 0
            # nothing swapped: if a face is chosen (its photo failed to load) the guard covers these
            frame.face_outcome = FaceOutcome(tuple(FaceRegion(_box(f), False) for f in faces))
            if self._notice is None:
                self._say(NO_SOURCE)
            return frame
        chosen = sorted(faces, key=lambda f: f.area, reverse=True)[: self.max_faces]
        image = frame.image
        if not image.flags.writeable:
            image = frame.image = image.copy()
        # crop every face before pasting any, so overlapping faces never read a pasted neighbour
        jobs: list[tuple[DetectedFace, np.ndarray, np.ndarray]] = []
        for face in chosen:
            try:
                matrix = align_matrix(face.kps, SWAP_SIZE)
            except (ValueError, np.linalg.LinAlgError):
                continue  # collapsed landmarks: nothing sensible to swap
            jobs.append((face, matrix, warp_crop(image, matrix, SWAP_SIZE)))
        swapped = [parts.swapper.swap(crop, identity.latent) for _face, _m, crop in jobs]
        t2 = time.perf_counter()
        done = 0
        pasted: set[int] = set()
        for (face, matrix, crop), result in zip(jobs, swapped, strict=True):
            if result is None:
                continue
            if parts.paster.paste(image, result, matrix, crop) is None:
                continue
            done += 1
            pasted.add(id(face))
            if self.debug_overlay:
                x1, y1, x2, y2 = (float(v) for v in face.box)
                frame.annotations.append(
                    Annotation(box=(x1, y1, x2, y2), label="SWAP", points=face.kps.copy())
                )
        t3 = time.perf_counter()
        frame.stage_ms["face.swap"] = (t2 - t1) * 1000.0
        frame.stage_ms["face.paste"] = (t3 - t2) * 1000.0
        self._swap_faces_last = done
        self._total_faces_swapped += done
        # every face found, swapped or not (not chosen by max_faces, collapsed, swapper gave None)
        frame.face_outcome = FaceOutcome(tuple(FaceRegion(_box(f), id(f) in pasted) for f in faces))
        return frame

    def counters(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "swap_faces_last": self._swap_faces_last,
            "total_faces_swapped": self._total_faces_swapped,
            "enhanced_frames": 0,
            "face_swap_source": self._identity.label if self._identity else "",
            "face_swap_notice": self.notice or "",
        }
        if self._parts is not None:
            out["face_providers"] = list(self._parts.providers)
            out["face_swapper_model"] = self._parts.swapper.name
            try:
                out.update(self._parts.tracker.counters())
            except Exception:  # counters are best effort
                log.debug("tracker counters failed", exc_info=True)
        else:
            out = {**self._closed_counters, **out}
        return out

    def close(self) -> None:
        # Final metrics are read after the pipeline stopped: keep what described the run.
        if self._parts is not None:
            self._closed_counters = self.counters()
        self._parts = None


def _box(face: DetectedFace) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in face.box)
    return (x1, y1, x2, y2)


# --- building from settings ----------------------------------------------------------------------------
def load_swapper(factory: SessionFactory, model_path: Callable[[str], Path], precision: str) -> FaceSwapper:
    """The swapper for ``precision``; fp16 keeps a lazy fp32 fallback for broken fp16 output."""

    def fp32() -> FaceSwapper:
        path = model_path("inswapper_128")
        return FaceSwapper(factory.create(path), load_emap(path))

    if precision != "fp16":
        return fp32()
    try:
        path16 = model_path("inswapper_128_fp16")
    except RuntimeError as exc:
        log.warning("fp16 swapper unavailable (%s); using fp32", exc)
        return fp32()
    return FaceSwapper(factory.create(path16), load_emap(path16), fallback=fp32)


def build_face_swap_processor(
    face: FaceSettings,
    model_path: Callable[[str], Path],
    source_image: Path | None = None,
    *,
    session_factory: SessionFactory | None = None,
    paster: FacePaster | None = None,
) -> FaceSwapProcessor:
    """A FaceSwapProcessor that loads det_10g, w600k_r50 and inswapper in ``start()``.

    ``model_path`` is e.g. ``ModelStore().path``; a missing model or unusable provider becomes a
    ProcessorError carrying the user-facing message, so the chain passes frames through.
    """
    from mirage_desktop.processing.face.detector import ScrfdDetector
    from mirage_desktop.processing.face.tracker import FaceTracker

    source = source_image or (Path(face.source_face) if face.source_face else None)

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
        swapper = load_swapper(factory, model_path, face.swapper_precision)
        embedder = ArcFaceEmbedder(factory.create(model_path("w600k_r50")))
        photo_detector = detector()

        def find(path: Path) -> SourceFace:
            return load_source_face(path, photo_detector, embedder)

        return FaceSwapParts(
            tracker=tracker,
            swapper=swapper,
            paster=paster or FacePaster(SWAP_SIZE),
            source_finder=find,
            providers=list(det_model.providers),
        )

    return FaceSwapProcessor(
        loader=load, source_image=source, max_faces=face.max_faces, debug_overlay=face.debug_overlay
    )


__all__: Sequence[str] = (
    "FaceSwapParts",
    "FaceSwapProcessor",
    "SourceIdentity",
    "build_face_swap_processor",
    "load_swapper",
)
