"""RVC cost on this machine, per stage and per block size (used by scripts/bench_voice.py --rvc).

Stand-ins with the real cost: a random-weight synthesizer of the released v2 40 kHz architecture and
size (27.4 M parameters, the .pth layout), ContentVec with HuBERT-base's arithmetic
(testmodels/contentvec.py, cost="real"), a 10 000-vector IVF index of the kind RVC writes, and the
real FCPE pitch model from its wheel. The numbers are what a real voice costs; the audio is not.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from mirage_desktop.voice.pipeline import BlockPipeline, PipelineConfig


def build_standins(folder: Path, index: bool = True) -> dict[str, Path | None]:
    from mirage_desktop.testmodels.contentvec import build_contentvec
    from mirage_desktop.voice.converters.rvc.checkpoint import save_random_voice

    paths: dict[str, Path | None] = {
        "model": save_random_voice(folder / "standin_v2_40k.pth", "v2", "40k", True),
        "content_model": build_contentvec(folder / "vec-768-layer-12.onnx", 768, cost="real"),
        "index": None,
    }
    if index:
        from mirage_desktop.voice.converters.rvc.index import write_index

        vectors = np.random.default_rng(0).standard_normal((10000, 768)).astype(np.float32)
        paths["index"] = write_index(folder / "standin_v2.index", vectors, lists=64)
    return paths


def rvc_costs(
    speech: np.ndarray,
    rate: int,
    blocks_ms: list[float],
    seconds: float = 3.0,
    device: str = "auto",
    analysis_context_s: list[float] | None = None,
) -> list[dict]:
    """One row per (block size, analysis context): median ms per stage, runtime/real, latency."""
    from mirage_desktop.voice.converters.rvc.converter import RVCConverter

    contexts = analysis_context_s or [0.3]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="mirage-rvc-bench-") as tmp:
        paths = build_standins(Path(tmp))
        conv = RVCConverter(**paths, device=device, index_rate=0.5)
        for context in contexts:
            for block_ms in blocks_ms:
                conv.analysis_context_s = context
                conv.context_s = max(RVCConverter.context_s, context)
                cfg = PipelineConfig(block_ms=block_ms, gate_db=None, max_block_ms=max(160.0, block_ms))
                pipe = BlockPipeline(conv, rate, cfg)
                stages: dict[str, list[float]] = {}
                totals: list[float] = []
                end = min(len(speech), rate + int(seconds * rate))
                for i, start in enumerate(range(rate, end - pipe.block_dev, pipe.block_dev)):
                    window = pipe.push(speech[start : start + pipe.block_dev])
                    t0 = time.perf_counter()
                    out = conv.convert(window)
                    dt = time.perf_counter() - t0
                    pipe.finish(window, out)
                    if i < 2:  # warm-up: first calls set up kernels and fill the caches
                        continue
                    totals.append(dt * 1000)
                    for k, v in conv.stage_ms.items():
                        stages.setdefault(k, []).append(v)
                block_real = pipe.block_dev / rate * 1000
                med = float(np.median(totals)) if totals else float("nan")
                row = {
                    "block_ms": block_ms,
                    "analysis_context_ms": round(context * 1000),
                    "device": conv.describe()["device"],
                    "calls": len(totals),
                }
                for k in ("content", "pitch", "index", "synth"):
                    row[f"{k}_ms"] = round(float(np.median(stages[k])), 1) if k in stages else ""
                row.update(
                    total_ms=round(med, 1),
                    total_p95_ms=round(float(np.percentile(totals, 95)), 1) if totals else "",
                    ratio=round(med / block_real, 3),
                    algorithmic_latency_ms=round(pipe.algorithmic_latency_s() * 1000, 1),
                )
                rows.append(row)
    return rows


def timing_converter(folder: Path | None = None, full_size: bool = False):
    """For the loopback probe: runs a real RVC stand-in (small by default, so it keeps up on a CPU)
    on every window and returns the input window, time-aligned as RVC's output is. The probe's clicks
    survive, so the measured latency is the RVC route's (block, context, lookahead, SOLA, compute);
    a random-weight voice would not reproduce the clicks."""
    from mirage_desktop.testmodels.contentvec import build_contentvec
    from mirage_desktop.voice.converters.base import VoiceConverter
    from mirage_desktop.voice.converters.rvc.checkpoint import save_random_voice, small_config
    from mirage_desktop.voice.converters.rvc.converter import RVCConverter

    folder = Path(folder or tempfile.mkdtemp(prefix="mirage-rvc-timing-"))
    config = None if full_size else small_config("40k")
    inner = RVCConverter(
        model=save_random_voice(folder / "timing.pth", "v2", "40k", True, config=config),
        content_model=build_contentvec(folder / "vec-768-layer-12.onnx", 768),
        device="cpu",
    )

    class RvcTiming(VoiceConverter):
        name = "rvc-timing"
        sample_rate = inner.sample_rate
        context_s = inner.context_s
        lookahead_s = inner.lookahead_s

        def start(self, sample_rate: int) -> None:
            inner.start(sample_rate)

        def convert(self, window):
            inner.convert(window)
            return window

    return RvcTiming()
