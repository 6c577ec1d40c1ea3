"""Multi-layer features: every block's output, pooled, from one forward pass (after Head2Toe).

A linear head on features from *all* layers of a frozen network (Evci et al., ICML 2022, "Head2Toe")
reaches what fine-tuning reaches on many tasks at a fraction of its cost, most of all on data unlike the
source: early blocks keep the edges and textures that the last layer has already abstracted away.

:class:`BlockFeatures` runs the backbone once and returns, for each block, its output average-pooled to
1×1 and to 2×2 (the four quadrants, as ``adaptive_avg_pool2d`` would, written with slices so the graph
exports to ONNX at any input size), followed by the backbone's own pooled features. The column layout is
described by :func:`block_layout`, so a head can say which columns it uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..backbones import Backbone
from .capture import capturing, mean_pooled

POOLS = (1, 2)  # pooled grids per block: 1x1 (C columns) and 2x2 (4C columns)
_CONTAINERS = (nn.Sequential, nn.ModuleList)


def block_names(backbone: Backbone) -> list[str]:
    """The backbone's blocks, from input to output: the first module on each path down ``body`` that is an
    element of a ``Sequential``/``ModuleList``, has parameters and is not itself a container (EfficientNet's
    MBConv blocks, ResNet's bottlenecks, ViT's transformer blocks, VGG's convolutions)."""
    names: list[str] = []

    def visit(module: nn.Module, prefix: str, in_container: bool) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            if in_container and not isinstance(child, _CONTAINERS) and any(True for _ in child.parameters()):
                names.append(full)
            else:
                visit(child, f"{full}.", isinstance(child, _CONTAINERS))

    visit(backbone.body, "", False)
    return names


@dataclass(frozen=True)
class FeatureGroup:
    """One group of columns of the multi-layer feature vector: a block's output pooled to ``grid``×``grid``
    (``grid`` 0: the backbone's own pooled output), ``channels`` per grid cell, starting at ``start``."""

    block: str
    grid: int
    channels: int
    start: int

    @property
    def width(self) -> int:
        return self.channels * max(self.grid, 1) ** 2

    def to_dict(self) -> dict:
        return asdict(self)


def _quadrant_means(output: torch.Tensor) -> torch.Tensor:
    """``adaptive_avg_pool2d(output, 2)`` flattened channel-major, with slices (ONNX-exportable at any size)."""
    height, width = output.shape[-2:]  # traced as graph values: (h + 1) // 2, as ONNX divides towards zero
    rows = [(0, (height + 1) // 2), (height // 2, height)]
    cols = [(0, (width + 1) // 2), (width // 2, width)]
    cells = [output[:, :, r0:r1, c0:c1].mean(dim=(2, 3)) for r0, r1 in rows for c0, c1 in cols]
    return torch.stack(cells, dim=2).flatten(1)


def _pool(output: torch.Tensor, grid: int) -> torch.Tensor:
    """``output`` pooled to ``grid``×``grid``; tokens ``(N, L, C)``: the mean token, at every grid."""
    return mean_pooled(output) if output.ndim == 3 or grid == 1 else _quadrant_means(output)


class BlockFeatures(nn.Module):
    """``backbone`` fed images, returning every block's pooled output and then its own pooled features.

    Args:
        backbone: the frozen backbone (kept in eval mode by the caller).
        blocks: which blocks to read (default: all of :func:`block_names`); the network still runs to its end.
    """

    def __init__(self, backbone: Backbone, blocks: list[str] | None = None):
        super().__init__()
        self.backbone = backbone
        self.blocks = list(block_names(backbone) if blocks is None else blocks)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        captured, pooled = _run_capturing(self.backbone, self.blocks, images)
        columns = [_pool(captured[name], grid) for name in self.blocks for grid in _grids(captured[name])]
        return torch.cat([*columns, pooled.flatten(1)], dim=1)


def _run_capturing(backbone: Backbone, blocks: list[str],
                   images: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``backbone(images)`` and the (last) output of each of ``blocks`` on the way."""
    with capturing(backbone.body, blocks) as captured:
        pooled = backbone(images)
    return {name: captured[name] for name in blocks}, pooled


def _grids(output: torch.Tensor) -> tuple[int, ...]:
    return POOLS if output.ndim == 4 else (1,)


def block_layout(backbone: Backbone, blocks: list[str] | None = None) -> list[FeatureGroup]:
    """The column groups of :class:`BlockFeatures`' output, found by one forward pass of a small input."""
    network = BlockFeatures(backbone, blocks)
    size = backbone.preprocessing.image_size
    was_training = backbone.training
    try:
        with torch.inference_mode():
            captured, pooled = _run_capturing(backbone.eval(), network.blocks,
                                              torch.zeros(1, backbone.in_chans, size, size))
    finally:
        backbone.train(was_training)
    groups, start = [], 0
    for name in network.blocks:
        output = captured[name]
        channels = output.shape[1] if output.ndim == 4 else output.shape[-1]
        for grid in _grids(output):
            groups.append(FeatureGroup(name, grid, channels, start))
            start += groups[-1].width
    groups.append(FeatureGroup("pooled", 0, pooled.shape[1], start))
    return groups
