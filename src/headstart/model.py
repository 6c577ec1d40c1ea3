"""The transfer network: a backbone followed by a new head."""

from __future__ import annotations

import torch
from torch import nn

from .backbones import Backbone
from .features.layers import BlockFeatures


class TransferNet(nn.Module):
    """``head(backbone(images))``; BatchNorm layers whose parameters are frozen stay in eval mode.

    With ``features="blocks"`` (the ``multilayer`` strategy) the head reads every block's pooled output
    (:class:`~headstart.features.layers.BlockFeatures`) instead of the backbone's pooled output alone.

    A frozen BatchNorm that kept updating its running statistics in ``train()`` would silently
    change the "frozen" pretrained layers, so ``train()`` puts those back into inference mode.
    """

    def __init__(self, backbone: Backbone, head: nn.Module, features: str = "pooled"):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.features = features

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """What the head reads: the backbone's pooled output, or every block's (``features="blocks"``)."""
        return BlockFeatures(self.backbone)(images) if self.features == "blocks" else self.backbone(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(images))

    def train(self, mode: bool = True) -> "TransferNet":
        super().train(mode)
        if mode:
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                        p.requires_grad for p in module.parameters(recurse=False)):
                    module.eval()
        return self

    def trainable_parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class MirrorAveraged(nn.Module):
    """Test-time augmentation (``tta``): ``net``'s head on the mean of the image's and its mirror's features."""

    def __init__(self, net: TransferNet):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        embed = self.net.embed
        return self.net.head((embed(images) + embed(torch.flip(images, dims=[3]))) / 2)
