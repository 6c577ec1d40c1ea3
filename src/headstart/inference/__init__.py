"""Inference: a loaded model held ready (:class:`Predictor`), and the pixels-to-probabilities network that both it
and ``headstart export`` run."""

from .inputs import ImageInput, decode, pixel_preparer, resize_rule
from .predictor import Predictor

__all__ = ["ImageInput", "Predictor", "decode", "pixel_preparer", "resize_rule"]
