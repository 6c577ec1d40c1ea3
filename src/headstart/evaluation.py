"""Scores of predictions against labels: accuracy, per-class precision/recall/F1, confusion."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def summarize(labels: Sequence[int], predictions: Sequence[int], classes: Sequence[str]) -> dict[str, Any]:
    """A JSON-ready report: accuracy, macro-F1, per-class metrics and the confusion matrix."""
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    indices = list(range(len(classes)))
    report = classification_report(labels, predictions, labels=indices, target_names=list(classes),
                                   output_dict=True, zero_division=0)
    per_class = {name: {"precision": report[name]["precision"], "recall": report[name]["recall"],
                        "f1": report[name]["f1-score"], "support": int(report[name]["support"])}
                 for name in classes}
    return {
        "n": int(len(labels)),
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, labels=indices, average="macro", zero_division=0)),
        "per_class": per_class,
        "classes": list(classes),
        "confusion_matrix": np.asarray(confusion_matrix(labels, predictions, labels=indices)).tolist(),
    }
