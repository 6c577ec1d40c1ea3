"""Evidence for the text ``auto`` strategy: candidates scored on the same held-out texts, the better kept.

With a few dozen labelled texts a validation split holds one or two texts per class, so ``auto`` cross-fits instead:
the training texts are cut into ``FOLDS`` stratified folds, each candidate learns from all folds but one and predicts
that one, and so every text is scored once, by a model that did not learn from it. The candidates meet on the same
folds, so their accuracies differ by what they learn, not by which texts they were scored on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

__all__ = ["FINE_TUNE_MAX_TEXTS", "FOLDS", "better", "can_fine_tune", "cross_fit", "evidence", "folds"]

FOLDS = 2
# auto cross-fits the fine-tuning (the cost of one run over all texts) and fits it again on every text when it wins:
# 62 s a run for 320 BBC headlines on a quiet 2-core CPU (benchmarks/results/compare_bbc_news_headlines_auto.md);
# 128-token articles cost several times more per text (not measured here).
FINE_TUNE_MAX_TEXTS = 400

FitPredict = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (learn indices, predict indices) -> probabilities


def can_fine_tune(texts: int, *, gpu: bool, epochs_given: bool) -> bool:
    """Whether ``auto`` can afford the fine-tuned candidate: on a GPU, when ``epochs`` is given, or on a CPU for up to
    ``FINE_TUNE_MAX_TEXTS`` training texts."""
    return gpu or epochs_given or texts <= FINE_TUNE_MAX_TEXTS


def folds(labels: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """``FOLDS`` stratified (learn, held-out) index pairs, or ``None`` when a class has fewer texts than folds."""
    if np.bincount(labels).min() < FOLDS:
        return None
    return list(StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(labels, labels))


def cross_fit(fit_predict: FitPredict, splits: list[tuple[np.ndarray, np.ndarray]], n: int,
              num_classes: int) -> np.ndarray:
    """Out-of-fold probabilities ``(n, num_classes)``: each text predicted by the fit on the other folds."""
    probabilities = np.zeros((n, num_classes), np.float32)
    for learn, held_out in splits:
        probabilities[held_out] = fit_predict(learn, held_out)
    return probabilities


def evidence(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and log loss of held-out ``probabilities`` against ``labels``."""
    picked = probabilities[np.arange(len(labels)), labels]
    return {"val_accuracy": float(np.mean(probabilities.argmax(1) == labels)),
            "val_log_loss": float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))}


def better(candidates: list[dict[str, Any]]) -> int:
    """The index of the candidate with the higher held-out accuracy, on a tie the lower held-out log loss."""
    return max(range(len(candidates)),
               key=lambda i: (candidates[i]["val_accuracy"], -candidates[i]["val_log_loss"]))
