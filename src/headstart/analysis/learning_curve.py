"""Learning curves of frozen features: how accuracy grows with labelled examples per class, and what more buys.

Measured by cross-validation on nested subsets: each fold's training part is cut to 10 %, 25 %, 50 % and 100 %
of its examples per class (the smaller inside the larger), a logistic-regression head (the ``frozen`` strategy's
objective; C chosen from the same candidates by log loss on a fifth of the fold's training part) is fitted on each, and scored on
the held-out fold. Then the error is fitted with a power law in examples per class, ``error = b * n^-c`` (a
straight line in log-log; the scaling-law literature's form without an irreducible floor, so the extrapolation
errs on the hopeful side far out), and the accuracy it predicts at 1x, 2x and 10x the data comes with an interval
from resampling the folds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

from ..errors import DataError
from ..heads.logistic import CANDIDATE_CS, fit_logistic, log_loss

__all__ = ["Curve", "Prediction", "fit_power_law", "fit_curve", "learning_curve", "measure_curve"]

FRACTIONS = (0.1, 0.25, 0.5, 1.0)
FACTORS = (1, 2, 10)
INTERVAL = (5, 95)  # percentiles of the bootstrap: a 90 % interval


@dataclass
class Prediction:
    """The accuracy a curve predicts at ``factor`` times the data (``per_class`` examples per class)."""

    factor: float
    per_class: float
    accuracy: float
    low: float
    high: float


@dataclass
class Curve:
    """Measured accuracy per subset size, the fitted power law ``error = scale * n^-exponent``, predictions."""

    per_class: list[float]
    accuracy: list[float]
    accuracy_std: list[float]
    scale: float
    exponent: float
    predictions: list[Prediction]

    def predict(self, per_class: float) -> float:
        """The accuracy the power law gives at ``per_class`` examples per class."""
        return float(1 - min(1.0, self.scale * per_class ** -self.exponent))

    def at(self, factor: float) -> Prediction:
        return next(p for p in self.predictions if p.factor == factor)

    def to_dict(self) -> dict:
        return asdict(self)


def measure_curve(features: np.ndarray, labels: np.ndarray, *, fractions: Sequence[float] = FRACTIONS,
                  folds: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cross-validated accuracy on nested subsets: ``(per_class, accuracy)``, the mean examples per class of each
    fraction's subsets ``(sizes,)`` and the held-out accuracy per fold and fraction ``(folds, sizes)``. Fractions
    that would leave a class without an example are dropped."""
    features = np.asarray(features, np.float32)
    labels = np.unique(np.asarray(labels), return_inverse=True)[1]
    counts = np.bincount(labels)
    folds = int(min(folds, counts.min()))
    if len(counts) < 2 or folds < 2:
        raise DataError(f"a learning curve needs two or more classes with two or more examples each; got "
                        f"{len(counts)} class(es), the smallest with {counts.min()}.",
                        fix="Add examples so every class has at least two.")
    rng = np.random.default_rng(seed)
    fractions = sorted(fractions)
    per_class = np.zeros((folds, len(fractions)))
    accuracy = np.full((folds, len(fractions)), np.nan)
    for fold, (train, held_out) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed)
                                             .split(features, labels)):
        order = {c: rng.permutation(train[labels[train] == c]) for c in range(len(counts))}
        C, full = _choose_C(features[train], labels[train], len(counts), seed)
        for s, fraction in enumerate(fractions):
            keep = {c: max(1, round(fraction * len(rows))) for c, rows in order.items()}
            chosen = np.concatenate([order[c][:k] for c, k in keep.items()])
            per_class[fold, s] = np.mean(list(keep.values()))
            params = full if fraction >= 1 else fit_logistic(features[chosen], labels[chosen], len(counts), C)
            accuracy[fold, s] = _accuracy(params, features[held_out], labels[held_out])
    return per_class.mean(0), accuracy


def fit_power_law(per_class: np.ndarray, error: np.ndarray) -> tuple[float, float]:
    """``(scale, exponent)`` of ``error = scale * per_class^-exponent`` by least squares in log-log; the exponent
    is kept at 0 or above (error that grows with data is read as a flat curve)."""
    x, y = np.log(np.asarray(per_class, float)), np.log(np.clip(error, 1e-4, 1.0))
    if len(x) < 2 or np.ptp(x) == 0:
        return float(np.exp(y.mean())), 0.0
    slope, intercept = np.polyfit(x, y, 1)
    if slope > 0:
        return float(np.exp(y.mean())), 0.0
    return float(np.exp(intercept)), float(-slope)


def fit_curve(per_class: np.ndarray, accuracy: np.ndarray, current: float, *, factors: Sequence[float] = FACTORS,
              draws: int = 400, seed: int = 0) -> Curve:
    """Fit the power law to ``measure_curve``'s output and predict at ``factors`` times ``current`` examples per
    class; each prediction's interval comes from refitting on folds drawn with replacement."""
    per_class, accuracy = np.asarray(per_class, float), np.asarray(accuracy, float)
    scale, exponent = fit_power_law(per_class, 1 - accuracy.mean(0))
    rng = np.random.default_rng(seed)
    drawn = []
    for _ in range(draws):
        rows = rng.integers(0, len(accuracy), len(accuracy))
        b, c = fit_power_law(per_class, 1 - accuracy[rows].mean(0))
        drawn.append([1 - min(1.0, b * (f * current) ** -c) for f in factors])
    low, high = np.percentile(np.asarray(drawn), INTERVAL, axis=0)
    curve = Curve(per_class.tolist(), accuracy.mean(0).tolist(), accuracy.std(0).tolist(), scale, exponent, [])
    curve.predictions = [Prediction(f, f * current, curve.predict(f * current), float(lo), float(hi))
                         for f, lo, hi in zip(factors, low, high)]
    return curve


def learning_curve(features: np.ndarray, labels: np.ndarray, *, fractions: Sequence[float] = FRACTIONS,
                   folds: int = 5, seed: int = 0) -> Curve:
    """Measure (:func:`measure_curve`) and fit (:func:`fit_curve`) the learning curve of ``features``, predicting
    at 1x, 2x and 10x the data's median examples per class."""
    per_class, accuracy = measure_curve(features, labels, fractions=fractions, folds=folds, seed=seed)
    current = float(np.median(np.bincount(np.unique(np.asarray(labels), return_inverse=True)[1])))
    return fit_curve(per_class, accuracy, current, seed=seed)


def _choose_C(x: np.ndarray, y: np.ndarray, num_classes: int, seed: int) -> tuple[float, np.ndarray]:
    """The candidate C with the lowest log loss on a stratified fifth of ``x`` (fitted on the rest, each fit
    warm-started from the last), and the fit at that C on all of ``x``; C = 1 where a class has one example."""
    if np.bincount(y).min() < 2:
        return 1.0, fit_logistic(x, y, num_classes, 1.0)
    inner, check = next(StratifiedShuffleSplit(1, test_size=max(0.2, num_classes / len(y)), random_state=seed)
                        .split(x, y))
    losses, fits, previous = [], [], None
    for C in sorted(CANDIDATE_CS):
        previous = fit_logistic(x[inner], y[inner], num_classes, C, init=previous)
        losses.append(log_loss(previous, x[check], y[check]))
        fits.append(previous)
    best = int(np.argmin(losses))
    C = sorted(CANDIDATE_CS)[best]
    return C, fit_logistic(x, y, num_classes, C, init=fits[best])


def _accuracy(params: np.ndarray, features: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean((features @ params[:-1] + params[-1]).argmax(1) == labels))
