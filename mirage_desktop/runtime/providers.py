"""Choosing ONNX Runtime execution providers, and probing which ones really work.

``onnxruntime.get_available_providers()`` only lists what the wheel was built with: the GPU build
names TensorRT and CUDA even on a machine without the NVIDIA libraries, and a session asked for CUDA
then logs an error and quietly runs on the CPU. So every decision here is checked against
``session.get_providers()`` of a real session.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from mirage_desktop.runtime.probe_model import identity_model_bytes
from mirage_desktop.runtime.quiet import native_output_captured
from mirage_desktop.runtime.telemetry import create_session, onnxruntime_module

log = logging.getLogger(__name__)

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
DIRECTML = "DmlExecutionProvider"
COREML = "CoreMLExecutionProvider"
CPU = "CPUExecutionProvider"

#: best first; CPU always closes the list unless CUDA is required
PREFERENCE = (TENSORRT, CUDA, DIRECTML, COREML, CPU)
GPU_PROVIDERS = frozenset({TENSORRT, CUDA, DIRECTML, COREML})
NVIDIA_PROVIDERS = frozenset({TENSORRT, CUDA})

_ALIASES = {
    "tensorrt": TENSORRT,
    "trt": TENSORRT,
    "cuda": CUDA,
    "directml": DIRECTML,
    "dml": DIRECTML,
    "coreml": COREML,
    "cpu": CPU,
}

CUDA_HELP = (
    "Install the NVIDIA runtime libraries with `pip install onnxruntime-gpu[cuda,cudnn]` (or CUDA 12/13 and "
    "cuDNN 9 system-wide) and a current NVIDIA driver, or turn off 'CUDA only' "
    "(MIRAGE_CUDA_ONLY=0) to run on the CPU."
)

ProviderSpec = tuple[str, dict[str, str]]


class ProviderError(RuntimeError):
    """The requested providers cannot be used; the message says what to do."""


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """What the user asked for (settings ``providers`` / MIRAGE_PROVIDERS and ``cuda_only``)."""

    requested: str = ""
    cuda_only: bool = False
    #: TensorRT may build fp16 engines only when asked: fp16 changes the swapper's output
    trt_fp16: bool = False
    #: TensorRT engine cache lives here; building an engine takes minutes, so never skip the cache
    cache_dir: Path | None = None


def parse_providers(text: str) -> list[str]:
    """Turn "cuda, cpu" or full provider names into ORT names, in order, without duplicates."""
    names: list[str] = []
    for raw in text.split(","):
        token = raw.strip()
        if not token:
            continue
        name = _ALIASES.get(token.lower())
        if name is None:
            known = {n.lower(): n for n in PREFERENCE}
            name = known.get(token.lower())
        if name is None:
            raise ProviderError(
                f"Unknown execution provider {token!r}. Use a comma-separated list of: "
                "tensorrt, cuda, directml, coreml, cpu (or the full ONNX Runtime names)."
            )
        if name not in names:
            names.append(name)
    return names


def provider_options(name: str, config: ProviderConfig) -> dict[str, str]:
    if name == TENSORRT:
        options = {"trt_fp16_enable": "1" if config.trt_fp16 else "0"}
        if config.cache_dir is not None:
            engine_dir = Path(config.cache_dir) / "tensorrt"
            options["trt_engine_cache_enable"] = "1"
            options["trt_engine_cache_path"] = str(engine_dir)
            options["trt_timing_cache_enable"] = "1"
            options["trt_timing_cache_path"] = str(engine_dir)
        return options
    if name == CUDA:
        # EXHAUSTIVE search re-tunes on every new shape; HEURISTIC keeps start-up short
        return {"cudnn_conv_algo_search": "HEURISTIC"}
    return {}


def candidate_providers(config: ProviderConfig, available: Sequence[str]) -> list[str]:
    """The ordered provider names to try: the user's list, or the best available."""
    if config.requested.strip():
        wanted = parse_providers(config.requested)
        missing = [n for n in wanted if n not in available]
        if missing:
            log.warning("providers %s are not in this ONNX Runtime build (%s)", missing, list(available))
        names = [n for n in wanted if n in available]
    else:
        names = [n for n in PREFERENCE if n in available]
    if config.cuda_only:
        names = [n for n in names if n in NVIDIA_PROVIDERS]
        if not names:
            raise ProviderError(
                "CUDA only is on, but this ONNX Runtime has no CUDA or TensorRT provider "
                f"(it offers {', '.join(available) or 'nothing'}). {CUDA_HELP}"
            )
    elif CPU not in names:
        names.append(CPU)
    return names


def provider_specs(names: Sequence[str], config: ProviderConfig) -> list[ProviderSpec]:
    specs: list[ProviderSpec] = []
    for name in names:
        options = provider_options(name, config)
        if name == TENSORRT and config.cache_dir is not None:
            Path(options["trt_engine_cache_path"]).mkdir(parents=True, exist_ok=True)
        specs.append((name, options))
    return specs


def preload_gpu_libraries(ort: ModuleType) -> str | None:
    """Load the pip-installed CUDA/cuDNN libraries when this ORT can; returns a note on failure."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return None
    try:
        preload()
    except Exception as exc:  # missing libraries are reported by the probe, not here
        return f"onnxruntime.preload_dlls() failed: {exc}"
    return None


def check_cuda_only(active: Sequence[str], config: ProviderConfig, what: str) -> None:
    """Raise when CUDA was required but the session ended up elsewhere."""
    if config.cuda_only and not any(p in NVIDIA_PROVIDERS for p in active):
        raise ProviderError(
            f"CUDA only is on, but {what} could not start on CUDA or TensorRT (it got "
            f"{', '.join(active) or 'no provider'}). {CUDA_HELP}"
        )


@dataclass(slots=True)
class ProviderReport:
    """What ONNX Runtime offers, what really works, and what Mirage will use."""

    available: list[str] = field(default_factory=list)
    working: list[str] = field(default_factory=list)
    chosen: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    onnxruntime_version: str = ""

    @property
    def gpu(self) -> bool:
        return any(p in GPU_PROVIDERS for p in self.chosen)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: the provider library ONNX Runtime loads from beside itself for each NVIDIA provider
_PROVIDER_LIBRARIES = {"CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "tensorrt"}


def missing_provider_library(ort: ModuleType, name: str) -> str | None:
    """Why a listed NVIDIA provider cannot start when its library is not installed at all (the
    frozen bundle leaves them out: without NVIDIA's CUDA/cuDNN libraries they cannot run)."""
    short = _PROVIDER_LIBRARIES.get(name)
    capi = Path(getattr(ort, "__file__", "") or ".").parent / "capi"
    if short is None or not capi.is_dir():
        return None
    if any(f"onnxruntime_providers_{short}" in f.name for f in capi.iterdir()):
        return None
    return (
        f"this Mirage build has no {short.upper() if short == 'cuda' else 'TensorRT'} provider library "
        "(the app bundle runs on the CPU; for an NVIDIA GPU use a source install)"
    )


def _session_providers(ort: ModuleType, model: bytes, specs: list[ProviderSpec]) -> list[str]:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the fallback is reported by the probe, not as an ORT error dump
    session = create_session(model, options, specs, ort=ort)
    return list(session.get_providers())


def probe_providers(
    config: ProviderConfig | None = None, ort: ModuleType | None = None, only: Sequence[str] | None = None
) -> ProviderReport:
    """Create a tiny session on each available provider (or each of ``only``) and report which came up.

    Never raises: problems (including an unmet ``cuda_only``) land in ``notes`` for the doctor.
    """
    config = config or ProviderConfig()
    if ort is None:
        ort = onnxruntime_module()
    report = ProviderReport(
        available=list(ort.get_available_providers()), onnxruntime_version=str(ort.__version__)
    )
    # ORT prints a screenful per provider that fails to load; the report says it in one line instead
    ort.set_default_logger_severity(3)
    with native_output_captured():
        if any(p in NVIDIA_PROVIDERS for p in report.available):
            note = preload_gpu_libraries(ort)
            if note:
                report.notes.append(note)
        model = identity_model_bytes()
        for name in PREFERENCE:
            if name not in report.available or (only is not None and name not in only and name != CPU):
                continue
            try:
                got = _session_providers(ort, model, provider_specs([name], config))
            except Exception as exc:
                report.notes.append(f"{name}: session failed ({exc})")
                continue
            if name in got:
                report.working.append(name)
            else:
                why = missing_provider_library(ort, name)
                report.notes.append(
                    f"{name} is listed but did not start (session fell back to {', '.join(got)})"
                    + (f": {why}" if why else "")
                )
    try:
        names = candidate_providers(config, report.working)
        check_cuda_only(names, config, "the probe model")
        report.chosen = names
    except ProviderError as exc:
        report.notes.append(str(exc))
    if not report.gpu and not config.cuda_only:
        report.notes.append("running on the CPU: face swap will be slow (about a second per face)")
    return report


def choose_providers(config: ProviderConfig, report: ProviderReport | None = None) -> list[ProviderSpec]:
    """The provider list to create sessions with, from the probed working set.

    Raises ProviderError when ``cuda_only`` cannot be honoured or the user's list names nothing usable.
    """
    if report is None:
        # probe only what could be chosen: a failing TensorRT/CUDA probe costs time and log noise
        ort = onnxruntime_module()
        report = probe_providers(config, only=candidate_providers(config, ort.get_available_providers()))
    names = candidate_providers(config, report.working)
    check_cuda_only(names, config, "ONNX Runtime")
    return provider_specs(names, config)
