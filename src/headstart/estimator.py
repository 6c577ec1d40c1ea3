"""What every headstart classifier shares, whatever its inputs (images, texts): the fitted-state check, the
head-or-strategy check, and the answers built on ``predict_proba`` and ``evaluate`` (which each modality defines)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from .errors import ConfigError
from .strategies import NEIGHBOUR_STRATEGIES
from .validation import POSITIVE_INT, validate


class Classifier(ABC):
    """The base of :class:`~headstart.ImageClassifier` and :class:`~headstart.TextClassifier`."""

    task: str  # what it classifies, "image" or "text" (a saved bundle's "task")
    classes_: list[str]
    head: str
    _fitted_attribute = "classes_"  # an attribute only a fitted (or loaded) classifier has

    @abstractmethod
    def predict_proba(self, inputs: Any) -> np.ndarray:
        """Class probabilities ``(n, len(classes_))``."""

    @abstractmethod
    def evaluate(self, data: Any) -> dict[str, Any]:
        """Accuracy, macro-F1, per-class metrics and the confusion matrix on labelled data."""

    def predict(self, inputs: Any) -> list[str]:
        """The most probable class name for each input."""
        return [self.classes_[i] for i in self.predict_proba(inputs).argmax(1)]

    def predict_top_k(self, inputs: Any, k: int = 3) -> list[list[tuple[str, float]]]:
        """The ``k`` most probable classes with their probabilities, per input."""
        validate({"k": k}, {"k": [POSITIVE_INT]}, flags={"k": "--top-k"})
        probabilities = self.predict_proba(inputs)
        k = min(k, len(self.classes_))
        return [[(self.classes_[i], float(row[i])) for i in np.argsort(-row)[:k]] for row in probabilities]

    def score(self, data: Any) -> float:
        """Accuracy on labelled data (scikit-learn's ``score``)."""
        return self.evaluate(data)["accuracy"]

    def _check_fitted(self) -> None:
        if not hasattr(self, self._fitted_attribute):
            raise ConfigError("this classifier is not fitted yet.", fix="Call fit(data), or headstart.load(path).")

    def _head_kind(self, strategy: str) -> str:
        """What a strategy that reads embeddings fits on them: its own nearness rule (``prototype``, ``knn``), else
        the ``head`` option."""
        return strategy if strategy in NEIGHBOUR_STRATEGIES else self.head

    def _check_head(self, strategy: str, head: str) -> None:
        """``prototype`` and ``knn`` are strategies, not heads for ``frozen`` (or ``auto``'s frozen candidate)."""
        if strategy in ("frozen", "auto") and head in NEIGHBOUR_STRATEGIES:
            raise ConfigError(f"{head!r} is a strategy of its own, not a head.", fix=f"Pass --strategy {head}.")
