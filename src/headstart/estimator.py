"""What every headstart classifier shares, whatever its inputs (images, texts): ``fit`` (load, split, warn, fit the
strategy or ``auto``, record), the head fitted on embeddings, ``predict``/``evaluate``, ``save`` and ``export``.

A modality (:class:`~headstart.ImageClassifier`, :class:`~headstart.TextClassifier`) supplies only what differs:
``_check_config``, ``_load``, ``_fit_strategy`` and ``_fit_auto``, ``_predict``, and the small hooks below them."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from torch import nn

from . import __version__, distributed as dist, heads
from .bundle import bundle_path, save_bundle
from .data.duplicates import duplicate_warnings, leakage_warning, training_digests
from .data.labelled import Labelled, inverse_frequency_weights, stratified_split
from .errors import ConfigError
from .evaluation import summarize
from .strategies import NEIGHBOUR_STRATEGIES
from .validation import POSITIVE_INT, validate

Examples = tuple[np.ndarray, np.ndarray]  # embeddings (n, d) and their label ids (n,)


class Classifier(ABC):
    """The base of :class:`~headstart.ImageClassifier` and :class:`~headstart.TextClassifier`."""

    task: str  # what it classifies, "image" or "text" (a saved bundle's "task")
    unit: str  # what ``training_`` counts: "images", "texts"
    # Whether a head fitted on embeddings learns from the validation split ``fit`` carved too, once it has scored it.
    refit_on_split: bool
    _fitted_attribute = "classes_"  # an attribute only a fitted (or loaded) classifier has
    classes_: list[str]
    strategy: str
    head: str
    val_fraction: float
    use_class_weights: bool
    seed: int

    # ----------------------------------------------------------------- fitting
    def fit(self, data: Any, val: Any = None) -> Self:
        """Learn from labelled data (images: a class-folder root, a CSV or an ``ImageSet``; texts: a CSV/TSV/JSON
        Lines/JSON file, a folder of ``<class>/*.txt`` or a ``TextDataset``); ``val`` (the same forms) replaces the
        stratified validation split."""
        self._check_config()
        # A fit that fails leaves the classifier unfitted, never one model with another data's classes.
        vars(self).pop(self._fitted_attribute, None)
        dataset = self._load(data)
        self.classes_ = list(dataset.classes)
        if val is not None:
            train, val_set = dataset, self._load(val, classes=self.classes_)
        elif self._holds_out():
            train, val_set = stratified_split(dataset, self.val_fraction, self.seed)
        else:
            train, val_set = dataset, None
        self.train_digests_ = training_digests(dataset)
        self.data_warnings_ = duplicate_warnings(dataset) + ([] if val is None else list(filter(None, [
            leakage_warning(self.train_digests_, val_set, role="validation")])))
        started = time.perf_counter()
        self.advice_: dict[str, Any] | None = None
        # A validation split carved from small data has done its job once it has scored a head fitted on
        # embeddings; the final head then learns from every example (LogisticRegressionCV refits likewise). At every
        # size: on 5,000 Fashion-MNIST images the fifth held out was worth 0.6-0.9 points to multilayer.
        refit = val is None and self.refit_on_split
        fit = self._fit_auto if self.strategy == "auto" else self._fit_strategy
        details = fit(train, val_set, refit=refit)
        self.fit_seconds_ = time.perf_counter() - started
        self.val_accuracy_ = details["val_accuracy"]
        self.training_ = {f"train_{self.unit}": len(train), **details,
                          f"val_{self.unit}": len(train if val_set is None else val_set),
                          "seconds": self.fit_seconds_, **self._keep_load_report(dataset)}
        return self

    @abstractmethod
    def _check_config(self) -> None:
        """Validate the constructor's arguments (``fit`` calls it first)."""

    @abstractmethod
    def _load(self, data: Any, classes: Sequence[str] | None = None) -> Labelled:
        """Labelled data from any of the forms ``fit`` takes: training data (its ``classes`` those it holds), or
        with ``classes``, validation or test data of a model that knows them."""

    def _holds_out(self) -> bool:
        """Whether ``fit`` without ``val`` carves a validation split."""
        return True

    @abstractmethod
    def _fit_strategy(self, train: Labelled, val: Labelled | None, *, refit: bool) -> dict[str, Any]:
        """Fit the ``strategy`` on ``train``, scored on ``val``, and keep the model; returns the training details
        (``val_accuracy`` among them). ``refit``: a head fitted on embeddings learns from ``val`` too once scored."""

    @abstractmethod
    def _fit_auto(self, train: Labelled, val: Labelled | None, *, refit: bool) -> dict[str, Any]:
        """``auto``: fit candidates, keep the best (the evidence in ``advice_``); as :meth:`_fit_strategy`."""

    @abstractmethod
    def _keep_load_report(self, dataset: Labelled) -> dict[str, Any]:
        """Keep what loading the training data reported (``skipped_``, ``report_``); returns what ``training_``
        records of it."""

    # ---------------------------------------------------- heads on embeddings
    def _head_kind(self, strategy: str) -> str:
        """What a strategy that reads embeddings fits on them: its own nearness rule (``prototype``, ``knn``), else
        the ``head`` option."""
        return strategy if strategy in NEIGHBOUR_STRATEGIES else self.head

    def _check_head(self, strategy: str, head: str) -> None:
        """``prototype`` and ``knn`` are strategies, not heads for ``frozen`` (or ``auto``'s frozen candidate)."""
        if strategy in ("frozen", "auto") and head in NEIGHBOUR_STRATEGIES:
            raise ConfigError(f"{head!r} is a strategy of its own, not a head.", fix=f"Pass --strategy {head}.")

    def _class_weight(self, labels: np.ndarray) -> np.ndarray | None:
        """Inverse-frequency class weights of ``labels`` with ``use_class_weights``, else ``None``."""
        return inverse_frequency_weights(labels, len(self.classes_)) if self.use_class_weights else None

    def _head(self, kind: str, features: np.ndarray, labels: np.ndarray,
              **options: Any) -> tuple[nn.Module, dict[str, Any]]:
        """A head of ``kind`` fitted on ``features`` with this classifier's class weights and seed (in evaluation
        mode), and what its fit chose; ``options`` go to :func:`~headstart.heads.fit_head`."""
        head, info = heads.fit_head(kind, features, labels, len(self.classes_),
                                    class_weight=self._class_weight(labels), seed=self.seed, **options)
        return head.eval(), info

    def _fit_head(self, kind: str, train: Examples, val: Examples | None, *, refit: bool = False,
                  **options: Any) -> tuple[nn.Module, dict[str, Any]]:
        """The head fitted on ``train``'s embeddings and scored on ``val``'s; with ``refit``, then fitted again on
        both (:meth:`_refit_head`). Returns it and its details: ``kind``, the ``options`` that rebuild it, what
        its fit chose, ``val_accuracy`` (with ``val``) and how many embeddings it learnt from."""
        head, info = self._head(kind, *train, **options)
        details = {"kind": kind, "options": {"num_references": len(train[0]), "k": info["k"]} if kind == "knn" else {},
                   **info, f"train_{self.unit}": len(train[0])}
        if val is not None:
            details["val_accuracy"] = head_accuracy(head, *val)
            if refit:
                head = self._refit_head(head, details, train, val)
        return head, details

    def _refit_head(self, head: nn.Module, details: dict[str, Any], train: Examples, val: Examples) -> nn.Module:
        """``head`` (fitted on ``train``, ``details`` from :meth:`_fit_head`, updated here) fitted again on ``train``
        and ``val`` together: logistic regression keeps its C and starts from the solution so far; the class weights
        stay those of ``train``."""
        features, labels = (np.concatenate(pair) for pair in zip(train, val))
        refitted, _ = heads.fit_head(details["kind"], features, labels, len(self.classes_),
                                     class_weight=self._class_weight(train[1]), seed=self.seed, C=details.get("C"),
                                     warm_start=head if "C" in details else None,
                                     standardize=details.get("standardized", False))
        if details["kind"] == "knn":
            details["options"] = {**details["options"], "num_references": len(features)}
        details[f"train_{self.unit}"], details["refit_on_validation"] = len(features), True
        return refitted.eval()

    # -------------------------------------------------------------- predicting
    @abstractmethod
    def _inputs(self, inputs: Any) -> Any:
        """What ``predict_proba`` got, as the modality's inputs (an ``ImageSet``, a list of texts)."""

    @abstractmethod
    def _predict(self, inputs: Any) -> tuple[np.ndarray, dict[str, int]]:
        """Probabilities ``(n, len(classes_))`` of ``n`` (> 0) inputs, and counts of what happened to them."""

    @abstractmethod
    def _label_ids(self, data: Labelled) -> np.ndarray:
        """The class indices of labelled data."""

    @abstractmethod
    def _describe_load(self, dataset: Labelled) -> dict[str, Any]:
        """What ``evaluate`` reports of loading ``dataset`` (skipped files, rows read)."""

    def predict_proba(self, inputs: Any) -> np.ndarray:
        """Class probabilities ``(n, len(classes_))``."""
        self._check_fitted()
        inputs = self._inputs(inputs)
        if not len(inputs):
            return np.zeros((0, len(self.classes_)), np.float32)
        return self._predict(inputs)[0]

    def predict(self, inputs: Any) -> list[str]:
        """The most probable class name for each input."""
        return [self.classes_[i] for i in self.predict_proba(inputs).argmax(1)]

    def predict_top_k(self, inputs: Any, k: int = 3) -> list[list[tuple[str, float]]]:
        """The ``k`` most probable classes with their probabilities, per input."""
        validate({"k": k}, {"k": [POSITIVE_INT]}, flags={"k": "--top-k"})
        probabilities = self.predict_proba(inputs)
        k = min(k, len(self.classes_))
        return [[(self.classes_[i], float(row[i])) for i in np.argsort(-row)[:k]] for row in probabilities]

    def evaluate(self, data: Any) -> dict[str, Any]:
        """Accuracy, macro-F1, per-class metrics and the confusion matrix on labelled data, with what loading it
        reported and a warning when it holds copies of training data."""
        self._check_fitted()
        dataset = self._load(data, classes=self.classes_)
        labels = self._label_ids(dataset)
        probabilities, notes = self._predict(self._inputs(dataset))
        return {**summarize(labels, probabilities.argmax(1), self.classes_), **notes, **self._describe_load(dataset),
                "warnings": list(filter(None, [leakage_warning(self.train_digests_, dataset, role="evaluation")]))}

    def score(self, data: Any) -> float:
        """Accuracy on labelled data (scikit-learn's ``score``)."""
        return self.evaluate(data)["accuracy"]

    def _check_fitted(self) -> None:
        if not hasattr(self, self._fitted_attribute):
            raise ConfigError("this classifier is not fitted yet.", fix="Call fit(data), or headstart.load(path).")

    # ------------------------------------------------------------- persisting
    @abstractmethod
    def _bundle(self) -> dict[str, Any]:
        """What a saved bundle holds of this modality's model (backbone, strategy, weights)."""

    def save(self, path: str | Path) -> Path:
        """Write the model bundle (atomically); ``path`` is a file or an existing folder. In a distributed run only
        rank 0 writes (the others return the same path)."""
        self._check_fitted()
        if not dist.is_main():
            return bundle_path(path)
        return save_bundle({"task": self.task, "headstart_version": __version__, "classes": self.classes_,
                            **self._bundle(), "head": {"kind": self.head_, "options": self.head_options_},
                            "advice": self.advice_, "training": self.training_,
                            "train_digests": self.train_digests_}, path)

    def _restore(self, document: dict[str, Any]) -> None:
        """Set what every loaded bundle gives back (``from_bundle`` of each modality)."""
        self.classes_, self.training_, self.advice_ = list(document["classes"]), document["training"], \
            document.get("advice")
        self.head_, self.head_options_ = document["head"]["kind"], document["head"]["options"]
        self.val_accuracy_ = self.training_["val_accuracy"]
        self.train_digests_, self.data_warnings_ = document.get("train_digests", []), []

    def export(self, out: str | Path, *, format: str = "onnx", quantize: str | None = None,
               calibration: str | Path | Sequence[str | Path] | None = None) -> dict[str, Any]:
        """Write the model as ``out/model.onnx`` (or ``model.ts``) and ``out/model.json``; see
        :func:`headstart.export.export_model` (``headstart export``)."""
        from .export import export_model

        return export_model(self, out, format=format, quantize=quantize, calibration=calibration)


def head_probabilities(head: nn.Module, features: np.ndarray) -> np.ndarray:
    """Class probabilities of a head on embeddings ``(n, d)``."""
    with torch.inference_mode():
        return head.eval()(torch.from_numpy(features)).softmax(1).numpy()


def head_accuracy(head: nn.Module, features: np.ndarray, labels: np.ndarray) -> float:
    """The share of embeddings ``(n, d)`` whose highest-scoring class is their label."""
    with torch.inference_mode():
        return float(np.mean(head.eval()(torch.from_numpy(features)).argmax(1).numpy() == labels))
