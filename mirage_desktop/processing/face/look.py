"""The live-tunable part of the face path: which stages run on each face and how strongly.

Frozen and replaced whole, so a frame sees either the old look or the new one, never half of each;
changing it never restarts the pipeline (models that a new look needs load beside the running one).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from mirage_desktop.processing.face.enhancers.base import DEFAULT_FIDELITY


@dataclass(frozen=True, slots=True)
class FaceLook:
    #: "" = none, else an id of enhancers.ENHANCERS
    enhancer: str = ""
    #: how much of the enhanced face replaces the swapped one (0..1)
    enhancer_blend: float = 1.0
    #: CodeFormer's fidelity (0 = the model's face, 1 = closest to the input)
    codeformer_fidelity: float = DEFAULT_FIDELITY
    #: the outline: a name of masks.FACE_MASKS
    face_mask: str = "ellipse"
    mouth_mask: bool = False
    #: mouth mask size factor (1 = the mouth and lips)
    mouth_mask_size: float = 1.0
    occlusion_mask: bool = False
    #: match the swapped face's colour to the original's inside the mask
    color_transfer: bool = True
    #: paste.PASTE_MODES
    paste_mode: str = "replace"
    #: the frame's own detail kept by the "mix" paste (0 = replace, 1 = detail)
    paste_detail: float = 0.5
    #: the swapped face's weight in the frame (0..1)
    opacity: float = 1.0
    #: unsharp-mask amount on the result (0 = off)
    sharpness: float = 0.0

    @classmethod
    def from_settings(cls, face) -> FaceLook:  # FaceSettings (config must not import processing)
        """The look a FaceSettings describes: every field here has its namesake there."""
        return cls(**{f.name: getattr(face, f.name) for f in fields(cls)})

    def active_stages(self) -> list[str]:
        """Names of the stages this look runs, in order (for the preview and the stats)."""
        out = ["swap"]
        if self.enhancer:
            out.append(f"enhance:{self.enhancer}")
        out.append(f"mask:{self.face_mask}")
        if self.mouth_mask:
            out.append("mask:mouth")
        if self.occlusion_mask:
            out.append("mask:occlusion")
        if self.color_transfer:
            out.append("colour")
        if self.sharpness > 0:
            out.append("sharpen")
        if self.opacity < 1:
            out.append("opacity")
        out.append(f"paste:{self.paste_mode}")
        return out
