"""Analysis: how close data is to the source, which backbone and strategy fit, what more data would buy, and what
each layer learned."""

from .advise import Advice, advise, recommend
from .inspect import inspect
from .learning_curve import Curve, learning_curve
from .ranking import BackboneScore, Ranking, rank_backbones
from .similarity import StageEvidence, batchnorm_shift, probe_accuracies, stage_features, stage_statistics
from .transferability import logme

__all__ = ["Advice", "BackboneScore", "Curve", "Ranking", "StageEvidence", "advise", "inspect", "batchnorm_shift",
           "learning_curve", "logme", "probe_accuracies", "rank_backbones", "recommend", "stage_features",
           "stage_statistics"]
