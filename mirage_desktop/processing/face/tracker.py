"""Faces for every frame at a fraction of the detector's cost: detect every N frames, track in between.

Per frame:

* the frame is converted to grey and, when larger than ``proc_max_dim``, shrunk (INTER_AREA) —
  detection and tracking both run at that size, results are mapped back to full resolution;
* when a detection is due (every ``detect_interval`` frames, when there is no face, or right after
  a face was lost) the detector runs on this frame and its faces are matched to the known tracks
  by box overlap, so each person keeps their ``track_id``; a track the detection does not confirm
  is dropped at once;
* a detection is also forced, before any flow, when the picture says the last look is out of date
  (see ``_scene_changed``): a scene cut (the whole thumbnail changed against the previous frame), or
  the scene *outside the tracked faces* changed against the frame the detector last saw — that is
  where a new face can appear, and flow only ever follows the faces it already has; and when a
  tracked face is leaving the frame (its box mostly outside: flow has little left to hold on to);
* otherwise every track is carried over by optical flow (see ``flow``); if any track's confidence
  falls below ``min_confidence`` the detector runs on this very frame instead, so a returned face
  always belongs to the current frame and is never a stale position;
* keypoints are smoothed per track with a One-Euro filter.

Every face found is tracked and returned, largest first, not only ``max_faces`` of them: the face
stage swaps the largest ``max_faces`` and must report the others, unswapped, so the privacy guard
covers them (it cannot know which face is the user's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from mirage_desktop.processing.face.detector import as_bgr
from mirage_desktop.processing.face.flow import FlowParams, track_face
from mirage_desktop.processing.face.one_euro import OneEuroFilter, OneEuroParams
from mirage_desktop.processing.face.types import DetectedFace

#: detections overlapping a track's last box at least this much continue that track
MATCH_IOU = 0.3
#: a track the detector missed is remembered (not shown) this many frames, so a one-frame miss
#: does not give the person a new id and restart their smoothing
LOST_GRACE_FRAMES = 15
#: a detection further than this share of the face's size from its track restarts the smoothing
JUMP_RESET = 0.5
#: width of the grey thumbnail the scene-change measures run on (a few thousand pixels: ~0.05 ms)
THUMB_WIDTH = 64
#: mean absolute grey difference (0–255) to the previous frame's thumbnail that is a scene cut.
#: Measured on the testdata videos: hamilton_clip's three cuts give 27.7–30.5, its largest change
#: without a cut (fast motion just after one) 13.6; the talking heads stay under 3.7
CUT_MAD = 20.0
#: mean absolute grey difference, outside the tracked faces, to the thumbnail of the frame the
#: detector last ran on, above which the scene has changed enough that a new face may have entered
#: unseen. Measured (outside the tracked faces): talking_head_d0 at most 0.3, talking_head_long_d9
#: at most 2.55; hamilton_clip's median 3.4
CHANGE_MAD = 3.0
#: running mean (weight ACTIVITY_ALPHA per frame) of the frame-to-frame change outside the faces
#: above which the scene is busy (a crowd, a moving camera) and the detector runs on every frame:
#: there, a new face can enter on any frame and no single-frame measure tells it from the rest.
#: Measured: talking_head_d0 peaks at 0.22, talking_head_long_d9 at 1.68; hamilton_clip's median is
#: 3.6 and it was 2.4–2.2 on frames 89–90, where a face entered at the edge (the change against the
#: last detection there was only 1.7, under CHANGE_MAD: this is what catches it)
BUSY_MAD = 2.0
ACTIVITY_ALPHA = 0.3
#: tracked boxes grow by this share of their size before they are left out of the change measure
#: (their own motion is what flow follows; hair and shoulders move with them)
CHANGE_MASK_MARGIN = 0.5
#: a tracked face with less than this share of its box inside the frame is leaving: look again
MIN_VISIBLE = 0.75


class Detector(Protocol):
    def detect(self, image_bgr: np.ndarray, max_faces: int = 0) -> list[DetectedFace]: ...


@dataclass(slots=True)
class _Track:
    track_id: int
    kps: np.ndarray  # (5, 2) float64, raw (unsmoothed), full resolution
    box: np.ndarray  # (4,) float64, full resolution
    score: float
    smoother: OneEuroFilter
    last_seen: int = 0
    confidence: float = 1.0


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection-over-union of x1y1x2y2 boxes, (len(a), len(b))."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def _greedy_pairs(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    iou = iou.copy()
    while iou.size and iou.max() >= threshold:
        r, c = np.unravel_index(int(iou.argmax()), iou.shape)
        pairs.append((int(r), int(c)))
        iou[r, :] = -1.0
        iou[:, c] = -1.0
    return pairs


def _jump(old: np.ndarray, new: np.ndarray) -> float:
    """Largest keypoint move between two looks at a face, relative to the face's size."""
    size = float(max(np.ptp(old, axis=0).max(), 1.0))
    return float(np.linalg.norm(new - old, axis=1).max()) / size


def _move_box(box: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The axis-aligned box after a similarity: centre moved, sides scaled (rotation ignored)."""
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    half = np.array([box[2] - box[0], box[3] - box[1]]) / 2 * np.sqrt(abs(np.linalg.det(matrix[:, :2])))
    moved = matrix[:, :2] @ centre + matrix[:, 2]
    return np.concatenate([moved - half, moved + half])


@dataclass(slots=True)
class _Counters:
    frames: int = 0
    detections_run: int = 0
    frames_tracked: int = 0
    redetects_forced: int = 0
    #: why the forced ones ran (a detection may have more than one reason; the first is counted)
    redetects_cut: int = 0
    redetects_scene_change: int = 0
    redetects_edge: int = 0
    redetects_flow: int = 0
    tracks_started: int = 0
    last_confidence: float = 0.0
    #: the latest change outside the tracked faces since the last detection (see CHANGE_MAD)
    last_scene_change: float = 0.0


@dataclass(slots=True)
class _State:
    tracks: list[_Track] = field(default_factory=list)
    lost: list[_Track] = field(default_factory=list)
    grey: np.ndarray | None = None
    #: thumbnails of the previous frame and of the frame the detector last ran on
    thumb: np.ndarray | None = None
    key_thumb: np.ndarray | None = None
    #: running mean of the frame-to-frame change outside the tracked faces (see BUSY_MAD)
    activity: float = 0.0
    frame_shape: tuple[int, int] | None = None
    since_detect: int = 0
    next_id: int = 0
    force_detect: bool = False


class FaceTracker:
    """Detect-and-track loop over a stream of frames; call ``update`` once per frame, in order.

    ``max_faces`` is how many faces the caller swaps; the tracker follows and returns all of them
    regardless (largest first), so the faces it does not swap can be covered.
    """

    def __init__(
        self,
        detector: Detector,
        detect_interval: int = 5,
        max_faces: int = 1,
        proc_max_dim: int = 640,
        min_confidence: float = 0.70,
        flow: FlowParams | None = None,
        smoothing: OneEuroParams | None = None,
    ) -> None:
        if detect_interval < 1:
            raise ValueError(f"detect_interval must be at least 1, got {detect_interval}")
        if max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {max_faces}")
        if proc_max_dim < 64:
            raise ValueError(f"proc_max_dim must be at least 64 pixels, got {proc_max_dim}")
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be between 0 and 1, got {min_confidence}")
        self.detector = detector
        self.detect_interval = int(detect_interval)
        self.max_faces = int(max_faces)
        self.proc_max_dim = int(proc_max_dim)
        self.min_confidence = float(min_confidence)
        self.flow = flow or FlowParams()
        self.smoothing = smoothing or OneEuroParams()
        self._state = _State()
        self._counters = _Counters()

    def set_proc_max_dim(self, proc_max_dim: int) -> None:
        """Change the detection/tracking size live (adaptive quality); safe from any thread: the next
        frame, seeing a tracking image of another size, runs the detector instead of flow."""
        if proc_max_dim < 64:
            raise ValueError(f"proc_max_dim must be at least 64 pixels, got {proc_max_dim}")
        self.proc_max_dim = int(proc_max_dim)

    def reset(self) -> None:
        """Forget all faces (e.g. after the source changed); the next frame runs the detector."""
        self._state = _State(next_id=self._state.next_id)

    def counters(self) -> dict[str, Any]:
        c = self._counters
        return {
            "frames": c.frames,
            "detections_run": c.detections_run,
            "frames_tracked": c.frames_tracked,
            "redetects_forced": c.redetects_forced,
            "redetects_cut": c.redetects_cut,
            "redetects_scene_change": c.redetects_scene_change,
            "redetects_edge": c.redetects_edge,
            "redetects_flow": c.redetects_flow,
            "tracks_started": c.tracks_started,
            "faces_tracked": len(self._state.tracks),
            "last_track_confidence": round(c.last_confidence, 3),
            "last_scene_change": round(c.last_scene_change, 2),
        }

    def update(self, image_bgr: np.ndarray, timestamp: float) -> list[DetectedFace]:
        """Faces in this frame, full-resolution coordinates, smoothed keypoints, stable track ids."""
        image = as_bgr(image_bgr)
        state, counters = self._state, self._counters
        counters.frames += 1
        height, width = image.shape[:2]
        if state.frame_shape != (height, width):
            # A new resolution means a new source: old positions and flow history are meaningless.
            self.reset()
            state = self._state
            state.frame_shape = (height, width)
        shrink = min(1.0, self.proc_max_dim / max(height, width))
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if shrink < 1.0:
            size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        # Per axis, from the sizes actually produced, so rounding never shifts mapped coordinates.
        scale = np.array([grey.shape[1] / width, grey.shape[0] / height])

        thumb_size = (THUMB_WIDTH, max(1, round(THUMB_WIDTH * grey.shape[0] / grey.shape[1])))
        thumb = cv2.resize(grey, thumb_size, interpolation=cv2.INTER_AREA)

        due = (
            state.force_detect
            or not state.tracks
            or state.grey is None
            or state.grey.shape != grey.shape  # the processing size changed: flow needs one size
            or state.since_detect >= self.detect_interval - 1
        )
        reason = "" if due else self._stale_reason(thumb, (height, width))
        if not due and not reason and self._track_all(state.grey, grey, scale):
            counters.frames_tracked += 1
            state.since_detect += 1
        else:
            if not due:
                counters.redetects_forced += 1
                reason = reason or "flow"
                setattr(counters, f"redetects_{reason}", getattr(counters, f"redetects_{reason}") + 1)
            self._detect(image, scale, counters.frames)
            state.key_thumb = thumb
        state.grey, state.thumb = grey, thumb
        faces = [
            DetectedFace(
                box=t.box.astype(np.float32),
                kps=t.smoother(t.kps, timestamp).astype(np.float32),
                score=t.score,
                track_id=t.track_id,
            )
            for t in state.tracks
        ]
        # largest first, as the detector gives them: the face stage swaps the first max_faces
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def _stale_reason(self, thumb: np.ndarray, shape: tuple[int, int]) -> str:
        """Why the tracks can no longer stand for what is in this frame ("" when they still can)."""
        state = self._state
        previous = state.thumb
        if (
            previous is not None
            and previous.shape == thumb.shape
            and cv2.absdiff(thumb, previous).mean() >= CUT_MAD
        ):
            return "cut"
        if state.key_thumb is not None and state.key_thumb.shape == thumb.shape:
            outside = np.ones(thumb.shape, bool)
            sx, sy = thumb.shape[1] / shape[1], thumb.shape[0] / shape[0]
            for t in state.tracks:
                x1, y1, x2, y2 = t.box
                mx, my = CHANGE_MASK_MARGIN * (x2 - x1), CHANGE_MASK_MARGIN * (y2 - y1)
                c0, r0 = max(0, int((x1 - mx) * sx)), max(0, int((y1 - my) * sy))
                c1, r1 = int(np.ceil((x2 + mx) * sx)), int(np.ceil((y2 + my) * sy))
                outside[r0:r1, c0:c1] = False
            # with the faces filling the frame there is nowhere else for a face to appear
            if outside.any():
                change = float(cv2.absdiff(thumb, state.key_thumb)[outside].mean())
                step = float(cv2.absdiff(thumb, previous)[outside].mean()) if previous is not None else 0.0
                state.activity += ACTIVITY_ALPHA * (step - state.activity)
                self._counters.last_scene_change = change
                if change >= CHANGE_MAD or state.activity >= BUSY_MAD:
                    return "scene_change"
        height, width = shape
        for t in state.tracks:
            x1, y1, x2, y2 = t.box
            area = max((x2 - x1) * (y2 - y1), 1e-6)
            inside = max(0.0, min(x2, width) - max(x1, 0.0)) * max(0.0, min(y2, height) - max(y1, 0.0))
            if inside / area < MIN_VISIBLE:
                return "edge"
        return ""

    def _track_all(self, prev: np.ndarray, cur: np.ndarray, scale: np.ndarray) -> bool:
        """Move every track by flow; False (and nothing moved) when any of them is not trustworthy."""
        results = []
        for track in self._state.tracks:
            result = track_face(prev, cur, track.kps * scale, self.flow)
            self._counters.last_confidence = result.confidence
            if result.matrix is None or result.confidence < self.min_confidence:
                return False
            results.append(result)
        for track, result in zip(self._state.tracks, results, strict=True):
            matrix = result.matrix.astype(np.float64)
            # The fit is in tracking-image pixels; its linear part is scale-free, its shift is not.
            matrix[:, 2] /= scale
            track.kps = track.kps @ matrix[:, :2].T + matrix[:, 2]
            track.box = _move_box(track.box, matrix)
            track.confidence = result.confidence
            track.last_seen = self._counters.frames
        return True

    def _detect(self, image: np.ndarray, scale: np.ndarray, frame: int) -> None:
        state = self._state
        self._counters.detections_run += 1
        small = image
        if scale.min() < 1.0:
            size = (round(image.shape[1] * scale[0]), round(image.shape[0] * scale[1]))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        # every face, not max_faces of them: those not swapped must still be reported to be covered
        found = self.detector.detect(small, max_faces=0)
        state.since_detect = 0
        candidates = state.tracks + [t for t in state.lost if frame - t.last_seen <= LOST_GRACE_FRAMES]
        boxes = np.array([f.box for f in found], dtype=np.float64).reshape(-1, 4) / np.tile(scale, 2)
        known = np.array([t.box for t in candidates], dtype=np.float64).reshape(-1, 4)
        pairs = dict((d, t) for t, d in _greedy_pairs(iou_matrix(known, boxes), MATCH_IOU))
        tracks: list[_Track] = []
        for index, face in enumerate(found):
            kps = np.asarray(face.kps, dtype=np.float64) / scale
            if index in pairs:
                track = candidates[pairs[index]]
                if _jump(track.kps, kps) > JUMP_RESET:
                    # A move this large between two looks is a cut or a missed stretch, not jitter:
                    # smoothing across it would show a blend of the old and new position.
                    track.smoother.reset()
                track.kps, track.box, track.score = kps, boxes[index], float(face.score)
            else:
                track = _Track(
                    track_id=state.next_id,
                    kps=kps,
                    box=boxes[index],
                    score=float(face.score),
                    smoother=OneEuroFilter(self.smoothing),
                )
                state.next_id += 1
                self._counters.tracks_started += 1
            track.last_seen, track.confidence = frame, 1.0
            tracks.append(track)
        kept = {id(t) for t in tracks}
        vanished = [t for t in state.tracks if id(t) not in kept]
        state.lost = [t for t in candidates if id(t) not in kept and frame - t.last_seen <= LOST_GRACE_FRAMES]
        state.tracks = tracks
        # Look again on the next frame when someone vanished: it may have been a single missed
        # detection, and otherwise the frame after confirms the face is gone.
        state.force_detect = bool(vanished)
