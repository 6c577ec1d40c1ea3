"""Fitting heads on fixed embeddings: seconds, not epochs over images."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from .logistic import CANDIDATE_CS, choose_C, fit_logistic
from .modules import HEADS, KNNHead, PrototypeHead, build_head

HEAD_KINDS = ("logreg", "linear", "mlp")
# Multi-layer features (10,320 columns for EfficientNet-Lite0) standardised: on Fashion-MNIST the best C was
# 0.03-0.1 at 10 images per class, 0.003 at 100 and 0.001-0.01 at 500 (within 0.5 points across this range).
STANDARDIZED_CS = (0.003, 0.01, 0.03)


def fit_head(kind: str, features: np.ndarray, labels: np.ndarray, num_classes: int, *,
             class_weight: np.ndarray | None = None, seed: int = 0, k: int = 5,
             C: float | None = None, warm_start: nn.Module | None = None,
             standardize: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Fit a head of ``kind`` on ``features`` ``(n, d)``; return it and what was chosen while fitting.

    Kinds: ``logreg`` (multinomial logistic regression, C chosen by cross-validation, exported as
    a linear layer; a given ``C`` skips the search, and a fitted logreg head as ``warm_start`` starts the
    solver from its solution; ``standardize`` fits it on z-scored features, for columns of unlike scales
    such as multi-layer features, and folds the scaling into the layer), ``linear`` and ``mlp`` (trained
    with torch), ``prototype`` (class means, no training) and ``knn`` (the embeddings themselves, no training).
    """
    if kind not in HEADS:
        raise ConfigError(f"unknown head {kind!r}.", fix=f"Choose one of {', '.join(HEADS)}.")
    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if kind == "prototype":
        return _prototypes(features, labels, num_classes), {}
    if kind == "knn":
        head = KNNHead(features.shape[1], num_classes, len(features), k=k)
        head.references.copy_(torch.from_numpy(features))
        head.reference_labels.copy_(torch.from_numpy(labels))
        return head, {"k": k}
    if kind == "logreg" and standardize:
        return _standardized_logistic_regression(features, labels, num_classes, class_weight, seed, C, warm_start)
    if kind == "logreg":
        return _logistic_regression(features, labels, num_classes, class_weight, seed, C, warm_start)
    return _train_torch_head(kind, features, labels, num_classes, class_weight, seed)


def _prototypes(features: np.ndarray, labels: np.ndarray, num_classes: int) -> PrototypeHead:
    head = PrototypeHead(features.shape[1], num_classes)
    normalized = F.normalize(torch.from_numpy(features), dim=1)
    for c in range(num_classes):
        head.prototypes[c] = normalized[torch.from_numpy(labels == c)].mean(0)
    return head


def _standardized_logistic_regression(features: np.ndarray, labels: np.ndarray, num_classes: int,
                                      class_weight: np.ndarray | None, seed: int, C: float | None,
                                      warm_start: nn.Module | None) -> tuple[nn.Module, dict[str, Any]]:
    """Logistic regression on ``(features - mean) / std``, returned as one linear layer on the raw features:
    ``W' = W / std`` and ``b' = b - (mean / std) W`` (constant columns keep std 1)."""
    mean = features.mean(0)
    std = features.std(0)
    std[std < 1e-6] = 1.0
    if warm_start is not None:  # a folded head, unfolded into this scaling
        folded, warm_start = warm_start, build_head("logreg", features.shape[1], num_classes)
        with torch.no_grad():
            warm_start.linear.weight.copy_(folded.linear.weight * torch.from_numpy(std))
            warm_start.linear.bias.copy_(folded.linear.bias + folded.linear.weight @ torch.from_numpy(mean))
    head, info = _logistic_regression((features - mean) / std, labels, num_classes, class_weight, seed, C,
                                      warm_start, candidates=STANDARDIZED_CS)
    with torch.no_grad():
        weight = head.linear.weight / torch.from_numpy(std)
        head.linear.bias -= weight @ torch.from_numpy(mean)
        head.linear.weight.copy_(weight)
    return head, {**info, "standardized": True}


def _logistic_regression(features: np.ndarray, labels: np.ndarray, num_classes: int,
                         class_weight: np.ndarray | None, seed: int, C: float | None = None,
                         warm_start: nn.Module | None = None,
                         candidates: tuple[float, ...] = CANDIDATE_CS) -> tuple[nn.Module, dict[str, Any]]:
    # On raw pooled features: standardising them cost 3-6 points at 5-10 images per class on
    # Fashion-MNIST (the rare, noisy feature dimensions get inflated); C in 0.3-3 changed accuracy
    # by under a point there, so three candidates suffice.
    # Small data: stratified k-fold; from 2,000 embeddings on, one stratified 80/20 hold-out is enough.
    sample_weight = None if class_weight is None else np.asarray(class_weight, np.float32)[labels]
    splits, init, held_out_loss = [], None, None
    if warm_start is not None:
        init = torch.cat([warm_start.linear.weight.detach().T, warm_start.linear.bias.detach()[None]]).numpy()
    if C is None:
        folds = int(max(2, min(3, np.bincount(labels, minlength=num_classes).min())))
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=seed) if len(labels) >= 2000 \
            else StratifiedKFold(folds, shuffle=True, random_state=seed)
        splits = list(splitter.split(features, labels))
        C, init, held_out_loss = choose_C(splits, features, labels, num_classes, sample_weight, candidates)
    params = fit_logistic(features, labels, num_classes, C, sample_weight=sample_weight, init=init)
    head = build_head("logreg", features.shape[1], num_classes)
    head.linear.weight.data.copy_(torch.from_numpy(params[:-1].T.copy()))
    head.linear.bias.data.copy_(torch.from_numpy(params[-1].copy()))
    return head, {"C": C, "cv_splits": len(splits), **({"cv_log_loss": held_out_loss} if splits else {})}


def _train_torch_head(kind: str, features: np.ndarray, labels: np.ndarray, num_classes: int,
                      class_weight: np.ndarray | None, seed: int, batch_size: int = 128,
                      max_steps: int = 2000) -> tuple[nn.Module, dict[str, Any]]:
    """AdamW with a one-cycle schedule: 60 epochs on small data, about ``max_steps`` steps on large."""
    epochs = int(np.clip(max_steps // -(-len(features) // batch_size), 10, 60))
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices gain nothing from more threads, and lose badly on shared cores
    try:
        return _optimise(kind, features, labels, num_classes, class_weight, generator, epochs, batch_size)
    finally:
        torch.set_num_threads(threads)


def _optimise(kind: str, features: np.ndarray, labels: np.ndarray, num_classes: int,
              class_weight: np.ndarray | None, generator: torch.Generator, epochs: int,
              batch_size: int) -> tuple[nn.Module, dict[str, Any]]:
    head = build_head(kind, features.shape[1], num_classes)
    x, y = torch.from_numpy(features), torch.from_numpy(labels)
    weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-2)
    steps = epochs * -(-len(x) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    head.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            loss = F.cross_entropy(head(x[batch]), y[batch], weight=weight, label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    head.eval()
    return head, {"epochs": epochs}
