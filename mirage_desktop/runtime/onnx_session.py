"""Creating ONNX Runtime sessions with Mirage's options, and running them with the least copying."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


class ModelRunError(RuntimeError):
    """A model that loaded (and passed its I/O check) failed when run; the text names the file."""


#: ORT's "[ONNXRuntimeError] : 1 : FAIL : " prefix says nothing to the user
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*")
_ORT_NODE = re.compile(r"Non-zero status code returned while running (\w+) node\. Name:'([^']*)'")
_MAX_REASON = 200


def run_failure_message(label: str, exc: BaseException) -> str:
    """One line: which model file failed and ORT's reason without its C++ source location."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = _ORT_PREFIX.sub("", text)
    # "... Status Message: /onnxruntime_src/...h:84 onnxruntime::...(...) cond was false. Why." → "Why."
    head, _, detail = text.partition(" Status Message: ")
    if detail:
        why = detail.rsplit(" was false. ", 1)[-1] if " was false. " in detail else ""
        node = _ORT_NODE.match(head)
        if node:
            head = f"its {node.group(1)} node '{node.group(2)}' failed"
        text = f"{head}: {why}" if why else head
    if len(text) > _MAX_REASON:
        text = text[: _MAX_REASON - 1] + "…"
    return (
        f"The model {label} failed when run ({text}). The file may be damaged or not the model Mirage "
        "expects: download it again with `mirage-cli models download`, or add the right file with "
        "`mirage-cli models add`. Details are in the log."
    )


def _quiet_run_options(given: Any) -> Any:
    if given is not None:
        return given
    # ORT also prints the failure itself (C++ log on stderr); it is raised and reported instead.
    options = ort.RunOptions()
    options.log_severity_level = 4
    return options


class CheckedSession:
    """An InferenceSession whose run errors become a ModelRunError naming the model file.

    Everything else is the session's own (``get_inputs``, ``io_binding``, ...); the detector and the
    I/O contract checks use it exactly like the ORT object.
    """

    __slots__ = ("_label", "_session")

    def __init__(self, session: Any, label: str) -> None:
        self._session = session
        self._label = label

    def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        try:
            return self._session.run(output_names, input_feed, _quiet_run_options(run_options))
        except Exception as exc:
            raise ModelRunError(run_failure_message(self._label, exc)) from exc

    def run_with_iobinding(self, iobinding: Any, run_options: Any = None) -> Any:
        try:
            return self._session.run_with_iobinding(iobinding, _quiet_run_options(run_options))
        except Exception as exc:
            raise ModelRunError(run_failure_message(self._label, exc)) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


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
            session=CheckedSession(session, str(model) if isinstance(model, (str, Path)) else label),
            path=Path(model) if isinstance(model, (str, Path)) else Path(label),
            providers=active,
        )


__all__ = [
    "CheckedSession",
    "ModelRunError",
    "OnnxModel",
    "ProviderError",
    "SessionFactory",
    "default_intra_op_threads",
    "run_failure_message",
    "session_options",
]
