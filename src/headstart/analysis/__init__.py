"""Analysis: how close data is to the source, which strategy fits, and what each layer learned."""

from .advise import Advice, advise, recommend
from .inspect import inspect
from .similarity import StageEvidence, batchnorm_shift, probe_accuracies, stage_features, stage_statistics

__all__ = ["Advice", "StageEvidence", "advise", "inspect", "batchnorm_shift", "probe_accuracies", "recommend",
           "stage_features", "stage_statistics"]
