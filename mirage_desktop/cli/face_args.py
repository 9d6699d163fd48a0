"""The face-quality options shared by `run` and `process`: swapper, enhancer, masks, colour, map mode.

Each option maps onto one FaceSettings field and is checked against the same range as the settings
file (``config.settings.rules``), so a bad value is refused with its allowed range (exit 2) before
anything is opened. Options left out keep what the settings file says.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mirage_desktop.cli.validate import finite_float
from mirage_desktop.config.settings import (
    ENHANCER_IDS,
    FACE_MASK_IDS,
    PASTE_MODE_IDS,
    SWAPPER_IDS,
    Settings,
)
from mirage_desktop.sources.user_path import path_problem

ENHANCER_NAMES = tuple(e for e in ENHANCER_IDS if e)


def _enhancer(text: str) -> str:
    value = text.strip().lower()
    if value in ("", "none", "off"):
        return ""
    if value not in ENHANCER_NAMES:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a face enhancer (choose from: none, {', '.join(ENHANCER_NAMES)})"
        )
    return value


_enhancer.__name__ = "enhancer"


def _map_pair(text: str) -> tuple[Path, Path]:
    target, sep, source = text.partition("=")
    if not sep or not target.strip() or not source.strip():
        raise argparse.ArgumentTypeError(f"'{text}' should be TARGET_PHOTO=SOURCE_PHOTO")
    # each name exactly as typed: "a.jpg = b.jpg" names 'a.jpg ' and ' b.jpg', and the message shows it
    for name in (target, source):
        problem = path_problem(name, "photo file")
        if problem:
            raise argparse.ArgumentTypeError(problem)
    return Path(target), Path(source)


_map_pair.__name__ = "map"


def add_face_quality_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("face quality (default: the settings file)")
    g.add_argument("--swapper", choices=SWAPPER_IDS, help="face swapper model (default inswapper_128)")
    g.add_argument(
        "--enhancer",
        type=_enhancer,
        metavar="{none," + ",".join(ENHANCER_NAMES) + "}",
        help="restore every swapped face with this enhancer (gpen_bfr_256 is the fastest)",
    )
    g.add_argument(
        "--enhancer-blend", type=finite_float(0, 1), metavar="0-1", help="share of the enhanced face (1)"
    )
    g.add_argument(
        "--codeformer-fidelity",
        type=finite_float(0, 1),
        metavar="0-1",
        help="CodeFormer: 0 = the model's face, 1 = closest to yours (0.75)",
    )
    g.add_argument("--face-mask", choices=FACE_MASK_IDS, help="the face's outline (ellipse)")
    g.add_argument(
        "--mouth-mask",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let your real mouth show through the swapped face",
    )
    g.add_argument(
        "--mouth-mask-size", type=finite_float(0.3, 3), metavar="0.3-3", help="mouth mask size factor (1)"
    )
    g.add_argument(
        "--occlusion-mask",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep what is in front of the face (a hand) where the swap disagrees with it",
    )
    g.add_argument(
        "--color-transfer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="match the swapped face's colour to yours, no seam (on by default)",
    )
    g.add_argument("--paste-mode", choices=PASTE_MODE_IDS, help="how the face is blended in (replace)")
    g.add_argument("--opacity", type=finite_float(0, 1), metavar="0-1", help="swapped face weight (1)")
    g.add_argument("--sharpness", type=finite_float(0, 3), metavar="0-3", help="sharpen the swapped face (0)")
    g.add_argument(
        "--temporal-reuse",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="live: swap on its own thread as often as the machine can and show the latest swapped "
        "face on every frame, mouth live (on by default; a file always swaps every frame)",
    )
    g.add_argument(
        "--map",
        action="append",
        type=_map_pair,
        metavar="TARGET.jpg=SOURCE.jpg",
        help="map mode (repeatable): only faces that look like the person in TARGET are swapped, to "
        "the face in SOURCE; everyone else stays exactly as they are",
    )
    g.add_argument(
        "--map-threshold",
        type=finite_float(0, 1),
        metavar="0-1",
        help="how alike a face must be to a TARGET (ArcFace cosine similarity, 0.4)",
    )


#: each option's dest is the FaceSettings field it sets
_FIELDS = (
    "swapper",
    "enhancer",
    "enhancer_blend",
    "codeformer_fidelity",
    "face_mask",
    "mouth_mask",
    "mouth_mask_size",
    "temporal_reuse",
    "occlusion_mask",
    "color_transfer",
    "paste_mode",
    "opacity",
    "sharpness",
)


def apply_face_quality_args(settings: Settings, args: argparse.Namespace) -> None:
    for key in _FIELDS:
        value = getattr(args, key, None)
        if value is not None:
            setattr(settings.face, key, value)
    if getattr(args, "map_threshold", None) is not None:
        settings.face.map_threshold = args.map_threshold
    if getattr(args, "map", None):
        settings.face.map_mode = True
        # the face stage swaps someone: the first mapped source stands for "a face is chosen"
        if not settings.face.source_face:
            settings.face.source_face = str(args.map[0][1])
        settings.face.swap_enabled = True


def apply_face_map(processors, args: argparse.Namespace, threshold: float) -> None:
    """Hand --map's photo pairs to the face stage (read when its models load)."""
    pairs = getattr(args, "map", None)
    if not pairs:
        return
    for processor in processors:
        if hasattr(processor, "set_face_map_photos"):
            processor.set_face_map_photos(pairs, threshold)


def face_summary(counters: dict, frames: int) -> list[str]:
    """Closing lines about the face stages: how many frames were swapped and enhanced."""
    if "frames_swapped" not in counters:
        return []
    stages = [str(s) for s in counters.get("face_stages") or []]
    lines = [
        f"swapped faces in {counters['frames_swapped']} of {frames} frames "
        f"({counters.get('total_faces_swapped', 0)} faces; stages: {' → '.join(stages)})"
    ]
    wanted = next((s.split(":", 1)[1] for s in stages if s.startswith("enhance:")), "")
    if wanted:
        state = str(counters.get("enhancer_state", ""))
        done = int(counters.get("enhanced_frames", 0) or 0)
        if state.startswith(("failed", "unavailable")):
            lines.append(f"enhancer {wanted} did not run ({state}); enhanced {done} of {frames} frames")
        else:
            ms = counters.get("enhancer_ms_mean", 0)
            lines.append(f"enhanced {done} of {frames} frames ({wanted}, {ms} ms per enhanced frame)")
    return lines


__all__ = ["add_face_quality_args", "apply_face_map", "apply_face_quality_args", "face_summary"]
