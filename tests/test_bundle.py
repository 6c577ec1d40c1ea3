"""The bundle format: models written by an earlier release still load and predict, and what this release cannot
read is refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import headstart
from headstart.bundle import FORMAT_VERSION, load_bundle
from headstart.errors import BundleError

REPO = Path(__file__).resolve().parents[1]
BUNDLES = Path(__file__).parent / "data" / "bundles"
IMAGE_BUNDLES = sorted(BUNDLES.glob("image-*.pt"))


@pytest.mark.parametrize("name", ["text-frozen-0.1.0.pt", "text-scratch-0.1.0.pt"])
def test_a_bundle_written_by_release_0_1_0_loads_and_predicts(name):
    """Written by headstart 0.1.0 (format version 1) from 12 texts of two classes; kept as they were written."""
    clf = headstart.load(BUNDLES / name)
    assert clf.classes_ == ["business", "sport"]
    assert clf.predict(["a late goal won the match", "the bank cut interest rates"]) == ["sport", "business"]


@pytest.fixture
def ieee_fp32():
    """Full float32 convolutions and matrix products on a GPU too (no TF32), as on the CPU that recorded them."""
    settings = (torch.backends.cudnn.conv, torch.backends.cuda.matmul)
    before = [setting.fp32_precision for setting in settings]
    for setting in settings:
        setting.fp32_precision = "ieee"
    yield
    for setting, precision in zip(settings, before):
        setting.fp32_precision = precision


@pytest.mark.parametrize("bundle", IMAGE_BUNDLES, ids=lambda path: path.name)
def test_an_image_bundle_of_a_release_gives_the_probabilities_it_gave_when_written(bundle, ieee_fp32):
    """Written by tests/data/bundles/make_image_bundles.py (a 0.1 M-parameter EfficientNet fitted on 24 Fashion-MNIST
    images, one bundle per strategy), beside the probabilities it gave six test images then (``<bundle>.json``)."""
    written = json.loads(bundle.with_suffix(".json").read_text())
    clf = headstart.load(bundle)
    assert clf.classes_ == written["classes"]
    probabilities = clf.predict_proba([REPO / image for image in written["images"]])
    np.testing.assert_allclose(probabilities, written["probabilities"], rtol=0, atol=1e-5)


def test_this_format_version_has_image_bundles_written_in_it_kept_beside_the_older_ones():
    """A format bump must come with bundles of the new release (make_image_bundles.py writes them); the older
    ones stay, and the test above keeps them loading."""
    documents = {path.name: torch.load(path, map_location="cpu", weights_only=True) for path in IMAGE_BUNDLES}
    assert FORMAT_VERSION in {document["format_version"] for document in documents.values()}
    for name, document in documents.items():  # named by the release that wrote them
        assert name.endswith(f"-{document['headstart_version']}.pt")
    assert {document["strategy"]["name"] for document in documents.values()} >= {"frozen", "multilayer", "partial"}


def _rewritten(tmp_path: Path, source: str = "text-scratch-0.1.0.pt", **changes) -> Path:
    document = {**load_bundle(BUNDLES / source), **changes}
    torch.save(document, tmp_path / "model.pt")
    return tmp_path / "model.pt"


def test_an_image_model_keeps_the_input_rule_it_was_trained_with(tmp_path):
    """Not today's registry entry for its architecture: a model trained with another resize keeps it."""
    document = load_bundle(BUNDLES / "image-frozen-0.1.0.pt")
    rule = {**document["preprocessing"], "interpolation": "bilinear", "crop_pct": 1.0}
    loaded = headstart.load(_rewritten(tmp_path, "image-frozen-0.1.0.pt", preprocessing=rule))
    assert loaded.net_.backbone.preprocessing.to_dict() == rule
    assert headstart.load(BUNDLES / "image-frozen-0.1.0.pt").net_.backbone.preprocessing.to_dict() \
        == document["preprocessing"]


def test_a_bundle_of_another_format_version_is_refused_naming_both_versions(tmp_path):
    with pytest.raises(BundleError) as error:
        headstart.load(_rewritten(tmp_path, format_version=FORMAT_VERSION + 1))
    assert f"format version {FORMAT_VERSION + 1}" in str(error.value)
    assert f"reads version {FORMAT_VERSION}" in str(error.value) and "model.pt" in str(error.value)


def test_a_bundle_of_an_unknown_task_is_refused(tmp_path):
    with pytest.raises(BundleError, match="'audio' task"):
        headstart.load(_rewritten(tmp_path, task="audio"))
