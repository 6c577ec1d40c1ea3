"""Heads fitted on fixed features: the logistic regression solves scikit-learn's problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from headstart.heads import fit_head
from headstart.heads.logistic import fit_logistic


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return (x / 16).astype(np.float32), y


@pytest.mark.parametrize("weighted", [False, True])
def test_logistic_regression_reaches_scikit_learns_solution(digits, weighted):
    x, y = digits
    weight = np.where(y % 2 == 0, 2.0, 0.5).astype(np.float32) if weighted else None
    params = fit_logistic(x, y, 10, C=0.5, sample_weight=weight, tol=1e-7, max_iter=5000)
    reference = LogisticRegression(C=0.5, tol=1e-10, max_iter=10000).fit(x, y, sample_weight=weight)
    ours = torch.softmax(torch.from_numpy(x @ params[:-1] + params[-1]), 1).numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(x), atol=2e-3)


def test_logreg_head_chooses_C_and_generalises(digits):
    x, y = digits
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:300], order[300:]
    head, info = fit_head("logreg", x[train], y[train], 10)
    assert info["C"] in (0.3, 1.0, 3.0) and info["cv_splits"] == 3
    with torch.inference_mode():
        accuracy = (head(torch.from_numpy(x[test])).argmax(1).numpy() == y[test]).mean()
    assert accuracy > 0.9


def test_logreg_head_handles_a_class_missing_from_the_training_data(digits):
    x, y = digits
    keep = y != 9
    head, _ = fit_head("logreg", x[keep][:400], y[keep][:400], 10)
    with torch.inference_mode():
        predicted = head(torch.from_numpy(x)).argmax(1).numpy()
    assert 9 not in set(predicted) and (predicted[keep] == y[keep]).mean() > 0.9
