#!/usr/bin/env python3
"""Does the real face ever go out unswapped and uncovered? A table per test video and fault scenario.

The face path is Mirage's own (FaceTracker on the stand-in SCRFD, the stand-in swapper that visibly
changes faces, paste-back, ProcessorChain with its PrivacyGuard) with faults injected (see
mirage_desktop/testmodels/privacy_bench.py). Ground truth: the unperturbed detector on each original
frame. Leaked: a ground-truth face whose box centre is mostly unchanged in the published frame.

Scenarios (seeded):
  flaky        the tracker reports no face on 20 % of frames, the detector inside it misses 20 % of
               its calls, the swapper returns None on 10 % of frames
  crashes      flaky, plus the swapper raises at 30 % of the clip (the chain disables the stage), the
               user restarts at 45 %, the tracker raises at 75 %
  no-models    the models are missing: the stage never starts
  lost-boxes   flaky, but while no face is found only the last known boxes are covered (not the frame)
  cover-off    flaky with the privacy cover switched off: the control, it must leak
  max-faces-1  flaky with only 1 face swapped: every other face must be covered ("others raw")
  reuse-15     flaky with temporal reuse: a swap every 15 frames, the latest one shown in between

    .venv/bin/python scripts/bench_privacy.py [--max-frames N] [--seed S] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from mirage_desktop.processing.privacy_cover import PrivacyPolicy
from mirage_desktop.testmodels.privacy_bench import LEAK_SHARE, BenchModels, Faults, read_frames, run_clip

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"


def scenarios(frames: int, seed: int) -> list[tuple[str, Faults, PrivacyPolicy, int | None]]:
    """(name, faults, policy, max_faces or None for --max-faces)."""
    flaky = Faults(drop_rate=0.2, detector_drop_rate=0.2, swap_none_rate=0.1, seed=seed)
    crashes = Faults(
        drop_rate=0.2,
        detector_drop_rate=0.2,
        swap_none_rate=0.1,
        swap_raise_at=(int(frames * 0.30),),
        restart_at=(int(frames * 0.45),),
        tracker_raise_at=(int(frames * 0.75),),
        seed=seed,
    )
    return [
        ("flaky", flaky, PrivacyPolicy(), None),
        ("crashes", crashes, PrivacyPolicy(), None),
        ("no-models", Faults(models_missing=True, seed=seed), PrivacyPolicy(), None),
        ("lost-boxes", flaky, PrivacyPolicy(lost_cover="regions"), None),
        ("cover-off", flaky, PrivacyPolicy(enabled=False), None),
        # more faces than max_faces: we cannot know which face is the user's, so all others are covered
        ("max-faces-1", flaky, PrivacyPolicy(), 1),
        # temporal reuse (a CPU's live path): a swap every 15 frames, the latest one shown between
        ("reuse-15", dataclasses.replace(flaky, swap_every=15), PrivacyPolicy(), None),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-frames", type=int, default=300, help="frames per video (default 300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-faces", type=int, default=2, help="faces the stage swaps (default 2)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.max_frames < 1 or args.max_faces < 1:
        parser.error("--max-frames and --max-faces must be at least 1")
    videos = sorted((TESTDATA / "video").glob("*.mp4"))
    if not videos:
        print(f"no test videos in {TESTDATA / 'video'}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        models = BenchModels.build(Path(tmp), TESTDATA)
        results = []
        header = (
            f"{'video':26} {'scenario':10} {'frames':>6} {'faces':>6} {'swapped':>7} {'covered':>7} "
            f"{'leaked':>6} {'leak fr':>7} {'full':>5} {'max safe':>8} {'others raw':>10}"
        )
        print(header)
        print("-" * len(header))
        for video in videos:
            frames, fps = read_frames(video, args.max_frames)
            for name, faults, policy, max_faces in scenarios(len(frames), args.seed):
                r = run_clip(
                    video,
                    models,
                    faults,
                    scenario=name,
                    policy=policy,
                    frames=frames,
                    fps=fps,
                    max_faces=max_faces or args.max_faces,
                )
                results.append(r)
                print(
                    f"{r.video:26} {r.scenario:10} {r.frames:6d} {r.faces:6d} {r.swapped:7d} {r.covered:7d} "
                    f"{r.leaked:6d} {r.leaked_frames:7d} {r.full_covers:5d} {r.max_safe_share:8.3f} "
                    f"{f'{r.others_raw}/{r.others}':>10}",
                    flush=True,
                )
    guarded = [r for r in results if r.scenario not in ("cover-off", "lost-boxes")]
    control = [r for r in results if r.scenario == "cover-off"]
    print()
    leaked, faces = sum(r.leaked for r in guarded), sum(r.faces for r in guarded)
    frames_leaked, frames = sum(r.leaked_frames for r in guarded), sum(r.frames for r in guarded)
    print(
        f"leaked faces with the cover on: {leaked} of {faces} (in {frames_leaked} of {frames} frames); "
        f"control with the cover off: {sum(r.leaked for r in control)} of {sum(r.faces for r in control)}"
    )
    print(
        f"faces beyond max_faces sent raw with the cover on: {sum(r.others_raw for r in guarded)} of "
        f"{sum(r.others for r in guarded)}; with it off: {sum(r.others_raw for r in control)} of "
        f"{sum(r.others for r in control)}"
    )
    print(
        f"leak = at least {LEAK_SHARE:.0%} of the detailed pixels of the face box centre unchanged "
        "(±2 levels); highest share among "
        f"faces not leaked: {max((r.max_safe_share for r in results), default=0):.3f}; lowest among leaked: "
        f"{min((r.min_leak_share for r in control if r.leaked), default=1):.3f}"
    )
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "states": dict(r.states)} for r in results], indent=2))
    # a face beyond max_faces sent raw is a leak too: it may be the user's
    return 1 if any(r.leaked or r.others_raw for r in guarded) else 0


if __name__ == "__main__":
    sys.exit(main())
