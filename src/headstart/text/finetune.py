"""End-to-end fine-tuning of the bundled MiniLM with a linear head on its mean-pooled, normalized embedding.

The head starts as a cosine prototype classifier (class means of the frozen embeddings, scaled), so training
begins from the frozen-encoder solution and refines the transformer and the head together. The token embedding
table (half of MiniLM's weights) stays frozen: few labelled texts cannot train it, and skipping it halves the
cost of each step. CPU-friendly: texts are cut at ``max_length`` tokens (128 by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from headstart.errors import ConfigError, DataError
from headstart.text.encoders import BUNDLED_ENCODERS

__all__ = ["MiniLMClassifier", "fine_tune_minilm", "minilm_classifier", "predict_proba"]

_PROTOTYPE_SCALE = 5.0  # low enough that the prototype start still leaves a training signal


class MiniLMClassifier(nn.Module):
    """MiniLM transformer, mean pooling, L2 normalization and a linear layer over ``classes``."""

    def __init__(self, body: nn.Module, tokenizer: Any, classes: list[str], max_length: int = 128):
        super().__init__()
        self.body = body
        self.tokenizer = tokenizer
        self.classes = list(classes)
        self.max_length = max_length
        self.head = nn.Linear(body.config.hidden_size, len(classes))
        self.losses: list[float] = []

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Normalized mean-pooled embeddings of ``texts``."""
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(self.device)
        hidden = self.body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return F.normalize(pooled, dim=-1)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        return self.head(self.embed(texts))

    def count_truncated(self, texts: Sequence[str]) -> int:
        """How many of ``texts`` are longer than ``max_length`` tokens (and so are cut)."""
        ids = self.tokenizer(list(texts), add_special_tokens=True, verbose=False)["input_ids"]
        return sum(len(row) > self.max_length for row in ids)


def minilm_classifier(classes: Sequence[str], *, max_length: int = 128, pretrained: bool = True,
                      device: str | None = None) -> MiniLMClassifier:
    """The bundled MiniLM with a new linear head over ``classes``.

    ``pretrained=False`` builds the architecture only (no weights read), to load a fine-tuned state dict into.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    folder = str(BUNDLED_ENCODERS["minilm"].require("minilm"))
    body = AutoModel.from_pretrained(folder, local_files_only=True) if pretrained else \
        AutoModel.from_config(AutoConfig.from_pretrained(folder, local_files_only=True))
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return MiniLMClassifier(body, tokenizer, list(classes), max_length).to(
        device or ("cuda" if torch.cuda.is_available() else "cpu"))


def fine_tune_minilm(texts: Sequence[str], labels: Sequence[str], *, epochs: int = 5, lr: float = 3e-5,
                     batch_size: int = 16, seed: int = 0, max_length: int = 128, device: str | None = None,
                     classes: Sequence[str] | None = None,
                     class_weight: Sequence[float] | None = None) -> tuple[MiniLMClassifier, list[str]]:
    """Fine-tune MiniLM and a linear head with AdamW and cross-entropy; returns the model and its classes.

    ``classes`` fixes the output order (default: the sorted labels); ``class_weight`` (one per class) weights the
    loss. The mean training loss of each epoch is kept in ``model.losses``.
    """
    if len(texts) != len(labels):
        raise DataError(f"{len(texts)} texts but {len(labels)} labels", fix="pass one label per text")
    classes = sorted(set(labels)) if classes is None else list(classes)
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DataError(f"labels {unknown} are not among the classes {classes}", fix="list every label in classes")
    if len(set(labels)) < 2:
        raise DataError("fine-tuning needs examples of two or more classes", fix="add examples of other classes")
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError(f"epochs ({epochs}) and batch size ({batch_size}) must be at least 1 and lr ({lr}) "
                          "positive", fix="pass e.g. --epochs 5 --batch-size 16 --lr 3e-5")
    torch.manual_seed(seed)
    model = minilm_classifier(classes, max_length=max_length, device=device)
    model.body.get_input_embeddings().requires_grad_(False)
    target = torch.tensor([classes.index(label) for label in labels], device=model.device)
    weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32,
                                                               device=model.device)
    texts = list(texts)
    _init_head_from_prototypes(model, texts, target, batch_size)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        total = 0.0
        for order in torch.randperm(len(texts), generator=generator).split(batch_size):
            loss = F.cross_entropy(model([texts[i] for i in order]), target[order.to(target.device)], weight=weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(order)
        model.losses.append(total / len(texts))
    return model.eval(), classes


@torch.no_grad()
def _init_head_from_prototypes(model: MiniLMClassifier, texts: list[str], target: torch.Tensor,
                               batch_size: int) -> None:
    model.eval()
    embeddings = torch.cat([model.embed(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)])
    means = torch.stack([embeddings[target == c].mean(0) if (target == c).any() else embeddings.new_zeros(
        embeddings.shape[1]) for c in range(len(model.classes))])  # a class without examples starts at zero
    model.head.weight.copy_(_PROTOTYPE_SCALE * F.normalize(means, dim=-1))
    model.head.bias.zero_()


@torch.no_grad()
def predict_proba(model: MiniLMClassifier, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
    """Class probabilities, shape ``(len(texts), len(model.classes))``, columns in ``model.classes`` order."""
    model.eval()
    texts = list(texts)
    parts = [model(texts[i:i + batch_size]).softmax(-1).float().cpu().numpy() for i in range(0, len(texts), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, len(model.classes)), np.float32)
