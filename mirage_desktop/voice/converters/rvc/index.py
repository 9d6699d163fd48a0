"""Optional feature retrieval: blend each content frame with its nearest neighbours in the voice's
training features (the ``.index`` file RVC writes beside a voice, a faiss IVF index).

For every frame: the k = 8 nearest stored vectors (squared L2, as faiss reports it), weighted by the
inverse square of that distance and normalised; the result replaces ``index_rate`` of the frame.
A faiss index file is faiss's own binary format (read by ``faiss.read_index``), not a pickle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mirage_desktop.voice.errors import VoiceError

K = 8


def _faiss():
    try:
        import faiss
    except ImportError as exc:
        raise VoiceError(
            "A voice index needs the faiss-cpu package (pip install faiss-cpu); "
            "without --index the voice runs without retrieval."
        ) from exc
    return faiss


class FeatureIndex:
    def __init__(self, path: str | Path, dim: int) -> None:
        path = Path(path)
        if not path.is_file():
            raise VoiceError(f"Voice index {path.name}: file not found ({path})")
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
        except Exception as exc:
            raise VoiceError(f"Voice index {path.name}: not a faiss index or damaged ({exc})") from exc
        if index.d != dim:
            raise VoiceError(
                f"Voice index {path.name} holds {index.d}-d features but the voice uses {dim}-d "
                "(an index from another RVC version or voice)"
            )
        if index.ntotal < K:
            raise VoiceError(f"Voice index {path.name} holds only {index.ntotal} vectors (need {K})")
        try:
            self._vectors = index.reconstruct_n(0, index.ntotal).astype(np.float32)
        except Exception as exc:
            raise VoiceError(f"Voice index {path.name}: its vectors cannot be read back ({exc})") from exc
        if hasattr(index, "nprobe"):
            index.nprobe = max(1, int(getattr(index, "nprobe", 1)))
        self._index = index
        self.path = path
        self.dim = dim
        self.size = int(index.ntotal)

    def blend(self, feats: np.ndarray, rate: float) -> np.ndarray:
        """``feats`` [F, C] → the same with ``rate`` of each frame taken from its neighbours."""
        if rate <= 0 or not len(feats):
            return feats
        query = np.ascontiguousarray(feats, dtype=np.float32)
        dist, ids = self._index.search(query, K)
        ids = np.where(ids < 0, 0, ids)
        weight = np.square(1.0 / np.maximum(dist, 1e-9))
        weight /= weight.sum(axis=1, keepdims=True)
        retrieved = np.einsum("fk,fkc->fc", weight, self._vectors[ids])
        return (rate * retrieved + (1.0 - rate) * feats).astype(np.float32)


def write_index(path: str | Path, vectors: np.ndarray, lists: int = 16) -> Path:
    """An IVF-Flat index as RVC's training writes (for tests and benchmarks)."""
    faiss = _faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.index_factory(vectors.shape[1], f"IVF{lists},Flat")
    index.train(vectors)
    index.add(vectors)
    index.nprobe = 1
    faiss.write_index(index, str(path))
    return Path(path)
