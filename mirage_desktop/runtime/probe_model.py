"""The bytes of a minimal ONNX model (one Identity node), written without the ``onnx`` package.

``onnx`` is a development dependency only, yet the provider probe must run in the shipped app, so
the tiny protobuf is serialised by hand here. Field numbers follow onnx.proto (IR version 8).
"""

from __future__ import annotations

_VARINT = 0
_LEN = 2

# onnx.TensorProto.FLOAT
_FLOAT = 1


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _int(field: int, value: int) -> bytes:
    return _key(field, _VARINT) + _varint(value)


def _bytes(field: int, payload: bytes) -> bytes:
    return _key(field, _LEN) + _varint(len(payload)) + payload


def _str(field: int, text: str) -> bytes:
    return _bytes(field, text.encode("utf-8"))


def _value_info(name: str, shape: tuple[int, ...]) -> bytes:
    dims = b"".join(_bytes(1, _int(1, d)) for d in shape)  # TensorShapeProto.dim.dim_value
    tensor_type = _int(1, _FLOAT) + _bytes(2, dims)  # TypeProto.Tensor: elem_type, shape
    type_proto = _bytes(1, tensor_type)  # TypeProto.tensor_type
    return _str(1, name) + _bytes(2, type_proto)  # ValueInfoProto: name, type


def identity_model_bytes(shape: tuple[int, ...] = (1, 4), opset: int = 13) -> bytes:
    """A valid ModelProto: ``y = Identity(x)`` over float32 tensors of ``shape``."""
    node = _str(1, "x") + _str(2, "y") + _str(3, "probe") + _str(4, "Identity")
    graph = (
        _bytes(1, node)  # GraphProto.node
        + _str(2, "mirage_probe")  # GraphProto.name
        + _bytes(11, _value_info("x", shape))  # GraphProto.input
        + _bytes(12, _value_info("y", shape))  # GraphProto.output
    )
    opset_import = _str(1, "") + _int(2, opset)  # OperatorSetIdProto: domain, version
    return (
        _int(1, 8)  # ModelProto.ir_version
        + _str(2, "mirage")  # ModelProto.producer_name
        + _bytes(7, graph)  # ModelProto.graph
        + _bytes(8, opset_import)  # ModelProto.opset_import
    )
