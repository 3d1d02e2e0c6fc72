"""Caffe2 ``TensorProtos`` values of VMZ video databases, on top of :mod:`zoo.convert`'s protobuf codec.

``TensorProtos { repeated TensorProto protos = 1; }`` (``legacy-formats.md`` §6.5). Numeric tensors go
through :func:`zoo.convert.minidb.decode_tensor` / ``encode_tensor``; STRING tensors (``string_data``,
field 6), which checkpoints never hold, are handled here.
"""
from __future__ import annotations

import numpy as np

from zoo.convert import protobuf as pb
from zoo.convert.minidb import INT32, INT64, STRING, decode_tensor, encode_tensor

__all__ = ["INT32", "INT64", "STRING", "decode_tensor_protos", "encode_tensor_protos", "string_tensor"]


def string_tensor(values: list[bytes]) -> bytes:
    """Serialize a 1-D STRING TensorProto holding ``values``."""
    return (pb.field_varint(1, len(values)) + pb.field_varint(2, STRING)
            + b"".join(pb.field_bytes(6, v) for v in values))


def encode_tensor_protos(tensors: list[list[bytes] | np.ndarray]) -> bytes:
    """Serialize a TensorProtos message; each item is a list of bytes (STRING) or a numpy array."""
    out = []
    for tensor in tensors:
        proto = string_tensor(tensor) if isinstance(tensor, list) else encode_tensor(np.asarray(tensor), "", None)
        out.append(pb.field_bytes(1, proto))
    return b"".join(out)


def decode_tensor_protos(buf: bytes) -> list[tuple[int, list]]:
    """Parse a TensorProtos message into ``(data_type, values)`` pairs (bytes for STRING, ints otherwise).

    Raises :class:`zoo.convert.protobuf.ProtobufError` (a ``ValueError``) on malformed bytes.
    """
    tensors = []
    for number, wire, value in pb.iter_fields(buf):
        if number != 1 or wire != pb.LEN:
            continue
        chunk = decode_tensor(value)
        if chunk.data_type == STRING:
            tensors.append((STRING, [bytes(v) for w, v in pb.parse(value).get(6, []) if w == pb.LEN]))
        else:
            tensors.append((chunk.data_type, [] if chunk.data is None else chunk.data.tolist()))
    return tensors
