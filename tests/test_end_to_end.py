"""train -> save -> load -> evaluate -> predict on real images, through the API and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import headstart
from headstart.cli import main


@pytest.mark.parametrize("strategy", ["frozen", "multilayer", "prototype", "knn"])
def test_api_round_trip_with_embedding_strategies(fashion_small, tmp_path, strategy):
    train_dir, test_dir = fashion_small
    clf = headstart.ImageClassifier(strategy=strategy, progress=False).fit(train_dir)
    report = clf.evaluate(test_dir)
    assert report["accuracy"] >= 0.8  # three easy classes; chance is 1/3
    assert np.array(report["confusion_matrix"]).sum() == report["n"] == 24
    path = clf.save(tmp_path / "model.pt")
    loaded = headstart.load(path)
    files = sorted(test_dir.rglob("*.png"))
    np.testing.assert_allclose(loaded.predict_proba(files), clf.predict_proba(files), atol=1e-6)
    assert loaded.classes_ == clf.classes_ == ["bag", "sneaker", "trouser"]
    assert loaded.strategy_.name == strategy


def test_the_validation_split_scores_the_head_then_the_final_head_learns_from_every_image(fashion_small):
    train_dir, test_dir = fashion_small
    clf = headstart.ImageClassifier(strategy="knn", progress=False).fit(train_dir)
    assert clf.training_["val_images"] > 0 and 0 < clf.val_accuracy_ <= 1
    assert clf.training_["train_images"] == clf.head_options_["num_references"] == 48  # all 48, val included
    given = headstart.ImageClassifier(strategy="knn", progress=False).fit(train_dir, val=test_dir)
    assert given.head_options_["num_references"] == 48 and given.training_["val_images"] == 24


def test_api_round_trip_with_partial_fine_tuning_and_grayscale_input(fashion_small, tmp_path):
    train_dir, test_dir = fashion_small
    clf = headstart.ImageClassifier(strategy="partial", freeze=6, in_chans=1, epochs=2,
                                    batch_size=16, progress=False, accelerator="cpu").fit(train_dir, val=test_dir)
    assert clf.training_["epochs_run"] == 2
    assert clf.net_.backbone.in_chans == 1
    # partial trains at the backbone's own 224 px: its frozen stages run once per image and view, cached
    assert clf.net_.backbone.preprocessing.image_size == 224 and clf.training_["cached_prefix"]["cut"] == "blocks.4"
    loaded = headstart.load(clf.save(tmp_path))
    assert (tmp_path / "model.pt").exists()
    files = sorted(test_dir.rglob("*.png"))[:4]
    torch.testing.assert_close(torch.from_numpy(loaded.predict_proba(files)),
                               torch.from_numpy(clf.predict_proba(files)))
    assert loaded.net_.backbone.preprocessing.image_size == 224


def test_full_fine_tuning_trains_small_images_at_twice_their_size(fashion_small):
    train_dir, test_dir = fashion_small
    clf = headstart.ImageClassifier(strategy="full", epochs=1, batch_size=16, progress=False,
                                    accelerator="cpu").fit(train_dir, val=test_dir)
    assert clf.net_.backbone.preprocessing.image_size == 64  # 28-px images train at 64 px, not the backbone's 224
    assert "cached_prefix" not in clf.training_  # nothing is frozen: every step runs the whole network


def test_cli_train_evaluate_predict(fashion_small, tmp_path, capsys):
    train_dir, test_dir = fashion_small
    out = tmp_path / "out"
    assert main(["--json", "train", str(train_dir), "--out", str(out)]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert (out / "model.pt").exists() and (out / "metrics.json").exists()
    # the default is auto: frozen and multilayer scored on the validation split, the better kept
    assert trained["strategy"] == trained["advice"]["chosen"] in ("frozen", "multilayer")
    # scored on the validation split, then the kept head learned from every training image
    assert trained["refit_on_validation"] and trained["train_images"] == len([p for p in train_dir.rglob("*")
                                                                                if p.is_file()])
    assert main(["--json", "evaluate", str(out), str(test_dir)]) == 0  # the --out folder stands for model.pt
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] >= 0.8 and set(report["per_class"]) == {"bag", "sneaker", "trouser"}
    assert main(["--json", "predict", str(out / "model.pt"), str(test_dir / "bag"), "--top-k", "2"]) == 0
    predictions = json.loads(capsys.readouterr().out)
    assert len(predictions) == 8 and all(len(p["top_k"]) == 2 for p in predictions)
    assert sum(p["top_k"][0]["class"] == "bag" for p in predictions) >= 6
    assert main(["evaluate", str(out), str(test_dir)]) == 0
    assert "confusion matrix" in capsys.readouterr().out


def test_cli_reports_bad_input_without_a_traceback(tmp_path):
    command = [sys.executable, "-m", "headstart.cli", "train", str(tmp_path / "missing"), "--out", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "foreign.pt").write_bytes(b"\x00" * 64)
    result = subprocess.run([sys.executable, "-m", "headstart.cli", "predict", str(tmp_path / "foreign.pt"),
                             str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "not a headstart model" in result.stderr


def test_cli_lists_backbones(capsys):
    assert main(["--json", "backbones"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["efficientnet_lite0"]["weights"].startswith("bundled")
    assert "--weights" in rows["resnet50"]["weights"]


def test_a_time_budget_ends_training_before_its_epochs(fashion_small):
    train_dir, test_dir = fashion_small
    clf = headstart.ImageClassifier(strategy="full", image_size=64, epochs=200, time_budget=3, batch_size=16,
                                    progress=False, accelerator="cpu").fit(train_dir, val=test_dir)
    assert 0 <= clf.training_["epochs_run"] < 200
    assert clf.score(test_dir) > 0  # a usable model came back


def test_freeze_without_a_strategy_is_refused_not_ignored(fashion_small, tmp_path):
    with pytest.raises(headstart.ConfigError, match="--strategy partial --freeze 4"):
        headstart.ImageClassifier(freeze=4, progress=False).fit(fashion_small[0])


def test_cli_partial_says_what_its_cached_prefix_did(fashion_small, tmp_path, capsys):
    train_dir, _ = fashion_small
    assert main(["train", str(train_dir), "--strategy", "partial", "--freeze", "7", "--epochs", "1",
                 "--image-size", "64", "--out", str(tmp_path / "m")]) == 0
    printed = capsys.readouterr().out
    assert "the frozen stages (through blocks.5) ran once on 4 view(s) of each image" in printed
    assert "then 1 epoch trained only the later stages and the head" in printed
