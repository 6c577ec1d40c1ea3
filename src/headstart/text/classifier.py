"""``TextClassifier``: transfer learning for text with the API of ``ImageClassifier``.

    clf = TextClassifier(backbone="minilm", strategy="frozen").fit("reviews.csv")
    clf.predict(["great phone"]); clf.evaluate("test.csv"); clf.save("model.pt")

Strategies: ``auto`` (the default: ``frozen`` and, where affordable, ``full``, scored on the same held-out texts,
the better kept; see :mod:`headstart.text.auto`), ``frozen`` (embed once with a fixed encoder, fit a
``logreg``/``linear``/``mlp`` head), ``prototype`` and ``knn`` (no training), ``full`` (fine-tune the bundled MiniLM
end to end) and ``scratch`` (TF-IDF and logistic regression, no pretrained weights). A saved bundle holds plain types
and tensors only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from headstart.backbones.text import TEXT_REGISTRY, VECTOR_PREFIXES, SentenceTransformerEncoder, TextEncoder, \
    load_text_encoder
from headstart.data.labelled import inverse_frequency_weights
from headstart.data.text import LoadReport, TextDataset, load_text_dataset
from headstart.errors import BundleError, ConfigError, DataError
from headstart.distributed import is_main
from headstart.estimator import Classifier, Examples, head_probabilities
from headstart.features.cache import open_cache
from headstart.heads import HEAD_KINDS, build_head
from headstart.strategies import TEXT_STRATEGIES
from headstart.text import auto
from headstart.text.baselines import tfidf_logreg
from headstart.validation import FRACTION, POSITIVE, POSITIVE_INT, SEED, validate

if TYPE_CHECKING:
    from headstart.text.finetune import MiniLMClassifier

__all__ = ["TEXT_STRATEGIES", "TextClassifier", "TextData"]

TextData = str | Path | TextDataset
_TFIDF_SETTINGS = ("analyzer", "lowercase", "ngram_range", "norm", "smooth_idf", "strip_accents", "sublinear_tf",
                   "token_pattern", "use_idf")
_FULL_DEFAULTS = {"epochs": 5, "lr": 3e-5, "batch_size": 16, "max_length": 128}
# Early stopping and the best epoch are chosen on the validation texts only from this many per class on: on BBC
# headlines at 8 per class (2 validation texts per class) stopping on them cost 3.4 points against the fixed epochs
# (72.4 vs 75.8 %, benchmarks/results/compare_bbc_news_headlines_full.md).
EARLY_STOPPING_MIN_PER_CLASS = 10


class TextClassifier(Classifier):
    """A transfer-learned text classifier.

    Args:
        backbone: a text encoder for ``load_text_encoder`` (``minilm``, ``glove-50d``, a word-vectors file or a
            sentence-transformers folder), or an already loaded :class:`TextEncoder`. ``full`` needs ``minilm``
            (``auto`` fine-tunes only with it); ``scratch`` uses none.
        strategy: ``auto`` (the default: ``frozen``, and ``full`` on a GPU, with ``epochs`` given or up to
            ``FINE_TUNE_MAX_TEXTS`` training texts, each scored on the ``val`` data or else by cross-fitting over
            the training texts, the better kept and fitted on every training text; the scores in ``advice_``),
            ``frozen``, ``prototype``, ``knn``, ``full`` or ``scratch``.
        head: for ``frozen`` (and ``auto``'s frozen candidate): ``logreg``, ``linear`` or ``mlp``.
        epochs: for ``full`` (default 5); from ``EARLY_STOPPING_MIN_PER_CLASS`` validation texts per class on, at
            most: training stops once the validation loss has not improved for two epochs, and keeps the epoch with
            the best validation accuracy. ``auto`` runs them all.
        lr: for ``full`` (default 3e-5).
        batch_size: texts per training step for ``full`` (default 16), else per embedding batch (default 64).
        max_length: tokens kept per text by transformer encoders (default: the encoder's, 256 for MiniLM; 128 for
            ``full``); longer texts are cut and counted.
        text_column, label_column, encoding: how files of labelled texts are read.
        val_fraction: validation share when ``fit`` gets no ``val`` data (``auto`` cross-fits instead).
        use_class_weights: weight the loss by inverse class frequency (``auto``, ``frozen``, ``full``, ``scratch``).
        seed: seeds the split, the head and fine-tuning.
        cache: where transformer embeddings are cached by text content: a folder, ``True`` for the default
            (``headstart cache info``), ``False`` for none.
        progress: show progress bars while embedding.
        accelerator, devices, num_nodes: where ``full`` fine-tunes (Lightning's Trainer; ``devices`` × ``num_nodes``
            processes under DDP, started by ``headstart train --devices N``, torchrun or srun, as for images).
    """

    # A head on embeddings learns from the validation split too once it has scored it, as for images: on BBC News
    # (600 test texts) +1.2 / +0.3 points with GloVe at 8 / 32 texts per class (8 seeds), +2.5 / +0.3 with MiniLM
    # (4 seeds; benchmarks/text_refit.py). Fine-tuned and TF-IDF models learn from the training split only.
    task, unit, refit_on_split = "text", "texts", True
    _fitted_attribute = "model_"

    def __init__(self, backbone: str | TextEncoder = "minilm", strategy: str = "auto", *, head: str = "logreg",
                 epochs: int | None = None, lr: float | None = None, batch_size: int | None = None,
                 max_length: int | None = None, text_column: str = "text", label_column: str = "label",
                 encoding: str = "utf-8", val_fraction: float = 0.2, use_class_weights: bool = False, seed: int = 0,
                 cache: bool | str | Path = True, progress: bool = True, accelerator: str = "auto", devices: int = 1,
                 num_nodes: int = 1):
        self.backbone = backbone
        self.strategy = strategy
        self.head = head
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.max_length = max_length
        self.text_column = text_column
        self.label_column = label_column
        self.encoding = encoding
        self.val_fraction = val_fraction
        self.use_class_weights = use_class_weights
        self.seed = seed
        self.cache = cache
        self.progress = progress
        self.accelerator = accelerator
        self.devices = devices
        self.num_nodes = num_nodes

    # ----------------------------------------------------------------- fitting
    def _fit_strategy(self, train: TextDataset, val: TextDataset, *, refit: bool) -> dict[str, Any]:
        # both label sets first: validation labels the training data lacks are refused before any work
        self.strategy_, y, val_y = self.strategy, self._label_ids(train), self._label_ids(val)
        if self.strategy == "scratch":
            return self._scored(self._fit_tfidf(train.texts, y), val)
        if self.strategy == "full":
            return self._scored(self._fit_full(train.texts, y, val.texts, val_y), val)
        self.encoder_ = self._encoder()
        (features, notes), (val_features, val_notes) = self._embed(train.texts), self._embed(val.texts)
        details = self._fit_on_embeddings((features, y), (val_features, val_y), refit=refit)
        return {**details, **_counted(notes, val_notes)}

    def _scored(self, details: dict[str, Any], val: TextDataset) -> dict[str, Any]:
        """``details`` with the kept model's accuracy on ``val``, and its texts cut or without a known word
        counted in."""
        probabilities, notes = self._predict(val.texts)
        accuracy = float(np.mean(probabilities.argmax(1) == self._label_ids(val)))
        return {**details, **_counted(details, notes), "val_accuracy": accuracy}

    def _holds_out(self) -> bool:
        return self.strategy != "auto"  # auto learns from every text, scored by cross-fitting

    def _keep_load_report(self, dataset: TextDataset) -> dict[str, Any]:
        self.report_ = dataset.report
        return {"data": asdict(dataset.report)}

    _parameter_constraints = {"epochs": [POSITIVE_INT, None], "lr": [POSITIVE, None],
                              "batch_size": [POSITIVE_INT, None],
                              "max_length": [POSITIVE_INT, None], "val_fraction": [FRACTION], "seed": [SEED],
                              "devices": [POSITIVE_INT], "num_nodes": [POSITIVE_INT]}

    def _check_config(self) -> None:
        validate(vars(self), self._parameter_constraints)
        if self.strategy not in TEXT_STRATEGIES:
            raise ConfigError(f"unknown text strategy {self.strategy!r}",
                              fix=f"choose one of {', '.join(TEXT_STRATEGIES)}")
        self._check_head(self.strategy, self.head)
        if self.devices * self.num_nodes > 1 and self.strategy != "full":
            raise ConfigError(f"texts fine-tune on several processes ({self.devices} × {self.num_nodes}) with the "
                              f"full strategy only; {self.strategy!r} runs on one.",
                              fix="Pass --strategy full, or drop --devices and --num-nodes.")
        if self.strategy in ("frozen", "auto") and self.head not in HEAD_KINDS:
            raise ConfigError(f"unknown head {self.head!r}", fix=f"choose one of {', '.join(HEAD_KINDS)}")
        if self.strategy == "full" and self._backbone_name() != "minilm":
            raise ConfigError(f"full fine-tuning works with the bundled minilm encoder only, not "
                              f"{self._backbone_name()!r}",
                              fix="pass backbone='minilm', or strategy='frozen' to fit a head on these embeddings")

    def _backbone_name(self) -> str:
        return self.backbone.name if isinstance(self.backbone, TextEncoder) else self.backbone

    def _load(self, data: TextData, classes: Sequence[str] | None = None) -> TextDataset:
        """Labelled texts: a CSV/TSV/JSON Lines/JSON file, a folder of ``<class>/*.txt``, or a
        :class:`TextDataset`; training data (no ``classes``) keeps as its classes those it holds, two at least."""
        if isinstance(data, TextDataset):
            if not data.texts:
                raise DataError("the dataset holds no texts", path=data.source, fix="pass labelled texts")
            if len(data.texts) != len(data.labels):
                raise DataError(f"{len(data.texts)} texts but {len(data.labels)} labels", path=data.source,
                                fix="pass one label per text")
            dataset = data
        elif isinstance(data, (str, Path)):
            dataset = load_text_dataset(data, text_column=self.text_column, label_column=self.label_column,
                                        encoding=self.encoding, min_classes=2 if classes is None else 1)
        else:
            raise DataError(f"expected a file or folder of labelled texts or a TextDataset, not a "
                            f"{type(data).__name__}", fix="pass a .csv/.tsv/.jsonl/.json path, a folder of "
                                                          "<class>/*.txt files, or load_text_dataset(path)")
        if classes is not None:
            return dataset
        present = set(dataset.labels)
        if len(present) < 2:
            raise DataError(f"all {len(dataset)} examples have the label '{dataset.labels[0]}'; a classifier needs "
                            "two or more classes", path=dataset.source, fix="add examples of other classes")
        return replace(dataset, classes=[name for name in dataset.classes if name in present])

    def _fit_auto(self, train: TextDataset, val_set: TextDataset | None, *, refit: bool) -> dict[str, Any]:
        """``auto``: the frozen encoder with the head, and MiniLM fine-tuned end to end where affordable, scored on
        the same held-out texts (``val_set``, else cross-fitted folds of ``train``: :mod:`headstart.text.auto`);
        the better is kept, fitted on every training text. Each candidate's scores and seconds go into
        ``advice_``; returns the kept candidate's training details."""
        from headstart.text.finetune import predict_proba

        texts, y = train.texts, self._label_ids(train)
        val_y = None if val_set is None else self._label_ids(val_set)
        splits = None if val_set is not None else auto.folds(y, self.seed)
        if val_set is None and splits is None:
            name = self.classes_[int(np.bincount(y).argmin())]
            raise DataError(f"class {name!r} has 1 example; auto needs at least {auto.FOLDS} per class to score its "
                            "candidates on texts they did not learn from",
                            fix="add examples of that class, or pass separate validation data (--val)")
        scored_on = f"{len(val_set)} validation texts" if splits is None else \
            f"{len(texts)} texts held out by {auto.FOLDS}-fold cross-fitting"

        def scored(name: str, fit_predict: auto.FitPredict, started: float, **extra: Any) -> dict[str, Any]:
            if splits is None:
                probabilities, truth = fit_predict(np.arange(len(texts)), None), val_y
            else:
                probabilities, truth = auto.cross_fit(fit_predict, splits, len(texts), len(self.classes_)), y
            return {"strategy": name, **auto.evidence(probabilities, truth), **extra, "scored_on": scored_on,
                    "seconds": time.perf_counter() - started}

        started = time.perf_counter()
        self.encoder_ = self._encoder()
        features, notes = self._embed(texts)
        held_features = None if val_set is None else self._encode(val_set.texts)
        # the model kept unless fine-tuning scores higher
        frozen = {**self._fit_on_embeddings((features, y), None, refit=refit), **notes}
        candidates = [scored("frozen", lambda learn, held: head_probabilities(
            self._head(self.head, features[learn], y[learn])[0], held_features if held is None else features[held]),
            started, cv_log_loss=frozen.get("cv_log_loss"))]
        reasons = [f"Candidates scored on {scored_on}."]
        tuned: list[tuple[MiniLMClassifier, dict[str, Any]]] = []
        if self._backbone_name() != "minilm":
            reasons.append(f"Full fine-tuning needs the minilm encoder, not {self._backbone_name()!r}: "
                           "frozen only.")
        elif not auto.can_fine_tune(len(texts), gpu=torch.cuda.is_available(), epochs_given=self.epochs is not None):
            reasons.append(f"Full fine-tuning skipped: {len(texts)} training texts are more than "
                           f"{auto.FINE_TUNE_MAX_TEXTS} to fine-tune on a CPU (pass --epochs, or use a GPU, to add "
                           "it).")
        else:
            def fine_tuned(learn: np.ndarray, held: np.ndarray | None) -> np.ndarray:
                tuned[:] = [self._fine_tune([texts[i] for i in learn], y[learn])]
                return predict_proba(tuned[0][0], val_set.texts if held is None else [texts[i] for i in held],
                                     batch_size=self.batch_size or 64)

            candidates.append(scored("full", fine_tuned, time.perf_counter()))
        best = auto.better(candidates)
        self.advice_ = {"candidates": candidates, "chosen": candidates[best]["strategy"], "reasons": reasons}
        self.strategy_ = candidates[best]["strategy"]
        if best == 0:
            details = frozen
        else:
            model, details = self._fine_tune(texts, y) if splits is not None else tuned[0]
            self._keep_fine_tuned(model)
        details = {**details, "val_accuracy": candidates[best]["val_accuracy"]}
        return details if val_set is None else self._scored(details, val_set)

    def _fit_on_embeddings(self, train: Examples, val: Examples | None, *, refit: bool) -> dict[str, Any]:
        """Fit and keep the head on ``train``'s embeddings by ``encoder_``, scored on ``val``'s
        (:meth:`~headstart.estimator.Classifier._fit_head`); returns its training details."""
        head, details = self._fit_head(self._head_kind(self.strategy), train, val, refit=refit)
        self.model_, self.head_, self.head_options_ = head, details.pop("kind"), details.pop("options")
        encoder = self.encoder_
        self.backbone_ = {"name": encoder.name, "fingerprint": encoder.fingerprint,
                          "max_length": encoder.max_seq_length if isinstance(encoder, SentenceTransformerEncoder)
                          else None}
        return {**details, "trainable_parameters": sum(p.numel() for p in head.parameters())}

    def _embed(self, texts: list[str]) -> tuple[np.ndarray, dict[str, int]]:
        """Embeddings of ``texts`` by ``encoder_``, and how many were cut or had no known word."""
        features = self._encode(texts)
        return features, _encoder_notes(self.encoder_)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if isinstance(self.encoder_, SentenceTransformerEncoder):
            self.encoder_.cache = open_cache(self.cache)
        return self.encoder_.encode(texts, batch_size=self.batch_size or 64, progress=self.progress)

    def _encoder(self) -> TextEncoder:
        encoder = self.backbone if isinstance(self.backbone, TextEncoder) else \
            load_text_encoder(_portable(self.backbone))
        if self.max_length is not None:
            if not isinstance(encoder, SentenceTransformerEncoder):
                raise ConfigError(f"max_length applies to transformer encoders; {encoder.name!r} averages all the "
                                  "words of a text", fix="drop max_length")
            encoder.max_seq_length = self.max_length
        return encoder

    def _fit_full(self, texts: list[str], y: np.ndarray, val_texts: list[str] | None,
                  val_y: np.ndarray | None) -> dict[str, Any]:
        """Fine-tune MiniLM; with :data:`EARLY_STOPPING_MIN_PER_CLASS` validation texts per class, stopping early on
        them and keeping the epoch that scores best there, else for the fixed epochs."""
        if np.bincount(val_y, minlength=len(self.classes_)).min() < EARLY_STOPPING_MIN_PER_CLASS:
            val_texts, val_y = None, None
        model, details = self._fine_tune(texts, y, val_texts, val_y)
        self._keep_fine_tuned(model)
        return details

    def _fine_tune(self, texts: list[str], y: np.ndarray, val_texts: list[str] | None = None,
                   val_y: np.ndarray | None = None) -> tuple[MiniLMClassifier, dict[str, Any]]:
        """MiniLM fine-tuned on ``texts`` (with validation texts: early stopping and the best epoch; without, every
        epoch) and its training details."""
        from headstart.text.finetune import fine_tune_minilm

        settings = {name: getattr(self, name) or default for name, default in _FULL_DEFAULTS.items()}
        weights = inverse_frequency_weights(y, len(self.classes_)).tolist() if self.use_class_weights else None
        model, _ = fine_tune_minilm(texts, [self.classes_[i] for i in y], seed=self.seed, classes=self.classes_,
                                    class_weight=weights, val_texts=val_texts,
                                    val_labels=None if val_y is None else [self.classes_[i] for i in val_y],
                                    progress=self.progress and is_main(), accelerator=self.accelerator,
                                    devices=self.devices, num_nodes=self.num_nodes, **settings)
        return model, {**settings, "losses": list(model.losses), "epochs_run": len(model.losses),
                       "truncated_texts": model.count_truncated(texts),
                       "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)}

    def _keep_fine_tuned(self, model: MiniLMClassifier) -> None:
        self.model_, self.encoder_, self.head_, self.head_options_ = model, None, "linear", {}
        self.backbone_ = {"name": "minilm", "fingerprint": None, "max_length": model.max_length}

    def _fit_tfidf(self, texts: list[str], y: np.ndarray) -> dict[str, Any]:
        pipeline = tfidf_logreg()
        if self.use_class_weights:
            pipeline.set_params(logreg__class_weight="balanced")
        self.model_ = pipeline.fit(texts, y)
        self.encoder_, self.head_, self.head_options_, self.backbone_ = None, "logreg", {}, None
        logreg = pipeline.named_steps["logreg"]
        return {"vocabulary": len(pipeline.named_steps["tfidf"].vocabulary_), "truncated_texts": 0,
                "trainable_parameters": int(logreg.coef_.size + logreg.intercept_.size)}

    # -------------------------------------------------------------- predicting
    def _predict(self, texts: list[str]) -> tuple[np.ndarray, dict[str, int]]:
        """Probabilities ``(n, len(classes_))`` and counts of texts cut or without a known word."""
        notes = {"truncated_texts": 0, "texts_without_known_words": 0}
        if self.strategy_ == "scratch":
            logreg = self.model_.named_steps["logreg"]
            probabilities = np.zeros((len(texts), len(self.classes_)), np.float32)
            probabilities[:, logreg.classes_] = self.model_.predict_proba(texts)
            return probabilities, notes
        if self.strategy_ == "full":
            from headstart.text.finetune import predict_proba

            notes["truncated_texts"] = self.model_.count_truncated(texts)
            return predict_proba(self.model_, texts, batch_size=self.batch_size or 64), notes
        features, encoder_notes = self._embed(texts)
        return head_probabilities(self.model_, features), {**notes, **encoder_notes}

    def _inputs(self, texts: Sequence[str] | TextDataset) -> list[str]:
        """A list of texts (or a :class:`TextDataset`) as a list of texts."""
        return _as_texts(texts)

    def _label_ids(self, data: TextDataset) -> np.ndarray:
        index = {name: i for i, name in enumerate(self.classes_)}
        unknown = sorted(set(data.labels) - index.keys())
        if unknown:
            raise DataError(f"labels the model was not trained on: {', '.join(map(repr, unknown[:10]))}",
                            path=data.source, fix=f"the model knows {', '.join(self.classes_)}; drop or relabel "
                                                  "those rows, or retrain with them")
        return np.array([index[label] for label in data.labels], dtype=np.int64)

    def _describe_load(self, dataset: TextDataset) -> dict[str, Any]:
        """Rows read, kept and skipped."""
        return {"data": {**asdict(dataset.report), "kept": dataset.report.kept, "summary": dataset.report.summary()}}

    # ------------------------------------------------------------- persisting
    def _bundle(self) -> dict[str, Any]:
        return {"backbone": self.backbone_, "strategy": self.strategy_,
                "columns": {"text": self.text_column, "label": self.label_column, "encoding": self.encoding},
                **(_export_tfidf(self.model_) if self.strategy_ == "scratch" else
                   {"state_dict": self.model_.state_dict()})}

    @classmethod
    def from_bundle(cls, document: dict[str, Any]) -> TextClassifier:
        """Rebuild a fitted classifier from a loaded bundle (``headstart.bundle.load_bundle``)."""
        if document.get("task") != "text":
            raise BundleError(f"holds a model for the {document.get('task', 'image')!r} task, not a text classifier",
                              fix="load it with headstart.load(path)")
        spec, head, columns = document["backbone"], document["head"], document["columns"]
        clf = cls(**({"backbone": spec["name"], "max_length": spec["max_length"]} if spec else {}),
                  strategy=document["strategy"], head=head["kind"], text_column=columns["text"],
                  label_column=columns["label"], encoding=columns["encoding"])
        clf._restore(document)
        clf.strategy_, clf.backbone_, clf.encoder_ = document["strategy"], spec, None
        clf.report_ = LoadReport(**clf.training_["data"])
        if clf.strategy_ == "scratch":
            clf.model_ = _import_tfidf(document)
        elif clf.strategy_ == "full":
            from headstart.text.finetune import minilm_classifier

            clf.model_ = minilm_classifier(clf.classes_, max_length=spec["max_length"], pretrained=False)
            clf.model_.load_state_dict(document["state_dict"])
            clf.model_.eval()
        else:
            clf.encoder_ = clf._encoder()
            if clf.encoder_.fingerprint != spec["fingerprint"]:
                raise BundleError(f"the text encoder {spec['name']!r} is not the one this model was trained with "
                                  f"(fingerprint {clf.encoder_.fingerprint}, expected {spec['fingerprint']})",
                                  fix="restore the word-vectors file or model folder used in training, or retrain")
            clf.model_ = build_head(head["kind"], clf.encoder_.dim, len(clf.classes_), **head["options"])
            clf.model_.load_state_dict(document["state_dict"])
            clf.model_.eval()
        return clf


def _portable(name: str) -> str:
    """``name`` with a word-vectors file or model folder made absolute, so a saved model finds it from anywhere."""
    prefix, colon, rest = name.partition(":")
    if colon and prefix.lower() in VECTOR_PREFIXES:
        return f"{prefix}:{Path(rest).expanduser().resolve()}"
    path = Path(name).expanduser()
    return str(path.resolve()) if name not in TEXT_REGISTRY and path.exists() else name


def _counted(counts: dict[str, Any], more: dict[str, int]) -> dict[str, int]:
    """The counts of texts cut or without a known word in ``more`` added to those in ``counts``."""
    return {key: counts.get(key, 0) + count for key, count in more.items()}


def _encoder_notes(encoder: TextEncoder) -> dict[str, int]:
    return {"truncated_texts": encoder.truncated_count, "texts_without_known_words": encoder.oov_count}


def _as_texts(texts: Sequence[str] | TextDataset) -> list[str]:
    if isinstance(texts, TextDataset):
        return list(texts.texts)
    if isinstance(texts, str):
        raise DataError("got one string where a list of texts was expected", fix="wrap it in a list: predict([text])")
    texts = list(texts)
    for number, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"text {number} is a {type(text).__name__}, not a string", fix="pass a list of strings")
    return texts


def _export_tfidf(pipeline: Pipeline) -> dict[str, Any]:
    """The fitted TF-IDF vocabulary, idf and logistic regression as plain types and tensors."""
    vectorizer, logreg = pipeline.named_steps["tfidf"], pipeline.named_steps["logreg"]
    params = vectorizer.get_params()
    return {"vectorizer": {"terms": sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get),
                           "idf": torch.from_numpy(vectorizer.idf_),
                           "settings": {name: params[name] for name in _TFIDF_SETTINGS}},
            "state_dict": {"coef": torch.from_numpy(logreg.coef_), "intercept": torch.from_numpy(logreg.intercept_),
                           "classes": torch.from_numpy(logreg.classes_)}}


def _import_tfidf(document: dict[str, Any]) -> Pipeline:
    """The TF-IDF + logistic regression pipeline saved by :func:`_export_tfidf`, ready to predict."""
    saved, state = document["vectorizer"], document["state_dict"]
    vectorizer = TfidfVectorizer(**saved["settings"],
                                 vocabulary={term: i for i, term in enumerate(saved["terms"])})
    vectorizer.idf_ = saved["idf"].numpy()
    logreg = LogisticRegression()
    logreg.coef_, logreg.intercept_ = state["coef"].numpy(), state["intercept"].numpy()
    logreg.classes_ = state["classes"].numpy()
    return Pipeline([("tfidf", vectorizer), ("logreg", logreg)])
