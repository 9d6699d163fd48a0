"""Benchmark of the video loop itself (no models): what the threaded pipeline buys.

1. Offline (`mirage-cli process`): Mirage's three threads (decode | process | encode) against a
   single-threaded read→process→write loop over the same file and processor.
2. Live: a 25 fps source into a processor slower than the camera. Mirage's newest-frame hand-over
   against the reference an unbounded queue gives (what a naive producer/consumer does): the
   queue's latency grows for as long as the run lasts; Mirage's stays at about one processing time.

    .venv/bin/python scripts/bench_pipeline.py [--video PATH] [--work-ms 15] [--live-ms 60]
        [--seconds 6] [--json]
"""

from __future__ import annotations

import argparse
import json
import queue
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from mirage_desktop.engine.pipeline import Pipeline, PipelineOptions
from mirage_desktop.frame import Frame
from mirage_desktop.processing.base import FrameProcessor
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.sinks.recorder import RecorderSink
from mirage_desktop.sources.base import SourceExhausted
from mirage_desktop.sources.video_file import VideoFileSource

DEFAULT_VIDEO = (
    Path(__file__).resolve().parents[2] / "shared" / "testdata" / "video" / "talking_head_long_d9.mp4"
)


class BusyProcessor(FrameProcessor):
    """Real image work (repeated blurs) for about ``ms`` per frame: a stand-in for a model."""

    name = "work"

    def __init__(self, ms: float) -> None:
        self.ms = ms

    def process(self, frame: Frame) -> Frame:
        end = time.perf_counter() + self.ms / 1000
        img = frame.image
        while time.perf_counter() < end:
            img = cv2.GaussianBlur(img, (3, 3), 0)
        frame.image = img
        return frame


def offline_sequential(video: Path, out: Path, work_ms: float, limit: int) -> tuple[int, float]:
    src = VideoFileSource(video, loop=False, paced=False)
    info = src.open()
    sink = RecorderSink(out)
    sink.open(info.width, info.height, info.fps)
    proc = BusyProcessor(work_ms)
    n = 0
    t0 = time.perf_counter()
    try:
        while n < limit:
            frame = src.read()
            sink.write(proc.process(frame))
            n += 1
    except SourceExhausted:
        pass
    sink.close()
    src.close()
    return n, time.perf_counter() - t0


def offline_pipeline(video: Path, out: Path, work_ms: float) -> tuple[int, float]:
    src = VideoFileSource(video, loop=False, paced=False)
    p = Pipeline(
        src, ProcessorChain([BusyProcessor(work_ms)]), [RecorderSink(out)], PipelineOptions(live=False)
    )
    t0 = time.perf_counter()
    p.start()
    p.wait()
    return p.metrics().frames_output, time.perf_counter() - t0


def live_mirage(video: Path, work_ms: float, seconds: float) -> dict:
    src = VideoFileSource(video, loop=True, paced=True)
    p = Pipeline(src, ProcessorChain([BusyProcessor(work_ms)]), [])
    p.start()
    time.sleep(seconds)
    p.stop()
    snap = p.metrics()
    return {
        "latency_ms_p50": snap.latency_ms_p50,
        "latency_ms_p95": snap.latency_ms_p95,
        "latency_ms_last": snap.latency_ms_last,
        "fps_out": snap.fps_out,
        "dropped": snap.dropped_total,
    }


def live_unbounded_queue(video: Path, work_ms: float, seconds: float) -> dict:
    """The reference: capture thread → queue.Queue() → processing thread, nothing dropped."""
    src = VideoFileSource(video, loop=True, paced=True)
    src.open()
    q: queue.Queue[Frame] = queue.Queue()
    stop = threading.Event()
    latencies: list[float] = []

    def capture() -> None:
        while not stop.is_set():
            q.put(src.read())

    proc = BusyProcessor(work_ms)
    t = threading.Thread(target=capture, daemon=True)
    t.start()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        frame = proc.process(q.get())
        latencies.append((time.perf_counter() - frame.captured_at) * 1000)
    stop.set()
    t.join(1)
    lat = np.array(latencies)
    return {
        "latency_ms_p50": float(np.percentile(lat, 50)),
        "latency_ms_p95": float(np.percentile(lat, 95)),
        "latency_ms_last": float(lat[-1]),
        "fps_out": len(lat) / seconds,
        "dropped": 0,
        "queued_at_end": q.qsize(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--work-ms", type=float, default=15.0, help="processing cost per frame, offline test")
    ap.add_argument("--live-ms", type=float, default=60.0, help="processing cost per frame, live test")
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each live run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        n_seq, t_seq = offline_sequential(args.video, Path(tmp) / "seq.mp4", args.work_ms, limit=10**9)
        n_pipe, t_pipe = offline_pipeline(args.video, Path(tmp) / "pipe.mp4", args.work_ms)
    live_ref = live_unbounded_queue(args.video, args.live_ms, args.seconds)
    live = live_mirage(args.video, args.live_ms, args.seconds)
    result = {
        "video": str(args.video),
        "offline": {
            "work_ms": args.work_ms,
            "sequential_fps": n_seq / t_seq,
            "pipeline_fps": n_pipe / t_pipe,
            "frames": [n_seq, n_pipe],
            "speedup": (n_pipe / t_pipe) / (n_seq / t_seq),
        },
        "live": {
            "work_ms": args.live_ms,
            "seconds": args.seconds,
            "unbounded_queue": live_ref,
            "mirage": live,
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    off = result["offline"]
    print(f"Offline, {off['frames'][0]} frames of {args.video.name}, {args.work_ms:g} ms of work per frame")
    print(f"  {'path':<28}{'fps':>8}")
    print(f"  {'sequential loop':<28}{off['sequential_fps']:>8.1f}")
    print(f"  {'Mirage pipeline (3 threads)':<28}{off['pipeline_fps']:>8.1f}   ×{off['speedup']:.2f}")
    print(f"\nLive, 30 fps source, {args.live_ms:g} ms of work per frame, {args.seconds:g} s")
    print(f"  {'path':<28}{'p50 ms':>9}{'p95 ms':>9}{'last ms':>9}{'fps out':>9}{'dropped':>9}")
    for name, row in (("unbounded queue (reference)", live_ref), ("Mirage newest-frame", live)):
        print(
            f"  {name:<28}{row['latency_ms_p50']:>9.0f}{row['latency_ms_p95']:>9.0f}"
            f"{row['latency_ms_last']:>9.0f}{row['fps_out']:>9.1f}{row['dropped']:>9}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
