"""How close a dataset is to the backbone's source data, stage by stage.

* BatchNorm-statistics shift: the pretrained BatchNorm layers hold the source data's per-channel
  activation mean and variance. For the new images we measure the same statistics at the same
  layers and take the KL divergence between the two Gaussians, averaged over channels and over
  the layers of each stage. Near zero: the stage sees activations like the ones it was trained on.
* Linear-probe transferability: cross-validated accuracy of a logistic regression on each stage's
  average-pooled features.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader

from ..backbones import Backbone
from ..data.dataset import ImageDataset, ImageSet, decode_side, make_transform


@dataclass
class StageEvidence:
    """What was measured at one stage."""

    stage: str
    bn_shift: float | None
    probe_accuracy: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def _gaussian_kl(mean_p: torch.Tensor, var_p: torch.Tensor, mean_q: torch.Tensor, var_q: torch.Tensor) -> torch.Tensor:
    """KL(N(mean_p, var_p) || N(mean_q, var_q)) per channel."""
    var_p, var_q = var_p.clamp_min(1e-5), var_q.clamp_min(1e-5)
    return 0.5 * (torch.log(var_q / var_p) + (var_p + (mean_p - mean_q) ** 2) / var_q - 1.0)


def stage_statistics(backbone: Backbone, images: ImageSet, *, batch_size: int = 32,
                     features: bool = True) -> tuple[list[float | None], list[np.ndarray]]:
    """One forward pass over ``images`` giving both measurements: :func:`batchnorm_shift`'s per-stage shifts and
    (with ``features``) :func:`stage_features`' pooled outputs of every stage."""
    backbone = backbone.eval()
    layers = {name: module for name, module in backbone.body.named_modules()
              if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None}
    stage_modules = [backbone.body.get_submodule(backbone.stage_module_name(i)) for i in range(len(backbone.stages))]
    sums: dict[str, list[torch.Tensor]] = {}
    outputs: list[list[np.ndarray]] = [[] for _ in stage_modules]

    def statistics(name: str):
        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            x = inputs[0].float()
            dims = [0, 2, 3] if x.ndim == 4 else [0]
            count = x.numel() / x.shape[1]
            total, squares = x.sum(dims), (x * x).sum(dims)
            if name in sums:
                sums[name][0] += total
                sums[name][1] += squares
                sums[name][2] += count
            else:
                sums[name] = [total, squares, torch.tensor(count)]
        return record

    def pooled(index: int):
        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            pooled_output = output.mean(dim=(2, 3)) if output.ndim == 4 else output.mean(dim=1)
            outputs[index].append(pooled_output.float().numpy())
        return record

    handles = [module.register_forward_hook(statistics(name)) for name, module in layers.items()]
    if features:
        handles += [module.register_forward_hook(pooled(i)) for i, module in enumerate(stage_modules)]
    loader = DataLoader(ImageDataset(images, make_transform(backbone.preprocessing, train=False), backbone.in_chans,
                                     min_side=decode_side(backbone.preprocessing)),
                        batch_size=batch_size)
    try:
        with torch.inference_mode():
            for batch, _ in loader:
                backbone(batch.contiguous(memory_format=torch.channels_last))
    finally:
        for handle in handles:
            handle.remove()
    shift_per_layer = {}
    for name, (total, squares, count) in sums.items():
        mean = total / count
        var = squares / count - mean ** 2
        module = layers[name]
        shift_per_layer[name] = float(_gaussian_kl(mean, var, module.running_mean, module.running_var).mean())
    per_stage: list[float | None] = []
    for stage in backbone.stages:
        owners = {n.rsplit(".", 1)[0] for n in stage.parameter_names}
        values = [v for name, v in shift_per_layer.items() if name in owners]
        per_stage.append(float(np.mean(values)) if values else None)
    return per_stage, [np.concatenate(chunks) for chunks in outputs] if features else []


def batchnorm_shift(backbone: Backbone, images: ImageSet, *, batch_size: int = 32) -> list[float | None]:
    """Per stage: mean KL divergence between the data's and the source's BatchNorm input statistics.

    ``None`` for stages without BatchNorm (e.g. transformer blocks).
    """
    return stage_statistics(backbone, images, batch_size=batch_size, features=False)[0]


def stage_features(backbone: Backbone, images: ImageSet, *, batch_size: int = 32) -> list[np.ndarray]:
    """Average-pooled outputs of every stage, from one forward pass per batch."""
    return stage_statistics(backbone, images, batch_size=batch_size)[1]


def probe_accuracies(features_per_stage: list[np.ndarray], labels: np.ndarray, *, folds: int = 3,
                     seed: int = 0) -> list[float]:
    """Per stage: cross-validated accuracy of a logistic regression on that stage's features."""
    labels = np.asarray(labels)
    folds = int(max(2, min(folds, np.bincount(labels).min())))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300))
    return [float(cross_val_score(probe, features, labels, cv=splitter).mean()) for features in features_per_stage]
