"""Exported graphs run without headstart and agree with ``headstart predict``.

The images are prepared with plain PIL by the same steps as the README's onnxruntime snippet (resize the shorter
side, centre-crop, from ``model.json``), so the documented rule is checked too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

import headstart
from headstart.cli import main
from headstart.errors import ConfigError


def plain_pixels(path: Path, card: dict) -> np.ndarray:
    """``path`` as the exported graph's input, with PIL alone (the README's recipe)."""
    rule = card["preprocessing"]
    image = Image.open(path)
    image.draft(None, (rule["jpeg_draft_side"],) * 2)
    image = image.convert("RGB")
    width, height = image.size
    short = rule["resize_shorter_side"]
    size = (short, int(short * height / width)) if width <= height else (int(short * width / height), short)
    image = image.resize(size, Image.BICUBIC)
    crop_width, crop_height = rule["center_crop"]
    left, top = round((image.width - crop_width) / 2), round((image.height - crop_height) / 2)
    return np.asarray(image.crop((left, top, left + crop_width, top + crop_height)))


def run_exported(card_path: Path, files: list[Path]) -> np.ndarray:
    card = json.loads(card_path.read_text())
    pixels = np.stack([plain_pixels(path, card) for path in files])
    graph = card_path.parent / card["file"]
    if card["runtime"] == "onnx":
        return ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"]).run(None, {"pixels": pixels})[0]
    return torch.jit.load(str(graph))(torch.from_numpy(pixels)).numpy()


@pytest.fixture(scope="module")
def images(fashion_small, photos) -> list[Path]:
    return sorted(fashion_small[1].rglob("*.png")) + photos


def _assert_parity(clf, card_path: Path, files: list[Path]) -> None:
    expected, got = clf.predict_proba(files), run_exported(card_path, files)
    assert (got.argmax(1) == expected.argmax(1)).all()
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("format", ["onnx", "torchscript"])
def test_frozen_model_exports_and_agrees_with_predict(frozen_model, images, tmp_path, format):
    clf = headstart.load(frozen_model)
    result = clf.export(tmp_path, format=format)
    card = json.loads(Path(result["card"]).read_text())
    assert card["classes"] == clf.classes_ and card["input"]["shape"] == ["batch", 224, 224, 3]
    assert card["input"]["dtype"] == "uint8" and card["preprocessing"]["resize_shorter_side"] == 256
    _assert_parity(clf, Path(result["card"]), images)


@pytest.mark.parametrize("strategy", ["prototype", "knn"])
def test_prototype_and_knn_heads_export_as_layers(fashion_small, images, tmp_path, strategy):
    clf = headstart.ImageClassifier(strategy=strategy, progress=False).fit(fashion_small[0])
    _assert_parity(clf, Path(clf.export(tmp_path)["card"]), images)


@pytest.mark.parametrize("format", ["onnx", "torchscript"])
def test_a_multilayer_model_exports_every_block_it_reads_with_tta(fashion_small, images, tmp_path, format):
    clf = headstart.ImageClassifier(strategy="multilayer", tta=True, progress=False).fit(fashion_small[0])
    _assert_parity(clf, Path(clf.export(tmp_path, format=format)["card"]), images)


@pytest.mark.slow
def test_a_fine_tuned_network_with_tta_exports_at_its_own_input_size(fashion_small, images, tmp_path):
    clf = headstart.ImageClassifier(strategy="full", epochs=1, image_size=64, tta=True, progress=False)
    clf.fit(fashion_small[0])
    for format in ("onnx", "torchscript"):
        result = clf.export(tmp_path / format, format=format)
        assert json.loads(Path(result["card"]).read_text())["input"]["shape"] == ["batch", 64, 64, 3]
        _assert_parity(clf, Path(result["card"]), images)


def test_int8_runs_smaller_and_is_refused_without_calibration(frozen_model, fashion_small, images, tmp_path, capsys):
    fp32 = Path(headstart.load(frozen_model).export(tmp_path / "fp32")["path"])
    assert main(["export", str(frozen_model), "--quantize", "int8", "--out", str(tmp_path / "nope")]) == 1
    assert "calibrat" in capsys.readouterr().err
    assert main(["--json", "export", str(frozen_model), "--quantize", "int8", "--calibration",
                 str(fashion_small[0]), "--out", str(tmp_path / "int8")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["quantization"] == "int8" and Path(result["path"]).stat().st_size < fp32.stat().st_size / 2
    probabilities = run_exported(Path(result["card"]), images)
    assert probabilities.shape == (len(images), 3) and np.allclose(probabilities.sum(1), 1, atol=1e-3)
    with pytest.raises(ConfigError, match="ONNX only"):
        headstart.load(frozen_model).export(tmp_path / "ts", format="torchscript", quantize="int8")
    with pytest.raises(ConfigError, match="format"):
        headstart.load(frozen_model).export(tmp_path / "x", format="tflite")


def test_the_onnx_file_carries_the_classes_in_its_metadata(frozen_model, tmp_path):
    result = headstart.load(frozen_model).export(tmp_path)
    session = ort.InferenceSession(result["path"], providers=["CPUExecutionProvider"])
    meta = json.loads(session.get_modelmeta().custom_metadata_map["headstart"])
    assert meta == {"task": "image", "classes": ["bag", "sneaker", "trouser"]}
