"""Multinomial logistic regression on embeddings, fitted in float32 with L-BFGS.

The objective is scikit-learn's ``LogisticRegression(C)`` one, weighted cross-entropy summed over
samples plus ``||W||² / 2C`` (intercept not penalised), divided by the total sample weight. It is
computed here in float32 on one BLAS thread: each of scikit-learn's iterations (float64 parameters
against float32 data) cost about three times as much on this project's CPU, and on 2 cores two BLAS
threads contend with L-BFGS's own work. On 10,000 × 1,280 Fashion-MNIST embeddings, one fit at C=1
took 4.6 s against ``LogisticRegression``'s 12.6 s, at the same test accuracy (88.2 % vs 88.3 %); the
whole head with its choice of C takes 5-6 s in ``benchmarks/frozen_throughput.py``.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax
from threadpoolctl import threadpool_limits

CANDIDATE_CS = (0.3, 1.0, 3.0)


def fit_logistic(features: np.ndarray, labels: np.ndarray, num_classes: int, C: float, *,
                 sample_weight: np.ndarray | None = None, init: np.ndarray | None = None,
                 tol: float = 1e-3, max_iter: int = 300) -> np.ndarray:
    """Fit and return the parameters as one ``(d + 1, k)`` array: weights, then the bias row.

    ``init`` (same shape) warm-starts the fit, e.g. from a neighbouring C.
    """
    x = np.ascontiguousarray(features, dtype=np.float32)
    x_t = np.ascontiguousarray(x.T)
    n, dim = x.shape
    weight = np.ones(n, np.float32) if sample_weight is None else np.asarray(sample_weight, np.float32)
    onehot = np.eye(num_classes, dtype=np.float32)[labels]
    weighted_onehot = onehot * weight[:, None]
    total = float(weight.sum())

    def loss_and_gradient(flat: np.ndarray) -> tuple[float, np.ndarray]:
        params = flat.astype(np.float32).reshape(dim + 1, num_classes)
        coef, bias = params[:-1], params[-1]
        log_p = log_softmax(x @ coef + bias, axis=1)
        residual = (np.exp(log_p) - onehot) * weight[:, None] / total
        loss = -(log_p * weighted_onehot).sum() / total + (coef * coef).sum() / (2 * C * total)
        gradient = np.vstack([x_t @ residual + coef / (C * total), residual.sum(0)])
        return float(loss), gradient.ravel().astype(np.float64)

    start = np.zeros((dim + 1) * num_classes) if init is None else np.asarray(init, np.float64).ravel()
    with threadpool_limits(1):
        result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B",
                          options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-12})
    return result.x.astype(np.float32).reshape(dim + 1, num_classes)


def log_loss(params: np.ndarray, features: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of ``labels`` under fitted ``params``."""
    log_p = log_softmax(np.asarray(features, np.float32) @ params[:-1] + params[-1], axis=1)
    return float(-log_p[np.arange(len(labels)), labels].mean())


def choose_C(splits: list[tuple[np.ndarray, np.ndarray]], features: np.ndarray, labels: np.ndarray,
             num_classes: int, sample_weight: np.ndarray | None = None,
             candidates: tuple[float, ...] = CANDIDATE_CS) -> tuple[float, np.ndarray, float]:
    """The C with the lowest held-out log loss over ``splits`` (train, held-out index pairs).

    Each split walks the candidates from strongest regularisation up, warm-starting each fit from the
    last. Returns the chosen C, the chosen C's parameters averaged over splits (a warm start
    for the final fit on all the data) and its mean held-out log loss.
    """
    losses = np.zeros((len(splits), len(candidates)))
    params = [[None] * len(candidates) for _ in splits]
    for s, (train, held_out) in enumerate(splits):
        previous = None
        weight = None if sample_weight is None else sample_weight[train]
        for c, C in enumerate(sorted(candidates)):
            previous = fit_logistic(features[train], labels[train], num_classes, C, sample_weight=weight,
                                    init=previous)
            params[s][c] = previous
            losses[s, c] = log_loss(previous, features[held_out], labels[held_out])
    best = int(losses.mean(0).argmin())
    return sorted(candidates)[best], np.mean([p[best] for p in params], axis=0), float(losses.mean(0)[best])
