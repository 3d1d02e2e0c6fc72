"""The configuration of a training run: a typed record the trainer (:class:`zoo.train.loop.Trainer`) takes.

``zoo-train`` builds it from its command line (:func:`zoo.train.cli.parse_config`); the field names are the
options' destinations, and each field means what the option of the same name (``--batch-size`` ->
``batch_size``) says in ``zoo-train --help``, where the defaults are. :meth:`TrainConfig.to_dict` is what
checkpoints record as the run's ``args``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run (see ``zoo-train --help`` for each option)."""

    # data
    data_path: str | None
    train_split: str | None
    val_split: str | None
    fold: int | None
    kinetics_version: str | None
    cache_dataset: bool
    cache_dir: str | None
    clip_len: int
    sampling_rate: int
    frame_rate: float
    clips_per_video: int
    train_resize_size: Sequence[int]
    train_scale_jitter: Sequence[int] | None
    train_crop_size: int
    flip: bool
    val_resize_size: Sequence[int]
    val_crop_size: int
    val_clips_per_video: int
    val_crops: int
    colour_rule: str | None
    workers: int | None
    # model
    model: str | None
    weights: str | None
    checkpoint: str | None
    num_classes: int | None
    model_option: Sequence[tuple[str, Any]]
    new_head: bool
    freeze_bn: bool
    lr_mult: Sequence[tuple[str, float]]
    recipe: str | None
    # optimisation
    batch_size: int
    accum_steps: int
    epochs: int
    lr: float | None
    momentum: float
    nesterov: bool
    weight_decay: float
    label_smoothing: float
    lr_scheduler: str
    lr_milestones: Sequence[float]
    lr_gamma: float
    lr_warmup_epochs: float
    lr_warmup_method: str
    lr_warmup_decay: float
    amp: str | None
    sync_bn: bool
    # run
    device: str
    threads: int | None
    seed: int
    deterministic: bool
    output_dir: str
    resume: str | None
    test_only: bool
    eval_every: int
    checkpoint_every_steps: int
    progress: bool
    dist_timeout: float
    #: seconds the other ranks wait for rank 0's dataset index (not bound by ``dist_timeout``)
    index_timeout: float = 86400.0
    #: the values ``--recipe`` applied (recorded in checkpoints); ``None`` without a recipe
    recipe_settings: Mapping[str, Any] | None = None

    @classmethod
    def from_args(cls, args) -> "TrainConfig":
        """The configuration held by parsed ``zoo-train`` arguments (other attributes are ignored)."""
        return cls(**{f.name: getattr(args, f.name, f.default) for f in fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        """The settings as a dict (checkpoints record it as the run's ``args``)."""
        return asdict(self)
