"""Each strategy trains exactly the parameters it should, and frozen layers do not move at all."""

from __future__ import annotations

import pytest
import torch

import headstart
from headstart.backbones import load_backbone
from headstart.data.dataset import find_images
from headstart.heads import build_head
from headstart.model import TransferNet
from headstart.strategies import apply_strategy, resolve_strategy
from headstart.training import fit_network


def _net(pretrained: bool = True) -> TransferNet:
    backbone = load_backbone("efficientnet_lite0", pretrained=pretrained, image_size=64)
    return TransferNet(backbone, build_head("linear", backbone.num_features, 3))


def _count(parameters) -> int:
    return sum(p.numel() for p in parameters)


@pytest.mark.parametrize("name, freeze", [("frozen", None), ("partial", 3), ("partial", "0.5"), ("full", None),
                                          ("scratch", None)])
def test_trainable_parameter_counts(name, freeze):
    net = _net()
    strategy = resolve_strategy(name, len(net.backbone.stages), freeze)
    groups = apply_strategy(net, strategy, lr=1e-3)
    head = _count(net.head.parameters())
    stages = [_count(net.backbone.stage_parameters(i)) for i in range(len(net.backbone.stages))]
    expected = head + sum(stages[strategy.frozen_stages:])
    assert net.trainable_parameter_count() == expected
    assert sum(_count(g["params"]) for g in groups) == expected
    if name == "partial":
        assert strategy.frozen_stages == (3 if freeze == 3 else 4)
    if name in ("partial", "full"):
        backbone_group = next(g for g in groups if g["name"] == "backbone")
        assert backbone_group["lr"] == pytest.approx(1e-4)  # discriminative learning rates
    assert strategy.pretrained == (name != "scratch")


def _frozen_state(net: TransferNet, frozen_stages: int) -> dict[str, torch.Tensor]:
    """Weights and BatchNorm buffers of the first ``frozen_stages`` stages."""
    prefixes = tuple(".".join(n.split(".")[:-1]) + "." for i in range(frozen_stages)
                     for n in net.backbone.stages[i].parameter_names)
    return {k: v.clone() for k, v in net.backbone.body.state_dict().items()
            if k.startswith(prefixes) and not k.endswith("num_batches_tracked")}


@pytest.mark.parametrize("name, freeze", [("frozen", None), ("partial", 5)])
def test_frozen_weights_and_batchnorm_statistics_are_bit_identical_after_an_epoch(fashion_small, name, freeze):
    train_dir, test_dir = fashion_small
    net = _net()
    strategy = resolve_strategy(name, len(net.backbone.stages), freeze)
    before = _frozen_state(net, strategy.frozen_stages)
    trainable_before = {n: p.clone() for n, p in net.head.named_parameters()}
    result = fit_network(net, strategy, find_images(train_dir), find_images(test_dir), epochs=1, batch_size=16,
                         progress=False, accelerator="cpu")
    after = _frozen_state(net, strategy.frozen_stages)
    assert before.keys() == after.keys() and len(before) > 0
    for key in before:
        assert torch.equal(before[key], after[key]), key
    assert any(not torch.equal(trainable_before[n], p) for n, p in net.head.named_parameters())
    assert result.epochs_run == 1


def test_full_fine_tuning_moves_batchnorm_statistics(fashion_small):
    train_dir, test_dir = fashion_small
    net = _net()
    strategy = resolve_strategy("full", len(net.backbone.stages))
    before = net.backbone.body.bn1.running_mean.clone()
    fit_network(net, strategy, find_images(train_dir), find_images(test_dir), epochs=1, batch_size=16,
                progress=False, accelerator="cpu")
    assert not torch.equal(before, net.backbone.body.bn1.running_mean)


@pytest.mark.parametrize("freeze", ["9", "-1", "many"])
def test_bad_freeze_values(freeze):
    with pytest.raises(headstart.ConfigError, match="--freeze"):
        resolve_strategy("partial", 8, freeze)


def test_freeze_only_applies_to_partial():
    with pytest.raises(headstart.ConfigError, match="partial"):
        resolve_strategy("full", 8, 2)
