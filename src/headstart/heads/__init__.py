"""Heads: the new output layer, and the ways of fitting it on fixed embeddings."""

from ..lazy import lazy_exports
from .modules import HEADS, KNNHead, LinearHead, MLPHead, PrototypeHead, build_head

# Fitting needs scikit-learn (seconds to import): loaded on first use, so a saved model predicts without it.
__getattr__ = lazy_exports(__name__, {"HEAD_KINDS": ".fit", "fit_head": ".fit"})

__all__ = ["HEADS", "HEAD_KINDS", "KNNHead", "LinearHead", "MLPHead", "PrototypeHead", "build_head", "fit_head"]
