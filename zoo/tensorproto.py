"""Caffe2's TensorProto wire format: the DataType enum and the codec of TensorProto / TensorProtos messages.

Shared by the MiniDB checkpoint reader and writer (:mod:`zoo.convert.minidb`) and the VMZ video LMDB reader and
writer (:mod:`zoo.data.lmdb_videos`), whose values are ``TensorProtos { repeated TensorProto protos = 1; }``.
Built on :mod:`zoo.protobuf`; numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo import protobuf as pb

# Caffe2 DataType enum (caffe2/proto/caffe2.proto, TensorProto.DataType)
UNDEFINED, FLOAT, INT32, BYTE, STRING, BOOL, UINT8, INT8, UINT16, INT16, INT64 = range(11)
FLOAT16, DOUBLE = 12, 13
NARROW_TYPES = {BOOL: np.bool_, UINT8: np.uint8, INT8: np.int8, UINT16: np.uint16, INT16: np.int16}
NUMPY_TO_C2 = {np.dtype(np.float32): FLOAT, np.dtype(np.int32): INT32, np.dtype(np.bool_): BOOL,
               np.dtype(np.uint8): UINT8, np.dtype(np.int8): INT8, np.dtype(np.uint16): UINT16,
               np.dtype(np.int16): INT16, np.dtype(np.int64): INT64, np.dtype(np.float16): FLOAT16,
               np.dtype(np.float64): DOUBLE}


class TensorProtoError(pb.ProtobufError):
    """A TensorProto whose fields do not make a tensor."""


@dataclass
class TensorChunk:
    name: str
    dims: tuple[int, ...]
    data_type: int
    segment: tuple[int, int] | None
    data: np.ndarray | None      # flat elements of this chunk; None for types that are not weights


def decode_tensor(buf: pb.Buffer, fallback_name: str = "") -> TensorChunk:
    """Decode a serialized TensorProto following Caffe2's storage rules.

    See ``docs/legacy-formats.md``, "TensorProto storage rules".
    """
    f = pb.parse(buf)
    dims = tuple(int(d) for d in pb.numeric_field(f.get(1, []), "varint", None))
    data_type = pb.to_signed64(f[2][-1][1]) if 2 in f else FLOAT
    name_raw = pb.last_bytes(f, 7)
    name = name_raw.decode("utf-8") if name_raw else fallback_name
    segment = None
    if 11 in f:
        seg = pb.parse(f[11][-1][1])
        segment = (int(pb.to_signed64(seg[1][-1][1])) if 1 in seg else 0,
                   int(pb.to_signed64(seg[2][-1][1])) if 2 in seg else 0)
    data_format = f[15][-1][1] if 15 in f else 0
    byte_data = pb.last_bytes(f, 5)
    raw_data = pb.last_bytes(f, 13)
    data: np.ndarray | None
    if data_type == FLOAT:
        if data_format == 1:
            if raw_data is None:
                raise TensorProtoError("bfloat16 tensor (data_format 1) without raw_data")
            data = (np.frombuffer(raw_data, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif raw_data is not None and 3 not in f:
            data = np.frombuffer(raw_data, "<f4")
        else:
            data = pb.numeric_field(f.get(3, []), "<f4", pb.FIXED32)
    elif data_type == DOUBLE:
        data = pb.numeric_field(f.get(9, []), "<f8", pb.FIXED64)
    elif data_type == INT32:
        data = pb.numeric_field(f.get(4, []), "varint", None).astype(np.int32)
    elif data_type == INT64:
        data = pb.numeric_field(f.get(10, []), "varint", None)
    elif data_type in NARROW_TYPES:
        np_type = np.dtype(NARROW_TYPES[data_type]).newbyteorder("<")
        if byte_data is not None:
            data = np.frombuffer(byte_data, np_type)
        else:
            data = pb.numeric_field(f.get(4, []), "varint", None).astype(np_type)
    elif data_type == FLOAT16:
        if byte_data is not None:
            data = np.frombuffer(byte_data, "<f2")
        else:
            data = pb.numeric_field(f.get(4, []), "varint", None).astype(np.uint16).view(np.float16)
    elif data_type == BYTE:
        data = np.frombuffer(byte_data or b"", np.uint8)
    else:   # STRING, UNDEFINED, hash/rebatching buffers: not weights
        data = None
    return TensorChunk(name, dims, int(data_type), segment, data)


# ------------------------------------------------------------------------------------------------ encode
def encode_tensor(arr: np.ndarray, name: str, segment: tuple[int, int] | None, *, bytes_holder: bool = False,
                  fp16_as_bytes: bool = False, bfloat16: bool = False, device_type: int = 0,
                  device_id: int | None = None, dims: tuple[int, ...] | None = None) -> bytes:
    """Serialize (a segment of) ``arr`` as a TensorProto the way Caffe2's TensorSerializer does.

    Narrow ints/bool and float16 go to ``int32_data`` unless ``bytes_holder`` (or ``fp16_as_bytes``) asks
    for ``byte_data``; ``bfloat16`` stores float32 as bfloat16 ``raw_data`` (truncating).
    """
    dtype = arr.dtype
    if dtype not in NUMPY_TO_C2:
        raise TypeError(f"{name}: dtype {dtype} has no Caffe2 TensorProto type")
    data_type = NUMPY_TO_C2[dtype]
    flat = np.ascontiguousarray(arr).reshape(-1)
    if segment is not None:
        flat = flat[segment[0]:segment[1]]
    out = [pb.field_varint(1, d) for d in (arr.shape if dims is None else dims)]
    out.append(pb.field_varint(2, data_type))
    if data_type == FLOAT and bfloat16:
        out.append(pb.field_bytes(13, (flat.view(np.uint32) >> 16).astype("<u2").tobytes()))
        out.append(pb.field_varint(15, 1))
    elif data_type == FLOAT:
        out.append(pb.field_bytes(3, flat.astype("<f4").tobytes()))
    elif data_type == DOUBLE:
        out.append(pb.field_bytes(9, flat.astype("<f8").tobytes()))
    elif data_type in (INT32, INT64):
        out.append(pb.field_bytes(4 if data_type == INT32 else 10, pb.encode_varints(flat)))
    elif data_type == FLOAT16:
        if bytes_holder or fp16_as_bytes:
            out.append(pb.field_bytes(5, flat.astype("<f2").tobytes()))
        else:
            out.append(pb.field_bytes(4, pb.encode_varints(flat.view(np.uint16))))
    else:   # narrow ints and bool
        if bytes_holder:
            out.append(pb.field_bytes(5, flat.astype(flat.dtype.newbyteorder("<")).tobytes()))
        else:
            out.append(pb.field_bytes(4, pb.encode_varints(flat.astype(np.int64))))
    out.append(pb.field_string(7, name))
    device = pb.field_varint(1, device_type) + (b"" if device_id is None else pb.field_varint(2, device_id))
    out.append(pb.field_bytes(8, device))
    if segment is not None:
        out.append(pb.field_bytes(11, pb.field_varint(1, segment[0]) + pb.field_varint(2, segment[1])))
    return b"".join(out)


# ------------------------------------------------------------------------------------------ TensorProtos
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

    Raises :class:`zoo.protobuf.ProtobufError` (a ``ValueError``) on malformed bytes.
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
