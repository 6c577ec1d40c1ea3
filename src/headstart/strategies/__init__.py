"""Strategies: which pretrained stages learn, and at which learning rate.

A strategy is data, not a training loop: :func:`apply_strategy` sets ``requires_grad`` and returns
the optimizer's parameter groups; training and heads make it happen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

STRATEGIES = ("frozen", "multilayer", "partial", "full", "scratch", "prototype", "knn")
# TextClassifier's: scratch is TF-IDF and logistic regression, full fine-tunes MiniLM (see headstart.text.classifier)
TEXT_STRATEGIES = ("auto", "frozen", "prototype", "knn", "full", "scratch")
EMBEDDING_STRATEGIES = ("frozen", "multilayer", "prototype", "knn")
NEIGHBOUR_STRATEGIES = ("prototype", "knn")  # classify by nearness to training embeddings: no --head of theirs
FEATURES = {"multilayer": "blocks"}  # what the embedding strategies read; the rest: the pooled output
FEATURE_KINDS = ("pooled", "blocks")  # the backbone's pooled output; every block's (features.layers.BlockFeatures)


def extraction_stage(features: str) -> str | None:
    """What feature extraction computes for heads that read ``features`` (``features.engine.Stage``)."""
    return "blocks" if features == "blocks" else None


@dataclass(frozen=True)
class Strategy:
    """How a backbone is reused.

    Attributes:
        name: one of :data:`STRATEGIES`.
        pretrained: start from pretrained weights (``False`` only for ``scratch``).
        frozen_stages: how many backbone stages, counted from the input, stay fixed.
        backbone_lr_scale: learning rate of trainable backbone layers relative to the head's.
        warmup_fraction: share of the optimisation steps spent warming the learning rate up.
        on_embeddings: the backbone runs once to embed the data and a head is fitted on the
            embeddings (``frozen``, ``multilayer``, ``prototype``, ``knn``).
        features: what is embedded: ``pooled`` (the backbone's output) or ``blocks`` (every block's output
            pooled to 1x1 and 2x2, then the pooled output: ``multilayer``).
    """

    name: str
    pretrained: bool
    frozen_stages: int
    backbone_lr_scale: float = 1.0
    warmup_fraction: float = 0.0
    on_embeddings: bool = False
    features: str = "pooled"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stage_count(freeze: float | int | str | None, num_stages: int) -> int:
    """``freeze`` as a stage count: an int, or a fraction in (0, 1) of the backbone's stages."""
    if freeze is None:
        return num_stages // 2
    try:
        value = float(freeze)
    except ValueError:
        raise ConfigError(f"--freeze takes a stage count or a fraction, got {freeze!r}.",
                          fix=f"Pass e.g. --freeze 4 (of {num_stages} stages) or --freeze 0.5.") from None
    count = round(value * num_stages) if 0 < value < 1 else int(value)
    if not value.is_integer() and not 0 < value < 1 or not 0 <= count <= num_stages:
        raise ConfigError(f"--freeze {freeze} is out of range for a backbone with {num_stages} stages.",
                          fix=f"Pass a whole number from 0 to {num_stages}, or a fraction between 0 and 1.")
    return count


def resolve_strategy(name: str, num_stages: int, freeze: float | int | str | None = None) -> Strategy:
    """The :class:`Strategy` called ``name`` for a backbone with ``num_stages`` stages."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}.", fix=f"Choose one of {', '.join(STRATEGIES)}.")
    if freeze is not None and name != "partial":
        raise ConfigError(f"--freeze applies to the partial strategy, not {name!r}.",
                          fix="Pass --strategy partial --freeze K, or drop --freeze.")
    if name in EMBEDDING_STRATEGIES:
        return Strategy(name, pretrained=True, frozen_stages=num_stages, on_embeddings=True,
                        features=FEATURES.get(name, "pooled"))
    if name == "partial":
        return Strategy(name, pretrained=True, frozen_stages=_stage_count(freeze, num_stages),
                        backbone_lr_scale=0.1, warmup_fraction=0.1)
    if name == "full":
        return Strategy(name, pretrained=True, frozen_stages=0, backbone_lr_scale=0.1, warmup_fraction=0.1)
    return Strategy(name, pretrained=False, frozen_stages=0, backbone_lr_scale=1.0, warmup_fraction=0.05)


def apply_strategy(net: nn.Module, strategy: Strategy, lr: float) -> list[dict[str, Any]]:
    """Freeze ``net.backbone``'s first stages; return AdamW parameter groups (backbone, head).

    Frozen BatchNorm layers are kept in inference mode by ``TransferNet.train``.
    """
    backbone = net.backbone
    for parameter in backbone.parameters():
        parameter.requires_grad_(True)
    for index in range(strategy.frozen_stages):
        for parameter in backbone.stage_parameters(index):
            parameter.requires_grad_(False)
    trainable_backbone = [p for p in backbone.parameters() if p.requires_grad]
    groups = [{"params": list(net.head.parameters()), "lr": lr, "name": "head"}]
    if trainable_backbone:
        groups.insert(0, {"params": trainable_backbone, "lr": lr * strategy.backbone_lr_scale, "name": "backbone"})
    return groups


__all__ = ["EMBEDDING_STRATEGIES", "FEATURES", "STRATEGIES", "Strategy", "TEXT_STRATEGIES", "apply_strategy",
           "resolve_strategy"]
