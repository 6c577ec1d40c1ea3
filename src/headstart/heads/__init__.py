"""Heads: the new output layer, and the ways of fitting it on fixed embeddings."""

from .fit import HEAD_KINDS, fit_head
from .modules import HEADS, KNNHead, LinearHead, MLPHead, PrototypeHead, build_head

__all__ = ["HEADS", "HEAD_KINDS", "KNNHead", "LinearHead", "MLPHead", "PrototypeHead", "build_head", "fit_head"]
