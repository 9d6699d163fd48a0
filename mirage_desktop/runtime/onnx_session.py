"""Creating ONNX Runtime sessions with Mirage's options, and running them with the least copying."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort  # mirage_desktop/__init__ already switched its telemetry off

from mirage_desktop.runtime.providers import (
    GPU_PROVIDERS,
    ProviderConfig,
    ProviderError,
    ProviderSpec,
    check_cuda_only,
    choose_providers,
    preload_gpu_libraries,
)
from mirage_desktop.runtime.telemetry import create_session

log = logging.getLogger(__name__)

#: past ~8 threads the small face models gain nothing and starve the capture/encode threads
MAX_INTRA_OP_THREADS = 8

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
}


def default_intra_op_threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_INTRA_OP_THREADS, cores))


def session_options(intra_op_threads: int = 0) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = intra_op_threads or default_intra_op_threads()
    # one model at a time per session: inter-op parallelism only adds thread wake-ups
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return options


def numpy_type(ort_type: str) -> type[np.generic]:
    try:
        return _ORT_TYPES[ort_type]
    except KeyError:
        raise ValueError(f"unsupported tensor type {ort_type}") from None


@dataclass(slots=True)
class OnnxModel:
    """A session plus how to feed it: plain ``run`` on the CPU, IO binding on a GPU.

    On a GPU, IO binding copies each input to the device once and leaves outputs there until the
    single copy back, instead of ORT's default of staging everything through extra host buffers.
    """

    session: ort.InferenceSession
    path: Path
    providers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.providers:
            self.providers = list(self.session.get_providers())

    @property
    def on_gpu(self) -> bool:
        return bool(self.providers) and self.providers[0] in GPU_PROVIDERS

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    def input_type(self, name: str) -> type[np.generic]:
        for spec in self.session.get_inputs():
            if spec.name == name:
                return numpy_type(spec.type)
        raise KeyError(name)

    def run(self, feeds: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None) -> list[np.ndarray]:
        names = list(outputs) if outputs is not None else self.output_names
        if not self.on_gpu:
            return self.session.run(names, dict(feeds))
        binding = self.session.io_binding()
        device = (
            "cuda" if self.providers[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider") else "dml"
        )
        for name, value in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        for name in names:
            binding.bind_output(name, device)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()


@dataclass(slots=True)
class SessionFactory:
    """Creates sessions on the configured providers; probes once and reuses the answer."""

    config: ProviderConfig = field(default_factory=ProviderConfig)
    intra_op_threads: int = 0
    _specs: list[ProviderSpec] | None = None

    def providers(self) -> list[ProviderSpec]:
        if self._specs is None:
            self._specs = choose_providers(self.config)
        return self._specs

    def create(self, model: Path | bytes, name: str = "") -> OnnxModel:
        """Open ``model`` (a path or the model's bytes); raises ProviderError for an unmet ``cuda_only``.

        A file ORT cannot parse raises RuntimeError naming the file.
        """
        label = name or (Path(model).name if isinstance(model, (str, Path)) else "model")
        specs = self.providers()
        if any(s[0] in GPU_PROVIDERS for s in specs):
            note = preload_gpu_libraries(ort)
            if note:
                log.debug(note)
        source = str(model) if isinstance(model, (str, Path)) else model
        try:
            session = create_session(source, session_options(self.intra_op_threads), specs)
        except Exception as exc:
            raise RuntimeError(
                f"Could not load the model {label}: {exc}. The file may be damaged or not an ONNX model; "
                "download it again or re-add it with `mirage-cli models add`."
            ) from exc
        active = list(session.get_providers())
        check_cuda_only(active, self.config, label)
        wanted = specs[0][0] if specs else ""
        if wanted and wanted not in active:
            log.warning("%s asked for %s but runs on %s", label, wanted, ", ".join(active))
        return OnnxModel(
            session=session,
            path=Path(model) if isinstance(model, (str, Path)) else Path(label),
            providers=active,
        )


__all__ = ["OnnxModel", "ProviderError", "SessionFactory", "default_intra_op_threads", "session_options"]
