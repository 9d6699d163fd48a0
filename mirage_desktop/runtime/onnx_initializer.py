"""Reads one initializer (weight tensor) straight out of an ONNX file, without the ``onnx`` package.

inswapper keeps the matrix that maps an ArcFace embedding into its latent space as the graph's last
initializer. ``onnx.load`` would parse the whole 554 MB model into memory to get 1 MB of it; here the
file is memory-mapped and the protobuf wire format is walked, skipping every other field unread.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# onnx.TensorProto.DataType → numpy
_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 10: np.float16, 11: np.float64}

_MODEL_GRAPH = 7
_GRAPH_INITIALIZER = 5
_T_DIMS, _T_TYPE, _T_FLOAT, _T_INT32, _T_INT64, _T_NAME, _T_RAW, _T_DOUBLE = 1, 2, 4, 5, 7, 8, 9, 10
_T_EXTERNAL, _T_LOCATION = 13, 14


class OnnxFormatError(ValueError):
    """The file is not a readable ONNX model."""


def _varint(buf: memoryview | bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise OnnxFormatError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise OnnxFormatError("varint too long")


def _fields(buf: memoryview, start: int, end: int):
    """Yields (field number, wire type, value or (offset, length)) for one message's fields."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == 1:
            yield number, wire, (pos, 8)
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise OnnxFormatError("field runs past the end of its message")
            yield number, wire, (pos, length)
            pos += length
        elif wire == 5:
            yield number, wire, (pos, 4)
            pos += 4
        else:
            raise OnnxFormatError(f"unsupported protobuf wire type {wire}")


@dataclass(frozen=True, slots=True)
class _TensorFields:
    name: str
    dims: tuple[int, ...]
    data_type: int
    payload: bytes
    payload_kind: int  # which TensorProto field carried the data
    external: dict[str, str]


def _parse_tensor(buf: memoryview, start: int, end: int) -> _TensorFields:
    dims: list[int] = []
    data_type = 0
    name = ""
    payload = b""
    kind = 0
    external: dict[str, str] = {}
    for number, wire, value in _fields(buf, start, end):
        if number == _T_DIMS:
            if wire == 0:
                dims.append(value)
            else:
                off, length = value
                pos = off
                while pos < off + length:
                    dim, pos = _varint(buf, pos)
                    dims.append(dim)
        elif number == _T_TYPE:
            data_type = value
        elif number == _T_NAME:
            off, length = value
            name = bytes(buf[off : off + length]).decode("utf-8", "replace")
        elif number in (_T_RAW, _T_FLOAT, _T_DOUBLE, _T_INT32, _T_INT64) and wire == 2:
            off, length = value
            payload = bytes(buf[off : off + length])
            kind = number
        elif number == _T_EXTERNAL:
            off, length = value
            entry = {k: bytes(buf[o : o + n]).decode() for k, _w, (o, n) in _fields(buf, off, off + length)}
            external[entry.get(1, "")] = entry.get(2, "")
    return _TensorFields(name, tuple(dims), data_type, payload, kind, external)


def _decode(tensor: _TensorFields, model_path: Path) -> np.ndarray:
    dtype = _DTYPES.get(tensor.data_type)
    if dtype is None:
        raise OnnxFormatError(f"initializer {tensor.name!r} has unsupported data type {tensor.data_type}")
    count = int(np.prod(tensor.dims)) if tensor.dims else 1
    if tensor.external:
        location = model_path.parent / tensor.external.get("location", "")
        offset = int(tensor.external.get("offset", "0") or 0)
        length = int(tensor.external.get("length", "0") or 0) or count * np.dtype(dtype).itemsize
        with location.open("rb") as fh:
            fh.seek(offset)
            data = np.frombuffer(fh.read(length), dtype=dtype)
    elif tensor.payload_kind == _T_RAW:
        data = np.frombuffer(tensor.payload, dtype=np.dtype(dtype).newbyteorder("<"))
    elif tensor.payload_kind == _T_FLOAT:
        data = np.frombuffer(tensor.payload, dtype="<f4")
    elif tensor.payload_kind == _T_DOUBLE:
        data = np.frombuffer(tensor.payload, dtype="<f8")
    elif tensor.payload_kind in (_T_INT32, _T_INT64):
        values = []
        pos = 0
        while pos < len(tensor.payload):
            v, pos = _varint(tensor.payload, pos)
            values.append(v)
        raw = np.array(values, dtype=np.uint64)
        # float16 values travel as their bit patterns in int32_data
        data = raw.astype(np.uint16).view(np.float16) if dtype is np.float16 else raw.astype(dtype)
    else:
        raise OnnxFormatError(f"initializer {tensor.name!r} carries no data")
    if data.size != count:
        raise OnnxFormatError(f"initializer {tensor.name!r}: {data.size} values for shape {tensor.dims}")
    return data.astype(dtype, copy=True).reshape(tensor.dims)


def read_last_initializer(path: Path) -> tuple[str, np.ndarray]:
    """(name, array) of ``graph.initializer[-1]``, the same tensor ``onnx`` would give."""
    path = Path(path)
    with path.open("rb") as fh:
        try:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError as exc:  # empty file
            raise OnnxFormatError(f"{path.name} is empty") from exc
    try:
        buf = memoryview(mapped)
        try:
            graph = None
            for number, wire, value in _fields(buf, 0, len(buf)):
                if number == _MODEL_GRAPH and wire == 2:
                    graph = value
            if graph is None:
                raise OnnxFormatError(f"{path.name} has no graph")
            last = None
            for number, wire, value in _fields(buf, graph[0], graph[0] + graph[1]):
                if number == _GRAPH_INITIALIZER and wire == 2:
                    last = value
            if last is None:
                raise OnnxFormatError(f"{path.name} has no initializers")
            tensor = _parse_tensor(buf, last[0], last[0] + last[1])
        finally:
            buf.release()
    finally:
        mapped.close()
    return tensor.name, _decode(tensor, path)


__all__ = ["OnnxFormatError", "read_last_initializer"]
