"""Content features for RVC: HuBERT-base / ContentVec as ONNX on Mirage's ONNX Runtime.

The ONNX files RVC users run (NaruseMioShirakana's MoeSS-SUBModel ``vec-768-layer-12.onnx`` for v2,
``vec-256-layer-9.onnx`` for v1; the same contract is read by RVC WebUI's ``onnx_inference.py`` and by
third-party C#/C++ ports) take the 16 kHz waveform as input ``source`` float32 [1, 1, N] and return
``embed`` float32 [1, F, C]: C = 768 (layer 12) or 256 (layer 9 + final_proj), F = ⌊(N − 400) / 320⌋ + 1
frames at 50 frames/s (HuBERT's conv front end: receptive field 400 samples, stride 320). Mirage
feeds the first input and reads the first output whatever they are called, and checks the ranks,
the dtype and the feature size, so a re-export with other names still works.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mirage_desktop.voice.errors import VoiceError

CONTENT_RATE = 16000
#: HuBERT's conv front end
RECEPTIVE = 400
STRIDE = 320
MODEL_IDS = {768: "contentvec_768_l12", 256: "contentvec_256_l9"}


def hubert_frames(n: int) -> int:
    return 0 if n < RECEPTIVE else (n - RECEPTIVE) // STRIDE + 1


class ContentEncoder:
    def __init__(self, model_path: str | Path, dim: int, factory=None) -> None:
        if factory is None:
            from mirage_desktop.runtime.onnx_session import SessionFactory

            factory = SessionFactory()
        path = Path(model_path)
        if not path.is_file():
            raise VoiceError(
                f"The content model {path.name} is missing ({path}). Fetch it with "
                f"`mirage-cli models download {MODEL_IDS.get(dim, 'contentvec_768_l12')}`."
            )
        try:
            self._model = factory.create(path, name=path.name)
        except RuntimeError as exc:
            raise VoiceError(str(exc)) from exc
        ins = self._model.session.get_inputs()
        outs = self._model.session.get_outputs()
        if len(ins) != 1 or len(ins[0].shape) != 3 or ins[0].type != "tensor(float)":
            raise VoiceError(
                f"{path.name} is not a ContentVec/HuBERT export: expected one float input [1, 1, samples], "
                f"found {[(i.name, i.shape, i.type) for i in ins]}"
            )
        if not outs or len(outs[0].shape) != 3:
            raise VoiceError(f"{path.name}: expected an output [1, frames, {dim}]")
        last = outs[0].shape[2]
        if isinstance(last, int) and last != dim:
            raise VoiceError(
                f"{path.name} gives {last}-d features but this voice needs {dim}-d "
                f"({'v2: layer 12' if dim == 768 else 'v1: layer 9 + final_proj'}); "
                f"use `{MODEL_IDS.get(dim, '?')}`"
            )
        self.dim = dim
        self.path = path
        self._input = ins[0].name
        self._output = outs[0].name

    @property
    def providers(self) -> list[str]:
        return list(self._model.providers)

    def __call__(self, audio16k: np.ndarray) -> np.ndarray:
        """[F, C] float32 at 50 frames/s for 16 kHz mono audio (at least 400 samples)."""
        x = np.ascontiguousarray(audio16k, dtype=np.float32)[None, None, :]
        out = self._model.run({self._input: x}, [self._output])[0]
        if out.ndim != 3 or out.shape[0] != 1 or out.shape[2] != self.dim:
            raise VoiceError(f"{self.path.name} returned {out.shape}, expected [1, frames, {self.dim}]")
        return out[0].astype(np.float32, copy=False)
