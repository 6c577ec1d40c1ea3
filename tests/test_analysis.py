"""advise: BatchNorm shift, linear probes, and the strategy they lead to."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from sklearn.datasets import load_digits

import headstart
import headstart.analysis
from headstart.analysis import StageEvidence, batchnorm_shift, probe_accuracies, recommend, stage_features
from headstart.data.dataset import find_images

from conftest import copy_subset

FASHION = Path(__file__).resolve().parents[1] / "examples" / "fashion-mnist-mini"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Natural photos (scikit-image samples and crops of them): data drawn like ImageNet."""
    root = tmp_path_factory.mktemp("photos")
    for label, names in {"a": ["chelsea", "coffee", "astronaut"], "b": ["rocket", "cat", "immunohistochemistry"]}.items():
        (root / label).mkdir()
        for name in names:
            image = Image.fromarray(getattr(skdata, name)()).convert("RGB")
            w, h = image.size
            for i, box in enumerate([(0, 0, w, h), (0, 0, w // 2, h // 2), (w // 2, h // 2, w, h)]):
                image.crop(box).save(root / label / f"{name}{i}.png")
    return root


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """scikit-learn's 8x8 digits, upscaled by the preprocessing: data far from ImageNet."""
    root = tmp_path_factory.mktemp("digits")
    digits = load_digits()
    for i in range(40):
        folder = root / str(digits.target[i])
        folder.mkdir(exist_ok=True)
        Image.fromarray((digits.images[i] * 16).astype(np.uint8)).save(folder / f"{i}.png")
    return root


def test_batchnorm_shift_is_small_for_photos_and_large_for_digits(lite0, photos, digits):
    near = batchnorm_shift(lite0, find_images(photos))
    far = batchnorm_shift(lite0, find_images(digits))
    assert len(near) == len(far) == len(lite0.stages)
    assert max(near) < 0.3 < min(far[:3])
    assert np.mean(far) > 3 * np.mean(near)


def test_probe_accuracy_rises_from_the_stem_to_late_stages(lite0):
    images = find_images(FASHION / "test")
    sample = images.subset([i for i in range(len(images)) if i % 2 == 0])  # 10 per class
    accuracies = probe_accuracies(stage_features(lite0, sample), np.asarray(sample.labels))
    assert max(accuracies[-3:]) > accuracies[0] + 0.1
    assert max(accuracies) > 0.6  # 10 classes: chance is 0.1


def _batch_statistics_shift(backbone, images) -> list[float | None]:
    """The BatchNorm shift as advise measured it before the cache: each layer's input mean and variance summed over
    every batch, position and image at once."""
    import torch
    from torch.utils.data import DataLoader

    from headstart.analysis.similarity import _gaussian_kl
    from headstart.data.dataset import ImageDataset, decode_side, make_transform

    layers = {name: module for name, module in backbone.body.named_modules()
              if isinstance(module, torch.nn.BatchNorm2d) and module.running_mean is not None}
    sums = {name: [0.0, 0.0, 0] for name in layers}

    def record(name):
        def hook(_module, inputs, _output):
            x = inputs[0].float()
            sums[name][0] += x.sum([0, 2, 3])
            sums[name][1] += (x * x).sum([0, 2, 3])
            sums[name][2] += x.numel() // x.shape[1]
        return hook

    handles = [module.register_forward_hook(record(name)) for name, module in layers.items()]
    preprocessing = backbone.preprocessing
    loader = DataLoader(ImageDataset(images, make_transform(preprocessing, train=False), backbone.in_chans,
                                     min_side=decode_side(preprocessing)), batch_size=4)
    with torch.inference_mode():
        for batch, _ in loader:
            backbone.eval()(batch)
    for handle in handles:
        handle.remove()
    per_layer = {}
    for name, (total, squares, count) in sums.items():
        mean = total / count
        per_layer[name] = float(_gaussian_kl(mean, squares / count - mean ** 2, layers[name].running_mean,
                                             layers[name].running_var).mean())
    shifts = []
    for stage in backbone.stages:
        owners = {n.rsplit(".", 1)[0] for n in stage.parameter_names}
        values = [value for name, value in per_layer.items() if name in owners]
        shifts.append(float(np.mean(values)) if values else None)
    return shifts


def test_the_cached_batchnorm_shift_is_the_one_measured_over_whole_batches(lite0, photos, tmp_path):
    from headstart.analysis import stage_statistics
    from headstart.features.cache import EmbeddingCache

    images = find_images(photos)
    expected = _batch_statistics_shift(lite0, images)
    cache = EmbeddingCache(tmp_path / "cache")
    cold, cold_features = stage_statistics(lite0, images, cache=cache)
    written = cache.written
    warm, warm_features = stage_statistics(lite0, images, cache=cache)
    assert written == len(images) * len(lite0.stages) and cache.written == written  # read back: nothing new
    assert cold == warm and all(np.array_equal(a, b) for a, b in zip(cold_features, warm_features))
    assert all(s is not None for s in expected) and np.allclose(warm, expected, rtol=0, atol=1e-5)
    assert [f.shape for f in warm_features] == [f.shape for f in stage_features(lite0, images)]


def test_a_second_advice_on_the_same_images_runs_no_network_and_advises_the_same(fashion_small, tmp_path,
                                                                                 monkeypatch):
    from headstart.backbones import Backbone
    from headstart.features.cache import EmbeddingCache

    forward, calls = Backbone.forward, []
    monkeypatch.setattr(Backbone, "forward", lambda self, images: calls.append(len(images)) or forward(self, images))
    cache = EmbeddingCache(tmp_path / "cache")
    first = headstart.advise(fashion_small[0], sample_per_class=8, can_fine_tune=False, cache=cache)
    assert calls and cache.written == 3 * 8 * len(first.stages)
    calls.clear()
    second = headstart.advise(fashion_small[0], sample_per_class=8, can_fine_tune=False, cache=cache)
    assert calls == [] and cache.written == 3 * 8 * len(first.stages)
    assert second.to_dict() == first.to_dict()


def test_advice_without_a_cache_writes_nothing_to_the_default_one(fashion_small, tmp_path, monkeypatch):
    default = tmp_path / "default-cache"
    monkeypatch.setenv("HEADSTART_CACHE", str(default))
    for off in (False, None):  # None: what open_cache returns for False, as ImageClassifier(cache=False) passes it
        advice = headstart.advise(fashion_small[0], backbones=["efficientnet_lite0"], sample_per_class=4,
                                  can_fine_tune=False, cache=off)
        assert advice.ranking.best.name == "efficientnet_lite0"
    # the exported ONNX graph is kept even without an embedding cache (exporting costs seconds); no embedding is
    written = [path.relative_to(default) for path in default.rglob("*") if path.is_file()] if default.exists() else []
    assert written and all(path.parts[0] == "graphs" for path in written), written


def _evidence(shift: float, probe: float, count: int = 8) -> list[StageEvidence]:
    return [StageEvidence(f"s{i}", shift, probe) for i in range(count)]


def test_recommendation_follows_data_size_distance_and_compute():
    assert recommend(_evidence(0.05, 0.95), 10, 5, "b").strategy == "frozen"
    assert recommend(_evidence(0.9, 0.5), 10, 5, "b").strategy == "multilayer"  # tiny data: never fine-tune
    assert recommend(_evidence(0.9, 0.6), 80, 5, "b", can_fine_tune=False).strategy == "multilayer"
    assert recommend(_evidence(0.05, 0.6), 1000, 5, "b", can_fine_tune=False).strategy == "multilayer"
    moderate_far = recommend(_evidence(0.9, 0.6), 80, 5, "b")
    assert moderate_far.strategy == "partial" and moderate_far.freeze == 2
    moderate_near = recommend(_evidence(0.05, 0.6), 80, 5, "b")
    assert moderate_near.strategy == "partial" and moderate_near.freeze == 6
    assert recommend(_evidence(0.9, 0.6), 1000, 5, "b").strategy == "full"
    assert recommend(_evidence(0.05, 0.9), 1000, 5, "b").strategy == "partial"


def test_auto_scores_frozen_and_multilayer_keeps_the_best_and_the_evidence(fashion_small, tmp_path, capsys):
    train_dir, test_dir = fashion_small
    clf = headstart.ImageClassifier(strategy="auto", progress=False).fit(train_dir)
    assert clf.advice_["strategy"] == "multilayer" and len(clf.advice_["stages"]) == 8  # far data, CPU
    candidates = {c["strategy"]: c for c in clf.advice_["candidates"]}
    assert list(candidates) == ["frozen", "multilayer"]  # cheapest first; no fine-tuning on a CPU by default
    # between the two heads on one forward pass, the held-out log loss of their C search decides
    chosen = min(candidates, key=lambda name: candidates[name]["cv_log_loss"])
    assert clf.strategy_.name == clf.advice_["chosen"] == chosen
    assert clf.val_accuracy_ == candidates[chosen]["val_accuracy"] and clf.advice_["embedding_seconds"] > 0
    loaded = headstart.load(clf.save(tmp_path / "m.pt"))
    assert loaded.advice_ == clf.advice_ and loaded.strategy_ == clf.strategy_
    assert loaded.predict(sorted(test_dir.rglob("*.png"))) == clf.predict(sorted(test_dir.rglob("*.png")))
    from headstart.cli import main

    assert main(["--json", "advise", str(train_dir), "--sample-per-class", "8", "--out", str(tmp_path / "a.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "a.json").read_text())
    assert any("images per class" in reason for reason in printed["reasons"])


def _non_blank(path: str) -> bool:
    pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    return pixels.std() > 5


def test_inspect_a_backbone_writes_non_blank_pictures(tmp_path, capsys):
    from headstart.cli import main

    image = tmp_path / "chelsea.png"
    Image.fromarray(skdata.chelsea()).save(image)
    assert main(["--json", "inspect", "efficientnet_lite0", "--image", str(image), "--out", str(tmp_path / "o")]) == 0
    written = json.loads(capsys.readouterr().out)
    assert {"filters", "feature_maps"} <= set(written)
    assert all(_non_blank(written[key]) for key in ("filters", "feature_maps"))


def test_inspect_a_fine_tuned_model_shows_weight_movement_and_grad_cam(fashion_small, tmp_path):
    train_dir, test_dir = fashion_small
    clf = headstart.ImageClassifier(strategy="partial", freeze=5, image_size=64, epochs=1, batch_size=16,
                                    progress=False, accelerator="cpu").fit(train_dir, val=test_dir)
    model = clf.save(tmp_path / "model.pt")
    image = next((test_dir / "bag").iterdir())
    written = headstart.analysis.inspect(model, out=tmp_path / "o", image=image, data=test_dir)
    for key in ("filters", "feature_maps", "stage_probes", "weight_movement", "grad_cam"):
        assert _non_blank(written[key]), key
    moved = written["stage_movement"]
    assert all(m == 0 for m in moved[:5]) and all(m > 0 for m in moved[5:])  # frozen stages did not move
    assert written["predicted"] in clf.classes_


def test_auto_with_a_training_budget_also_scores_the_advised_fine_tuning_and_keeps_the_best(tmp_path):
    root = copy_subset(FASHION / "train", tmp_path / "fashion", ["trouser", "bag", "sneaker", "shirt"], 40)
    clf = headstart.ImageClassifier(strategy="auto", epochs=2, time_budget=10, progress=False,
                                    accelerator="cpu").fit(root)  # far from ImageNet, 40/class
    assert clf.advice_["strategy"] in ("partial", "full")  # a budget was given: the rule may fine-tune
    candidates = {c["strategy"]: c for c in clf.advice_["candidates"]}
    assert list(candidates) == ["frozen", "multilayer", clf.advice_["strategy"]]
    embedded = min(("frozen", "multilayer"), key=lambda name: candidates[name]["cv_log_loss"])
    tuned = candidates[clf.advice_["strategy"]]["val_accuracy"]
    best = max(tuned, candidates[embedded]["val_accuracy"])
    # fine-tuning is kept when it scores at least as high on the validation split (a tie keeps the advised)
    assert clf.strategy_.name == (clf.advice_["strategy"] if tuned >= best else embedded)
    assert clf.val_accuracy_ == best
