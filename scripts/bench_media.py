#!/usr/bin/env python3
"""Media path figures: encode speed of the recorder (PyAV H.264) against OpenCV's mp4v writer it
replaced, on the same decoded frames, and the A/V offset `process` keeps.

    .venv/bin/python scripts/bench_media.py [--video FILE] [--json]

The A/V offset is measured on a variable-frame-rate clip made here with a white flash and a click
at the same instants: processed by `mirage-cli process`, flash times are read from the picture and
click times from the sound.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mirage_desktop.frame import Frame  # noqa: E402
from mirage_desktop.sinks.recorder import FILE_PRESET, LIVE_PRESET, RecorderSink  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"


def decode(path: Path, limit: int = 300) -> tuple[list[np.ndarray], float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        fps = float(s.average_rate or 30)
        frames = []
        for f in c.decode(s):
            frames.append(f.to_ndarray(format="bgr24"))
            if len(frames) >= limit:
                break
    return frames, fps


def bench_opencv(frames: list[np.ndarray], fps: float, out: Path) -> float:
    h, w = frames[0].shape[:2]
    t = time.perf_counter()
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for img in frames:
        writer.write(img)
    writer.release()
    return len(frames) / (time.perf_counter() - t)


def bench_recorder(frames: list[np.ndarray], fps: float, out: Path, preset: str) -> float:
    h, w = frames[0].shape[:2]
    tb = Fraction(1, 90000)
    step = round(90000 / fps)
    t = time.perf_counter()
    rec = RecorderSink(out, preset=preset)
    rec.open(w, h, fps)
    for i, img in enumerate(frames):
        rec.write(Frame(img, i, i / fps, pts=i * step, time_base=tb))
    rec.close()
    assert rec.committed is not None, rec.failure
    return len(frames) / (time.perf_counter() - t)


def av_offset_ms(folder: Path) -> list[float]:
    """Click − flash times (ms) after `process`, on a VFR clip with four flash+click pairs."""
    from tests.test_media_av import flash_and_click_times, write_flash_clip

    rng = np.random.default_rng(3)
    gaps = rng.choice([1 / 30, 1 / 15, 1 / 24, 0.1], size=300)
    times = list(np.round(np.cumsum(np.concatenate([[0.2], gaps])), 4))
    src = folder / "vfr.mp4"
    write_flash_clip(src, times, {10, 100, 200, 290})
    out = folder / "vfr_out.mp4"
    cmd = [sys.executable, "-m", "mirage_desktop.cli", "process", "-i", str(src), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    flashes, clicks = flash_and_click_times(out)
    return [round(float(c - f) * 1000, 3) for f, c in zip(flashes, clicks, strict=True)]


def main() -> int:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fmt)
    parser.add_argument("--video", type=Path, default=TESTDATA / "video/hamilton_clip.mp4")
    parser.add_argument("--size", help="scale the frames to WxH first, e.g. 1280x720")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    frames, fps = decode(args.video)
    if args.size:
        w, h = (int(v) for v in args.size.lower().split("x"))
        frames = [cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in frames]
    h, w = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = {"frames": len(frames), "size": f"{w}x{h}"}
        for name, fn in (
            ("opencv_mp4v_fps", bench_opencv),
            (f"pyav_h264_{FILE_PRESET}_fps", lambda f, r, o: bench_recorder(f, r, o, FILE_PRESET)),
            (f"pyav_h264_{LIVE_PRESET}_fps", lambda f, r, o: bench_recorder(f, r, o, LIVE_PRESET)),
        ):
            out = folder / f"{name}.mp4"
            results[name] = round(max(fn(frames, fps, out) for _ in range(2)), 1)
            results[name.replace("_fps", "_kb")] = round(out.stat().st_size / 1024)
        results["av_offset_ms"] = av_offset_ms(folder)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{results['frames']} frames {results['size']} from {args.video.name}")
        for key in [k for k in results if k.endswith("_fps")]:
            kb = results[key.replace("_fps", "_kb")]
            print(f"  {key[:-4]:26s}: {results[key]:7.1f} fps, {kb} kB")
        print(f"  A/V offset after process (click − flash, VFR clip): {results['av_offset_ms']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
