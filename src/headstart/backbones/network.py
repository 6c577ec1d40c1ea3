"""The backbone module: a pretrained network cut before its classifier, with named stages."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .spec import BackboneSpec, Preprocessing


def common_prefix(dotted_names: list[str]) -> list[str]:
    """The leading dotted components that every name shares."""
    common: list[str] = []
    for column in zip(*(name.split(".") for name in dotted_names)):
        if len(set(column)) > 1:
            break
        common.append(column[0])
    return common


@dataclass(frozen=True)
class Stage:
    """A group of consecutive layers that a strategy freezes or trains together."""

    name: str
    parameter_names: tuple[str, ...]


class Backbone(nn.Module):
    """A feature extractor: images ``(N, C, H, W)`` -> pooled features ``(N, num_features)``.

    Attributes:
        spec: the registry entry it was built from.
        preprocessing: the transform its weights expect (for its ``in_chans``).
        stages: parameter groups from input to output (stem first).
        pretrained: whether pretrained weights were loaded.
        weights_source: where the weights came from, in words.
    """

    def __init__(self, body: nn.Module, *, spec: BackboneSpec, preprocessing: Preprocessing,
                 num_features: int, stages: list[Stage], pretrained: bool, weights_source: str,
                 adaptation: list[str]):
        super().__init__()
        self.body = body
        self.spec = spec
        self.preprocessing = preprocessing
        self.num_features = num_features
        self.stages = stages
        self.pretrained = pretrained
        self.weights_source = weights_source
        self.adaptation = adaptation

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def in_chans(self) -> int:
        return self.preprocessing.in_chans

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)

    def stage_module_name(self, stage_index: int) -> str:
        """The module (inside ``body``) whose output ends stage ``stage_index``."""
        modules = [n.rsplit(".", 1)[0] for n in self.stages[stage_index].parameter_names]
        return ".".join(common_prefix(modules)) or modules[-1]

    def stage_parameters(self, stage_index: int) -> list[nn.Parameter]:
        named = dict(self.named_parameters())
        return [named[f"body.{name}"] for name in self.stages[stage_index].parameter_names]
