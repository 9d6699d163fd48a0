"""RVC voice conversion, streamed: content features + pitch + synthesizer, block by block.

The engine hands the converter overlapping windows (see ``base.py``). This converter keeps its own
absolute timeline so that nothing is computed twice:

- It finds how far each window moved since the last one by matching the previous window's last
  samples inside the new one (the engine's windows are exact copies of one history buffer), so
  skipped blocks and block-size changes are followed; a window that does not continue the last one
  resets the caches.
- Content features (ContentVec, 50 frames/s, repeated to 100) and F0 (FCPE or RMVPE, 100 frames/s) are
  kept per absolute 10 ms frame. Each call analyses only the frames not yet final plus a bounded left
  context (``analysis_context_s``), so the cost per block does not grow with the window. The last
  ``_UNSETTLED`` frames of an analysis are recomputed next time (they lacked right context).
- Index blending runs on new frames only; ``protect`` keeps unvoiced frames closer to the raw features.
- The synthesizer's prior encoder sees the whole window; only the frames the engine will splice
  (``context`` .. ``end - lookahead``) go through the generator (skip_head / return_length).
- Latent noise, NSF source noise and the NSF sine phase are tied to absolute frames and samples, so
  the overlap that SOLA crossfades is the same audio in both blocks.

Models load on the caller's thread (``load``); the swap is atomic, and a load that fails raises and
leaves the running voice as it was.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal

from mirage_desktop.voice.converters.base import VoiceConverter
from mirage_desktop.voice.converters.rvc.content import CONTENT_RATE, MODEL_IDS, ContentEncoder
from mirage_desktop.voice.converters.rvc.noise import IndexedNoise
from mirage_desktop.voice.converters.rvc.pitch import coarse_pitch, transpose
from mirage_desktop.voice.errors import VoiceError

MAX_SEMITONES = 24.0
#: frames at the end of an analysis that are recomputed next call
_UNSETTLED = 3
#: tail length used to find a window's position in the stream
_MATCH = 32


class SampleRateChange(VoiceError):
    """The new voice runs at another rate than the stream: the stream must restart for it."""


@dataclass(frozen=True, slots=True)
class RvcParams:
    semitones: float = 0.0
    index_rate: float = 0.5
    protect: float = 0.33
    speaker: int = 0


def check_params(semitones: float, index_rate: float, protect: float) -> None:
    if not math.isfinite(semitones) or abs(semitones) > MAX_SEMITONES:
        raise VoiceError(
            f"semitones must be between -{MAX_SEMITONES:g} and {MAX_SEMITONES:g}, got {semitones}"
        )
    if not math.isfinite(index_rate) or not 0.0 <= index_rate <= 1.0:
        raise VoiceError(f"index rate must be between 0 and 1, got {index_rate}")
    if not math.isfinite(protect) or not 0.0 <= protect <= 0.5:
        raise VoiceError(f"protect must be between 0 and 0.5 (0.5 = off), got {protect}")


@dataclass(slots=True)
class VoiceBundle:
    """Everything one voice needs, loaded together (so a swap is one assignment)."""

    voice: Any  # checkpoint.VoiceModel
    content: ContentEncoder
    index: Any  # index.FeatureIndex | None
    device: str
    half: bool


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise VoiceError("device 'cuda' was asked for, but torch sees no CUDA GPU")
    return device


def cpu_threads() -> int:
    """Threads for torch and ONNX Runtime on the CPU: half the cores, at most 4 (MIRAGE_RVC_THREADS).

    Measured here (2 cores shared with other work): the synthesizer took 0.8 s a block on one thread
    and 3.5-12.6 s on two, whose workers spin while they wait for each other. A voice call shares the
    machine with the call app (and the face pipeline), so it leaves room.
    """
    import os

    env = os.environ.get("MIRAGE_RVC_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(4, cores // 2))


def load_bundle(
    model: str | Path,
    index: str | Path | None = None,
    content_model: str | Path | None = None,
    device: str = "auto",
    factory: Any = None,
) -> VoiceBundle:
    """Load a voice, its content model and optional index; raises VoiceError naming what is wrong."""
    import torch

    from mirage_desktop.voice.converters.rvc.checkpoint import load_voice

    device = _resolve_device(device)
    if device == "cpu":
        torch.set_num_threads(cpu_threads())
    if factory is None:
        from mirage_desktop.runtime.onnx_session import SessionFactory

        factory = SessionFactory(intra_op_threads=cpu_threads())
    voice = load_voice(model, device="cpu")
    half = device.startswith("cuda")
    if half:
        voice.synth.half()
    voice.synth.to(device)
    dim = voice.content_dim
    if content_model is None:
        from mirage_desktop.models.errors import ModelError
        from mirage_desktop.models.store import ModelStore

        try:
            content_model = ModelStore().path(MODEL_IDS[dim])
        except ModelError as exc:
            raise VoiceError(
                f"RVC {voice.version} needs the content model {MODEL_IDS[dim]}: {exc} "
                f"(`mirage-cli models download {MODEL_IDS[dim]}`)"
            ) from exc
    content = ContentEncoder(content_model, dim, factory=factory)
    feature_index = None
    if index:
        from mirage_desktop.voice.converters.rvc.index import FeatureIndex

        feature_index = FeatureIndex(index, dim)
    torch.set_flush_denormal(True)  # denormals make a CPU convolution 10-100x slower
    return VoiceBundle(voice, content, feature_index, device, half)


class _Frames:
    """Per-frame caches on the absolute 10 ms grid: [start, start + len)."""

    def __init__(self, dim: int) -> None:
        self.start = 0
        self.feats0 = np.zeros((0, dim), np.float32)  # raw content
        self.feats = np.zeros((0, dim), np.float32)  # after index blending
        self.f0 = np.zeros(0, np.float32)  # Hz, untransposed
        self.phase = np.zeros(0, np.float64)  # NSF phase (cycles) at each frame's start
        self.final_end = 0  # frames before this are settled
        self.phase_end = 0  # phase[] is valid for frames before this

    @property
    def end(self) -> int:
        return self.start + len(self.f0)

    def restart(self, k: int) -> None:
        self.__init__(self.feats.shape[1])
        self.start = self.final_end = self.phase_end = k

    def window(self, k_first: int, k_end: int) -> None:
        """Keep frames [k_first, k_end): drop older ones, extend with zeros."""
        drop = max(0, min(k_first - self.start, len(self.f0)))
        if k_first < self.start or k_first > self.end:  # a jump: start again
            self.restart(k_first)
            drop = 0
        if drop:
            self.feats0, self.feats = self.feats0[drop:], self.feats[drop:]
            self.f0, self.phase = self.f0[drop:], self.phase[drop:]
            self.start += drop
        grow = k_end - self.end
        if grow > 0:
            dim = self.feats.shape[1]
            self.feats0 = np.concatenate([self.feats0, np.zeros((grow, dim), np.float32)])
            self.feats = np.concatenate([self.feats, np.zeros((grow, dim), np.float32)])
            self.f0 = np.concatenate([self.f0, np.zeros(grow, np.float32)])
            self.phase = np.concatenate([self.phase, np.zeros(grow, np.float64)])
        self.final_end = max(self.final_end, self.start)
        self.phase_end = max(self.start, min(self.phase_end, self.final_end))


class RVCConverter(VoiceConverter):
    name = "rvc"
    #: the synthesizer's left context in the window (its prior encoder and flow want it)
    context_s = 0.4
    #: one frame for the grid, one so the spliced part is not the analysis's very last frame
    lookahead_s = 0.02

    def __init__(
        self,
        model: str | Path | None = None,
        index: str | Path | None = None,
        semitones: float = 0.0,
        index_rate: float = 0.5,
        protect: float = 0.33,
        pitch: str = "fcpe",
        content_model: str | Path | None = None,
        device: str = "auto",
        analysis_context_s: float = 0.3,
        bundle: VoiceBundle | None = None,
        pitch_estimator: Any = None,
        factory: Any = None,
        **_ignored: Any,
    ) -> None:
        check_params(semitones, index_rate, protect)
        if bundle is None:
            if model is None:
                raise VoiceError("the rvc converter needs a voice: --model VOICE.pth")
            if factory is None:
                from mirage_desktop.runtime.onnx_session import SessionFactory

                factory = SessionFactory(intra_op_threads=cpu_threads())
            bundle = load_bundle(model, index, content_model, device, factory)
        self._bundle = bundle
        self._params = RvcParams(semitones, index_rate, protect)
        self._lock = threading.Lock()
        self._factory = factory
        self.sample_rate = bundle.voice.sr
        self.analysis_context_s = analysis_context_s
        if pitch_estimator is None and bundle.voice.use_f0:
            pitch_estimator = make_pitch(pitch, bundle.device, factory)
        self._pitch = pitch_estimator
        self.pitch_name = getattr(pitch_estimator, "name", pitch)
        self._reset_stream()
        self.stage_ms: dict[str, float] = {}
        self._totals = {"calls": 0, "resets": 0, "frames_analysed": 0, "frames_decoded": 0}

    # --- control (any thread) ----------------------------------------------------------------------------
    @property
    def voice(self) -> Any:
        return self._bundle.voice

    @property
    def params(self) -> RvcParams:
        return self._params

    def set_params(self, semitones: float | None = None, index_rate: float | None = None,
                   protect: float | None = None) -> None:  # fmt: skip
        p = self._params
        new = RvcParams(
            p.semitones if semitones is None else float(semitones),
            p.index_rate if index_rate is None else float(index_rate),
            p.protect if protect is None else float(protect),
            p.speaker,
        )
        check_params(new.semitones, new.index_rate, new.protect)
        self._params = new

    def load(self, model: str | Path, index: str | Path | None = None,
             content_model: str | Path | None = None) -> None:  # fmt: skip
        """Load another voice and swap it in; on any failure the current voice keeps running."""
        bundle = load_bundle(model, index, content_model, self._bundle.device, self._factory)
        if bundle.voice.sr != self.sample_rate:
            raise SampleRateChange(
                f"{Path(model).name} runs at {bundle.voice.sr} Hz and the stream at {self.sample_rate} Hz; "
                "restart the voice to switch between sample rates"
            )
        pitch = self._pitch
        if bundle.voice.use_f0 and pitch is None:
            pitch = make_pitch("fcpe", bundle.device, self._factory)
        with self._lock:
            self._bundle = bundle
            self._pitch = pitch
            self._pending_reset = True

    # --- the inference thread ------------------------------------------------------------------------------
    def start(self, sample_rate: int) -> None:
        if sample_rate != self.sample_rate:
            raise VoiceError(
                f"the rvc converter runs at the voice's {self.sample_rate} Hz, not {sample_rate}"
            )
        self._reset_stream()

    def _reset_stream(self) -> None:
        self._tail: np.ndarray | None = None
        self._last_shift = 0
        self._pos = 0
        self._frames = _Frames(self._bundle.voice.content_dim)
        self._pending_reset = False
        sr = self.sample_rate or self._bundle.voice.sr
        inter = self._bundle.voice.synth.cfg.inter_channels
        # fresh noise for every frame and sample of the stream, the same on a re-synthesis
        self._znoise = IndexedNoise(seed=1234, block=100, rows=inter)
        self._snoise = IndexedNoise(seed=4321, block=sr)

    def _advance(self, window: np.ndarray) -> bool:
        """Move the timeline to this window's end; False when it does not continue the last one."""
        n = len(window)
        tail, self._tail = self._tail, window[-_MATCH:].copy()
        if tail is not None and np.all(tail == tail[0]) and np.all(self._tail == tail[0]):
            # digital silence: every offset matches. Keep the last step (or the most a block can be);
            # the first window with sound pins the timeline again, and silence has nothing to misalign.
            sr = self.sample_rate or 1
            guess = self._last_shift or n - round(self.context_s * sr) - round(self.lookahead_s * sr)
            self._pos += max(1, guess)
            self._last_shift = max(1, guess)
            return True
        shift = self._find_shift(window, tail) if tail is not None and n > _MATCH else None
        if shift is None:
            self._pos += n
            self._last_shift = 0
            return False
        self._pos += shift
        self._last_shift = shift
        return True

    def _find_shift(self, w: np.ndarray, tail: np.ndarray) -> int | None:
        n = len(w)

        def fits(s: int) -> bool:
            j = n - s
            return 0 < s <= n - _MATCH and np.array_equal(w[j - _MATCH : j], tail)

        if self._last_shift and fits(self._last_shift):
            return self._last_shift
        ends = np.flatnonzero(w[_MATCH - 1 : n - 1] == tail[-1]) + _MATCH
        for j in ends[::-1][:64]:
            if fits(n - int(j)):
                return n - int(j)
        return None

    def convert(self, window: np.ndarray) -> np.ndarray:
        import torch

        with self._lock:
            bundle, pitch_est, reset = self._bundle, self._pitch, self._pending_reset
            self._pending_reset = False
        params = self._params
        voice = bundle.voice
        synth = voice.synth
        sr = self.sample_rate
        hop = sr // 100
        n = len(window)
        if reset:
            self._reset_stream()
        continued = self._advance(window)
        if not continued:
            self._totals["resets"] += 1
        pos = self._pos
        a = pos - n
        ctx = round(self.context_s * sr)
        la = round(self.lookahead_s * sr)
        k_first = -(-a // hop)
        k_end = pos // hop
        k_lo = max(k_first, (a + ctx) // hop)
        k_hi = min(k_end, -(-(pos - la) // hop))
        out = np.zeros(n, np.float32)
        if k_hi <= k_lo or k_end - k_first < 4:
            return out
        fr = self._frames
        if not continued:
            fr.restart(k_first)
        fr.window(k_first, k_end)
        timings: dict[str, float] = {}

        # 1. analysis of the frames that are not final yet (+ bounded left context)
        k_new = max(k_first, fr.final_end)
        if k_new < k_end:
            lead = round(self.analysis_context_s * 100)
            k_an = max(k_first, k_new - lead)
            if k_an % 2:  # content frames come in pairs on the absolute grid
                k_an += 1 if k_an + 1 <= k_new else -1
                k_an = max(k_an, k_first)
            seg = window[k_an * hop - a : k_end * hop - a]
            g = math.gcd(sr, CONTENT_RATE)
            x16 = signal.resample_poly(seg, CONTENT_RATE // g, sr // g).astype(np.float32)
            count = k_end - k_an
            t0 = time.perf_counter()
            feats = np.repeat(bundle.content(x16), 2, axis=0)
            timings["content"] = time.perf_counter() - t0
            if len(feats) < count:
                pad = feats[-1:] if len(feats) else np.zeros((1, voice.content_dim), np.float32)
                feats = np.concatenate([feats, np.repeat(pad, count - len(feats), axis=0)])
            feats = feats[:count]
            f0 = np.zeros(count, np.float32)
            if voice.use_f0 and pitch_est is not None:
                t0 = time.perf_counter()
                f0 = pitch_est(x16, count)
                timings["pitch"] = time.perf_counter() - t0
            i0, j0 = k_new - fr.start, k_new - k_an
            fr.feats0[i0:] = feats[j0:]
            blended = feats[j0:]
            if bundle.index is not None and params.index_rate > 0:
                t0 = time.perf_counter()
                blended = bundle.index.blend(blended, params.index_rate)
                timings["index"] = time.perf_counter() - t0
            fr.feats[i0:] = blended
            fr.f0[i0:] = f0[j0:]
            fr.final_end = max(k_new, k_end - _UNSETTLED)
            self._totals["frames_analysed"] += k_end - k_new

        # 2. pitch for the synthesizer, and the NSF phase at each frame start
        f0t = transpose(fr.f0, params.semitones).astype(np.float32)
        start = fr.phase_end - fr.start
        if start <= 0:  # nothing known (a fresh stream): this frame starts at phase 0
            start = 1
            fr.phase[0] = 0.0
        steps = f0t[start - 1 : -1].astype(np.float64) * hop / sr
        fr.phase[start:] = np.mod(fr.phase[start - 1] + np.cumsum(steps), 1.0)
        fr.phase_end = fr.final_end

        # 3. synthesize the frames the engine will splice
        s0, s1 = k_first - fr.start, k_hi - fr.start
        feats = fr.feats[s0:s1]
        if bundle.index is not None and params.protect < 0.5 and voice.use_f0:
            keep = np.where(fr.f0[s0:s1] > 0, 1.0, params.protect).astype(np.float32)[:, None]
            feats = feats * keep + fr.feats0[s0:s1] * (1.0 - keep)
        skip, length = k_lo - k_first, k_hi - k_lo
        dev = bundle.device
        dtype = torch.float16 if bundle.half else torch.float32
        t0 = time.perf_counter()
        phone = torch.from_numpy(np.ascontiguousarray(feats)).to(dev, dtype)[None]
        znoise = torch.from_numpy(self._znoise.take(k_first, k_hi)).to(dev, dtype)[None]
        kwargs: dict[str, Any] = {}
        if voice.use_f0:
            kwargs = {
                "pitch": torch.from_numpy(coarse_pitch(f0t[s0:s1])).to(dev)[None],
                "pitchf": torch.from_numpy(f0t[s0:s1]).to(dev, dtype)[None],
                "phase0": torch.tensor([fr.phase[k_lo - fr.start]], device=dev),
                "source_noise": torch.from_numpy(self._snoise.take(k_lo * hop, k_hi * hop)).to(dev, dtype),
            }
        audio = synth.infer(
            phone, sid=params.speaker, skip_head=skip, return_length=length, latent_noise=znoise, **kwargs
        )
        y = audio[0].float().cpu().numpy()
        timings["synth"] = time.perf_counter() - t0
        self._totals["frames_decoded"] += length
        o0 = k_lo * hop - a
        out[o0 : o0 + len(y)] = y[: n - o0]
        self._totals["calls"] += 1
        self.stage_ms = {k: round(v * 1000, 3) for k, v in timings.items()}
        return out

    # --- reporting ---------------------------------------------------------------------------------------
    def counters(self) -> dict[str, Any]:
        return {**self._totals, **{f"{k}_ms": v for k, v in self.stage_ms.items()}}

    def describe(self) -> dict[str, Any]:
        b = self._bundle
        return {
            **super().describe(),
            "voice": b.voice.describe(),
            "content_model": b.content.path.name,
            "index": b.index.path.name if b.index is not None else None,
            "pitch": self.pitch_name if b.voice.use_f0 else None,
            "device": b.device,
        }


def make_pitch(kind: str, device: str, factory: Any = None) -> Any:
    if kind == "fcpe":
        from mirage_desktop.voice.converters.rvc.pitch import FcpePitch

        return FcpePitch(device=device)
    if kind == "rmvpe":
        from mirage_desktop.models.errors import ModelError
        from mirage_desktop.models.store import ModelStore
        from mirage_desktop.voice.converters.rvc.pitch import RmvpePitch

        try:
            path = ModelStore().path("rmvpe")
        except ModelError as exc:
            raise VoiceError(f"RMVPE pitch: {exc} (`mirage-cli models download rmvpe`)") from exc
        return RmvpePitch(path, factory)
    raise VoiceError(f"unknown pitch estimator {kind!r}; choose fcpe or rmvpe")
