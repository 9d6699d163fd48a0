"""Pitch for RVC: FCPE (its pretrained weights ship inside the ``torchfcpe`` wheel, MIT) and RVC's coarse
pitch code.

torchfcpe imports ``torchaudio`` only to resample input that is not at 16 kHz. Mirage always feeds it
16 kHz, and the Linux torchaudio wheels on PyPI are CUDA builds that fail to load next to the CPU
torch (``libc10_cuda.so`` missing), so Mirage installs torchfcpe without its dependencies and, when no
torchaudio is importable, lends torchfcpe a stand-in ``torchaudio.transforms.Resample`` for the
duration of the import (it raises if anything ever tries to resample with it). The checkpoint
``fcpe_c_v001.pt`` is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import sys
import types
from pathlib import Path

import numpy as np

from mirage_desktop.voice.errors import VoiceError

log = logging.getLogger(__name__)

F0_MIN = 50.0
F0_MAX = 1100.0
_MEL_MIN = 1127.0 * np.log(1.0 + F0_MIN / 700.0)
_MEL_MAX = 1127.0 * np.log(1.0 + F0_MAX / 700.0)
#: FCPE's hop at 16 kHz: 10 ms, the synthesizer's frame
FCPE_HOP = 160
FCPE_RATE = 16000


def transpose(f0: np.ndarray, semitones: float) -> np.ndarray:
    return f0 * float(2.0 ** (semitones / 12.0))


def coarse_pitch(f0: np.ndarray) -> np.ndarray:
    """RVC's pitch code: mel-scaled F0 mapped onto 1..255 (1 = unvoiced), as int64."""
    mel = 1127.0 * np.log1p(np.asarray(f0, dtype=np.float64) / 700.0)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - _MEL_MIN) * 254.0 / (_MEL_MAX - _MEL_MIN) + 1.0
    mel = np.clip(mel, 1.0, 255.0)
    return np.rint(mel).astype(np.int64)


class _NoResample:
    def __init__(self, *_args: object, **_kwargs: object) -> None:
        raise VoiceError("FCPE was asked to resample; Mirage feeds it 16 kHz audio only")


@contextlib.contextmanager
def _torchaudio_for_import():
    """Make ``from torchaudio.transforms import Resample`` work during torchfcpe's import."""
    if "torchaudio" in sys.modules:
        yield
        return
    try:
        importlib.import_module("torchaudio")
        yield
        return
    except Exception:  # absent, or the CUDA build next to CPU torch: not needed at 16 kHz
        for name in [n for n in sys.modules if n == "torchaudio" or n.startswith("torchaudio.")]:
            del sys.modules[name]
    package = types.ModuleType("torchaudio")
    transforms = types.ModuleType("torchaudio.transforms")
    transforms.Resample = _NoResample  # type: ignore[attr-defined]
    package.transforms = transforms  # type: ignore[attr-defined]
    sys.modules["torchaudio"] = package
    sys.modules["torchaudio.transforms"] = transforms
    try:
        yield
    finally:
        sys.modules.pop("torchaudio.transforms", None)
        sys.modules.pop("torchaudio", None)


def _import_torchfcpe():
    # torchfcpe announces with print() that it uses its own mel code instead of librosa's
    with _torchaudio_for_import(), contextlib.redirect_stdout(io.StringIO()):
        try:
            return importlib.import_module("torchfcpe")
        except ImportError as exc:
            raise VoiceError(
                f"RVC pitch needs the torchfcpe package ({exc}). Install it with "
                "`pip install --no-deps torchfcpe==0.0.4 einops local-attention` (scripts/install.sh does)."
            ) from exc


class FcpePitch:
    """F0 in Hz at 100 frames/s from 16 kHz audio (frame j centred on sample 160·j)."""

    name = "fcpe"

    def __init__(self, device: str = "cpu", threshold: float = 0.006) -> None:
        import torch

        fcpe = _import_torchfcpe()
        from torchfcpe.models_infer import InferCFNaiveMelPE
        from torchfcpe.tools import DotDict

        path = Path(fcpe.__file__).parent / "assets" / "fcpe_c_v001.pt"
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise VoiceError(f"FCPE weights {path} cannot be read ({exc}); reinstall torchfcpe") from exc
        config = ckpt["config_dict"]
        config["model"]["conv_dropout"] = 0.0
        config["model"]["atten_dropout"] = 0.0
        # torchfcpe prints its defaults' warnings with print(); they say nothing to a Mirage user
        with contextlib.redirect_stdout(io.StringIO()):
            model = InferCFNaiveMelPE(DotDict(config), ckpt["model"])
        self._model = model.to(device).eval()
        self._torch = torch
        self._device = device
        self.threshold = threshold

    def __call__(self, audio16k: np.ndarray, frames: int) -> np.ndarray:
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(audio16k, dtype=np.float32))[None, :, None].to(self._device)
        with torch.inference_mode():
            f0 = self._model.infer(
                x,
                sr=FCPE_RATE,
                decoder_mode="local_argmax",
                threshold=self.threshold,
                f0_min=F0_MIN,
                f0_max=F0_MAX,
                interp_uv=False,
            )
        out = f0[0, :, 0].float().cpu().numpy()
        if len(out) < frames:
            out = np.pad(out, (0, frames - len(out)), mode="edge" if len(out) else "constant")
        out = out[:frames].astype(np.float32)
        out[out < F0_MIN] = 0.0
        return out


class RmvpePitch:
    """RMVPE as ONNX through Mirage's session factory (optional; the model comes from the manifest).

    Contract (FIELD-NOTES, RVC's rmvpe.onnx): input mel [1, 128, T] (16 kHz, hop 160, n_fft 1024,
    log-mel 30–8000 Hz, T padded to a multiple of 32), output salience [1, T, 360] over 20-cent bins
    from 1997.38 cents; decoded by a local weighted average around the peak, threshold 0.03.
    """

    name = "rmvpe"
    THRESHOLD = 0.03

    def __init__(self, model_path: Path, factory=None) -> None:
        from scipy import signal  # noqa: F401 - mel filters below need scipy's windows

        if factory is None:
            from mirage_desktop.runtime.onnx_session import SessionFactory

            factory = SessionFactory()
        self._model = factory.create(Path(model_path), name="rmvpe")
        inputs = self._model.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 3 or inputs[0].shape[1] not in (128, "128"):
            raise VoiceError(f"{Path(model_path).name} is not RMVPE: expected one input [1, 128, T]")
        self._input = inputs[0].name
        self._mel = _mel_basis(16000, 1024, 128, 30.0, 8000.0)
        self._window = np.hanning(1024 + 2)[1:-1].astype(np.float32)
        cents = 20.0 * np.arange(360) + 1997.3794084376191
        self._cents = np.pad(cents, (4, 4))

    def _log_mel(self, audio: np.ndarray) -> np.ndarray:
        pad = 512
        x = np.pad(audio.astype(np.float32), (pad, pad), mode="reflect")
        n = 1 + (len(x) - 1024) // 160
        frames = np.lib.stride_tricks.sliding_window_view(x, 1024)[::160][:n] * self._window
        mag = np.abs(np.fft.rfft(frames, axis=1)).T  # [513, T]
        return np.log(np.clip(self._mel @ mag, 1e-5, None)).astype(np.float32)

    def __call__(self, audio16k: np.ndarray, frames: int) -> np.ndarray:
        mel = self._log_mel(audio16k)
        t = mel.shape[1]
        padded = 32 * ((t - 1) // 32 + 1)
        mel = np.pad(mel, ((0, 0), (0, padded - t)), mode="constant")
        sal = self._model.run({self._input: mel[None]})[0][0, :t]  # [T, 360]
        center = np.argmax(sal, axis=1)
        peak = sal[np.arange(t), center]
        idx = center[:, None] + np.arange(9)[None, :]  # into the 4-padded tables
        sal_p = np.pad(sal, ((0, 0), (4, 4)))
        w = np.take_along_axis(sal_p, idx, axis=1)
        c = self._cents[idx]
        cents = (w * c).sum(1) / np.maximum(w.sum(1), 1e-9)
        f0 = 10.0 * 2.0 ** (cents / 1200.0)
        f0[peak <= self.THRESHOLD] = 0.0
        f0[f0 <= 10.0] = 0.0
        out = np.zeros(frames, dtype=np.float32)
        n = min(frames, len(f0))
        out[:n] = f0[:n]
        if n < frames and n:
            out[n:] = f0[n - 1]
        return out


def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Slaney-style mel filterbank (as librosa's default, which RMVPE was trained with)."""

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        lin = f / (200.0 / 3)
        log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log_part, lin)

    def mel_to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        lin = m * (200.0 / 3)
        log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
        return np.where(m >= 15.0, log_part, lin)

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mels = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mels)
    ramps = mels[:, None] - freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mels[2 : n_mels + 2] - mels[:n_mels]))[:, None]
    return weights.astype(np.float32)
