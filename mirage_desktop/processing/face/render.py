"""The per-face stages on one alignment: swap → enhance → masks → colour → finish → paste.

Every stage works on the crop aligned from the *current* frame. With an enhancer, the swapped crop is
placed into the enhancer's own aligned crop of the frame (the swap's square mask blends it into the
frame's pixels around it), the enhancer restores that crop, and everything after it — masks, colour,
paste — happens at the enhancer's resolution, so the restored detail is what reaches the frame.
"""

from __future__ import annotations

import time
from typing import Protocol

import cv2
import numpy as np

from mirage_desktop.processing.face.align import align_matrix, compose, invert, warp_crop
from mirage_desktop.processing.face.color import sharpen, transfer_color
from mirage_desktop.processing.face.job import FaceJob, SwapFinish
from mirage_desktop.processing.face.look import FaceLook
from mirage_desktop.processing.face.masks import EXTRA_MASKS, FACE_MASKS
from mirage_desktop.processing.face.masks.shape import BoxMask, box_mask
from mirage_desktop.processing.face.paste import FacePaster, MaskShape
from mirage_desktop.processing.face.swappers import Swapper
from mirage_desktop.processing.face.types import DetectedFace


class Enhancer(Protocol):
    size: int
    template: str
    fidelity: float

    @property
    def name(self) -> str: ...

    def enhance(self, crop_bgr: np.ndarray) -> np.ndarray: ...


def _to_crop(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    return pts @ matrix[:, :2].T + matrix[:, 2]


class FaceRenderer:
    """Runs the stages of one look on faces; keeps only caches (pasters per crop size)."""

    def __init__(self) -> None:
        self._pasters: dict[int, FacePaster] = {}
        self._box = BoxMask()

    def paster(self, size: int) -> FacePaster:
        paster = self._pasters.get(size)
        if paster is None:
            paster = self._pasters[size] = FacePaster(size, MaskShape())
        return paster

    def swap(
        self, image: np.ndarray, face: DetectedFace, swapper: Swapper, latent: np.ndarray
    ) -> FaceJob | None:
        """The swapped face in the swapper's own aligned crop (None: collapsed landmarks or no output)."""
        t0 = time.perf_counter()
        try:
            matrix = align_matrix(face.kps, swapper.size, swapper.template)
        except (ValueError, np.linalg.LinAlgError):
            return None
        crop = warp_crop(image, matrix, swapper.size)
        swapped = swapper.swap(crop, latent)
        if swapped is None:
            return None
        job = FaceJob(
            face=face,
            size=swapper.size,
            matrix=matrix,
            original=crop,
            result=swapped,
            mask=np.ones((swapper.size, swapper.size), np.float32),
            kps=_to_crop(face.kps, matrix),
            template=swapper.template,
        )
        job.ms["swap"] = (time.perf_counter() - t0) * 1000.0
        return job

    def reuse(
        self,
        image: np.ndarray,
        face: DetectedFace,
        size: int,
        template: str,
        result: np.ndarray,
        mask: np.ndarray,
        finish: SwapFinish | None = None,
    ) -> FaceJob | None:
        """An earlier swap of this face (``result`` in its aligned crop) on this frame's alignment.

        The aligned crop is the same part of the face whatever the head's position, so the earlier
        crop is placed with the current matrix; ``original`` is this frame's crop, so masks and paste
        (and the live mouth) work on the current frame. ``finish`` (the swap's own) keeps its colour
        match from the first frame that showed it.
        """
        t0 = time.perf_counter()
        try:
            matrix = align_matrix(face.kps, size, template)
        except (ValueError, np.linalg.LinAlgError):
            return None
        job = FaceJob(
            face=face,
            size=size,
            matrix=matrix,
            original=warp_crop(image, matrix, size),
            result=result,  # read-only from here on: finish() replaces it, never writes into it
            mask=mask.copy(),
            kps=_to_crop(face.kps, matrix),
            template=template,
            finish=finish,
        )
        job.ms["reuse"] = (time.perf_counter() - t0) * 1000.0
        return job

    def enhance(self, image: np.ndarray, job: FaceJob, enhancer: Enhancer, blend: float) -> FaceJob:
        """The job moved to the enhancer's aligned crop of this frame and restored there."""
        t0 = time.perf_counter()
        size = enhancer.size
        try:
            matrix = align_matrix(job.face.kps, size, enhancer.template)
        except (ValueError, np.linalg.LinAlgError):
            return job
        original = warp_crop(image, matrix, size)
        to_enh = compose(matrix, invert(job.matrix))
        placed = cv2.warpAffine(
            job.result, to_enh, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        # the swap's own square (the part of its crop that holds face), in the enhancer's crop
        weight = cv2.warpAffine(
            job.mask * box_mask(job.size),
            to_enh,
            (size, size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        )
        composite = cv2.blendLinear(placed, original, weight, 1.0 - weight)
        enhanced = enhancer.enhance(composite)
        blend = float(np.clip(blend, 0.0, 1.0))
        if blend < 1.0:
            enhanced = cv2.addWeighted(enhanced, blend, composite, 1.0 - blend, 0.0)
        out = FaceJob(
            face=job.face,
            size=size,
            matrix=matrix,
            original=original,
            result=enhanced,
            mask=weight,
            kps=_to_crop(job.face.kps, matrix),
            ms=dict(job.ms),
            template=enhancer.template,
        )
        out.ms["enhance"] = (time.perf_counter() - t0) * 1000.0
        return out

    def finish(self, job: FaceJob, look: FaceLook) -> FaceJob:
        """Masks, colour, sharpness and opacity, in that order (colour and sharpness once per swap
        when the job carries its swap's ``finish``)."""
        t0 = time.perf_counter()
        self._box.apply(job)
        FACE_MASKS.get(look.face_mask, FACE_MASKS["box"])(look).apply(job)
        if look.mouth_mask:
            EXTRA_MASKS["mouth"](look).apply(job)
        if look.occlusion_mask:
            EXTRA_MASKS["occlusion"](look).apply(job)
        t1 = time.perf_counter()
        if look.color_transfer or look.sharpness > 0:
            key = (look.color_transfer, look.sharpness, look.face_mask, look.occlusion_mask, job.size)
            done = job.finish.get(key) if job.finish is not None else None
            if done is None:
                done = job.result
                if look.color_transfer:
                    done = transfer_color(done, job.original, job.mask)
                if look.sharpness > 0:
                    done = sharpen(done, look.sharpness, sigma=max(0.8, job.size / 256.0))
                if job.finish is not None:
                    job.finish.put(key, done)
            job.result = done
        if look.opacity < 1.0:
            job.mask *= float(np.clip(look.opacity, 0.0, 1.0))
        t2 = time.perf_counter()
        job.ms["mask"] = (t1 - t0) * 1000.0
        job.ms["colour"] = (t2 - t1) * 1000.0
        return job

    def paste(self, image: np.ndarray, job: FaceJob, look: FaceLook) -> bool:
        t0 = time.perf_counter()
        done = (
            self.paster(job.size).paste(
                image, job.result, job.matrix, job.original, job.mask, look.paste_mode, look.paste_detail
            )
            is not None
        )
        job.ms["paste"] = (time.perf_counter() - t0) * 1000.0
        return done
