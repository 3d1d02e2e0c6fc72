"""The training run behind ``zoo-train``: data, model, optimisation, validation, checkpoints and resume.

:func:`run` sets up the process group, then a :class:`Trainer` either evaluates once (``--test-only``) or
trains from the last checkpoint of the output directory (or from scratch) to ``--epochs``. Validation goes
through the evaluator (:func:`zoo.evaluate.runner.evaluate`), so clip and video accuracy are computed exactly
as ``zoo-test`` computes them.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from zoo._io import atomic_write_text
from zoo.console import say
from zoo.amp import amp_dtype
from zoo.input_warnings import report_warnings
from zoo.checkpoint import read_checkpoint_meta
from zoo.data.datasets import discover
from zoo.data.errors import ClassMismatchError, VideoError
from zoo.data.transforms import normalize
from zoo.data.views import TrainClipSpec, ViewSpec
from zoo.factory import create_model
from zoo.train.config import TrainConfig
from zoo.train.checkpointing import (BEST_MODEL, LAST_MODEL, STATE_FILE, TEST_METRICS, capture_rng_state,
                                     check_same_run, epoch_model_name, find_resume_state, load_training_state,
                                     remove_stale_temp_files, restore_rng_state, save_model, save_training_state)
from zoo.train.clips_dataset import TrainBatch, TrainClipDataset, collate_clips
from zoo.paths import data_cache_root
from zoo.distributed import (DistEnv, all_reduce_sum, barrier, broadcast_from_rank0, gather_to_rank0,
                             init_distributed, rank0_first, shutdown)
from zoo.train.finetune import TrainConfigError, freeze_batchnorm, param_groups, set_train_mode
from zoo.train.logs import EpochLog, ProgressBar
from zoo.train.amp import bf16_cpu_guard
from zoo.train.sampler import ClipSampler
from zoo.train.schedule import LR_PER_PROCESS, LRSchedule, build_scheduler
from zoo.train.syncbn import convert_sync_batchnorm
from zoo.hub.lookup import get_weights
from zoo.records import DEFAULT_MEAN, DEFAULT_PREPROCESSING, DEFAULT_STD, Preprocessing

DEFAULT_MODEL = "r2plus1d_18"
STATE_FORMAT = "zoo-train/1"
#: optimizer steps between two reads of the loss on the host (each read waits for the GPU): a diverging loss is
#: reported at the next read, before any checkpoint is written
LOSS_CHECK_EVERY = 20


def run(config: TrainConfig) -> int:
    """Run ``zoo-train`` with its configuration; returns the exit status."""
    from zoo.guards import output_lock

    env = init_distributed(config.device, timeout_s=config.dist_timeout)
    lock = None
    try:
        if env.is_main:   # one zoo-train per output folder: two would interleave their checkpoints
            lock = output_lock(config.output_dir, "zoo-train", "--output-dir")
        trainer = Trainer(config, env)
        if env.is_main:   # after the run was found to be this one: its killed writes, under the lock
            remove_stale_temp_files(config.output_dir, config.epochs)
        status = trainer.test() if config.test_only else trainer.fit()
        del trainer     # DDP and its reducer go before the process group they talk through
        return status
    finally:
        if lock is not None:
            lock.release()
        shutdown()


# ---------------------------------------------------------------------------------------------------- set-up
def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def configure_determinism(deterministic: bool, device: torch.device) -> None:
    """Deterministic kernels (cudnn.benchmark off) or the fastest ones (cudnn.benchmark on)."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        # warn_only: a few CUDA backward kernels (3-D adaptive pooling) have no deterministic version
        torch.use_deterministic_algorithms(True, warn_only=True)
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def default_workers(env: DistEnv) -> int:
    """min(10, CPUs per process on this node) DataLoader workers (torchvision uses 10)."""
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, min(10, (os.cpu_count() or 1) // max(1, per_node)))


def default_data_path(env: DistEnv, log: Callable[[str], None]) -> Path:
    """The built-in synthetic motion dataset, generated once (by rank 0) in the user cache dir."""
    from zoo.data.synthetic import generate

    root = data_cache_root() / "synthetic-4x16"
    if env.is_main:
        log(f"zoo-train: no --data-path: using the synthetic motion dataset in {root}")
        generate(root, classes=4, videos_per_class=16, seed=0)
    barrier()
    return root


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _print_line(message: str) -> None:
    """The trainer's default ``log``: a line on stdout (:func:`zoo.console.say`: what came from files is escaped),
    flushed (logs of cluster jobs stay in order)."""
    say(message)


# ----------------------------------------------------------------------------------------------------- trainer
class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: a failure (exit 1) reported in one line with the likely flag."""


class Trainer:
    """One training run (this process's part of it), configured by a :class:`~zoo.train.config.TrainConfig`."""

    def __init__(self, config: TrainConfig, env: DistEnv, log: Callable[[str], None] | None = None):
        self.config, self.env, self.device = config, env, env.device
        self.log = log or _print_line
        self.out = Path(config.output_dir)
        if env.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        configure_determinism(config.deterministic, self.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.workers = default_workers(env) if config.workers is None else config.workers
        self.frame_rate = config.frame_rate or None
        state_path = broadcast_from_rank0(find_resume_state(self.out, config.resume) if env.is_main else None)
        if state_path is not None and not Path(state_path).is_file():
            raise TrainConfigError(f"rank {env.rank}: cannot read {state_path} that rank 0 resumes from; "
                                   "--output-dir must be on a filesystem shared by all nodes")
        self.state = load_training_state(state_path) if state_path else None
        if self.state is not None and self.state.get("format") != STATE_FORMAT:
            raise TrainConfigError(f"{state_path}: not a {STATE_FORMAT} training state")
        self.state_path = state_path
        if env.is_main:
            self._check_same_run()
        if config.test_only and not (self.state or config.checkpoint or config.weights):
            raise TrainConfigError(f"--test-only needs a trained model: --checkpoint FILE, --weights NAME, or "
                                   f"an --output-dir holding {STATE_FILE} ({self.out} has none)")

        seed_everything(config.seed)  # the same initial weights on every rank
        self._load_data()
        self._build_model()
        seed_everything(config.seed + env.rank)
        known = Preprocessing.from_dict(self.model_meta, "model metadata")
        self.mean = list(known.mean or DEFAULT_MEAN)
        self.std = list(known.std or DEFAULT_STD)
        self.colour_rule = config.colour_rule or known.colour_rule or DEFAULT_PREPROCESSING.colour_rule
        self.failed_videos: dict[str, str] = {}
        self.reported_warnings: set[tuple[str, str]] = set()  # each video's warning is shown once
        self.global_step = 0
        # (loss on the device, epoch, step, global step) of the steps since the losses were last read
        self.pending_losses: list[tuple[torch.Tensor, int, int, int]] = []

    def _check_same_run(self) -> None:
        """Refuse a training state (resumed, or the output folder's with ``--no-resume``) of another run."""
        config = self.config
        state, path = self.state, self.state_path
        if state is None and (self.out / STATE_FILE).is_file():   # --no-resume would write over it
            path = self.out / STATE_FILE
            state = load_training_state(path)
        if state is None:
            return
        source = self._source() if config.checkpoint or config.weights else None
        arch = config.model or (source[0] if source else DEFAULT_MODEL)
        check_same_run(state, path, arch=arch, options=dict(config.model_option), data_path=config.data_path,
                       train_split=config.train_split, output_dir=self.out)

    # ------------------------------------------------------------------ data
    def _load_data(self) -> None:
        config, env = self.config, self.env
        data_path = Path(config.data_path) if config.data_path else default_data_path(env, self._log)
        self.data_path = data_path
        fixed_classes = self._classes_from_source()
        split = config.train_split or None
        try:
            self.train_samples, self.classes = discover(data_path, split=split, classes=fixed_classes)
        except ClassMismatchError:
            if self.state is not None:  # a resumed run must see the classes it was trained on
                raise
            self._log(f"zoo-train: the classes of {data_path} differ from those of "
                      f"{config.checkpoint or config.weights}: labels follow the dataset's class folders")
            self.train_samples, self.classes = discover(data_path, split=split)
            fixed_classes = None
        if config.kinetics_version and len(self.classes) != int(config.kinetics_version):
            raise ClassMismatchError(
                f"{data_path}: --kinetics-version {config.kinetics_version} but the {config.train_split!r} split has "
                f"{len(self.classes)} classes (check --data-path or drop --kinetics-version)")
        if config.num_classes is not None and fixed_classes is None and config.num_classes != len(self.classes):
            raise ClassMismatchError(f"{data_path}: --num-classes {config.num_classes} but the dataset has "
                                     f"{len(self.classes)} classes")
        self.val_samples = []
        if config.val_split and config.val_split.lower() != "none":
            try:
                self.val_samples, _ = discover(data_path, split=config.val_split, classes=self.classes)
            except FileNotFoundError as exc:
                if config.test_only:
                    raise
                self._log(f"zoo-train: no validation data ({exc}); training without validation")
        if config.cache_dataset and not config.test_only:
            self.train_samples, self.infos = self._indexed(self.train_samples)
        else:
            self.infos = {}

    def _classes_from_source(self) -> list[str] | None:
        """Class names that fix the label order: the resumed run's, or the starting checkpoint's (same head)."""
        if self.state is not None:
            return list(self.state["classes"])
        if self.config.new_head:   # the dataset's own classes, whatever the source was trained on
            return None
        source = self._source()
        if source and source[2].classes and self.config.num_classes in (None, source[1]):
            return list(source[2].classes)
        return None

    def _source(self) -> tuple[str, int, Preprocessing] | None:
        """Architecture, head size and preprocessing of ``--checkpoint`` / ``--weights`` (None without)."""
        if self.config.checkpoint:
            meta = read_checkpoint_meta(self.config.checkpoint)
            return meta["arch"], int(meta["num_classes"]), Preprocessing.from_dict(meta, str(self.config.checkpoint))
        if self.config.weights:
            entry = get_weights(self.config.weights)
            return entry.arch, entry.num_classes, entry.preprocessing
        return None

    def _indexed(self, samples: list) -> tuple[list, dict]:
        """``--cache-dataset``: metadata from the cached index (rank 0 builds it); unusable videos left out."""
        from zoo.data.index import load_or_build_index

        def build():
            return load_or_build_index(samples, cache_dir=self.config.cache_dir, workers=self.workers,
                                       progress=self.env.is_main and self.config.progress)
        # rank 0 probes every video (hours for Kinetics) while the others wait, longer than --dist-timeout;
        # then they find every entry fresh and only read the cache
        index = rank0_first(build, self.config.index_timeout)
        good, infos, bad = [], {}, []
        for sample in samples:
            entry = index[str(sample.path)]
            if isinstance(entry, VideoError) or entry.num_frames < 1:
                bad.append((str(sample.path), entry.reason if isinstance(entry, VideoError) else "empty"))
            else:
                good.append(sample)
                infos[str(sample.path)] = entry
        if bad:
            shown = "; ".join(f"{p} ({r})" for p, r in bad[:5])
            self._log(f"zoo-train: warning: {len(bad)} unusable training video(s) left out: {shown}"
                      + (" ..." if len(bad) > 5 else ""))
        if not good:
            raise TrainConfigError(f"{self.data_path}: no usable training video")
        return good, infos

    def _train_loader(self) -> tuple[ClipSampler, DataLoader]:
        config = self.config
        spec = TrainClipSpec(clip_len=config.clip_len, sampling_rate=config.sampling_rate, frame_rate=self.frame_rate,
                             scale_range=tuple(config.train_scale_jitter) if config.train_scale_jitter else None,
                             resize=tuple(config.train_resize_size), crop_size=config.train_crop_size, flip=config.flip,
                             colour_rule=self.colour_rule)
        dataset = TrainClipDataset(self.train_samples, spec, self.infos)
        sampler = ClipSampler(len(dataset), config.clips_per_video, seed=config.seed, rank=self.env.rank,
                              world_size=self.env.world_size)
        loader = DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, drop_last=True,
                            num_workers=self.workers, collate_fn=collate_clips,
                            pin_memory=self.device.type == "cuda", persistent_workers=self.workers > 0,
                            prefetch_factor=4 if self.workers > 0 else None)
        return sampler, loader

    def val_spec(self) -> ViewSpec:
        config = self.config
        size = config.val_resize_size
        return ViewSpec(clip_len=config.clip_len, sampling_rate=config.sampling_rate,
                        num_clips=config.val_clips_per_video, num_crops=config.val_crops,
                        resize=size[0] if len(size) == 1 else tuple(size), crop_size=config.val_crop_size,
                        frame_rate=self.frame_rate, colour_rule=self.colour_rule)

    # ----------------------------------------------------------------- model
    def _build_model(self) -> None:
        config = self.config
        options = dict(config.model_option)
        num_classes = len(self.classes)
        if self.state is not None:  # resuming: architecture and weights come from the training state
            model_config = self.state["model_config"]
            model = create_model(model_config["arch"], model_config["num_classes"], **model_config["options"])
            model.load_state_dict(self.state["model"])
            model.zoo_meta = dict(self.state.get("model_meta") or {})
        elif config.checkpoint or config.weights:
            source = config.checkpoint or config.weights
            arch = self._source()[0]
            if config.model and config.model != arch:
                raise TrainConfigError(f"--model {config.model} but {source} holds a {arch}")
            model = create_model(arch, num_classes, weights=source, new_head=config.new_head, **options)
        else:
            model = create_model(config.model or DEFAULT_MODEL, num_classes, **options)
        if not hasattr(model, "zoo_meta"):
            model.zoo_meta = {}
        self.model_meta = model.zoo_meta
        if config.freeze_bn:
            freeze_batchnorm(model)
        model.to(self.device)
        if config.sync_bn and self.env.distributed:
            model = convert_sync_batchnorm(model, self.device)
        elif config.sync_bn:
            self._log("zoo-train: --sync-bn has no effect with a single process")
        self.model = model
        self.base_lr = config.lr if config.lr is not None else LR_PER_PROCESS * self.env.world_size
        self.param_groups = param_groups(model, self.base_lr, config.lr_mult)  # before DDP sees requires_grad
        self.ddp = model
        if self.env.distributed:
            self.ddp = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    # -------------------------------------------------------------- logging
    def _log(self, message: str) -> None:
        """Report ``message`` (rank 0 only) through the ``log`` callable the trainer was given."""
        if self.env.is_main:
            self.log(message)

    # ---------------------------------------------------------- evaluation
    def validate(self) -> dict | None:
        """Clip and video accuracy on the validation split through the evaluator (all ranks take part)."""
        if not self.val_samples:
            return None
        from zoo.evaluate.predictors import TorchPredictor
        from zoo.evaluate.runner import evaluate
        from zoo.options import RunOptions

        spec = self.val_spec()
        predictor = TorchPredictor(self.model, self.mean, self.std, self.device)
        run = RunOptions(device=self.device, workers=self.workers, progress=self.config.progress, log=self._log)
        metrics = evaluate(predictor, self.val_samples, self.classes, spec,
                           videos_per_batch=max(1, self.config.batch_size // spec.num_views), run=run)
        metrics = broadcast_from_rank0(metrics)
        set_train_mode(self.model, self.config.freeze_bn)
        return metrics

    def test(self) -> int:
        """``--test-only``: evaluate the model once and print the accuracy table."""
        from zoo.evaluate.report import summary_table

        if not self.val_samples:
            raise TrainConfigError(f"{self.data_path}: no {self.config.val_split!r} split to evaluate")
        metrics = self.validate()
        if self.env.is_main:
            for line in summary_table(metrics):
                self.log(line)
            atomic_write_text(self.out / TEST_METRICS, json.dumps(_jsonable(metrics), indent=1))
        return 0

    # ------------------------------------------------------------- training
    def fit(self) -> int:
        """Train to ``--epochs``, resuming from the training state when there is one."""
        config, env = self.config, self.env
        sampler, loader = self._train_loader()
        micro_per_epoch = sampler.items_per_rank // config.batch_size
        steps = micro_per_epoch // config.accum_steps
        if steps < 1:
            raise TrainConfigError(
                f"{self.data_path}: {sampler.items_per_rank} clips per process per epoch is less than one step of "
                f"--batch-size {config.batch_size} x --accum-steps {config.accum_steps}")
        self.steps_per_epoch = steps
        optimizer = torch.optim.SGD(self.param_groups, lr=self.base_lr,
                                    momentum=config.momentum, weight_decay=config.weight_decay, nesterov=config.nesterov)
        schedule = LRSchedule(iters_per_epoch=steps, epochs=config.epochs, warmup_epochs=config.lr_warmup_epochs,
                              warmup_method=config.lr_warmup_method, warmup_decay=config.lr_warmup_decay,
                              scheduler=config.lr_scheduler, milestones=tuple(config.lr_milestones), gamma=config.lr_gamma)
        scheduler = build_scheduler(optimizer, schedule)
        amp = self._amp_dtype()
        scaler = torch.amp.GradScaler(self.device.type, enabled=amp == torch.float16)
        criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.optimizer, self.scheduler, self.scaler, self.criterion, self.amp = optimizer, scheduler, scaler, \
            criterion, amp

        start_epoch, start_step, self.global_step = 0, 0, 0
        self.best = {"metric": None, "value": None, "epoch": None}
        # loss * n, top-1 hits, clips, data-wait seconds: summed on the device, read once per epoch
        self.sums = torch.zeros(4, dtype=torch.float64, device=self.device)
        if self.state is not None:
            start_epoch, start_step = self._restore(self.state)
            self._log(f"zoo-train: resumed from {self.state_path} at epoch {start_epoch + 1}, step {start_step}")
            self.state = None
        if start_epoch >= config.epochs:
            self._log(f"zoo-train: {self.out} already finished {config.epochs} epochs")
            return 0
        history = EpochLog(self.out if env.is_main else None, start_epoch)
        try:
            for epoch in range(start_epoch, config.epochs):
                row = self._train_epoch(epoch, sampler, loader, start_step)
                start_step = 0
                last = epoch == config.epochs - 1
                val = None
                if last or (config.eval_every > 0 and (epoch + 1) % config.eval_every == 0):
                    val = self.validate()
                if val is not None:
                    row.update(val_clip_acc1=val["clip_top1"], val_clip_acc5=val["clip_top5"],
                               val_video_acc1=val["video_top1"], val_video_acc5=val["video_top5"])
                    self._log(f"epoch {epoch + 1}: val clip@1 {_pct(val['clip_top1'])} video@1 "
                              f"{_pct(val['video_top1'])} video@5 {_pct(val['video_top5'])}")
                improved = self._update_best(epoch, val)
                if env.is_main:
                    history.append(row)
                self.sums.zero_()
                self.save(epoch + 1, 0, finished_epoch=epoch, improved=improved, val=val)
        finally:
            history.close()
        self._log(f"zoo-train: done; checkpoints in {self.out}")
        return 0

    def _amp_dtype(self) -> torch.dtype | None:
        return amp_dtype(self.config.amp, self.device.type)

    def _update_best(self, epoch: int, val: dict | None) -> bool:
        if val is None:
            return False
        name = "video_top1" if val.get("video_top1") is not None else "clip_top1"
        value = val.get(name)
        if value is None or (self.best["value"] is not None and value <= self.best["value"]):
            return False
        self.best = {"metric": name, "value": float(value), "epoch": epoch}
        return True

    def _train_epoch(self, epoch: int, sampler: ClipSampler, loader: DataLoader, start_step: int) -> dict:
        config, env = self.config, self.env
        accum = config.accum_steps
        sampler.set_epoch(epoch, start=start_step * config.batch_size * accum)
        set_train_mode(self.model, config.freeze_bn)
        bar = ProgressBar(self.steps_per_epoch, start_step, epoch, config.epochs, enabled=env.is_main and config.progress)
        batches = iter(loader)
        t_epoch = time.perf_counter()
        clips_before = float(self.sums[2])
        epoch_wait, loss_shown = 0.0, None
        try:
            for step in range(start_step, self.steps_per_epoch):
                step_wait, step_clips, step_loss = 0.0, 0, None
                for micro in range(accum):
                    t0 = time.perf_counter()
                    batch: TrainBatch = next(batches)
                    step_wait += time.perf_counter() - t0
                    self._note_failures(batch, bar)
                    loss = self._forward_backward(batch, sync=micro == accum - 1) / accum
                    step_loss = loss if step_loss is None else step_loss + loss
                    step_clips += len(batch)
                self._optimizer_step()
                self.sums[3] += step_wait               # a host number into a device tensor: no wait
                epoch_wait += step_wait
                self.pending_losses.append((step_loss, epoch, step, self.global_step - 1))
                done = step + 1
                every = config.checkpoint_every_steps
                saving = bool(every and done % every == 0 and done < self.steps_per_epoch)
                if saving or len(self.pending_losses) >= self.loss_check_every:
                    loss_shown = self.check_losses()
                bar.update(step_clips * env.world_size, loss_shown, self.optimizer.param_groups[-1]["lr"],
                           data_wait=epoch_wait / max(time.perf_counter() - t_epoch, 1e-9))
                if saving:
                    self.save(epoch, done)
        finally:
            bar.close()
        self.check_losses()
        elapsed = max(time.perf_counter() - t_epoch, 1e-9)
        totals = all_reduce_sum(self.sums.clone().to(self.device)).cpu()
        failed = all_reduce_sum(torch.tensor([float(len(self.failed_videos))], device=self.device)).item()
        clips_this_run = (float(self.sums[2]) - clips_before) * env.world_size
        row = {"epoch": epoch, "train_loss": float(totals[0] / max(totals[2], 1)),
               "train_clip_acc1": float(totals[1] / max(totals[2], 1)), "lr": self.optimizer.param_groups[-1]["lr"],
               "clips_per_s": clips_this_run / elapsed, "data_wait": epoch_wait / elapsed,
               "epoch_time_s": elapsed, "failed_videos": int(failed), "global_step": self.global_step,
               "processes": env.world_size}
        self._log(f"epoch {epoch + 1}/{config.epochs}: loss {row['train_loss']:.4f} clip@1 "
                  f"{_pct(row['train_clip_acc1'])} {row['clips_per_s']:.1f} clips/s "
                  f"data wait {100 * row['data_wait']:.0f}%")
        return row

    def _note_failures(self, batch: TrainBatch, bar: ProgressBar) -> None:
        for path, text in batch.warnings:
            if (path, text) not in self.reported_warnings:
                self.reported_warnings.add((path, text))
                report_warnings(path, [text])
        for path, reason in batch.failures:
            if path not in self.failed_videos:
                self.failed_videos[path] = reason
                self._log(f"zoo-train: warning: skipped unreadable video {path} ({reason}); "
                          f"{len(self.failed_videos)} so far, a replacement clip was drawn")

    def _divergence(self, loss: float, epoch: int, step: int, global_step: int) -> str:
        """One line for a non-finite loss: where it happened and the flags that most likely caused it."""
        args = self.config
        hints = [f"lower --lr (the learning rate is {self.optimizer.param_groups[-1]['lr']:g})"]
        if args.amp == "fp16" or (args.amp == "auto" and self.device.type == "cuda"):
            hints.append("try --amp bf16 (fp16 overflows)")
        if args.model_option:
            hints.append("check --model-option " + " ".join(f"{k}={v}" for k, v in args.model_option))
        return (f"training diverged: the loss is {loss} at epoch {epoch + 1}, step {step + 1} (global step "
                f"{global_step}); {'; '.join(hints)}")

    loss_check_every = LOSS_CHECK_EVERY

    def check_losses(self) -> float | None:
        """Read the losses of the steps since the last check (one wait for the device): a non-finite one stops
        the run (:class:`TrainingDiverged`), naming the epoch and step where it first appeared. Returns the last
        loss (``None``: no step since the last check)."""
        if not self.pending_losses:
            return None
        values = torch.stack([entry[0].detach().float() for entry in self.pending_losses]).cpu().tolist()
        where = [entry[1:] for entry in self.pending_losses]
        self.pending_losses.clear()
        for value, (epoch, step, global_step) in zip(values, where):
            if not math.isfinite(value):
                raise TrainingDiverged(self._divergence(value, epoch, step, global_step))
        return values[-1]

    def _forward_backward(self, batch: TrainBatch, sync: bool) -> torch.Tensor:
        """One micro-batch: forward, backward, running sums on the device; returns the loss (on the device)."""
        clips = batch.clips.to(self.device, non_blocking=True)
        labels = batch.labels.to(self.device, non_blocking=True)
        x = normalize(clips, self.mean, self.std)
        context = self.ddp.no_sync() if (self.env.distributed and not sync) else contextlib.nullcontext()
        with context, bf16_cpu_guard(self.device, self.amp):
            with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
                logits = self.ddp(x)
                loss = self.criterion(logits.float(), labels)
            self.scaler.scale(loss / self.config.accum_steps).backward()
        with torch.no_grad():
            n = labels.shape[0]
            self.sums[0] += loss.detach() * n
            self.sums[1] += (logits.argmax(1) == labels).sum()
            self.sums[2] += n
        return loss.detach()

    def _optimizer_step(self) -> None:
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.global_step += 1

    # ---------------------------------------------------------- checkpoints
    def model_file_meta(self, epoch: int, val: dict | None) -> dict:
        """Metadata of the exported model files: data protocol, classes, provenance and training summary."""
        config = self.config
        spec = self.val_spec()
        provenance = dict(self.model_meta.get("provenance") or {})
        provenance.update(tool="zoo-train", date=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                          data_path=str(self.data_path))
        label_set = None
        if config.kinetics_version:
            label_set = f"kinetics{config.kinetics_version}"
        elif self.model_meta.get("label_set") and len(self.classes) == self.model.zoo_config["num_classes"]:
            label_set = self.model_meta["label_set"]
        prep = Preprocessing(clip_len=config.clip_len, sampling_rate=config.sampling_rate, frame_rate=self.frame_rate,
                             resize=spec.resize, crop_size=spec.crop_size, mean=tuple(self.mean),
                             std=tuple(self.std), classes=tuple(self.classes), label_set=label_set,
                             resize_filter=spec.resize_filter, crop_rule=spec.crop_rule,
                             colour_rule=spec.colour_rule)
        meta = {**prep.to_dict(), "provenance": provenance,
                "training": {"epoch": epoch, "global_step": self.global_step, "args": _jsonable(config.to_dict()),
                             "val": _jsonable({k: val[k] for k in ("clip_top1", "clip_top5", "video_top1",
                                                                   "video_top5", "num_videos") if k in val})
                             if val else None}}
        return meta

    def save(self, epoch: int, step_in_epoch: int, finished_epoch: int | None = None, improved: bool = False,
             val: dict | None = None) -> None:
        """Write the training state (all ranks contribute their RNG state) and, on rank 0, the model files."""
        self.check_losses()       # never a checkpoint of a diverged model
        rank_state = {"rng": capture_rng_state(), "sums": self.sums.cpu(),
                      "failed_videos": dict(self.failed_videos)}
        rank_states = gather_to_rank0([rank_state])
        if self.env.is_main:
            meta = self.model_file_meta(epoch if finished_epoch is None else finished_epoch, val)
            save_model(self.model, self.out / LAST_MODEL, meta)
            if finished_epoch is not None:
                save_model(self.model, self.out / epoch_model_name(finished_epoch), meta)
            if improved:
                save_model(self.model, self.out / BEST_MODEL, meta)
            state = {
                "format": STATE_FORMAT,
                "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "model_config": self.model.zoo_config,
                "model_meta": _jsonable(self.model_meta),
                "classes": list(self.classes),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "epoch": epoch, "step_in_epoch": step_in_epoch, "global_step": self.global_step,
                "sampler": {"epoch": epoch, "position": step_in_epoch * self.config.batch_size * self.config.accum_steps,
                            "seed": self.config.seed},
                "world_size": self.env.world_size, "batch_size": self.config.batch_size,
                "accum_steps": self.config.accum_steps, "steps_per_epoch": self.steps_per_epoch,
                "best": dict(self.best),
                "rank_states": rank_states,
                "args": _jsonable(self.config.to_dict()),
                "data_root": os.path.realpath(self.config.data_path) if self.config.data_path else None,
            }
            save_training_state(self.out / STATE_FILE, state)
        barrier()

    def _restore(self, state: dict) -> tuple[int, int]:
        """Load optimizer, scheduler, scaler, counters and this rank's RNG state; returns (epoch, step)."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.global_step = int(state["global_step"])
        self.best = dict(state.get("best") or self.best)
        epoch, step = int(state["epoch"]), int(state["step_in_epoch"])
        same_layout = (state["world_size"] == self.env.world_size and state["batch_size"] == self.config.batch_size
                       and state["accum_steps"] == self.config.accum_steps
                       and state["steps_per_epoch"] == self.steps_per_epoch)
        ranks = state.get("rank_states") or []
        if same_layout and len(ranks) == self.env.world_size:
            mine = ranks[self.env.rank]
            restore_rng_state(mine["rng"])
            self.sums.copy_(mine["sums"])
            self.failed_videos.update(mine.get("failed_videos") or {})
        else:
            self._log("zoo-train: warning: processes, batch size or dataset changed since the checkpoint; "
                      "the interrupted epoch restarts from its beginning with fresh RNG states")
            step = 0
        return epoch, step


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"
