"""Analysis: how close data is to the source, which strategy fits, and what each layer learned."""

from .advise import Advice, advise, recommend
from .similarity import StageEvidence, batchnorm_shift, probe_accuracies, stage_features

__all__ = ["Advice", "StageEvidence", "advise", "batchnorm_shift", "probe_accuracies", "recommend",
           "stage_features"]
