"""The embedding cache returns what a fresh computation would, and never a half-written entry."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from headstart.data.dataset import check_images, find_images
from headstart.features import EmbeddingCache, extract_embeddings
from headstart.features.cache import describe_key, file_digest
from headstart.features.extract import extractor_description


@pytest.fixture()
def images(fashion_small, tmp_path):
    root = shutil.copytree(fashion_small[1], tmp_path / "images")
    return find_images(root)


def _entries(cache: EmbeddingCache) -> int:
    return cache.info()["entries"]


def test_cache_returns_bit_identical_embeddings_and_computes_only_new_images(lite0, images, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    first_half = images.subset(range(0, len(images), 2))
    fresh_half = extract_embeddings(lite0, first_half, cache=cache, progress=False)
    assert _entries(cache) == len(first_half)
    everything = extract_embeddings(lite0, images, cache=cache, progress=False)
    assert _entries(cache) == len(images)  # only the images not yet embedded were added
    again = extract_embeddings(lite0, images, cache=cache, progress=False)
    fresh = extract_embeddings(lite0, images, cache=None, progress=False)
    assert np.array_equal(again, fresh) and np.array_equal(everything, fresh)
    assert np.array_equal(fresh_half, fresh[::2])


def test_a_changed_file_under_the_same_name_is_embedded_again(lite0, images, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    before = extract_embeddings(lite0, images, cache=cache, progress=False)
    target = images.paths[0]
    Image.open(images.paths[-1]).save(target)  # new content, same name
    after = extract_embeddings(lite0, images, cache=cache, progress=False)
    assert _entries(cache) == len(images) + 1
    assert not np.array_equal(before[0], after[0])
    np.testing.assert_array_equal(after[0], after[-1])


def test_a_remembered_file_digest_follows_a_rewrite_of_the_same_size_and_mtime(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"a" * 100)
    first, stat = file_digest(path), os.stat(path)
    path.write_bytes(b"b" * 100)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same name, size and modification time
    assert file_digest(path) == hashlib.blake2b(b"b" * 100, digest_size=16).hexdigest() != first


def test_onnx_engine_matches_pytorch(lite0, images):
    torch_features = extract_embeddings(lite0, images, engine="torch", progress=False)
    onnx_features = extract_embeddings(lite0, images, engine="onnx", progress=False)
    np.testing.assert_allclose(onnx_features, torch_features, atol=1e-4, rtol=0)


def test_per_core_onnx_streams_match_pytorch_in_order_with_and_without_tta(lite0, fashion_small):
    images = find_images(fashion_small[0])  # 48 images: two 32-image batches, one per inference stream
    for tta in (False, True):
        torch_features = extract_embeddings(lite0, images, engine="torch", tta=tta, progress=False)
        onnx_features = extract_embeddings(lite0, images, engine="onnx", tta=tta, progress=False)
        np.testing.assert_allclose(onnx_features, torch_features, atol=1e-4, rtol=0)


def test_tta_and_stage_are_separate_cache_entries(lite0, images, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    few = images.subset(range(3))
    plain = extract_embeddings(lite0, few, cache=cache, progress=False)
    flipped = extract_embeddings(lite0, few, cache=cache, tta=True, progress=False)
    stage = extract_embeddings(lite0, few, cache=cache, stage=3, progress=False)
    assert not np.array_equal(plain, flipped)
    assert stage.shape == (3, 40)  # stage 3 of Lite0 has 40 channels
    assert len(cache.info()["extractors"]) == 3


def _interrupting_save(stream, array, allow_pickle=False):
    stream.write(b"\x93NUMPY half an entry")
    raise KeyboardInterrupt


def test_an_interrupted_write_leaves_no_readable_entry(tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path)
    monkeypatch.setattr(np, "save", _interrupting_save)
    with pytest.raises(KeyboardInterrupt):
        cache.put("extractor", "ab" * 16, np.ones(4, np.float32))
    monkeypatch.undo()
    assert cache.get("extractor", "ab" * 16) is None
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no temporary file left behind


ENTRY_FLOATS = 1 << 18  # 1 MB per entry: written in many pieces, so a non-atomic write can be caught torn


def _writer(root: str, seed: int, rounds: int) -> None:
    """Rewrite the same few entries over and over with this writer's own value."""
    cache = EmbeddingCache(root)
    for _ in range(rounds):
        for i in range(4):
            cache.put("extractor", f"{i:032x}", np.full(ENTRY_FLOATS, seed, np.float32))


def test_readers_see_one_whole_version_while_two_processes_rewrite_the_same_entries(tmp_path):
    cache = EmbeddingCache(tmp_path)
    for i in range(4):
        cache.put("extractor", f"{i:032x}", np.full(ENTRY_FLOATS, 0, np.float32))
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(str(tmp_path), seed, 40)) for seed in (1, 2)]
    for writer in writers:
        writer.start()
    seen, reads = set(), 0
    while any(w.is_alive() for w in writers) or reads < 20:  # reads interleaved with the writes
        for i in range(4):
            entry = cache.get("extractor", f"{i:032x}")
            assert entry is not None and entry.shape == (ENTRY_FLOATS,), "a reader saw a half-written entry"
            values = set(np.unique(entry).tolist())
            assert len(values) == 1 and values <= {0.0, 1.0, 2.0}, f"a torn entry mixing versions {values}"
            seen |= values
            reads += 1
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    assert {1.0, 2.0} & seen  # the reads did overlap the writes
    for i in range(4):
        assert set(np.unique(cache.get("extractor", f"{i:032x}")).tolist()) in ({1.0}, {2.0})


def test_cache_key_covers_weights_and_preprocessing(lite0):
    from headstart.backbones import load_backbone

    base = describe_key(extractor_description(lite0, stage=None, tta=False, precision="fp32", background="white"))
    other_size = load_backbone("efficientnet_lite0", image_size=128)
    random = load_backbone("efficientnet_lite0", pretrained=False)
    for backbone in (other_size, random):
        key = describe_key(extractor_description(backbone, stage=None, tta=False, precision="fp32",
                                                 background="white"))
        assert key != base


def test_cache_command_reports_and_clears(lite0, images, tmp_path, capsys):
    import json

    from headstart.cli import main

    cache = EmbeddingCache(tmp_path / "cache")
    extract_embeddings(lite0, images.subset(range(4)), cache=cache, progress=False)
    assert main(["--json", "cache", "info", "--dir", str(cache.root)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["entries"] == 4 and info["extractors"][0]["extractor"]["backbone"] == "efficientnet_lite0"
    assert main(["cache", "clear", "--dir", str(cache.root)]) == 0
    assert cache.info()["entries"] == 0


def test_a_corrupted_file_is_not_taken_as_known_readable_from_the_cache(lite0, images, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    extract_embeddings(lite0, images, cache=cache, progress=False)
    assert all(cache.embedded_before(images.paths))
    images.paths[0].write_bytes(b"not an image any more")
    known = cache.embedded_before(images.paths)
    assert known == [False] + [True] * (len(images) - 1)
    checked = check_images(images, known_readable=known)
    assert len(checked) == len(images) - 1 and checked.skipped[0][0] == str(images.paths[0])


def test_capturing_records_each_call_stops_after_a_module_and_always_removes_its_hooks():
    import torch
    from torch import nn

    from headstart.features.capture import capturing

    network = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = torch.randn(5, 4)
    with capturing(network, ["0", "2"]) as captured:
        network(x)
        assert torch.equal(captured["2"], network(x)) and len(captured.records["0"]) == 2
    assert captured.order == ["0", "2", "0", "2"]
    with capturing(network, ["1", "2"], record=lambda _m, inputs, _o: inputs[0].shape, stop_after="1") as stopped:
        assert stopped.run(network, x) is None  # stopped after the ReLU: the last layer never ran
    assert stopped.records == {"1": [torch.Size([5, 3])], "2": []}
    with pytest.raises(ZeroDivisionError), capturing(network, ["0"], record=lambda *_: 1 / 0):
        network(x)
    assert all(not module._forward_hooks for module in network.modules())
