"""A MiniLM text classifier as one graph from token ids to class probabilities, the tokenizer saved beside it.

Frozen-encoder models (``frozen``, ``prototype``, ``knn`` on MiniLM or another mean-pooled sentence-transformers
folder) and fine-tuned ones (``full``) share one shape: transformer, mean pooling over the attention mask, L2
normalisation, the head, softmax. TF-IDF and word-vector models have no such graph and are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from ..inference.network import export_onnx

if TYPE_CHECKING:
    from ..text.classifier import TextClassifier

TEXT_INPUTS = ["input_ids", "attention_mask"]


class TextProbabilityNet(nn.Module):
    """``softmax(head(normalize(mean_pool(body(input_ids, attention_mask)))))``."""

    def __init__(self, body: nn.Module, head: nn.Module):
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(F.normalize(pooled, dim=-1)).softmax(1)


def text_parts(clf: "TextClassifier") -> tuple[TextProbabilityNet, Any, int]:
    """The network, tokenizer and maximum length of a transformer-based text classifier; a clear refusal for
    the others."""
    from ..backbones.text import SentenceTransformerEncoder

    if clf.strategy_ == "full":
        model = clf.model_
        return TextProbabilityNet(model.body, model.head).cpu().eval(), model.tokenizer, model.max_length
    if clf.strategy_ == "scratch":
        raise ConfigError("a TF-IDF model (strategy scratch) has no network to export: its vocabulary and "
                          "logistic regression are plain data in model.pt.",
                          fix="Serve it with `headstart serve MODEL`, or train a MiniLM model "
                              "(--backbone minilm) to export.")
    encoder = clf.encoder_
    if not isinstance(encoder, SentenceTransformerEncoder):
        raise ConfigError(f"a word-vector model ({encoder.name}) averages a lookup table of "
                          f"{len(getattr(encoder, 'words', [])) or 'many'} words; it has no network graph to export.",
                          fix="Serve it with `headstart serve MODEL`, or train with --backbone minilm to export.")
    modules = [type(module).__name__ for module in encoder.model]
    pooling = getattr(encoder.model[1], "pooling_mode", None) if len(modules) > 1 else None
    if modules != ["Transformer", "Pooling", "Normalize"] or pooling != "mean":
        raise ConfigError(f"the encoder {encoder.name!r} is {' -> '.join(modules)} (pooling {pooling}); export "
                          "handles transformer, mean pooling and normalisation only.",
                          fix="Train with --backbone minilm to export.")
    transformer = encoder.model[0]
    return (TextProbabilityNet(transformer.auto_model, clf.model_).cpu().eval(), transformer.tokenizer,
            encoder.max_seq_length)


def export_text_onnx(clf: "TextClassifier", out: Path, name: str) -> dict[str, Any]:
    """Write ``out/name`` (ONNX) and the tokenizer files; returns what ``model.json`` says about the input."""
    network, tokenizer, max_length = text_parts(clf)
    example = tokenizer(["an example text", "a second one, longer than the first"], padding=True,
                        return_tensors="pt")
    export_onnx(network, (example["input_ids"], example["attention_mask"]), out / name, input_names=TEXT_INPUTS,
                output_names=["probabilities"],
                dynamic_axes={**{key: {0: "batch", 1: "tokens"} for key in TEXT_INPUTS},
                              "probabilities": {0: "batch"}})
    tokenizer.save_pretrained(str(out / "tokenizer"))
    return {"tokenizer": "tokenizer/", "max_length": int(max_length), "names": TEXT_INPUTS, "dtype": "int64",
            "shape": ["batch", "tokens"], "truncation": True, "padding": True}
