"""End-to-end fine-tuning of the bundled MiniLM with a linear head on its mean-pooled, normalized embedding.

The head starts as a cosine prototype classifier (class means of the frozen embeddings, scaled), so training
begins from the frozen-encoder solution and refines the transformer and the head together. The token embedding
table (half of MiniLM's weights) stays frozen: few labelled texts cannot train it, and skipping it halves the
cost of each step. CPU-friendly: texts are cut at ``max_length`` tokens (128 by default). Training runs on
Lightning's Trainer (``headstart.training``), as for images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from headstart.backbones.text import TEXT_REGISTRY, quiet_loading
from headstart.errors import ConfigError, DataError

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

    folder = str(TEXT_REGISTRY["minilm"].require())
    with quiet_loading():
        body = AutoModel.from_pretrained(folder, local_files_only=True) if pretrained else \
            AutoModel.from_config(AutoConfig.from_pretrained(folder, local_files_only=True))
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return MiniLMClassifier(body, tokenizer, list(classes), max_length).to(
        device or ("cuda" if torch.cuda.is_available() else "cpu"))


def fine_tune_minilm(texts: Sequence[str], labels: Sequence[str], *, epochs: int = 5, lr: float = 3e-5,
                     batch_size: int = 16, seed: int = 0, max_length: int = 128, device: str | None = None,
                     classes: Sequence[str] | None = None, class_weight: Sequence[float] | None = None,
                     val_texts: Sequence[str] | None = None, val_labels: Sequence[str] | None = None,
                     patience: int = 2, accelerator: str = "auto", devices: int = 1, num_nodes: int = 1,
                     time_budget: float | None = None, progress: bool = False, logger: str | None = None,
                     log_dir: str | Path | None = None) -> tuple[MiniLMClassifier, list[str]]:
    """Fine-tune MiniLM and a linear head with AdamW and cross-entropy on Lightning's Trainer; returns the model
    and its classes.

    ``classes`` fixes the output order (default: the sorted labels); ``class_weight`` (one per class) weights the
    loss. The mean training loss of each epoch is kept in ``model.losses``. With ``val_texts`` and ``val_labels``,
    training stops once the validation loss has not improved for ``patience`` epochs and the weights of the epoch
    with the best validation accuracy are kept; without, all ``epochs`` run. ``device`` (``cpu``, ``cuda``) picks
    the accelerator where given; ``accelerator``, ``devices``, ``time_budget`` (seconds), ``progress``, ``logger``
    and ``log_dir`` go to :func:`headstart.training.run_trainer`, with mixed precision on GPU.
    """
    from headstart.training import MiniLMModule, run_trainer
    from headstart.training.trainer import on_gpu

    classes = sorted(set(labels)) if classes is None else list(classes)
    target = _targets(texts, labels, classes)
    if len(set(labels)) < 2:
        raise DataError("fine-tuning needs examples of two or more classes", fix="add examples of other classes")
    if (val_texts is None) != (val_labels is None):
        raise ConfigError("val_texts and val_labels go together", fix="pass both, or neither")
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError(f"epochs ({epochs}) and batch size ({batch_size}) must be at least 1 and lr ({lr}) "
                          "positive", fix="pass e.g. --epochs 5 --batch-size 16 --lr 3e-5")
    if device is not None:
        accelerator = "cpu" if torch.device(device).type == "cpu" else "gpu"
    torch.manual_seed(seed)
    model = minilm_classifier(classes, max_length=max_length, device="cuda" if on_gpu(accelerator) else "cpu")
    model.body.get_input_embeddings().requires_grad_(False)
    # BERT's [CLS] pooler: mean pooling never reads it, and DDP refuses parameters that get no gradient
    if getattr(model.body, "pooler", None) is not None:
        model.body.pooler.requires_grad_(False)
    texts = list(texts)
    _init_head_from_prototypes(model, texts, target.to(model.device), batch_size)
    weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
    val = None if val_texts is None else _loader(list(val_texts), _targets(val_texts, val_labels, classes),
                                                 batch_size * 2)
    device_used = model.device
    model.train()
    run_trainer(MiniLMModule(model, lr=lr, class_weight=weight),
                _loader(texts, target, batch_size, shuffle_seed=seed), val, max_epochs=epochs,
                accelerator=accelerator, devices=devices, num_nodes=num_nodes, patience=patience,
                time_budget=time_budget,
                progress=progress, logger=logger, log_dir=log_dir)
    return model.to(device_used).eval(), classes


def _targets(texts: Sequence[str], labels: Sequence[str], classes: list[str]) -> torch.Tensor:
    """The class index of each label, after checking there is one label per text, each among ``classes``."""
    if len(texts) != len(labels):
        raise DataError(f"{len(texts)} texts but {len(labels)} labels", fix="pass one label per text")
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DataError(f"labels {unknown} are not among the classes {classes}", fix="list every label in classes")
    return torch.tensor([classes.index(label) for label in labels])


def _loader(texts: list[str], target: torch.Tensor, batch_size: int, *,
            shuffle_seed: int | None = None) -> DataLoader:
    """Batches of ``(texts, class indices)``, shuffled in an order seeded by ``shuffle_seed`` where given; the
    model tokenizes the texts in its forward pass."""
    generator = None if shuffle_seed is None else torch.Generator().manual_seed(shuffle_seed)
    return DataLoader(list(zip(texts, target.tolist())), batch_size=batch_size, shuffle=generator is not None,
                      generator=generator, collate_fn=_collate)


def _collate(batch: list[tuple[str, int]]) -> tuple[list[str], torch.Tensor]:
    texts, labels = zip(*batch)
    return list(texts), torch.tensor(labels)


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
