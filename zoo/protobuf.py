"""A tiny protobuf wire-format codec: just what Caffe2's BlobProto/TensorProto records need.

Decoding yields raw fields; packed numeric fields are decoded with numpy in one pass. Encoding builds
the same messages from (field number, value) pieces. No schema compiler, no caffe2 dependency.
"""
from __future__ import annotations

import struct
from collections import defaultdict
from typing import Iterator, Union

import numpy as np

Buffer = Union[bytes, bytearray, memoryview]
VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


class ProtobufError(ValueError):
    """Malformed protobuf bytes."""


def decode_varint(buf: Buffer, pos: int) -> tuple[int, int]:
    """Decode one varint at ``pos``; returns (unsigned value, next position)."""
    result = shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise ProtobufError("varint runs past the end of the message")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("varint longer than 10 bytes")


def iter_fields(buf: Buffer) -> Iterator[tuple[int, int, object]]:
    """Yield ``(field_number, wire_type, value)``; LEN values are memoryview slices, fixed ones raw bytes."""
    mv = memoryview(buf)
    pos, end = 0, len(mv)
    while pos < end:
        tag, pos = decode_varint(mv, pos)
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise ProtobufError("field number 0")
        if wire == VARINT:
            value, pos = decode_varint(mv, pos)
        elif wire == LEN:
            n, pos = decode_varint(mv, pos)
            if pos + n > end:
                raise ProtobufError(f"field {field}: length {n} runs past the end of the message")
            value, pos = mv[pos:pos + n], pos + n
        elif wire in (FIXED32, FIXED64):
            n = 4 if wire == FIXED32 else 8
            if pos + n > end:
                raise ProtobufError(f"field {field}: fixed value runs past the end of the message")
            value, pos = bytes(mv[pos:pos + n]), pos + n
        else:
            raise ProtobufError(f"field {field}: unsupported wire type {wire}")
        yield field, wire, value


def parse(buf: Buffer) -> dict[int, list[tuple[int, object]]]:
    """All fields of a message: ``{field_number: [(wire_type, value), ...]}`` in file order."""
    fields: dict[int, list[tuple[int, object]]] = defaultdict(list)
    for field, wire, value in iter_fields(buf):
        fields[field].append((wire, value))
    return dict(fields)


def last_bytes(fields: dict[int, list[tuple[int, object]]], number: int) -> bytes | None:
    """The last value of field ``number`` of a :func:`parse` result, as bytes (``None`` if absent)."""
    entries = fields.get(number)
    return bytes(entries[-1][1]) if entries else None


def to_signed64(value: int) -> int:
    """Reinterpret an unsigned 64-bit varint value as two's complement."""
    return value - (1 << 64) if value >= 1 << 63 else value


def decode_packed_varints(data: Buffer) -> np.ndarray:
    """Decode a run of varints (packed repeated int32/int64/enum) to int64, vectorised."""
    b = np.frombuffer(data, dtype=np.uint8)
    if b.size == 0:
        return np.zeros(0, dtype=np.int64)
    if b[-1] >= 0x80:
        raise ProtobufError("packed varints end in the middle of a value")
    ends = np.flatnonzero(b < 0x80)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > 10:
        raise ProtobufError("varint longer than 10 bytes")
    pos_in_value = np.arange(b.size) - np.repeat(starts, lengths)
    parts = (b & 0x7F).astype(np.uint64) << (7 * pos_in_value).astype(np.uint64)
    return np.add.reduceat(parts, starts).view(np.int64)


def numeric_field(entries: list[tuple[int, object]], dtype: str, wire_fixed: int | None) -> np.ndarray:
    """Collect a repeated numeric field given packed or unpacked.

    ``dtype`` is the little-endian numpy type of one element for fixed-width fields (``'<f4'``, ``'<f8'``)
    or ``'varint'`` for varint fields (returned as int64).
    """
    pieces: list[np.ndarray] = []
    for wire, value in entries:
        if wire == LEN:
            pieces.append(decode_packed_varints(value) if dtype == "varint"
                          else np.frombuffer(value, dtype=dtype))
        elif dtype == "varint" and wire == VARINT:
            pieces.append(np.array([to_signed64(value)], dtype=np.int64))
        elif wire == wire_fixed:
            pieces.append(np.frombuffer(value, dtype=dtype))
        else:
            raise ProtobufError(f"unexpected wire type {wire} for a repeated {dtype} field")
    if not pieces:
        return np.zeros(0, dtype=np.int64 if dtype == "varint" else dtype)
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


# -------------------------------------------------------------------------------------------- encoding
def encode_varint(value: int) -> bytes:
    """Encode an int as a varint (negative values as 10-byte two's complement, like protobuf int64)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_varints(values: np.ndarray) -> bytes:
    """Encode an integer array as concatenated varints (the payload of a packed field), vectorised."""
    u = np.asarray(values).astype(np.int64).view(np.uint64).reshape(-1)
    if u.size == 0:
        return b""
    nbytes = np.ones(u.size, dtype=np.int64)
    for k in range(1, 10):
        nbytes += u >= np.uint64(1 << (7 * k))
    starts = np.concatenate(([0], np.cumsum(nbytes)[:-1]))
    out = np.empty(int(nbytes.sum()), dtype=np.uint8)
    for k in range(10):
        sel = nbytes > k
        if not sel.any():
            break
        byte = (u[sel] >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (nbytes[sel] > k + 1).astype(np.uint64) << np.uint64(7)
        out[starts[sel] + k] = (byte | more).astype(np.uint8)
    return out.tobytes()


def tag(field: int, wire: int) -> bytes:
    return encode_varint((field << 3) | wire)


def field_varint(field: int, value: int) -> bytes:
    return tag(field, VARINT) + encode_varint(int(value))


def field_bytes(field: int, data: Buffer) -> bytes:
    data = bytes(data)
    return tag(field, LEN) + encode_varint(len(data)) + data


def field_string(field: int, text: str) -> bytes:
    return field_bytes(field, text.encode("utf-8"))


def field_double(field: int, value: float) -> bytes:
    return tag(field, FIXED64) + struct.pack("<d", value)


__all__ = ["ProtobufError", "decode_varint", "iter_fields", "parse", "to_signed64", "decode_packed_varints",
           "numeric_field", "encode_varint", "encode_varints", "tag", "field_varint", "field_bytes", "field_string",
           "field_double", "VARINT", "FIXED64", "LEN", "FIXED32"]
