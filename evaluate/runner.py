"""The evaluation loop: decode views in DataLoader workers, run them through the model (several videos per
forward pass by default, or one video in memory-budgeted chunks with ``large=True``), aggregate per video,
log records as the run goes and report metrics on rank 0."""
from __future__ import annotations

import os
import time
from collections import Counter
from typing import Callable, Sequence

import numpy as np
import torch
from zoo.input_warnings import report_warnings
from zoo.progress import progress_bar

from zoo.data.errors import warning_kind
from zoo.aggregation import aggregate_views, canonical_aggregation, combine_aggregates
from zoo.evaluate.views_dataset import VideoViews, VideoViewsDataset, views_loader
from zoo.distributed import broadcast_from_rank0, gather_to_rank0, rank_and_world, shard
from zoo.evaluate.memory import (ChunkRunner, MemoryMeter, ViewsOutOfMemory, chunk_size_for_budget,
                                 default_budget, format_size, is_oom, probe_view_cost,
                                 release_memory)
from zoo.evaluate.metrics import compute_metrics, topk_hits
from zoo.evaluate.records import (RecordLog, RunOutput, check_paths_match, check_run_settings, load_records,
                                  write_merged_records)
from zoo.evaluate.report import plot_confusion, write_metrics, write_scores
from zoo.options import RunOptions, fold_keywords

Predictor = Callable[[torch.Tensor], torch.Tensor]


def video_record(item: VideoViews, logits: torch.Tensor, aggregate: str, rank: int) -> dict:
    """The result of one video from its per-view logits ``(V, C)``."""
    record = {"index": item.index, "path": item.path, "video_id": item.video_id, "label": item.label,
              "status": "ok", "rank": rank, "views": int(logits.shape[0]), "padded": bool(item.padded)}
    if item.label >= 0:
        labels = np.full(logits.shape[0], item.label)
        record["clip_top1"] = int(topk_hits(logits.numpy(), labels, 1).sum())
        record["clip_top5"] = int(topk_hits(logits.numpy(), labels, 5).sum())
    record["scores"] = [float(s) for s in aggregate_views(logits, aggregate)]
    if item.warnings:
        record["warnings"] = list(item.warnings)
    return record


def skipped_record(item: VideoViews, reason: str, rank: int, short_videos: str = "skip") -> dict:
    """The record of a video without views: ``skipped``, or ``wrong`` (counted as a wrong prediction) for a
    video shorter than one clip under the ``wrong`` short-video rule."""
    wrong = short_videos == "wrong" and warning_kind(reason) == "too_short"
    return {"index": item.index, "path": item.path, "video_id": item.video_id, "label": item.label,
            "status": "wrong" if wrong else "skipped", "rank": rank, "reason": reason}


def group_videos(records: Sequence[dict], aggregate: str) -> list[dict]:
    """Video-level results: evaluated records sharing a ``video_id`` (dense list files) are combined."""
    groups: dict[str, list[dict]] = {}
    for record in sorted((r for r in records if r["status"] == "ok"), key=lambda r: r["index"]):
        groups.setdefault(record.get("video_id") or record["path"], []).append(record)
    videos = []
    for video_id, members in groups.items():
        scores = members[0]["scores"] if len(members) == 1 else combine_aggregates(
            [m["scores"] for m in members], [m["views"] for m in members], aggregate).tolist()
        videos.append({"video_id": video_id, "path": members[0]["path"], "label": members[0]["label"],
                       "index": members[0]["index"], "scores": scores})
    return videos


def summarize(records: Sequence[dict], classes: Sequence[str], aggregate: str) -> dict:
    """Metrics of all records (videos without a label are left out of the accuracies)."""
    ok = [r for r in records if r["status"] == "ok" and r["label"] >= 0]
    videos = group_videos(ok, aggregate)
    metrics = compute_metrics(np.asarray([v["scores"] for v in videos], dtype=np.float64).reshape(
                                  len(videos), len(classes)),
                              np.asarray([v["label"] for v in videos], dtype=np.int64),
                              sum(r["clip_top1"] for r in ok), sum(r["clip_top5"] for r in ok),
                              sum(r["views"] for r in ok), list(classes),
                              [r["label"] for r in wrong_videos(records, {v["video_id"] for v in videos})])
    metrics.update(video_outcomes(records))
    metrics["num_unlabelled"] = len(group_videos([r for r in records if r["status"] == "ok" and r["label"] < 0],
                                                 aggregate))   # label -1: scored, not in the accuracies
    # videos shorter than one clip span whose clips repeat their last frame (--short-videos pad)
    metrics["num_padded"] = sum(1 for r in records if r["status"] == "ok" and r.get("padded"))
    return metrics


def wrong_videos(records: Sequence[dict], scored: set) -> list[dict]:
    """One labelled ``wrong`` record per video id that has no scored record (``scored``: the scored ids)."""
    out: dict[str, dict] = {}
    for record in sorted((r for r in records if r["status"] == "wrong" and r["label"] >= 0), key=lambda r: r["index"]):
        video_id = record.get("video_id") or record["path"]
        if video_id not in scored:
            out.setdefault(video_id, record)
    return list(out.values())


def video_outcomes(records: Sequence[dict]) -> dict:
    """Refusals and warnings of a run: ``num_skipped`` with ``skip_counts`` per reason and the ``skipped``
    list, and for the videos evaluated despite a warning ``num_with_warnings``, ``warning_counts`` (videos
    per warning kind) and the ``warnings`` list."""
    skipped = sorted((r for r in records if r["status"] == "skipped"), key=lambda r: r["index"])
    wrong = sorted((r for r in records if r["status"] == "wrong"), key=lambda r: r["index"])
    warned = sorted((r for r in records if r["status"] == "ok" and r.get("warnings")), key=lambda r: r["index"])
    return {
        "num_skipped": len(skipped),
        "skip_counts": dict(Counter(warning_kind(r["reason"]) for r in skipped)),
        "skipped": [{"path": r["path"], "reason": r["reason"]} for r in skipped],
        "num_scored_wrong": len(wrong),
        "scored_wrong": [{"path": r["path"], "reason": r["reason"]} for r in wrong],
        "num_with_warnings": len(warned),
        "warning_counts": dict(Counter(kind for r in warned for kind in {warning_kind(w) for w in r["warnings"]})),
        "warnings": [{"path": r["path"], "warnings": r["warnings"]} for r in warned],
    }


class BudgetRunner:
    """Runs views through a predictor in chunks: one pass (halved on OOM), or with ``large`` chunks sized to
    ``max_memory`` by a probe at the first call (the probe needs real views)."""

    def __init__(self, predictor: Predictor, device: torch.device, large: bool, max_memory: int | None,
                 log: Callable[[str], None]):
        self.predictor, self.device, self.large, self.max_memory, self.log = predictor, device, large, \
            max_memory, log
        self.chunker: ChunkRunner | None = None
        self.memory: dict = {}
        # baseline before any video is decoded: the budget covers everything the evaluation adds
        self.meter = MemoryMeter(device, getattr(predictor, "memory_source", "allocator")) if large else None

    def _build(self, views: torch.Tensor) -> ChunkRunner:
        if not self.large:  # every view of the batch in one pass; halves only on OOM
            return ChunkRunner(self.predictor, 1 << 30, self.device, log=self.log)
        budget = self.max_memory if self.max_memory is not None else default_budget(self.device)
        meter = self.meter
        fixed = per_view = None
        if meter.available:
            try:
                fixed, per_view = probe_view_cost(self.predictor, views, meter)
            except Exception as exc:  # noqa: BLE001 - an OOM in the probe itself: start from one view
                if not is_oom(exc):
                    raise
        if per_view is None:  # not measurable here (or the probe ran out): one view per pass, as VMZ
            release_memory(self.device)
            chunk = 1
        else:
            chunk = min(chunk_size_for_budget(budget, fixed, per_view), views.shape[0])
            if fixed + per_view > budget:
                self.log(f"warning: --max-memory {format_size(budget)} is below what one view needs "
                         f"({format_size(fixed + per_view)}); running one view at a time")
        self.memory = {"budget_bytes": budget, "probe_fixed_bytes": fixed, "probe_bytes_per_view": per_view,
                       "initial_chunk_views": chunk}
        self.log(f"--large: budget {format_size(budget)}, measured {format_size(per_view or 0)} per view "
                 f"+ {format_size(fixed or 0)} fixed -> {chunk} of {views.shape[0]} views per pass")
        return ChunkRunner(self.predictor, chunk, self.device, budget=budget, meter=meter, log=self.log)

    def __call__(self, views: torch.Tensor) -> torch.Tensor:
        if self.chunker is None:
            self.chunker = self._build(views)
        return self.chunker(views)

    def memory_report(self) -> dict:
        if self.chunker is None:
            return dict(self.memory)
        report = dict(self.memory, final_chunk_views=self.chunker.chunk_size, oom_retries=self.chunker.oom_count)
        if self.large:
            report["max_peak_bytes"] = self.chunker.max_peak
        return report


def _write_report(output: RunOutput, records: Sequence[dict], classes: Sequence[str], metrics: dict,
                  aggregate: str, final: bool) -> None:
    write_scores(output.folder, group_videos(records, aggregate), classes, output.scores_format)
    write_metrics(output.folder, metrics)
    if final:
        plot_confusion(output.folder / "confusion_matrix.png", metrics["confusion_matrix"], classes)


def evaluation_options(run: RunOptions | None, output: RunOutput | str | os.PathLike | None,
                       keywords: dict) -> tuple[RunOptions, RunOutput]:
    """The :func:`evaluate` records from its arguments: ``output`` may be just the folder, and the flat keywords
    of its earlier signature (``device``, ``workers``, ``max_memory``, ``progress``, ``log``, ``resume``,
    ``settings``, ``scores_format``, ``save_every``) set the field of that name."""
    if not isinstance(output, RunOutput):
        output = RunOutput(output)
    run = run if run is not None else RunOptions(device="cpu")
    run, output = fold_keywords("evaluate", keywords, run, output)
    return run, output


def _videos_done(output: RunOutput, samples: Sequence, rank: int) -> tuple[dict[int, dict], set[int]]:
    """The records already in ``output`` (``resume``; read and checked on rank 0, empty elsewhere) and their
    indices (on every rank); rank 0 writes the run's settings or refuses settings that differ from the
    stopped run's."""
    done: dict[int, dict] = {}
    error = None
    if rank == 0 and output.folder is not None:
        try:
            check_run_settings(output.folder, dict(output.settings or {}, num_videos=len(samples)), output.resume)
            done = load_records(output.folder) if output.resume else {}
            check_paths_match(done, samples)
        except ValueError as exc:
            error = exc
    status = broadcast_from_rank0((str(error) if error else None, sorted(done)))
    if error is not None:
        raise error
    if status[0] is not None:
        raise RuntimeError(f"rank 0 could not start the run: {status[0]}")
    return done, set(status[1])


def evaluate(predictor: Predictor, samples: Sequence, classes: Sequence[str], spec, *,
             aggregate: str = "mean_softmax", large: bool = False, videos_per_batch: int = 4,
             run: RunOptions | None = None, output: RunOutput | str | os.PathLike | None = None,
             **keywords) -> dict | None:
    """Evaluate ``predictor`` (uint8 views -> logits) on ``samples`` (``zoo.data.datasets.VideoSample``).

    ``spec`` is a ``zoo.data.views.ViewSpec``. ``videos_per_batch`` videos go through the model per call, or
    with ``large`` one video in chunks sized to ``run.max_memory``. ``run`` (:class:`~zoo.options.RunOptions`):
    device (default: the CPU), decoding workers, memory budget, progress bar and log. ``output``
    (:class:`~zoo.evaluate.records.RunOutput`, or just its folder): every finished video is appended to
    ``folder/records-<rank>.jsonl`` and ``metrics.json`` / ``scores.*`` are rewritten at least every
    ``save_every`` seconds; ``resume=True`` skips the videos already recorded there. The keywords of the
    earlier signature (``device=``, ``workers=``, ``max_memory=``, ``resume=``, ``settings=`` ...) still work
    (:func:`evaluation_options`). Under ``torchrun`` the remaining videos are sharded across ranks. Returns
    the metrics dict on rank 0, ``None`` elsewhere.
    """
    run, output = evaluation_options(run, output, keywords)
    aggregate = canonical_aggregation(aggregate)
    rank, world = rank_and_world()
    device = torch.device(run.device if run.device is not None else "cpu")
    log = run.log
    done, done_indices = _videos_done(output, samples, rank)
    todo = [i for i in range(len(samples)) if i not in done_indices]
    mine = shard(todo, rank, world)
    if rank == 0 and done_indices:
        log(f"--resume: {len(done_indices)} videos already done, {len(todo)} to go")

    loader = views_loader(VideoViewsDataset(samples, spec, mine), 1 if large else videos_per_batch, run.workers,
                          pin_memory=device.type == "cuda")
    runner = BudgetRunner(predictor, device, large, run.max_memory, log)
    record_log = RecordLog(output.folder, rank) if output.folder is not None else None
    new_records: list[dict] = []
    bar = progress_bar(total=len(mine), unit="video", enabled=run.progress and rank == 0)
    start = last_save = time.monotonic()
    num_views = 0
    try:
        for batch in loader:
            batch_records, views = _score_batch(batch, runner, aggregate, rank, spec.short_videos)
            num_views += views
            for record in batch_records:
                if record_log is not None:
                    record_log.append(record)
                if record["status"] != "ok":
                    log(f"{'scored wrong' if record['status'] == 'wrong' else 'skipped'} {record['path']}: "
                        f"{record['reason']}")
            new_records += batch_records
            elapsed = max(time.monotonic() - start, 1e-9)
            bar.set_postfix_str(f"{num_views / elapsed:.1f} views/s", refresh=False)
            bar.update(len(batch))
            if output.folder is not None and world == 1 and time.monotonic() - last_save >= output.save_every:
                records = list(done.values()) + new_records
                _write_report(output, records, classes, summarize(records, classes, aggregate), aggregate,
                              final=False)
                last_save = time.monotonic()
    finally:
        bar.close()
        if record_log is not None:
            record_log.close()

    gathered = gather_to_rank0(new_records)
    if rank != 0:
        return None
    records = list(done.values()) + gathered
    metrics = summarize(records, classes, aggregate)
    metrics.update(aggregate=aggregate, short_videos=spec.short_videos, world_size=world,
                   elapsed_s=time.monotonic() - start)              # this run (since its start or its --resume)
    metrics["views_per_second"] = num_views / max(metrics["elapsed_s"], 1e-9)
    if large:
        metrics["memory"] = runner.memory_report()
    if output.settings:
        metrics["settings"] = output.settings
    if output.folder is not None:
        _write_report(output, records, classes, metrics, aggregate, final=True)
        write_merged_records(output.folder, records)
    return metrics


def _score_batch(batch: Sequence[VideoViews], runner: BudgetRunner, aggregate: str, rank: int,
                 short_videos: str) -> tuple[list[dict], int]:
    """The records of one batch of videos (their views through ``runner`` in one call) and the views scored."""
    good = [item for item in batch if item.views is not None]
    records = [skipped_record(item, item.error, rank, short_videos) for item in batch if item.views is None]
    scored = 0
    if good:
        views = torch.cat([item.views for item in good]) if len(good) > 1 else good[0].views
        try:
            logits = runner(views)
        except ViewsOutOfMemory as exc:
            records += [skipped_record(item, f"out_of_memory: {exc}", rank) for item in good]
        else:
            offset = 0
            for item in good:
                count = item.views.shape[0]
                records.append(video_record(item, logits[offset:offset + count], aggregate, rank))
                offset += count
            scored = views.shape[0]
        del views
    for item in good:
        report_warnings(item.path, item.warnings)
    return records, scored
