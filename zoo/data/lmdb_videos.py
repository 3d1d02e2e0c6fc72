"""VMZ video LMDBs (``c2/data/create_video_db.py`` layout): read, write, and export to the folder layout.

Each value is a ``TensorProtos``: a STRING tensor with the encoded video bytes (or, with ``--use_list=1``,
the video's path), an INT32 label, then optionally an INT32 start frame and an INT64 video id. Keys are
ASCII decimal counters. Requires the ``lmdb`` package (``pip install video-model-zoo[lmdb]``).
"""
from __future__ import annotations

import hashlib
import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from zoo._io import atomic_write_bytes, atomic_write_text
from zoo.data.vmz_list import ListRow, write_list_file
from zoo.tensorproto import INT32, INT64, STRING, decode_tensor_protos, encode_tensor_protos
from zoo.guards import safe_name, unique_outputs
from zoo.limits import MAX_CLASSES

MAP_SIZE = 1 << 40  # create_video_db.py's 1 TB map size (sparse; only used pages take space)


def _lmdb():
    try:
        import lmdb
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("reading VMZ LMDB databases needs the 'lmdb' package: pip install lmdb") from None
    return lmdb


@dataclass
class VideoRecord:
    """One database entry: exactly one of ``data`` (encoded video bytes) and ``path`` is set."""

    key: str
    label: int
    data: bytes | None = None
    path: str | None = None
    start_frame: int | None = None
    video_id: int | None = None

    def open(self):
        """Something PyAV's ``av.open`` accepts: a file-like object over the bytes, or the path."""
        return io.BytesIO(self.data) if self.data is not None else self.path


def _looks_like_path(blob: bytes) -> bool:
    if len(blob) > 4096 or b"\x00" in blob:
        return False
    try:
        blob.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def parse_record(db: str, key: bytes, value: bytes) -> VideoRecord:
    """Decode one LMDB value into a :class:`VideoRecord`; ``ValueError`` names the database and key."""
    try:   # every distinct key keeps a distinct name (file names of exported videos come from it)
        name = key.decode("utf-8")
    except UnicodeDecodeError:
        name = "0x" + key.hex()
    try:
        tensors = decode_tensor_protos(value)
    except ValueError as err:
        raise ValueError(f"{db}: record {name!r} is not a TensorProtos message: {err}") from None
    types = [t for t, _ in tensors]
    if len(tensors) < 2 or types[:2] != [STRING, INT32] or not tensors[0][1] or not tensors[1][1]:
        raise ValueError(f"{db}: record {name!r} is not a VMZ video record "
                         f"(expected a STRING video and an INT32 label, got data types {types})")
    blob = tensors[0][1][0]
    label = int(tensors[1][1][0])
    if label < 0:
        raise ValueError(f"{db}: record {name!r} has the negative label {label}")
    if label >= MAX_CLASSES:
        raise ValueError(f"{db}: record {name!r} has label {label}; labels are class numbers 0..{MAX_CLASSES - 1}")
    record = VideoRecord(key=name, label=label)
    if _looks_like_path(blob):
        record.path = blob.decode("utf-8")
    else:
        record.data = blob
    for data_type, values in tensors[2:]:
        if data_type == INT32 and values:
            record.start_frame = int(values[0])
        elif data_type == INT64 and values:
            record.video_id = int(values[0])
    return record


_META_MAGIC = 0xBEEFC0DE


def check_lmdb_size(path: str | os.PathLike) -> None:
    """``ValueError`` unless the LMDB data file at ``path`` (a folder holding ``data.mdb``, or the file) is as long
    as its newest meta page says. A truncated file would otherwise be mapped and its missing pages read, and the
    process dies of SIGBUS."""
    path = Path(path)
    data = path / "data.mdb" if path.is_dir() else path
    if not data.is_file():
        raise ValueError(f"{data}: not a regular file; an LMDB database is a folder with data.mdb or a file")
    size = data.stat().st_size
    with open(data, "rb") as fh:
        head = fh.read(152)
        metas = []
        if len(head) == 152:
            psize = struct.unpack_from("<I", head, 40)[0]
            if 512 <= psize <= 1 << 16 and psize & (psize - 1) == 0:
                fh.seek(psize)
                metas = [head, fh.read(152)]
    found = []
    for meta in metas:
        if len(meta) == 152 and struct.unpack_from("<I", meta, 16)[0] == _META_MAGIC:
            last_page, txn = struct.unpack_from("<QQ", meta, 136)
            found.append((txn, last_page))
    if not found:
        raise ValueError(f"{data}: not an LMDB database, or truncated before its meta pages ({size} bytes)")
    last_page = max(found)[1]
    needed = (last_page + 1) * psize
    if size < needed:
        raise ValueError(f"{data}: truncated LMDB database: {size} bytes, its meta page needs {needed}; copy it "
                         "again")


class VideoLmdb:
    """Random access to a VMZ video LMDB: ``len(db)``, ``db[i] -> VideoRecord``, iteration in key order.

    The datasets can read such a database directly: each record's :meth:`VideoRecord.open` gives PyAV a
    file-like object (or the stored path), ``label``/``start_frame``/``video_id`` come with it.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        if not Path(self.path).exists():
            raise FileNotFoundError(f"{self.path}: LMDB database not found")
        lmdb = _lmdb()
        self._errors = lmdb.Error
        subdir = Path(self.path).is_dir()
        check_lmdb_size(self.path)
        try:
            self._env = lmdb.open(self.path, readonly=True, lock=False, readahead=False, subdir=subdir,
                                  max_readers=512)
            with self._env.begin() as txn:
                self._keys = list(txn.cursor().iternext(keys=True, values=False))
        except lmdb.Error as err:
            raise ValueError(f"{self.path}: cannot read as an LMDB database: {err}") from None
        # numeric keys in numeric order ("10" after "9"), others after them bytewise
        self._keys.sort(key=lambda k: (0, int(k), k) if k.isdigit() else (1, 0, k))

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, index: int) -> VideoRecord:
        key = self._keys[index]
        with self._env.begin() as txn:
            return parse_record(self.path, key, self._get(txn, key))

    def __iter__(self) -> Iterator[VideoRecord]:
        with self._env.begin() as txn:
            for key in self._keys:
                yield parse_record(self.path, key, self._get(txn, key))

    def _get(self, txn, key: bytes) -> bytes:
        try:
            value = txn.get(key)
        except self._errors as err:
            raise ValueError(f"{self.path}: record {key.decode('ascii', 'replace')!r} cannot be read: {err}") from None
        if value is None:
            raise ValueError(f"{self.path}: record {key.decode('ascii', 'replace')!r} vanished")
        return value

    def close(self) -> None:
        self._env.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_video_lmdb(path: str | os.PathLike, rows: list[ListRow], use_list: bool = False) -> int:
    """Write a VMZ video LMDB from list rows, as ``create_video_db.py`` does; returns the record count.

    ``use_list`` stores the paths instead of the video bytes; ``start_frm`` / ``video_id`` of the rows are
    stored when set. Used by tests and by users going back to the legacy layout.
    """
    lmdb = _lmdb()
    env = lmdb.open(str(path), map_size=MAP_SIZE, subdir=True)
    try:
        with env.begin(write=True) as txn:
            for i, row in enumerate(rows):
                blob = row.org_video.encode("utf-8") if use_list else Path(row.org_video).read_bytes()
                tensors = [[blob], np.array([row.label], np.int32)]
                if row.start_frm is not None:
                    tensors.append(np.array([row.start_frm], np.int32))
                if row.video_id is not None:
                    tensors.append(np.array([row.video_id], np.int64))
                txn.put(str(i).encode("ascii"), encode_tensor_protos(tensors))
    finally:
        env.close()
    return len(rows)


_MAGIC = ((b"\x1aE\xdf\xa3", ".mkv"), (b"RIFF", ".avi"), (b"FLV", ".flv"), (b"\x00\x00\x01\xba", ".mpg"))


def guess_extension(data: bytes) -> str:
    """File extension for encoded video bytes from their magic number (MP4/MOV ``ftyp`` and unknown: .mp4)."""
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    return ".mp4"


def _record_stem(record: VideoRecord, db) -> str:
    """File stem of an exported record: its video id (``00000042``), its numeric key (``key00000042``; only keys
    that are the canonical spelling of their number, so ``1`` and ``01`` stay apart) or the key itself."""
    if record.video_id is not None:
        return f"{record.video_id:08d}"
    key = record.key
    if key.isascii() and key.isdigit() and key == str(int(key)):
        return f"key{int(key):08d}"
    return safe_name(key, "record key", str(db))


@dataclass
class ExportSummary:
    """Result of :func:`export_lmdb`."""

    records: int
    videos_written: int
    links: int
    duplicates: int
    list_file: Path
    classes_file: Path


def export_lmdb(db: str | os.PathLike, out_dir: str | os.PathLike, split: str = "train",
                classes: list[str] | None = None) -> ExportSummary:
    """Write the records of a VMZ video LMDB as ``out_dir/{split}/{class}/{video}`` plus list files.

    Video bytes become files named after the video id (or the key); path records become symlinks to the
    stored path. Repeated copies (``--num_epochs``) are written once. ``classes`` names the label numbers;
    without it the class folders are the zero-padded label numbers. Also writes ``classes.txt`` and a VMZ
    list file ``{split}_list.csv`` (with ``start_frm``/``video_id`` when the database has them).
    """
    out_dir = Path(out_dir)
    rows, seen = [], {}
    written = links = duplicates = 0
    with VideoLmdb(db) as database:
        records = list(database)
    labels = sorted({r.label for r in records})      # class numbers: parse_record refused the others
    width = len(str(max(labels, default=0)))
    if classes is not None and labels and not 0 <= labels[0] <= labels[-1] < len(classes):
        raise ValueError(f"{db}: labels {labels[0]}..{labels[-1]} do not fit the {len(classes)} class names given")
    names = classes if classes is not None else [f"{i:0{width}d}" for i in range(labels[-1] + 1 if labels else 0)]
    safe_name(split, "split")
    for index, name in enumerate(names):
        safe_name(name, "class name", f"classes.txt line {index + 1}")
    planned = []   # (record, target, first copy?): every name decided and checked before the first write
    for record in records:
        identity = hashlib.sha1(record.data).hexdigest() if record.data is not None else record.path
        if identity in seen:   # a repeated copy (--num_epochs) of a video already planned
            planned.append((record, seen[identity], False))
            continue
        folder = out_dir / split / names[record.label]
        seen[identity] = folder / (_record_stem(record, db) + (guess_extension(record.data) if record.data is not None
                                                               else "_" + Path(record.path).name))
        planned.append((record, seen[identity], True))
    unique_outputs((target, f"record {record.key!r}") for record, target, first in planned if first)
    for record, target, first in planned:
        if not first:
            duplicates += 1
        elif record.data is not None:
            if not target.exists():
                atomic_write_bytes(target, record.data)
            written += 1
        else:
            source = Path(record.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.is_symlink():
                os.symlink(source if source.is_absolute() else source.resolve(), target)
            links += 1
        rows.append(ListRow(str(target.absolute()), record.label,
                            record.start_frame, record.video_id))
    list_file = out_dir / f"{split}_list.csv"
    write_list_file(list_file, rows)
    classes_file = out_dir / "classes.txt"
    atomic_write_text(classes_file, "".join(f"{n}\n" for n in names))
    return ExportSummary(len(records), written, links, duplicates, list_file, classes_file)
