"""``inspect``: pictures of what each layer learned.

* the first convolution's filters as a grid (edge and colour detectors);
* feature maps at an early, a middle and a late stage for one image;
* per-stage linear-probe accuracy and BatchNorm shift on labelled data (general -> specific);
* for a fine-tuned model: how far each stage's weights moved from the pretrained ones, and a
  Grad-CAM heat map of the predicted class over the image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..backbones import Backbone, load_backbone
from ..bundle import bundle_path
from ..data.dataset import check_images, decode_side, find_images, make_transform
from ..data.images import load_image
from ..errors import ConfigError
from ..features.capture import capturing
from ..plots import save, subplots
from .similarity import probe_accuracies, stage_statistics



def first_layer_filters(backbone: Backbone, path: Path) -> Path:
    """The first convolution's filters, each scaled to [0, 1], as an image grid."""
    conv = next(m for m in backbone.body.modules() if isinstance(m, nn.Conv2d))
    weights = conv.weight.detach().float()
    columns = 8
    rows = -(-weights.shape[0] // columns)
    figure, axes = subplots(rows, columns, figsize=(columns * 1.1, rows * 1.1))
    for index, axis in enumerate(np.ravel(axes)):
        axis.axis("off")
        if index < weights.shape[0]:
            kernel = weights[index]
            kernel = (kernel - kernel.min()) / (kernel.max() - kernel.min() + 1e-8)
            picture = kernel.permute(1, 2, 0).numpy() if kernel.shape[0] == 3 else kernel.mean(0).numpy()
            axis.imshow(picture, cmap=None if picture.ndim == 3 else "gray", interpolation="nearest")
    figure.suptitle(f"{backbone.name}: first-layer filters ({tuple(weights.shape)})")
    return save(figure, path)


def _image_tensor(backbone: Backbone, image: Path) -> torch.Tensor:
    preprocessing = backbone.preprocessing
    return make_transform(preprocessing, train=False)(load_image(image, backbone.in_chans,
                                                                  min_side=decode_side(preprocessing)))[None]


def feature_maps(backbone: Backbone, image: Path, path: Path, per_stage: int = 6) -> Path:
    """The most active channels at an early, a middle and a late stage for ``image``."""
    count = len(backbone.stages)
    chosen = sorted({1, count // 2, count - 2})
    modules = {i: backbone.stage_module_name(i) for i in chosen}
    with capturing(backbone.body, modules.values()) as captured, torch.inference_mode():
        backbone.eval()(_image_tensor(backbone, image))
    figure, axes = subplots(len(chosen), per_stage + 1, figsize=(2 * (per_stage + 1), 2.1 * len(chosen)))
    original = load_image(image, 3)
    for row, stage in enumerate(chosen):
        maps = captured[modules[stage]][0].float()
        strongest = maps.mean(dim=(1, 2)).argsort(descending=True)[:per_stage]
        axes[row, 0].imshow(original)
        axes[row, 0].set_title(f"stage {stage + 1}\n{backbone.stages[stage].name}", fontsize=8)
        for column, channel in enumerate(strongest.tolist(), 1):
            axes[row, column].imshow(maps[channel].numpy(), cmap="viridis")
            axes[row, column].set_title(f"ch {channel} {tuple(maps.shape[1:])}", fontsize=7)
        for axis in axes[row]:
            axis.axis("off")
    figure.suptitle("feature maps: early stages respond to edges and colours, late ones to parts and objects")
    return save(figure, path)


def stage_curve(backbone: Backbone, data: Path, path: Path, per_class: int = 20) -> tuple[Path, dict[str, Any]]:
    """Per-stage linear-probe accuracy and BatchNorm shift on labelled ``data``."""
    images = check_images(find_images(data), in_chans=backbone.in_chans)
    labels = np.asarray(images.labels)
    keep = [i for c in range(len(images.classes)) for i in np.flatnonzero(labels == c)[:per_class]]
    sample = images.subset(sorted(keep))
    shifts, features = stage_statistics(backbone, sample)
    probes = probe_accuracies(features, np.asarray(sample.labels))
    names = [f"{i + 1}\n{s.name}" for i, s in enumerate(backbone.stages)]
    figure, left = subplots(figsize=(9, 4))
    left.plot(range(len(probes)), probes, "o-", color="tab:blue", label="linear probe accuracy")
    left.set_ylabel("linear probe accuracy", color="tab:blue")
    left.set_ylim(0, 1.02)
    left.set_xticks(range(len(names)), names, fontsize=7)
    right = left.twinx()
    right.plot(range(len(shifts)), [np.nan if s is None else s for s in shifts], "s--", color="tab:red")
    right.set_ylabel("BatchNorm shift from the source (KL)", color="tab:red")
    left.set_title("general -> specific: how well each stage's features separate your classes")
    return save(figure, path), {"probe_accuracy": probes, "bn_shift": shifts}


def weight_movement(tuned: Backbone, pretrained: Backbone, path: Path) -> tuple[Path, list[float]]:
    """Relative L2 change of each stage's weights from the pretrained ones."""
    moved = []
    for index in range(len(tuned.stages)):
        after = torch.cat([p.detach().flatten() for p in tuned.stage_parameters(index)])
        before = torch.cat([p.detach().flatten() for p in pretrained.stage_parameters(index)])
        moved.append(float((after - before).norm() / (before.norm() + 1e-12)))
    figure, axis = subplots(figsize=(9, 3.5))
    axis.bar(range(len(moved)), moved, color="tab:purple")
    axis.set_xticks(range(len(moved)), [f"{i + 1}\n{s.name}" for i, s in enumerate(tuned.stages)], fontsize=7)
    axis.set_ylabel("relative weight change")
    axis.set_title("how far fine-tuning moved each stage from its pretrained weights")
    return save(figure, path), moved


def grad_cam(net: nn.Module, image: Path, classes: list[str], path: Path) -> tuple[Path, str]:
    """Grad-CAM of the predicted class at the backbone's last stage, over ``image``."""
    backbone: Backbone = net.backbone
    layer = backbone.stage_module_name(len(backbone.stages) - 1)
    gradients: list[torch.Tensor] = []

    def keep(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        output.register_hook(gradients.append)
        return output

    with capturing(backbone.body, [layer], record=keep) as captured, torch.enable_grad():
        net.eval()
        x = _image_tensor(backbone, image).requires_grad_(True)
        logits = net(x)
        predicted = int(logits.argmax(1))
        logits[0, predicted].backward()
    weights = gradients[-1].mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * captured[layer]).sum(1))[0].detach()
    cam = (cam / (cam.max() + 1e-8)).numpy()
    picture = np.asarray(load_image(image, 3).resize((x.shape[3], x.shape[2])))
    figure, axis = subplots(figsize=(4.5, 4.5))
    axis.imshow(picture)
    axis.imshow(cam, cmap="jet", alpha=0.45, extent=(0, picture.shape[1], picture.shape[0], 0),
                interpolation="bilinear")
    axis.axis("off")
    axis.set_title(f"Grad-CAM: predicted {classes[predicted]}")
    return save(figure, path), classes[predicted]


def inspect(target: str | Path, *, out: str | Path, image: str | Path | None = None,
            data: str | Path | None = None) -> dict[str, Any]:
    """Write inspect's pictures for a backbone name or a saved model into ``out``; return their paths."""
    from ..bundle import load
    from ..classifier import ImageClassifier

    model = None
    if Path(target).exists() and bundle_path(target).is_file():
        model = load(target)
        if not isinstance(model, ImageClassifier):
            raise ConfigError("is a text model; inspect draws the layers of image models and backbones.",
                              path=bundle_path(target), fix="Pass an image model, or an image backbone name "
                                                            "(see `headstart backbones`).")
        backbone = model.net_.backbone
    else:
        backbone = load_backbone(str(target))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {"filters": str(first_layer_filters(backbone, out / "filters.png"))}
    if image is not None:
        written["feature_maps"] = str(feature_maps(backbone, Path(image), out / "feature_maps.png"))
    if data is not None:
        curve, values = stage_curve(backbone, Path(data), out / "stage_probes.png")
        written["stage_probes"], written["stage_values"] = str(curve), values
    if model is not None and model.strategy_.pretrained and not model.strategy_.on_embeddings:
        pretrained = load_backbone(backbone.name, in_chans=backbone.in_chans,
                                   image_size=backbone.preprocessing.image_size)
        figure, moved = weight_movement(backbone, pretrained, out / "weight_movement.png")
        written["weight_movement"], written["stage_movement"] = str(figure), moved
    if model is not None and image is not None:
        figure, predicted = grad_cam(model.net_, Path(image), model.classes_, out / "grad_cam.png")
        written["grad_cam"], written["predicted"] = str(figure), predicted
    return written
