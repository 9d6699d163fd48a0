"""FaceFusion's HyperSwap (1a/1b/1c): a native 256² swapper that takes the ArcFace embedding itself.

Contract, as FaceFusion's ``face_swapper`` runs it: ``source`` float32 [1,512] = the L2-normalised
ArcFace embedding (no emap, unlike inswapper); ``target`` float32 [1,3,256,256], RGB scaled
``(x/255 - 0.5)/0.5``, aligned to the ArcFace template placed as for a 128 crop (``template_for(256)``);
first output the swapped crop in [-1, 1]. A second output, when the export has one, is not used.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mirage_desktop.processing.face.contract import (
    IOSpec,
    ModelContractError,
    describe_all,
    require_io,
    session_io,
)
from mirage_desktop.processing.face.swapper import OutputCheck
from mirage_desktop.runtime.onnx_session import OnnxModel

SIZE = 256
EMBEDDING_DIM = 512


class HyperSwapper:
    size = SIZE
    template = "arcface"

    def __init__(self, model: OnnxModel, check: OutputCheck | None = None) -> None:
        ins, outs = session_io(model.session)
        label = Path(model.path).name
        hint = "Mirage expects FaceFusion's hyperswap_1a_256.onnx (or 1b/1c) from models-3.3.0."
        by_name = {f.name: f for f in ins}
        if set(by_name) != {"source", "target"} or not outs:
            raise ModelContractError(
                f"The model '{label}' is not a HyperSwap swapper: it should take 'source' and 'target' "
                f"and give an image (found inputs: {describe_all(ins)}; outputs: {describe_all(outs)}). "
                f"{hint}"
            )
        require_io(label, "input 'source'", IOSpec("source", (1, EMBEDDING_DIM)), by_name["source"], hint)
        require_io(label, "input 'target'", IOSpec("target", (1, 3, SIZE, SIZE)), by_name["target"], hint)
        first = outs[0]
        require_io(label, "first output", IOSpec(None, (1, 3, SIZE, SIZE)), first, hint)
        self.model = model
        self._output = first.name
        self.check = check or OutputCheck()
        self.notice: str | None = None

    @property
    def name(self) -> str:
        return Path(self.model.path).name

    def latent(self, normed_embedding: np.ndarray) -> np.ndarray:
        vec = np.asarray(normed_embedding, dtype=np.float32).reshape(1, EMBEDDING_DIM)
        norm = float(np.linalg.norm(vec))
        if not np.isfinite(norm) or norm < 1e-12:
            raise ValueError("the source face embedding is empty")
        return vec / norm

    def swap(self, crop_bgr: np.ndarray, latent: np.ndarray) -> np.ndarray | None:
        blob = cv2.dnn.blobFromImage(crop_bgr, 1.0 / 127.5, (SIZE, SIZE), (127.5, 127.5, 127.5), swapRB=True)
        (out,) = self.model.run({"source": latent, "target": blob}, [self._output])
        face = (np.asarray(out[0], dtype=np.float32) + 1.0) * 0.5
        if self.check.problem(face) is not None:
            return None
        rgb = np.clip(face.transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
