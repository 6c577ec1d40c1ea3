"""The Lightning modules: cross-entropy classification of images (a TransferNet under a strategy) and of texts
(MiniLM), sharing their training and validation steps."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from torch.nn import functional as F

from ..model import TransferNet

if TYPE_CHECKING:
    from ..text.finetune import MiniLMClassifier


class ClassificationModule(L.LightningModule):
    """Cross-entropy on ``(inputs, labels)`` batches, optionally class-weighted and label-smoothed; logs
    ``train_loss`` (the epoch's mean), ``val_loss`` and ``val_acc``, averaged over all ranks."""

    def __init__(self, class_weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing
        self.register_buffer("class_weight", class_weight, persistent=False)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), labels, weight=self.class_weight, label_smoothing=self.label_smoothing)

    def training_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, labels = batch
        loss = self._loss(self(inputs), labels)
        self.log("train_loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(labels),
                 sync_dist=True)
        return loss

    def validation_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> None:
        inputs, labels = batch
        logits = self(inputs)
        # sync_dist: each rank sees its shard of the validation set; every rank gets the same averages
        self.log("val_loss", self._loss(logits, labels), prog_bar=True, batch_size=len(labels), sync_dist=True)
        self.log("val_acc", (logits.argmax(1) == labels).float().mean(), prog_bar=True, batch_size=len(labels),
                 sync_dist=True)


class TransferModule(ClassificationModule):
    """Training of ``net`` with the strategy's parameter groups and label smoothing.

    The learning rate warms up linearly over ``warmup_fraction`` of the steps, then follows a
    cosine decay; each group keeps its own peak (discriminative learning rates).
    """

    def __init__(self, net: TransferNet, param_groups: list[dict[str, Any]], *, warmup_fraction: float,
                 class_weight: torch.Tensor | None = None, label_smoothing: float = 0.1,
                 weight_decay: float = 1e-2):
        super().__init__(class_weight, label_smoothing)
        self.net = net
        self.param_groups = param_groups
        self.warmup_fraction = warmup_fraction
        self.weight_decay = weight_decay

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.contiguous(memory_format=torch.channels_last))

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(self.param_groups, weight_decay=self.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(self.warmup_fraction * total)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class MiniLMModule(ClassificationModule):
    """Fine-tuning of a MiniLM classifier on batches of texts: AdamW at ``lr`` over its trainable parameters; the
    mean training loss of each epoch is appended to ``model.losses``."""

    def __init__(self, model: MiniLMClassifier, *, lr: float, class_weight: torch.Tensor | None = None):
        super().__init__(class_weight)
        self.model = model
        self.lr = lr

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        return self.model(texts)

    def on_train_epoch_end(self) -> None:
        self.model.losses.append(float(self.trainer.callback_metrics["train_loss"]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=self.lr)
