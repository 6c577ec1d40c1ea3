"""Multi-layer features: every block's pooled output, equal to a plain PyTorch forward pass, cached by content,
and a model that predicts the same from its bundle alone as from the cache."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import headstart
from headstart.data.dataset import ImageDataset, find_images, make_transform
from headstart.features import EmbeddingCache, extract_embeddings
from headstart.features.layers import block_layout, block_names
from headstart.heads import fit_head


def test_blocks_are_found_for_every_kind_of_backbone(lite0):
    from headstart.backbones import load_backbone

    assert block_names(lite0) == [f"blocks.{s}.{b}" for s, n in enumerate([1, 2, 2, 3, 3, 4, 1]) for b in range(n)]
    assert block_names(load_backbone("resnet50", pretrained=False))[:4] == ["layer1.0", "layer1.1", "layer1.2",
                                                                              "layer2.0"]
    vit = load_backbone("vit_small_patch16_224", pretrained=False)
    assert block_names(vit) == [f"blocks.{i}" for i in range(12)]
    layout = block_layout(vit)
    assert [g.grid for g in layout[:2]] == [1, 1] and layout[-1].block == "pooled"  # tokens: the mean token


def test_multilayer_features_equal_each_blocks_output_in_a_pytorch_forward_pass(lite0, fashion_small):
    images = find_images(fashion_small[1]).subset([0, 9, 17])
    features = extract_embeddings(lite0, images, stage="blocks", cache=None, progress=False)  # ONNX Runtime
    dataset = ImageDataset(images, make_transform(lite0.preprocessing, train=False), 3)
    batch = torch.stack([dataset[i][0] for i in range(len(dataset))])
    captured = {}
    hooks = [lite0.body.get_submodule(name).register_forward_hook(
        lambda m, i, output, name=name: captured.__setitem__(name, output)) for name in block_names(lite0)]
    with torch.inference_mode():
        pooled = lite0.eval()(batch)
    for hook in hooks:
        hook.remove()
    layout = block_layout(lite0)
    assert features.shape == (3, layout[-1].start + layout[-1].width) == (3, 10320)
    for group in layout:
        expected = pooled if group.block == "pooled" else \
            F.adaptive_avg_pool2d(captured[group.block], group.grid).flatten(1)
        np.testing.assert_allclose(features[:, group.start:group.start + group.width], expected.numpy(), rtol=1e-4, atol=1e-4)


def test_multilayer_embeddings_are_cached_apart_from_pooled_ones(lite0, fashion_small, tmp_path):
    images = find_images(fashion_small[1])
    cache = EmbeddingCache(tmp_path / "cache")
    blocks = extract_embeddings(lite0, images, stage="blocks", cache=cache, progress=False)
    pooled = extract_embeddings(lite0, images, cache=cache, progress=False)
    assert cache.info()["entries"] == 2 * len(images)
    np.testing.assert_allclose(blocks[:, -pooled.shape[1]:], pooled, atol=1e-5)
    assert np.array_equal(extract_embeddings(lite0, images, stage="blocks", cache=cache, progress=False), blocks)


def test_the_standardised_head_is_folded_into_one_linear_layer_on_raw_features():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    scales = np.array([1e-3, 1.0, 1e3] * 10, np.float32)  # columns of unlike scales, as blocks have
    features = (rng.normal(size=(60, 30)) + labels[:, None] * (np.arange(30) % 3 == 0)) * scales
    head, info = fit_head("logreg", features.astype(np.float32), labels, 3, standardize=True)
    z = (features - features.mean(0)) / features.std(0)
    assert info["standardized"] and info["C"] in (0.003, 0.01, 0.03)
    with torch.no_grad():
        logits = head(torch.from_numpy(features.astype(np.float32))).numpy()
    refit, _ = fit_head("logreg", z.astype(np.float32), labels, 3, C=info["C"])
    with torch.no_grad():
        expected = refit(torch.from_numpy(z.astype(np.float32))).numpy()
    # the same objective solved twice (warm-started from the C search, and from zero) to L-BFGS's tolerance
    np.testing.assert_allclose(logits, expected, atol=1e-2)
    assert np.array_equal(logits.argmax(1), expected.argmax(1))


def test_a_multilayer_model_predicts_from_its_bundle_alone_as_its_network_does(fashion_small, tmp_path, monkeypatch):
    train_dir, test_dir = fashion_small
    clf = headstart.ImageClassifier(strategy="multilayer", cache=tmp_path / "cache", progress=False).fit(train_dir)
    assert clf.strategy_.features == "blocks" and clf.training_["standardized"]
    path = clf.save(tmp_path / "model.pt")
    shutil.rmtree(tmp_path / "cache")
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "fresh-cache"))
    loaded = headstart.load(path)
    files = sorted(test_dir.rglob("*.png"))
    probabilities = loaded.predict_proba(files)
    np.testing.assert_allclose(probabilities, clf.predict_proba(files), atol=1e-5)
    dataset = ImageDataset(find_images(test_dir, classes=clf.classes_),
                           make_transform(loaded.net_.backbone.preprocessing, train=False), 3)
    batch = torch.stack([dataset[i][0] for i in range(len(dataset))])
    with torch.inference_mode():  # the whole network, images in, as an export would run it
        direct = loaded.net_.eval()(batch).softmax(1).numpy()
    np.testing.assert_allclose(direct, probabilities, atol=1e-4)
    assert loaded.evaluate(test_dir)["accuracy"] >= 0.8


def test_multilayer_takes_only_its_own_head(fashion_small):
    with pytest.raises(headstart.errors.ConfigError, match="multilayer"):
        headstart.ImageClassifier(strategy="multilayer", head="mlp", progress=False).fit(fashion_small[0])
