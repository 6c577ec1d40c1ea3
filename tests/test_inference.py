"""Predictor: a loaded model answers in-memory inputs exactly as the classifier answers files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import headstart
from headstart.errors import ConfigError, DataError, NotAnImageError
from headstart.inference import Predictor


@pytest.fixture(scope="module")
def model(frozen_model):
    return headstart.load(frozen_model)


@pytest.fixture(scope="module")
def predictor(model):
    return Predictor(model)


def test_every_kind_of_input_gets_the_classifiers_probabilities(model, predictor, fashion_small, photos):
    files = sorted(fashion_small[1].rglob("*.png"))[::4] + photos
    expected = model.predict_proba(files)
    opened = [Image.open(path) for path in files]
    for inputs in (files, [str(path) for path in files], [path.read_bytes() for path in files], opened,
                   [np.asarray(image) for image in opened]):
        np.testing.assert_allclose(predictor.predict_proba(inputs), expected, atol=1e-4)
    assert predictor.predict(files) == model.predict(files)
    top = predictor.predict_top_k(files, k=2)
    assert [row[0][0] for row in top] == model.predict(files) and all(len(row) == 2 for row in top)


def test_a_large_jpeg_is_decoded_reduced_as_in_training_whether_a_file_or_bytes(model, predictor, photos, tmp_path):
    big = tmp_path / "big.jpg"  # decoded at half scale (1,000 px keeps twice the 256-px resize)
    Image.open(photos[0]).convert("RGB").resize((2000, 1500), Image.BICUBIC).save(big, quality=90)
    expected = model.predict_proba([big])
    np.testing.assert_allclose(predictor.predict_proba([big]), expected, atol=1e-4)
    np.testing.assert_allclose(predictor.predict_proba([big.read_bytes()]), expected, atol=1e-4)


def test_batches_and_a_reloaded_model_answer_the_same(frozen_model, predictor, fashion_small):
    files = sorted(fashion_small[1].rglob("*.png"))
    small_batches = Predictor(frozen_model, batch_size=5)
    np.testing.assert_allclose(small_batches.predict_proba(files), predictor.predict_proba(files), atol=1e-5)
    torch_engine = Predictor(frozen_model, engine="torch")
    np.testing.assert_allclose(torch_engine.predict_proba(files), predictor.predict_proba(files), atol=1e-4)


def test_grayscale_rgba_and_16_bit_arrays_are_converted_like_files(model, predictor, tmp_path, photos):
    rgb = np.asarray(Image.open(photos[1]))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])
    gray16 = (rgb[..., 0].astype(np.uint16) * 257)
    for number, array in enumerate((rgb[..., 1], rgba, gray16)):
        path = tmp_path / f"{number}.png"
        Image.fromarray(array).save(path)
        np.testing.assert_allclose(predictor.predict_proba([array]), model.predict_proba([path]), atol=1e-4)


def test_bad_inputs_get_errors_naming_them(predictor, tmp_path):
    truncated = io.BytesIO()
    Image.new("RGB", (300, 300), "red").save(truncated, "JPEG")
    cases = [
        ([b"hello, not an image"], NotAnImageError, "not an image"),
        ([b""], DataError, "empty"),
        ([truncated.getvalue()[:400]], DataError, "damaged or truncated"),
        ([np.zeros((4, 4, 2), np.uint8)], NotAnImageError, "shape"),
        ([np.zeros((4, 4, 3), np.float64)], DataError, "uint8"),
        ([12], NotAnImageError, "not an image"),
        ([tmp_path / "missing.png"], DataError, "does not exist"),
        (b"raw bytes, not a list", DataError, "list"),
    ]
    for inputs, error, words in cases:
        with pytest.raises(error, match=words):
            predictor.predict_proba(inputs)
    with pytest.raises(DataError, match="image model"):
        predictor.predict_texts(["a text"])
    with pytest.raises(ConfigError, match="engine"):
        Predictor(predictor.model, engine="tensorrt")


def test_the_card_says_what_the_model_is(predictor):
    card = predictor.card()
    assert card["task"] == "image" and card["classes"] == ["bag", "sneaker", "trouser"]
    assert card["strategy"] == "frozen" and card["backbone"] == "efficientnet_lite0"
    assert card["input"]["center_crop"] == [224, 224] and card["input"]["resize_shorter_side"] == 256
    assert 0 <= card["validation"]["val_accuracy"] <= 1
