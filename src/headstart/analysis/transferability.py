"""LogME: how well frozen features suit a labelling, with no fine-tuning (You et al., ICML 2021; JMLR 2022).

For each class, the one-vs-rest target ``y`` is modelled as a Bayesian linear regression on the features,
``y = F w + noise``, with prior ``w ~ N(0, 1/alpha)`` and noise ``N(0, 1/beta)``. LogME is the log marginal
evidence ``log p(y | F)`` at the ``alpha``, ``beta`` that maximise it, per sample, averaged over classes: high when
a simple linear model explains the labels well without large weights. The maximisation is the fixed-point
iteration of the authors' later paper ("Ranking and Tuning Pre-trained Models", arXiv:2110.10545), carried out
in the eigenbasis of the features' Gram matrix so each iteration costs O(min(N, D)).

Written from the papers; checked against the authors' reference code (github.com/thuml/LogME, ``LogME.py``),
which it matches to 1e-6 when N > D (both iterated to convergence). Where N < D it differs on purpose: the
D - N directions the features do not span still carry the prior's ``-log alpha / 2`` each in ``log |A|``, which
the reference's fixed-point version leaves out; its ICML version keeps them and agrees with this one to 1e-3.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

__all__ = ["logme"]

_TOLERANCE = 1e-3  # relative change of alpha / beta at which the fixed point counts as reached
_MAX_STEPS = 100


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME of ``features`` ``(N, D)`` for integer ``labels`` ``(N,)``: the maximised log evidence per sample,
    averaged over classes. Higher is better; only comparable between feature sets on the same labels."""
    f = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if f.ndim != 2 or len(f) != len(labels) or len(classes) < 2:
        raise DataError(f"LogME needs features (N, D) and N labels of at least two classes; got features of "
                        f"shape {f.shape}, {len(labels)} labels, {len(classes)} class(es).",
                        fix="Pass one row of features per labelled example, with two or more classes.")
    n, d = f.shape
    # Eigenvalues sigma (squared singular values) of F, and the targets projected on its left singular vectors.
    if n >= d:
        sigma, v = np.linalg.eigh(f.T @ f)
        keep = sigma > 1e-10 * max(sigma.max(), 1e-300)
        sigma, project = sigma[keep], (f @ v[:, keep]) / np.sqrt(sigma[keep])
    else:
        sigma, u = np.linalg.eigh(f @ f.T)
        keep = sigma > 1e-10 * max(sigma.max(), 1e-300)
        sigma, project = sigma[keep], u[:, keep]
    evidences = []
    for label in classes:
        y = (labels == label).astype(np.float64)
        x2 = (project.T @ y) ** 2
        outside = max(float(y @ y - x2.sum()), 0.0)  # the part of y no feature direction reaches
        evidences.append(_max_evidence(sigma, x2, outside, n, d))
    return float(np.mean(evidences))


def _max_evidence(sigma: np.ndarray, x2: np.ndarray, outside: float, n: int, d: int) -> float:
    """The evidence per sample at the (alpha, beta) fixed point, for one target."""
    alpha, beta = 1.0, 1.0
    for _ in range(_MAX_STEPS):
        ratio = alpha / beta
        gamma = float((sigma / (sigma + ratio)).sum())  # effective number of well-determined weights
        weight2 = float((sigma * x2 / (sigma + ratio) ** 2).sum())  # |m|^2 of the posterior mean
        residual2 = float((x2 * (ratio / (sigma + ratio)) ** 2).sum()) + outside  # |y - F m|^2
        alpha, beta = gamma / (weight2 + 1e-5), (n - gamma) / (residual2 + 1e-5)
        if abs(alpha / beta - ratio) / ratio <= _TOLERANCE:
            break
    log_det = np.log(alpha + beta * sigma).sum() + (d - len(sigma)) * np.log(alpha)
    evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - log_det / 2 - beta / 2 * residual2
                - alpha / 2 * weight2 - n / 2 * np.log(2 * np.pi))
    return float(evidence / n)
