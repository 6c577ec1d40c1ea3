"""Heads as modules: whatever way a head was fitted, the saved model is one network."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


class LinearHead(nn.Module):
    """Dropout then a linear layer (the default new output layer)."""

    def __init__(self, num_features: int, num_classes: int, dropout: float = 0.2):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(num_features, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(features))


class MLPHead(nn.Module):
    """One hidden layer with ReLU and dropout."""

    def __init__(self, num_features: int, num_classes: int, hidden: int = 512, dropout: float = 0.2):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(num_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                    nn.Linear(hidden, num_classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


class PrototypeHead(nn.Module):
    """Nearest class mean by cosine similarity; logits are ``scale * cos(feature, prototype)``."""

    def __init__(self, num_features: int, num_classes: int, scale: float = 20.0):
        super().__init__()
        self.register_buffer("prototypes", torch.zeros(num_classes, num_features))
        self.scale = scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(features, dim=1) @ F.normalize(self.prototypes, dim=1).T


class KNNHead(nn.Module):
    """k nearest training embeddings by cosine; logits are log vote shares (ties broken by similarity)."""

    def __init__(self, num_features: int, num_classes: int, num_references: int, k: int = 5):
        super().__init__()
        self.register_buffer("references", torch.zeros(num_references, num_features))
        self.register_buffer("reference_labels", torch.zeros(num_references, dtype=torch.long))
        self.num_classes = num_classes
        self.k = k

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        similarity = F.normalize(features, dim=1) @ F.normalize(self.references, dim=1).T
        top, index = similarity.topk(min(self.k, self.references.shape[0]), dim=1)
        votes = torch.zeros(features.shape[0], self.num_classes, device=features.device)
        votes.scatter_add_(1, self.reference_labels[index], 1.0 + 1e-3 * top)
        return torch.log(votes / votes.sum(1, keepdim=True) + 1e-6)


HEADS = {"linear": LinearHead, "logreg": LinearHead, "mlp": MLPHead, "prototype": PrototypeHead, "knn": KNNHead}


def build_head(kind: str, num_features: int, num_classes: int, **options: Any) -> nn.Module:
    """An unfitted head of ``kind``; ``options`` are the head's own constructor arguments."""
    if kind == "logreg":
        options = {**options, "dropout": 0.0}
    return HEADS[kind](num_features, num_classes, **options)
