"""How close a dataset is to the backbone's source data, stage by stage.

* BatchNorm-statistics shift: the pretrained BatchNorm layers hold the source data's per-channel
  activation mean and variance. For the new images we measure the same statistics at the same
  layers and take the KL divergence between the two Gaussians, averaged over channels and over
  the layers of each stage. Near zero: the stage sees activations like the ones it was trained on. The data's
  mean and variance come from per-image moments (the mean of each channel and of its square), which the
  embedding cache keeps per image, so a second measurement of the same images runs no network.
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
from ..features.cache import EmbeddingCache, describe_key, file_digests
from ..features.capture import capturing, mean_pooled
from ..features.extract import extractor_description


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


def stage_statistics(backbone: Backbone, images: ImageSet, *, batch_size: int = 32, features: bool = True,
                     cache: EmbeddingCache | None = None) -> tuple[list[float | None], list[np.ndarray]]:
    """Both measurements from one forward pass over ``images``: :func:`batchnorm_shift`'s per-stage shifts and
    (with ``features``) :func:`stage_features`' pooled outputs of every stage. With a ``cache``, what it holds of
    each image (per stage: the pooled output and the per-channel moments of each BatchNorm layer's input) is read
    back, and only the other images run through the network."""
    backbone = backbone.eval()
    layers = _batchnorm_layers(backbone)
    rows = _cached_rows(backbone, images, layers, batch_size, cache) if cache is not None else \
        _measure(backbone, images, layers, batch_size)
    per_stage: list[float | None] = []
    pooled: list[np.ndarray] = []
    for stage_rows, stage_layers in zip(rows, layers):
        offset = stage_rows.shape[1] - 2 * sum(module.num_features for _, module in stage_layers)
        pooled.append(stage_rows[:, :offset])
        shifts = []
        for _, module in stage_layers:
            width = module.num_features
            mean, square = (torch.from_numpy(stage_rows[:, start:start + width].mean(0, dtype=np.float64))
                            for start in (offset, offset + width))
            kl = _gaussian_kl(mean, square - mean ** 2, module.running_mean.double(), module.running_var.double())
            shifts.append(float(kl.mean()))
            offset += 2 * width
        per_stage.append(float(np.mean(shifts)) if shifts else None)
    return per_stage, pooled if features else []


def _batchnorm_layers(backbone: Backbone) -> list[list[tuple[str, nn.Module]]]:
    """Per stage: its BatchNorm layers that hold the source's statistics, by name inside ``body``."""
    layers = [(name, module) for name, module in backbone.body.named_modules()
              if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None]
    owners = [{name.rsplit(".", 1)[0] for name in stage.parameter_names} for stage in backbone.stages]
    return [[(name, module) for name, module in layers if name in stage_owners] for stage_owners in owners]


def _moments(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> torch.Tensor:
    """Per image: the mean of a layer's input per channel, then the mean of its square ``(N, 2C)``."""
    x = inputs[0].float()
    positions = tuple(range(2, x.ndim))  # none for (N, C)
    return torch.cat([x.mean(positions), (x * x).mean(positions)], dim=1) if positions else torch.cat([x, x * x], 1)


def _measure(backbone: Backbone, images: ImageSet, layers: list[list[tuple[str, nn.Module]]],
             batch_size: int) -> list[np.ndarray]:
    """Per stage, a float32 row per image: the stage's average-pooled output, then :func:`_moments` of each of its
    BatchNorm ``layers``' inputs (averaged over the calls of a layer run more than once per forward pass)."""
    stages = [backbone.stage_module_name(i) for i in range(len(backbone.stages))]
    loader = DataLoader(ImageDataset(images, make_transform(backbone.preprocessing, train=False), backbone.in_chans,
                                     min_side=decode_side(backbone.preprocessing)),
                        batch_size=batch_size)
    rows: list[list[np.ndarray]] = [[] for _ in stages]
    with capturing(backbone.body, [name for stage_layers in layers for name, _ in stage_layers],
                   record=_moments) as moments, \
            capturing(backbone.body, stages, record=lambda _m, _i, output: mean_pooled(output).float()) as pooled, \
            torch.inference_mode():
        for batch, _ in loader:
            backbone(batch.contiguous(memory_format=torch.channels_last))
            for index, (stage, stage_layers) in enumerate(zip(stages, layers)):
                parts = [pooled[stage], *(torch.stack(moments.records[name]).mean(0) for name, _ in stage_layers)]
                rows[index].append(torch.cat(parts, dim=1).numpy())
            for records in (*moments.records.values(), *pooled.records.values()):
                records.clear()
    return [np.concatenate(chunks) for chunks in rows]


def _cached_rows(backbone: Backbone, images: ImageSet, layers: list[list[tuple[str, nn.Module]]], batch_size: int,
                 cache: EmbeddingCache) -> list[np.ndarray]:
    """:func:`_measure`'s rows, read from ``cache`` (an extractor key per stage) where it has every stage's row of
    an image, measured (and cached) for the other images."""
    base = extractor_description(backbone, stage="statistics", tta=False, precision="fp32", background="white")
    descriptions = [{**base, "stage": f"statistics:{index}"} for index in range(len(backbone.stages))]
    keys = [describe_key(description) for description in descriptions]
    digests = file_digests(images.paths)
    found = [[cache.get(key, digest) for key in keys] for digest in digests]
    todo = [i for i, rows in enumerate(found) if any(row is None for row in rows)]
    if todo:
        measured = _measure(backbone, images.subset(todo), layers, batch_size)
        for key, description, stage_rows in zip(keys, descriptions, measured):
            cache.register(key, description, dim=stage_rows.shape[1])
            cache.put_many(key, ((digests[i], row) for i, row in zip(todo, stage_rows)))
        for position, i in enumerate(todo):
            found[i] = [stage_rows[position] for stage_rows in measured]
    return [np.stack([rows[index] for rows in found]) for index in range(len(keys))]


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
