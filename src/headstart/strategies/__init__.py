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

@dataclass(frozen=True)
class StrategyRecord:
    """One row of :data:`TABLE`: what a strategy is, for every modality. The CLI's choices, compare's defaults, the
    estimators and :func:`resolve_strategy` all read the table; a new strategy is a row here plus its fit in the
    estimators' ``_fit_strategy``.

    Attributes:
        name: what ``--strategy`` takes.
        tasks: the modalities that have it (``image``, ``text``).
        on_embeddings: the encoder runs once to embed the data and a head is fitted on the embeddings.
        neighbour: classifies by nearness to the training embeddings (no ``--head`` of its own).
        features: what an embedding strategy reads: ``pooled`` (the backbone's output) or ``blocks`` (every block's).
        pretrained: starts from pretrained weights.
        frozen: which backbone stages stay fixed while training: ``all``, the ``first`` ``--freeze`` ones, ``none``.
        backbone_lr_scale: learning rate of trainable backbone layers relative to the head's.
        warmup_fraction: share of the optimisation steps spent warming the learning rate up.
        input_size: images' resolution by default: the ``backbone``'s own, or ``from_images`` (twice their side,
            between 64 px and the backbone's: a network trained end to end learns small images at small sizes).
    """

    name: str
    tasks: tuple[str, ...]
    on_embeddings: bool = False
    neighbour: bool = False
    features: str = "pooled"
    pretrained: bool = True
    frozen: str = "all"
    backbone_lr_scale: float = 1.0
    warmup_fraction: float = 0.0
    input_size: str = "backbone"


BOTH = ("image", "text")
# Cheapest first (compare runs them in this order, after scratch, the baseline): embedding strategies, then training.
TABLE: dict[str, StrategyRecord] = {record.name: record for record in (
    StrategyRecord("frozen", BOTH, on_embeddings=True),
    StrategyRecord("multilayer", ("image",), on_embeddings=True, features="blocks"),
    StrategyRecord("prototype", BOTH, on_embeddings=True, neighbour=True),
    StrategyRecord("knn", BOTH, on_embeddings=True, neighbour=True),
    # text: none (MiniLM has no stages to split); images: the frozen prefix is cached (training/prefix.py)
    StrategyRecord("partial", ("image",), frozen="first", backbone_lr_scale=0.1, warmup_fraction=0.1),
    StrategyRecord("full", BOTH, frozen="none", backbone_lr_scale=0.1, warmup_fraction=0.1,
                   input_size="from_images"),
    # text: TF-IDF and logistic regression (headstart.text.classifier); images: the same network, random weights
    StrategyRecord("scratch", BOTH, pretrained=False, frozen="none", warmup_fraction=0.05, input_size="from_images"),
)}
AUTO = "auto"  # not a row: fits rows' strategies as candidates and keeps the best (each estimator's _fit_auto)

STRATEGIES = tuple(name for name, record in TABLE.items() if "image" in record.tasks)
TEXT_STRATEGIES = (AUTO, *(name for name, record in TABLE.items() if "text" in record.tasks))
EMBEDDING_STRATEGIES = tuple(name for name, record in TABLE.items() if record.on_embeddings)
NEIGHBOUR_STRATEGIES = tuple(name for name, record in TABLE.items() if record.neighbour)
FEATURE_KINDS = ("pooled", "blocks")  # the backbone's pooled output; every block's (features.layers.BlockFeatures)


def extraction_stage(features: str) -> str | None:
    """What feature extraction computes for heads that read ``features`` (``features.engine.Stage``)."""
    return "blocks" if features == "blocks" else None


@dataclass(frozen=True)
class Strategy:
    """How a backbone is reused.

    Attributes:
        name: one of :data:`STRATEGIES` (its row of :data:`TABLE`).
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
    record = TABLE[name]
    if freeze is not None and record.frozen != "first":
        raise ConfigError(f"--freeze applies to the partial strategy, not {name!r}.",
                          fix="Pass --strategy partial --freeze K, or drop --freeze.")
    frozen_stages = _stage_count(freeze, num_stages) if record.frozen == "first" else \
        num_stages if record.frozen == "all" else 0
    return Strategy(name, pretrained=record.pretrained, frozen_stages=frozen_stages,
                    backbone_lr_scale=record.backbone_lr_scale, warmup_fraction=record.warmup_fraction,
                    on_embeddings=record.on_embeddings, features=record.features)


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


__all__ = ["AUTO", "EMBEDDING_STRATEGIES", "NEIGHBOUR_STRATEGIES", "STRATEGIES", "Strategy", "StrategyRecord", "TABLE",
           "TEXT_STRATEGIES", "apply_strategy", "resolve_strategy"]
