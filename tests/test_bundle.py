"""The bundle format: models written by an earlier release still load and predict, and what this release cannot
read is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import headstart
from headstart.bundle import FORMAT_VERSION, load_bundle
from headstart.errors import BundleError

BUNDLES = Path(__file__).parent / "data" / "bundles"


@pytest.mark.parametrize("name", ["text-frozen-0.1.0.pt", "text-scratch-0.1.0.pt"])
def test_a_bundle_written_by_release_0_1_0_loads_and_predicts(name):
    """Written by headstart 0.1.0 (format version 1) from 12 texts of two classes; kept as they were written."""
    clf = headstart.load(BUNDLES / name)
    assert clf.classes_ == ["business", "sport"]
    assert clf.predict(["a late goal won the match", "the bank cut interest rates"]) == ["sport", "business"]


def _rewritten(tmp_path: Path, **changes) -> Path:
    document = {**load_bundle(BUNDLES / "text-scratch-0.1.0.pt"), **changes}
    torch.save(document, tmp_path / "model.pt")
    return tmp_path / "model.pt"


def test_a_bundle_of_another_format_version_is_refused_naming_both_versions(tmp_path):
    with pytest.raises(BundleError) as error:
        headstart.load(_rewritten(tmp_path, format_version=FORMAT_VERSION + 1))
    assert f"format version {FORMAT_VERSION + 1}" in str(error.value)
    assert f"reads version {FORMAT_VERSION}" in str(error.value) and "model.pt" in str(error.value)


def test_a_bundle_of_an_unknown_task_is_refused(tmp_path):
    with pytest.raises(BundleError, match="'audio' task"):
        headstart.load(_rewritten(tmp_path, task="audio"))
