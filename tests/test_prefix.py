"""``partial`` on a cached frozen prefix: the cut reproduces the network, views come back from the cache, and
training moves the suffix only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import headstart
from headstart.backbones import load_backbone
from headstart.data.dataset import ImageDataset, find_images, make_transform
from headstart.features.cache import EmbeddingCache
from headstart.heads import build_head
from headstart.model import TransferNet
from headstart.strategies import resolve_strategy
from headstart.training import fit_network
from headstart.training.prefix import prefix_activations, skipping, split_prefix, start_from_probe


def _live_prefix(backbone, split, pixels: torch.Tensor) -> torch.Tensor:
    captured = []
    hook = backbone.body.get_submodule(split.cut).register_forward_hook(lambda _m, _i, out: captured.append(out))
    with torch.inference_mode():
        backbone.eval()(pixels)
    hook.remove()
    return captured[0]


def test_cached_prefix_equals_a_live_forward_and_comes_back_from_the_cache(lite0, fashion_small, tmp_path):
    images = find_images(fashion_small[0]).subset([0, 20, 40])
    split = split_prefix(lite0, 4)
    assert split is not None and split.cut == "blocks.2" and split.shape == (40, 28, 28)
    cache = EmbeddingCache(tmp_path)
    views = prefix_activations(lite0, split, images, views=3, seed=0, cache=cache, progress=False)
    assert views.shape == (3, 3, 40, 28, 28) and views.dtype == np.float16 and cache.written == 9
    pixels = torch.stack([ImageDataset(images, make_transform(lite0.preprocessing, train=False))[i][0]
                          for i in range(3)])
    live = _live_prefix(lite0, split, pixels)
    scale = float(live.abs().max())
    assert torch.allclose(torch.from_numpy(views[:, 0].astype(np.float32)), live, atol=1e-3 * scale)
    with torch.inference_mode(), skipping(lite0, split):
        rebuilt = lite0(torch.from_numpy(views[:, 0].astype(np.float32)))
    with torch.inference_mode():
        whole = lite0(pixels)
    assert torch.allclose(rebuilt, whole, atol=1e-2 * float(whole.abs().max()))
    assert len(dict(lite0.body.named_modules())) > 100 and "conv_stem" in dict(lite0.body.named_children())
    # augmented views differ from the evaluation crop and from each other
    assert not np.array_equal(views[:, 1], views[:, 0]) and not np.array_equal(views[:, 2], views[:, 1])
    again = prefix_activations(lite0, split, images, views=3, seed=0, cache=cache, progress=False)
    assert cache.written == 9 and np.array_equal(again, views)  # read back, not computed
    other_seed = prefix_activations(lite0, split, images, views=2, seed=1, cache=None, progress=False)
    assert np.array_equal(other_seed[:, 0], views[:, 0]) and not np.array_equal(other_seed[:, 1], views[:, 1])


def test_the_cut_is_refused_where_the_forward_is_not_a_chain():
    vit = load_backbone("vit_small_patch16_224", pretrained=False)
    assert split_prefix(vit, 3) is None  # class token and position embedding are added in forward code
    resnet = load_backbone("resnet18", pretrained=False, image_size=64)
    split = split_prefix(resnet, 2)  # stem, layer1: the stem's activation and max-pool are skipped too
    assert split is not None and {"conv1", "bn1", "act1", "maxpool", "layer1"} <= set(split.skipped)
    assert split_prefix(resnet, 0) is None and split_prefix(resnet, len(resnet.stages)) is None


def test_cached_partial_trains_only_the_suffix_starting_from_the_probe(fashion_small):
    backbone = load_backbone("efficientnet_lite0", image_size=64)
    net = TransferNet(backbone, build_head("linear", backbone.num_features, 3))
    strategy = resolve_strategy("partial", len(backbone.stages), 5)
    train, val = find_images(fashion_small[0]), find_images(fashion_small[1])
    split = split_prefix(backbone, 5)
    views = prefix_activations(backbone, split, train, views=1, seed=0, cache=None, progress=False)
    with skipping(backbone, split):
        start_from_probe(net, views[:, 0], train.labels, class_weight=None, seed=0)
        with torch.inference_mode():
            probe_accuracy = (net.eval()(torch.from_numpy(views[:, 0].astype(np.float32))).argmax(1).numpy()
                              == np.asarray(train.labels)).mean()
    assert probe_accuracy >= 0.9  # three easy classes: the head starts where the linear probe is

    originals = {name: backbone.body.get_submodule(name) for name in split.skipped}
    before = {k: v.clone() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    result = fit_network(net, strategy, train, val, epochs=2, batch_size=16, progress=False, accelerator="cpu")
    assert result.cached_prefix == {"cut": "blocks.3", "views": 4, "shape": [80, 4, 4],
                                    "seconds": result.cached_prefix["seconds"]}
    after = net.state_dict()
    frozen = tuple(f"backbone.body.{module}." for module in split.skipped)
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert not any(k.startswith(frozen) for k in moved)  # weights and BatchNorm statistics of the prefix
    assert any(k.startswith("backbone.body.blocks.5.") for k in moved) and "head.linear.weight" in moved
    assert all(backbone.body.get_submodule(name) is module for name, module in originals.items())  # put back


def test_a_cached_partial_model_predicts_after_loading_with_no_cache(fashion_small, tmp_path):
    train, test = fashion_small
    clf = headstart.ImageClassifier(strategy="partial", freeze=6, epochs=2, image_size=64, cache=False,
                                    progress=False).fit(train)
    assert clf.training_["cached_prefix"]["cut"] == "blocks.4"
    loaded = headstart.load(clf.save(tmp_path / "model.pt"))
    files = sorted(test.rglob("*.png"))
    assert np.allclose(loaded.predict_proba(files), clf.predict_proba(files), atol=1e-5)
    assert clf.evaluate(test)["accuracy"] >= 0.8
