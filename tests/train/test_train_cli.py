"""Command line: the seeds' command lines parse; fine-tuning parameter groups and frozen BatchNorm."""
import dataclasses

import pytest
import torch.nn as nn

import zoo
from zoo.train.cli import parse_args, parse_config
from zoo.train.config import TrainConfig
from zoo.train.finetune import TrainConfigError, freeze_batchnorm, param_groups, set_train_mode


def test_the_torchvision_seed_command_lines_parse_with_reference_defaults():
    args = parse_args(["--data-path=/data/kinectics400", '--kinetics-version=400', "--batch-size=16",
                       "--cache-dataset", "--sync-bn", "--amp"])
    assert (args.data_path, args.kinetics_version, args.batch_size) == ("/data/kinectics400", "400", 16)
    assert args.cache_dataset and args.sync_bn and args.amp == "auto"
    assert (args.clip_len, args.frame_rate, args.clips_per_video, args.epochs) == (16, 15.0, 5, 45)
    assert tuple(args.lr_milestones) == (20, 30, 40) and args.lr_warmup_epochs == 10
    assert (args.lr_warmup_method, args.lr_warmup_decay, args.momentum, args.weight_decay) == ("linear", 0.001, 0.9,
                                                                                               1e-4)
    assert tuple(args.train_resize_size) == (128, 171) and args.train_crop_size == 112
    assert args.resume == "auto" and args.lr is None  # 0.01 x processes: 0.64 on 64 GPUs
    assert parse_args(["--amp", "bf16", "--no-resume"]).amp == "bf16"
    assert parse_args(["--no-resume"]).resume is None
    with pytest.raises(SystemExit):
        parse_args(["--lr-warmup-method", "exponential"])


def test_the_trainer_takes_a_typed_configuration_of_every_option():
    argv = ["--data-path", "/data/k400", "--recipe", "finetune", "--weights", "r2plus1d_34.kinetics400_32f"]
    args, config = parse_args(argv), parse_config(argv)
    assert isinstance(config, TrainConfig) and config.to_dict() == {k: getattr(args, k) for k in config.to_dict()}
    assert set(vars(args)) - set(config.to_dict()) == {"recipe_lines"}   # the recipe's printout is the tool's
    assert (config.new_head, config.freeze_bn) == (True, True)            # the recipe's values are in it
    assert config.recipe_settings["new_head"] is True and parse_config(argv[:2]).recipe_settings is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0


def test_lr_multipliers_and_frozen_batchnorm():
    model = zoo.create_model("r2plus1d_10", num_classes=3, channel_multiplier=0.125)
    freeze_batchnorm(model)
    groups = param_groups(model, 0.1, [("stem", 0.0), ("layer4", 0.1), ("fc", 10.0)])
    lrs = {g["lr_mult"]: g["lr"] for g in groups}
    assert lrs == pytest.approx({0.1: 0.01, 1.0: 0.1, 10.0: 1.0})
    named = dict(model.named_parameters())
    assert not named["stem.0.weight"].requires_grad  # factor 0 freezes
    fc = next(g for g in groups if g["lr_mult"] == 10.0)["params"]
    assert {id(p) for p in fc} == {id(named["fc.weight"]), id(named["fc.bias"])}
    assert not any(p.requires_grad for m in model.modules() if isinstance(m, nn.BatchNorm3d)
                   for p in m.parameters())
    set_train_mode(model, freeze_bn=True)
    assert model.training and not any(m.training for m in model.modules() if isinstance(m, nn.BatchNorm3d))
    with pytest.raises(TrainConfigError, match="layer9"):
        param_groups(model, 0.1, [("layer9", 2.0)])


def test_fine_tuning_a_checkpoint_gets_a_new_head_for_the_dataset(small_dataset, tmp_path):
    from zoo.distributed import DistEnv
    from zoo.train.loop import Trainer

    from train_helpers import TINY

    source = tmp_path / "k3.safetensors"
    zoo.save_checkpoint(zoo.create_model("r2plus1d_10", 3, channel_multiplier=0.125), source,
                        classes=["x", "y", "z"], label_set="xyz")
    config = parse_config(["--data-path", str(small_dataset), "--output-dir", str(tmp_path / "out"), *TINY,
                       "--checkpoint", str(source), "--freeze-bn", "--lr-mult", "stem=0"])
    trainer = Trainer(config, DistEnv())
    assert trainer.classes == ["still", "up"] and trainer.model.fc.out_features == 2
    assert trainer.model.zoo_meta["provenance"]["finetuned_from"] == str(source)
    assert not any(p.requires_grad for p in trainer.model.stem.parameters())
    assert trainer.model.layer1[0].conv1[0][0].weight.requires_grad
    assert "label_set" not in trainer.model_file_meta(0, None)  # the source's label set no longer applies
