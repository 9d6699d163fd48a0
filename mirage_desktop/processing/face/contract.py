"""Checking that an ONNX Runtime session has the inputs and outputs a model wrapper expects.

A wrong or damaged model file otherwise fails deep inside a run call with an index or shape
error that means nothing to the user, so every face model is checked once, when it is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ONNX Runtime reports element types as "tensor(<onnx name>)"; the specs use numpy names.
_ORT_TYPES = {
    "float32": "tensor(float)",
    "float16": "tensor(float16)",
    "float64": "tensor(double)",
    "int64": "tensor(int64)",
    "int32": "tensor(int32)",
    "uint8": "tensor(uint8)",
    "bool": "tensor(bool)",
}

DEFAULT_HINT = "Check that the file is the right model and re-download it if it may be damaged."


class ModelContractError(RuntimeError):
    """A model file cannot be used; the message says which file, what was expected and what to do."""


@dataclass(frozen=True, slots=True)
class IOSpec:
    """What one input or output must look like.

    ``name`` None accepts any name (models exported by different tools number their outputs
    differently). ``shape`` None accepts any shape; otherwise its length is the required rank and
    each entry is a required size, or None where any size (or a dynamic axis) is fine.
    """

    name: str | None = None
    shape: tuple[int | None, ...] | None = None
    dtype: str = "float32"

    def describe(self) -> str:
        return _describe(self.name, self.shape, self.dtype)


@dataclass(frozen=True, slots=True)
class FoundIO:
    """One input or output as the session reports it (dynamic axes become None)."""

    name: str
    shape: tuple[int | None, ...] | None
    dtype: str

    def describe(self) -> str:
        return _describe(self.name, self.shape, self.dtype)


def _describe(name: str | None, shape: Sequence[int | None] | None, dtype: str) -> str:
    label = f"'{name}'" if name is not None else "(any name)"
    dims = (
        "any shape" if shape is None else "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
    )
    return f"{label} {dtype} {dims}"


def _dtype_name(ort_type: str) -> str:
    for name, ort_name in _ORT_TYPES.items():
        if ort_name == ort_type:
            return name
    return ort_type


def _found(arg: Any) -> FoundIO:
    raw_shape = getattr(arg, "shape", None)
    shape: tuple[int | None, ...] | None
    if raw_shape is None:
        shape = None
    else:
        # Symbolic axes come back as strings ("batch", "unk__12") or None.
        shape = tuple(int(d) if isinstance(d, int) and d >= 0 else None for d in raw_shape)
    return FoundIO(name=str(arg.name), shape=shape, dtype=_dtype_name(str(getattr(arg, "type", "?"))))


def _mismatch(spec: IOSpec, found: FoundIO) -> str | None:
    """Why ``found`` does not satisfy ``spec``, or None when it does."""
    if spec.name is not None and spec.name != found.name:
        return f"name '{found.name}' instead of '{spec.name}'"
    if spec.dtype != found.dtype:
        return f"type {found.dtype} instead of {spec.dtype}"
    if spec.shape is None or found.shape is None:
        return None
    if len(spec.shape) != len(found.shape):
        return f"{len(found.shape)} dimensions instead of {len(spec.shape)}"
    for axis, (want, got) in enumerate(zip(spec.shape, found.shape, strict=True)):
        # A dynamic axis in the model can take the required size, so only two fixed sizes conflict.
        if want is not None and got is not None and want != got:
            return f"size {got} instead of {want} on axis {axis}"
    return None


def _label(model_path_or_name: str | Path) -> str:
    return Path(model_path_or_name).name if isinstance(model_path_or_name, Path) else str(model_path_or_name)


def _check_group(
    kind: str, label: str, found: list[FoundIO], expected: Sequence[IOSpec] | int, hint: str
) -> None:
    count = expected if isinstance(expected, int) else len(expected)
    if len(found) != count:
        listed = "; ".join(f.describe() for f in found) or "none"
        raise ModelContractError(
            f"The model '{label}' has {len(found)} {kind}s but {count} were expected "
            f"(found: {listed}). {hint}"
        )
    if isinstance(expected, int):
        return
    for index, (spec, item) in enumerate(zip(expected, found, strict=True)):
        why = _mismatch(spec, item)
        if why is not None:
            raise ModelContractError(
                f"The model '{label}' does not match what Mirage expects: {kind} {index} should be "
                f"{spec.describe()} but is {item.describe()} ({why}). {hint}"
            )


def session_io(session: Any) -> tuple[list[FoundIO], list[FoundIO]]:
    """The session's inputs and outputs, in graph order."""
    return [_found(a) for a in session.get_inputs()], [_found(a) for a in session.get_outputs()]


def check_session_io(
    session: Any,
    model_path_or_name: str | Path,
    inputs: Sequence[IOSpec],
    outputs: Sequence[IOSpec] | int,
    hint: str = DEFAULT_HINT,
) -> tuple[list[FoundIO], list[FoundIO]]:
    """Raise ModelContractError unless ``session``'s inputs/outputs match the specs, in order.

    ``outputs`` may be a bare count where only the number of outputs is fixed. Returns what the
    session reported, so callers can read dynamic sizes without asking the session again.
    """
    label = _label(model_path_or_name)
    found_in, found_out = session_io(session)
    _check_group("input", label, found_in, inputs, hint)
    _check_group("output", label, found_out, outputs, hint)
    return found_in, found_out


def require_io(label: str, kind: str, spec: IOSpec, found: FoundIO, hint: str = DEFAULT_HINT) -> None:
    """Raise ModelContractError unless one input/output matches ``spec`` (for models whose other
    inputs/outputs vary between exports, so ``check_session_io``'s exact lists do not fit)."""
    why = _mismatch(spec, found)
    if why is not None:
        raise ModelContractError(
            f"The model '{label}' does not match what Mirage expects: its {kind} should be "
            f"{spec.describe()} but is {found.describe()} ({why}). {hint}"
        )


def describe_all(found: Sequence[FoundIO]) -> str:
    return "; ".join(f.describe() for f in found) or "none"
