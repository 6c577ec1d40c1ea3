"""The registry lists image and text encoders, builds real pretrained backbones, adapts their input layer and
names their stages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

import headstart
from headstart.backbones import load_backbone, load_source_model
from headstart.data.dataset import make_transform


def _top5(name: str, image: np.ndarray) -> list[str]:
    model, preprocessing, labels = load_source_model("efficientnet_lite0")
    batch = make_transform(preprocessing, train=False)(Image.fromarray(image))[None]
    with torch.inference_mode():
        top = model(batch).softmax(1)[0].topk(5).indices.tolist()
    return [labels[i].lower() for i in top]


def test_bundled_weights_are_imagenet_trained():
    assert any("cat" in label for label in _top5("chelsea", skdata.chelsea()))
    top = _top5("coffee", skdata.coffee())
    assert any("espresso" in label or "cup" in label for label in top), top


def test_preprocessing_matches_the_weights():
    backbone = load_backbone("efficientnet_lite1")
    assert backbone.preprocessing.image_size == 240
    assert backbone.preprocessing.mean == (0.5, 0.5, 0.5) and backbone.preprocessing.interpolation == "bicubic"
    assert backbone.weights_source.startswith("bundled")


def test_stages_cover_every_backbone_parameter(lite0):
    names = [n for stage in lite0.stages for n in stage.parameter_names]
    assert lite0.stages[0].name == "stem" and len(lite0.stages) == 8
    assert sorted(names) == sorted(n.removeprefix("body.") for n, _ in lite0.named_parameters())


def test_one_channel_model_on_gray_matches_rgb_model_on_replicated_gray(lite0):
    gray = load_backbone("efficientnet_lite0", in_chans=1).eval()
    image = Image.fromarray(skdata.camera())
    x_gray = make_transform(gray.preprocessing, train=False)(image.convert("L"))[None]
    x_rgb = make_transform(lite0.preprocessing, train=False)(image.convert("RGB"))[None]
    assert x_gray.shape[1] == 1 and x_rgb.shape[1] == 3
    with torch.inference_mode():
        torch.testing.assert_close(gray(x_gray), lite0.eval()(x_rgb), atol=1e-4, rtol=1e-4)


def test_four_channel_model_gives_finite_outputs():
    backbone = load_backbone("efficientnet_lite0", in_chans=4, image_size=96).eval()
    with torch.inference_mode():
        out = backbone(torch.randn(2, 4, 96, 96))
    assert out.shape == (2, 1280) and torch.isfinite(out).all()
    assert "4 input channels" in backbone.adaptation[0]


def test_classic_architecture_offline_without_weights_says_what_to_do():
    with pytest.raises(headstart.BackboneError) as error:
        load_backbone("resnet50")
    assert "--weights" in error.value.message and "--no-pretrained" in error.value.message


def test_weights_file_loads_into_a_classic_architecture(tmp_path):
    source = load_backbone("resnet18", pretrained=False)
    torch.save({"state_dict": source.body.state_dict()}, tmp_path / "resnet18.pth")
    loaded = load_backbone("resnet18", weights=tmp_path / "resnet18.pth", in_chans=1)
    adapted = source.body.conv1.weight.sum(1, keepdim=True)
    torch.testing.assert_close(loaded.body.conv1.weight, adapted)


def test_torchvision_architecture_builds_with_stages():
    backbone = load_backbone("googlenet", pretrained=False, image_size=96)
    with torch.inference_mode():
        assert backbone.eval()(torch.randn(1, 3, 96, 96)).shape == (1, 1024)
    assert len(backbone.stages) > 5


def test_a_text_encoder_named_as_an_image_backbone_says_so():
    with pytest.raises(headstart.BackboneError, match="text encoder"):
        load_backbone("minilm")


def test_unknown_backbone_suggests_close_names():
    with pytest.raises(headstart.BackboneError, match="efficientnet_lite0"):
        load_backbone("efficientnet_lite")


def test_one_listing_names_the_bundled_image_and_text_encoders_with_their_task():
    rows = {row["name"]: row for row in headstart.list_backbones()}
    assert {name: rows[name]["task"] for name in ("efficientnet_lite0", "minilm", "glove-50d")} == {
        "efficientnet_lite0": "image", "minilm": "text", "glove-50d": "text"}
    assert all(rows[name]["offline"] for name in ("efficientnet_lite0", "minilm", "glove-50d"))
    assert not rows["resnet50"]["offline"]
    assert {row["task"] for row in headstart.list_backbones(task="text")} == {"text"}
    assert "minilm" not in {row["name"] for row in headstart.list_backbones(task="image")}
    with pytest.raises(headstart.BackboneError, match="unknown task"):
        headstart.list_backbones(task="audio")
