"""Extraction of a whole dataset into a folder: resumable (verified files are skipped, other settings
refused), sharded over ``torchrun`` ranks (each writes its own videos' files; rank 0 writes the index)."""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import torch

from zoo.distributed import broadcast_from_rank0, gather_to_rank0, rank_and_world, shard
from zoo.evaluate.records import RUN_FILE, ResumeMismatchError, check_run_settings
from zoo.extract.windows_dataset import VideoJob
from zoo.extract.engine import ExtractStats, VideoFeatures, extract_windows
from zoo.extract.output import FeatureWriter, check_output_folder, output_stems, write_index
from zoo.extract.windows import WindowSpec
from zoo.options import RunOptions


def extract_to_folder(predictor: Callable[[torch.Tensor], torch.Tensor], layout: Callable[[], list],
                      jobs: Sequence[VideoJob], spec: WindowSpec, writer: FeatureWriter, *, layers: Sequence[str],
                      resume: bool = False, run: RunOptions = RunOptions(), **engine_options) -> dict | None:
    """Extract ``jobs`` into ``writer``'s folder; returns ``{"records", "stats"}`` on rank 0 (``None`` elsewhere).

    The writer's ``settings`` describe the run (layers, protocol, checkpoint hash, ...): they are stored in
    ``run.json`` and in every file, and a run over a folder made with other settings is refused.
    A re-run (``resume`` or not) skips every video whose file is present and verified; ``resume=True``
    additionally requires that the folder holds a run. ``run`` and ``engine_options`` go to
    :func:`~zoo.extract.engine.extract_windows` (the progress bar on rank 0 only).
    """
    rank, world = rank_and_world()
    log = run.log
    output, settings = writer.root, writer.settings
    stems = output_stems(jobs)
    error = None
    if rank == 0:
        try:
            check_output_folder(output, jobs)
            writer.check_unique(jobs, stems, layers, reserved=(RUN_FILE,))
            if resume and not (output / RUN_FILE).is_file():
                raise ResumeMismatchError(f"--resume: {output} holds no run to resume (no {RUN_FILE})")
            check_run_settings(output, settings, resume=True)   # writes run.json, or refuses other settings
        except ValueError as exc:   # other settings, inputs inside the output folder, no run to resume
            error = str(exc).removeprefix("--resume: ") if not resume else str(exc)
    error = broadcast_from_rank0(error)
    if error is not None:
        raise ResumeMismatchError(error)

    share = shard(list(jobs), rank, world)          # verify in parallel, then balance what is left
    writer.remove_stale_temporaries((stems[j.index] for j in share), layers)
    done = [r for r in (writer.verify(j, stems[j.index]) for j in share) if r is not None]
    all_done = gather_to_rank0(done)
    todo = broadcast_from_rank0(None if rank != 0 else sorted(set(j.index for j in jobs) -
                                                               {r["index"] for r in all_done}))
    if rank == 0 and all_done:
        log(f"{len(all_done)} videos already done, {len(todo)} to go")
    by_index = {j.index: j for j in jobs}
    mine = [by_index[i] for i in shard(todo, rank, world)]
    records: list[dict] = []

    def sink(result: VideoFeatures) -> None:
        records.append(writer.write(result, stems[result.job.index]))

    stats = extract_windows(predictor, layout, mine, spec, sink,
                            run=dataclasses.replace(run, progress=run.progress and rank == 0), **engine_options)
    gathered = gather_to_rank0(records)
    all_stats = gather_to_rank0([stats.as_dict()])
    if rank != 0:
        return None
    everything = all_done + gathered
    write_index(output, everything)
    return {"records": sorted(everything, key=lambda r: r["index"]), "stats": all_stats,
            "total": _total(all_stats)}


def _total(stats: list[dict]) -> dict:
    keys = ("videos", "failed", "windows")
    total = {k: sum(s[k] for s in stats) for k in keys}
    total["total_s"] = max((s["total_s"] for s in stats), default=0.0)
    return total


__all__ = ["extract_to_folder", "ExtractStats"]
