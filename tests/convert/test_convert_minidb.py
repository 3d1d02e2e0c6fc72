"""MiniDB reader/writer: storage rules, chunking, variants, duplicates, scopes and damaged files."""
from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

from zoo.convert import minidb_to_pickle, minidb_to_safetensors
from zoo import protobuf as pb
from zoo.convert.minidb import (MinidbError, MinidbWriter, NotACheckpointError, encode_blob, encode_tensor,
                                read_minidb, read_minidb_contents, write_minidb)
from zoo.convert.pickle_io import load_pickle

RNG = np.random.default_rng(0)
EVERY_DTYPE = {
    "f32": RNG.standard_normal((3, 4, 5)).astype(np.float32),
    "f64": RNG.standard_normal(7),
    "i32": RNG.integers(-2 ** 31, 2 ** 31, 11).astype(np.int32),
    "i64": RNG.integers(-2 ** 62, 2 ** 62, 9),
    "i8": RNG.integers(-128, 128, 13).astype(np.int8),
    "u8": RNG.integers(0, 256, 13).astype(np.uint8),
    "i16": RNG.integers(-2 ** 15, 2 ** 15, 6).astype(np.int16),
    "u16": RNG.integers(0, 2 ** 16, 6).astype(np.uint16),
    "bool": RNG.integers(0, 2, 10).astype(bool),
    "f16": RNG.standard_normal(10).astype(np.float16),
    "empty": np.zeros((0, 3), np.float32),
    "scalar": np.array(2.5, np.float32),
}


def _assert_blobs(got, ref):
    assert set(got) == set(ref)
    for k, v in ref.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape and np.array_equal(got[k], v), k


@pytest.mark.parametrize("layout", ["suffix", "repeat", "bare"])
@pytest.mark.parametrize("storage", [{}, {"bytes_holder": True}, {"fp16_as_bytes": True}])
def test_every_dtype_tiny_shuffled_chunks(tmp_path, layout, storage):
    path = write_minidb(tmp_path / "x.mdl", EVERY_DTYPE, layout=layout, chunk_size=2, shuffle_seed=3, **storage)
    contents = read_minidb_contents(path)
    _assert_blobs(contents.tensors, EVERY_DTYPE)
    assert contents.variant == ("bare-tensorproto" if layout == "bare" else "blobproto")
    if layout != "bare":
        assert "!!META_NET_DEF" in contents.skipped


def test_chunks_really_are_shuffled_and_suffixed(tmp_path):
    from zoo.convert.minidb import iter_records
    path = write_minidb(tmp_path / "x.mdl", {"w": np.arange(10, dtype=np.float32)}, chunk_size=3, shuffle_seed=1,
                        meta_net_def=False)
    keys = [r.key for r in iter_records(path)]
    assert sorted(keys) == ["w#%0", "w#%1", "w#%2", "w#%3"] and keys != sorted(keys)


def test_bfloat16_raw_data(tmp_path):
    values = np.array([1.0, -2.5, 3.140625, 0.0], np.float32)     # exactly representable in bfloat16
    with MinidbWriter(tmp_path / "bf.mdl") as w:
        w.put_tensor("bf", values, bfloat16=True)
    np.testing.assert_array_equal(read_minidb(tmp_path / "bf.mdl")["bf"], values)


def test_documented_record_bytes():
    """docs/legacy-formats.md "minidb records": the exact bytes of a real Caffe2 'pred_b#%0' record decode and
    re-encode."""
    floats = np.linspace(-1, 1, 10).astype("<f4")
    tensor = (bytes.fromhex("080a1001") + b"\x1a\x28" + floats.tobytes() + b"\x3a\x06pred_b"
              + bytes.fromhex("42020800") + bytes.fromhex("5a0408001 00a".replace(" ", "")))
    value = b"\x0a\x06pred_b\x12\x06Tensor\x1a\x40" + tensor
    assert len(value) == 82
    assert encode_blob("pred_b", encode_tensor(floats, "pred_b", (0, 10))) == value


def test_documented_bytes_read(tmp_path):
    floats = np.linspace(-1, 1, 10).astype("<f4")
    value = encode_blob("pred_b", encode_tensor(floats, "pred_b", (0, 10)))
    path = tmp_path / "doc.mdl"
    path.write_bytes(struct.pack("<ii", 9, len(value)) + b"pred_b#%0" + value)
    np.testing.assert_array_equal(read_minidb(path)["pred_b"], floats)


def test_unpacked_repeated_fields_accepted(tmp_path):
    """A reader must accept unpacked encodings of packed fields (float_data as one fixed32 per tag)."""
    vals = np.array([1.5, -2.0, 4.25], np.float32)
    tensor = (pb.field_varint(1, 3) + pb.field_varint(2, 1)
              + b"".join(pb.tag(3, pb.FIXED32) + struct.pack("<f", v) for v in vals)
              + pb.field_bytes(11, pb.field_varint(1, 0) + pb.field_varint(2, 3)))
    value = encode_blob("u", tensor)
    path = tmp_path / "u.mdl"
    path.write_bytes(struct.pack("<ii", 4, len(value)) + b"u#%0" + value)
    np.testing.assert_array_equal(read_minidb(path)["u"], vals)


def _training_checkpoint(path, params, momentum=True, devices=(0, 1)):
    with MinidbWriter(path, chunk_size=5, shuffle_seed=0) as w:
        w.put_meta_net_def([f"gpu_{devices[0]}/{n}" for n in params])
        w.put_tensor(f"gpu_{devices[0]}/data", np.zeros((1, 3), np.float32))
        w.put_tensor("optimizer_iteration", np.array([7], np.int64))
        for d in devices:
            for name, arr in params.items():
                # a different GPU's copy differs, so first-device-wins is observable
                w.put_tensor(f"gpu_{d}/{name}", arr + d, device_type=1, device_id=d)
                if momentum:
                    w.put_tensor(f"gpu_{d}/{name}_momentum", np.full_like(arr, 9), device_type=1, device_id=d)
    return path


def test_minidb_to_pickle_unscopes_first_device_and_drops_momentum(tmp_path):
    params = {"conv1_w": RNG.standard_normal((4, 3, 1, 2, 2)).astype(np.float32),
              "conv1_spatbn_relu_riv": np.ones(4, np.float32)}
    mdl = _training_checkpoint(tmp_path / "ckpt_3.mdl", params, devices=(1, 0))
    out = minidb_to_pickle(mdl, tmp_path / "a.pkl")
    blobs = load_pickle(out)["blobs"]
    assert set(blobs) == {"conv1_w", "conv1_spatbn_relu_riv", "conv1_w_momentum", "conv1_spatbn_relu_riv_momentum",
                          "optimizer_iteration"}
    np.testing.assert_array_equal(blobs["conv1_w"], params["conv1_w"])          # gpu_0 wins over gpu_1
    blobs = load_pickle(minidb_to_pickle(mdl, tmp_path / "b.pkl", drop_momentum=True))["blobs"]
    assert not any(k.endswith("_momentum") for k in blobs) and "data" not in blobs


def test_duplicate_records_first_complete_copy_wins(tmp_path):
    first, second = np.arange(7, dtype=np.float32), -np.arange(7, dtype=np.float32)
    with MinidbWriter(tmp_path / "d.mdl", layout="repeat", chunk_size=3, shuffle_seed=2) as w:
        w.put_tensor("w", first)
        w.put_tensor("w", second)
    with pytest.warns(UserWarning, match="first complete copy"):
        np.testing.assert_array_equal(read_minidb(tmp_path / "d.mdl")["w"], first)


def _one_record(path, key, value, tail=b""):
    path.write_bytes(struct.pack("<ii", len(key), len(value)) + key + value + tail)
    return path


def test_overlapping_and_missing_chunks(tmp_path):
    arr = np.arange(6, dtype=np.float32)
    good = encode_blob("w", encode_tensor(arr, "w", (0, 4)))
    overlap = encode_blob("w", encode_tensor(arr, "w", (2, 6)))
    path = tmp_path / "o.mdl"
    path.write_bytes(b"".join(struct.pack("<ii", 4, len(v)) + k + v for k, v in ((b"w#%0", good), (b"w#%1", overlap))))
    with pytest.raises(MinidbError, match="extra part"):
        read_minidb(path)
    _one_record(path, b"w#%0", good)
    with pytest.raises(MinidbError, match=r"chunks missing.*w \(4/6"):
        read_minidb(path)


@pytest.mark.parametrize("tail", [1, 2, 3])
def test_short_tail_ignored_with_warning(tmp_path, tail):
    arr = np.ones(3, np.float32)
    path = _one_record(tmp_path / "t.mdl", b"w#%0", encode_blob("w", encode_tensor(arr, "w", (0, 3))), b"\0" * tail)
    with pytest.warns(UserWarning, match=f"{tail}-byte tail"):
        np.testing.assert_array_equal(read_minidb(path)["w"], arr)


def test_truncated_minidb_names_offset_and_key(tmp_path):
    blobs = {"a": np.ones(4, np.float32), "conv5_w": np.ones((50, 50), np.float32)}
    full = write_minidb(tmp_path / "full.mdl", blobs, meta_net_def=False).read_bytes()
    first_len = 8 + sum(struct.unpack_from("<ii", full))
    cut = tmp_path / "cut.mdl"
    cut.write_bytes(full[:-100])
    with pytest.raises(MinidbError, match=rf"offset {first_len}, key 'conv5_w#%0'") as info:
        read_minidb(cut)
    assert str(cut) in str(info.value)
    cut.write_bytes(full[:first_len + 6])        # 6 bytes of a header
    with pytest.raises(MinidbError, match="truncated record header"):
        read_minidb(cut)
    out = tmp_path / "out.safetensors"
    with pytest.raises(MinidbError):
        minidb_to_safetensors(cut, out)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["cut.mdl", "full.mdl"]


def test_data_db_is_not_a_checkpoint(tmp_path):
    """A TensorProtos data record (docs/legacy-formats.md "Non-tensor and data records") is reported as a data file."""
    protos = b"".join(pb.field_bytes(1, bytes.fromhex("080110011a04") + struct.pack("<f", v)) for v in (-0.6, 0.26, 0.01))
    path = _one_record(tmp_path / "data.minidb", b"0", protos)
    with pytest.raises(NotACheckpointError, match="a data file, not a checkpoint"):
        read_minidb(path)


def test_not_a_minidb(tmp_path):
    path = tmp_path / "junk.mdl"
    path.write_bytes(b"\xff\xff\xff\xff" * 4)
    with pytest.raises(MinidbError, match="offset 0"):
        read_minidb(path)


def test_minidb_writer_is_atomic(tmp_path):
    with pytest.raises(TypeError):
        with MinidbWriter(tmp_path / "x.mdl") as w:
            w.put_tensor("ok", np.ones(2, np.float32))
            w.put_tensor("bad", np.array(["s"], dtype=object))
    assert list(tmp_path.iterdir()) == []


def test_varint_codec_vectorised_matches_scalar():
    values = np.array([0, 1, 127, 128, 300, -1, -(2 ** 63), 2 ** 63 - 1, -129], dtype=np.int64)
    packed = pb.encode_varints(values)
    assert packed == b"".join(pb.encode_varint(int(v)) for v in values)
    np.testing.assert_array_equal(pb.decode_packed_varints(packed), values)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(pb.ProtobufError):
            pb.decode_packed_varints(packed[:-1] + b"\x80")
