"""Writing VMZ list files: CSV with header ``org_video,label[,start_frm,video_id]`` (``label`` = line number of
the class in ``classes.txt``). :func:`zoo.data.datasets.read_vmz_list` reads them."""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass

from zoo._io import atomic_write_text


@dataclass
class ListRow:
    """One row of a VMZ list file."""

    org_video: str
    label: int
    start_frm: int | None = None
    video_id: int | None = None


def write_list_file(path: str | os.PathLike, rows: list[ListRow]) -> None:
    """Write a VMZ list file; the optional columns appear when the first row has them."""
    columns = ["org_video", "label"]
    if rows and rows[0].start_frm is not None:
        columns.append("start_frm")
    if rows and rows[0].video_id is not None:
        columns.append("video_id")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([getattr(row, c) for c in columns])
    atomic_write_text(path, buf.getvalue())
