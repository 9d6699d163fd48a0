"""Colour transfer once per swap (issue 17): frames that show an earlier swap reuse its colour match.

Real parts: the face stage (FaceSwapProcessor) on frames of a test video, dlib's landmarks for the
face, the oracle swap (the source photo's own face) tinted so the colour match has work to do. The
face stage swaps every 5th frame in line (the swap-rate rung of temporal reuse) or on its own thread.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mirage_desktop.frame import Frame
from mirage_desktop.processing.face.color import transfer_color
from mirage_desktop.processing.face.face_swap import FaceSwapParts, FaceSwapProcessor
from mirage_desktop.processing.face.look import FaceLook
from mirage_desktop.testmodels.face_quality import (
    DlibFaces,
    GivenFaces,
    OracleSwapper,
    RecordingRenderer,
    TintSwapper,
    detected_face,
)

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"
EVERY = 5


@pytest.fixture(scope="module")
def scene():
    """Frames of talking_head_d0, each with its own face (dlib), and the tinted oracle."""
    try:
        dlib_faces = DlibFaces()
    except (RuntimeError, ImportError) as exc:
        pytest.skip(str(exc))
    photo = cv2.imread(str(TESTDATA / "faces" / "obama.jpg"))
    (src,) = dlib_faces.faces(photo)[:1]
    swapper = TintSwapper(OracleSwapper(photo, dlib_faces.kps5(src), 128), (30.0, -10.0, -25.0))
    cap = cv2.VideoCapture(str(TESTDATA / "video" / "talking_head_d0.mp4"))
    frames, faces = [], []
    while len(frames) < 2 * EVERY + 2:
        ok, image = cap.read()
        if not ok:
            break
        found = dlib_faces.faces(image, upsample=0)
        if found:
            frames.append(image)
            faces.append(detected_face(dlib_faces.kps5(found[0]), dlib_faces.box(found[0]), track_id=0))
    cap.release()
    assert len(frames) == 2 * EVERY + 2, "talking_head_d0.mp4: too few frames with a face"
    return frames, faces, swapper


def _stage(swapper, look: FaceLook, reuse: bool = False) -> tuple[FaceSwapProcessor, GivenFaces]:
    tracker = GivenFaces()
    proc = FaceSwapProcessor(
        FaceSwapParts(tracker, swapper),
        source_embedding=np.ones(512, np.float32),
        look=look,
        temporal_reuse=reuse,
        live_mouth=False,  # the mask is then the look's alone: the per-frame reference is exact
    )
    proc._renderer = RecordingRenderer()  # to read the pasted jobs
    return proc, tracker


def _show(proc, tracker, image, face, index):
    tracker.faces = [face]
    proc._renderer.jobs.clear()
    out = proc.process(Frame(image=image.copy(), index=index, captured_at=float(index))).image
    return out, list(proc._renderer.jobs)


def test_a_reused_swap_is_colour_matched_once_and_a_new_swap_again(scene):
    frames, faces, swapper = scene
    proc, tracker = _stage(swapper, FaceLook())
    proc.set_swap_interval(EVERY)
    shown = []  # per frame: the SwappedFace shown and the result pasted
    firsts = {}  # id(swap) → (the original crop and mask of the first frame that showed it)
    for i, (image, face) in enumerate(zip(frames, faces, strict=True)):
        _out, (job,) = _show(proc, tracker, image, face, i)
        swap = proc._cache.find(face, float(i))
        shown.append((swap, job.result))
        firsts.setdefault(id(swap), (swap, job.original.copy(), job.mask.copy()))
    swaps = list({id(s): s for s, _ in shown}.values())
    assert len(swaps) == 3  # frames 0, 5 and 10 swapped
    for swap in swaps:
        assert swap.finish.made == 1, "the colour match is made once per swap"
    for i, (swap, result) in enumerate(shown):
        # every frame shows its own swap's match: the array made on the swap's first frame
        assert result is swap.finish.result, f"frame {i}"
        first, original, mask = firsts[id(swap)]
        np.testing.assert_array_equal(result, transfer_color(first.result, original, mask))
    # ... and a new swap brings its own: not the previous swap's colour
    assert not np.array_equal(swaps[0].finish.result, swaps[1].finish.result)
    assert swaps[0].finish is not swaps[1].finish


def test_a_changed_look_is_matched_again(scene):
    frames, faces, swapper = scene
    proc, tracker = _stage(swapper, FaceLook())
    proc.set_swap_interval(100)  # one swap, shown by every frame
    _show(proc, tracker, frames[0], faces[0], 0)
    _show(proc, tracker, frames[1], faces[1], 1)
    swap = proc._cache.find(faces[1], 1.0)
    assert swap.finish.made == 1
    proc.set_look(FaceLook(color_transfer=False))
    _, (job,) = _show(proc, tracker, frames[2], faces[2], 2)
    assert job.result is swap.result  # no colour: the swap itself
    proc.set_look(FaceLook(sharpness=1.0))
    _, (job,) = _show(proc, tracker, frames[3], faces[3], 3)
    _, (again,) = _show(proc, tracker, frames[4], faces[4], 4)
    assert swap.finish.made == 2 and again.result is job.result is swap.finish.result


def test_a_file_matches_every_frame(scene):
    """`process` swaps every frame: each frame is a new swap and gets its own colour match."""
    frames, faces, swapper = scene
    proc, tracker = _stage(swapper, FaceLook())
    for i in range(3):
        _, (job,) = _show(proc, tracker, frames[i], faces[i], i)
        assert job.finish is None
        raw = swapper.swap(job.original, None)
        box_and_ellipse = job.mask  # the final mask (no opacity): what the match was weighted by
        np.testing.assert_array_equal(job.result, transfer_color(raw, job.original, box_and_ellipse))


def test_the_swap_thread_keeps_each_swaps_own_match(scene):
    """Live temporal reuse: swaps made on the swapper's thread are each matched once, on the
    picture's thread, when first shown."""
    frames, faces, inner = scene

    class Slow:  # a swapper that takes a frame and a half, so the frames between show the last swap
        size, template, notice = inner.size, inner.template, None
        name = "slow_" + inner.name

        def latent(self, embedding):
            return inner.latent(embedding)

        def swap(self, crop, latent):
            time.sleep(0.05)
            return inner.swap(crop, latent)

    proc, tracker = _stage(Slow(), FaceLook(), reuse=True)
    try:
        seen = {}
        deadline = time.monotonic() + 20
        i = 0
        while (len(seen) < 2 or i < 12) and time.monotonic() < deadline:
            image, face = frames[i % len(frames)], faces[i % len(faces)]
            _, jobs = _show(proc, tracker, image, face, i)
            if jobs:  # (the swap thread may have put a newer swap in the cache since: read the job)
                (job,) = jobs
                assert job.finish is not None and job.result is job.finish.result
                seen[id(job.finish)] = job.finish
            i += 1
            time.sleep(0.02)
        assert len(seen) >= 2, "the swap thread made fewer than two swaps"
        assert all(finish.made == 1 for finish in seen.values())
        assert proc.counters()["frames_reused_swap"] > 0
    finally:
        proc.close()


def test_per_swap_colour_stays_close_to_per_frame(scene):
    """Quality: the frames that reuse a swap's colour match look as a per-frame match would
    (face-region PSNR of the pasted frame against the per-frame result)."""
    frames, faces, swapper = scene
    proc, tracker = _stage(swapper, FaceLook())
    proc.set_swap_interval(EVERY)
    worst = float("inf")
    for i, (image, face) in enumerate(zip(frames, faces, strict=True)):
        out, (job,) = _show(proc, tracker, image, face, i)
        if job.finish is None or i % EVERY == 0:
            continue
        swap = proc._cache.find(face, float(i))
        per_frame = dataclasses.replace(job, result=swap.result, mask=job.mask.copy(), finish=None, ms={})
        per_frame.result = transfer_color(swap.result, job.original, job.mask)
        ref = image.copy()
        proc._renderer.paster(job.size).paste(
            ref, per_frame.result, job.matrix, job.original, job.mask, "replace"
        )
        x0, y0, x1, y1 = proc._renderer.paster(job.size).roi(job.matrix, image.shape)
        diff = out[y0:y1, x0:x1].astype(np.float64) - ref[y0:y1, x0:x1]
        worst = min(worst, 10 * np.log10(255.0**2 / max(float(np.mean(diff**2)), 1e-12)))
    print(f"worst face-region PSNR per swap vs per frame: {worst:.1f} dB")
    assert worst >= 40.0, f"per-swap colour differs from per-frame by {worst:.1f} dB in the face region"
