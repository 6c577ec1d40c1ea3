"""The from-scratch peer for text transfer learning: TF-IDF features and logistic regression."""

from __future__ import annotations

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

__all__ = ["tfidf_logreg"]


def tfidf_logreg(*, C: float = 1.0, max_iter: int = 1000) -> Pipeline:
    """Word uni+bigram TF-IDF (sublinear term frequency) and L2 logistic regression; fit on raw texts."""
    return Pipeline([
        ("tfidf", TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1)),
        ("logreg", LogisticRegression(C=C, max_iter=max_iter)),
    ])
